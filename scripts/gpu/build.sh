#!/usr/bin/env bash
# Cross-builds, on the development machine, what scripts/gpu/test.sh runs on
# the GPU machine (which has no Go): the test binaries of the CUDA packages
# and dllmbench itself, static (CGO_ENABLED=0) into .gpu/bin (git-ignored;
# carry .gpu to the GPU machine).
#
#   scripts/gpu/build.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export CGO_ENABLED=0 GOOS=linux GOARCH=amd64
mkdir -p .gpu/bin
# One binary per package, named after its path: both packages are "cuda".
for pkg in internal/cuda compute/cuda model decode; do
	go test -c -trimpath -ldflags="-s -w" -o ".gpu/bin/${pkg//\//-}.test" "./$pkg"
done
go build -trimpath -ldflags="-s -w" -o .gpu/bin/dllmbench ./cmd/dllmbench
# Compressed: what travels to the GPU machine is limited to 64 MiB in all;
# scripts/gpu/test.sh unpacks them there.
gzip -9f .gpu/bin/*.test .gpu/bin/dllmbench
ls -l .gpu/bin
