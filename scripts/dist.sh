#!/bin/bash
# Cross-builds static dllmbench binaries (CGO_ENABLED=0: CUDA is loaded at
# run time) for Linux on amd64 and arm64 into dist/, with a SHA256SUMS file,
# stamped with version, commit and date as 'make build' stamps bin/dllmbench.
#
#   scripts/dist.sh                      # what 'make dist' runs
#   VERSION=v1.2.0 scripts/dist.sh       # VERSION, COMMIT and DATE override git and the clock
#   PLATFORMS="linux/amd64" DIST=out scripts/dist.sh
#
# Check a download with: sha256sum -c SHA256SUMS --ignore-missing
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
COMMIT=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
DATE=${DATE:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
DIST=${DIST:-dist}
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64}
pkg=dllmbench/internal/buildinfo
ldflags="-s -w -X $pkg.version=$VERSION -X $pkg.commit=$COMMIT -X $pkg.date=$DATE"

rm -rf "$DIST"
mkdir -p "$DIST"
names=()
for p in $PLATFORMS; do
	os=${p%/*}
	arch=${p#*/}
	name=dllmbench-$os-$arch
	echo "dist: $name ($VERSION)" >&2
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch "$GO" build -trimpath -ldflags "$ldflags" -o "$DIST/$name" ./cmd/dllmbench
	names+=("$name")
done
(
	cd "$DIST"
	if command -v sha256sum >/dev/null; then
		sha256sum "${names[@]}"
	else
		shasum -a 256 "${names[@]}"
	fi >SHA256SUMS
)
cat "$DIST/SHA256SUMS"
