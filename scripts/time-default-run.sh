#!/usr/bin/env bash
# Times what a newcomer waits for: a cold build of dllmbench (an empty Go
# build cache; modules already downloaded) and the embedded default run on
# the built binary, with its reports. Prints one Markdown table row for
# docs/perf.md.
#
#   scripts/time-default-run.sh [--backend cpu]
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export CGO_ENABLED=0
go mod download
t0=$(date +%s.%N)
GOCACHE="$tmp/gocache" go build -o "$tmp/dllmbench" ./cmd/dllmbench
t1=$(date +%s.%N)
XDG_CACHE_HOME="$tmp/cache" "$tmp/dllmbench" run --output_dir "$tmp/results" "$@" >"$tmp/run.log" 2>&1
t2=$(date +%s.%N)
cells=$(grep -c '"key"' "$tmp"/results/records/*.jsonl)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
printf '| %s | %d CPUs, %s | %.0f s | %.1f s | %d cells |\n' "$(date -u +%F)" "$(nproc)" "$cpu" \
	"$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$cells"
