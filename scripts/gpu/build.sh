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
# The prefill grid's long prompts come from WikiText-103's validation text
# (CC BY-SA 3.0), which the repository does not ship whole: copied from
# WIKITEXT (default: the project's shared data folder) when it is there.
wiki=${WIKITEXT:-../shared/data/wikitext-103/wiki.valid.raw}
if [ ! -f .gpu/data/wiki.valid.raw ]; then
	if [ -f "$wiki" ]; then
		mkdir -p .gpu/data && cp "$wiki" .gpu/data/wiki.valid.raw
	else
		echo "build.sh: no $wiki: the perf-prefill grid will have no prompts (set WIKITEXT)" >&2
	fi
fi
# The PyTorch peers' third-party code (peers.py's --ref: gpt-fast,
# Fast-dLLM, LLaDA), never committed, sits in .gpu/ref (scripts/gpu/ref.sh
# assembles it from clones of the three).
[ -d .gpu/ref ] || echo "build.sh: no .gpu/ref: the gpt-fast, Fast-dLLM and LLaDA peers will fail (scripts/gpu/ref.sh makes it)" >&2
