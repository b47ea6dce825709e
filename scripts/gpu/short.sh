#!/usr/bin/env bash
# A short GPU session: the 8B random checkpoints (no references), then
# scripts/gpu/perf-short.yaml through dllmbench. For checking one change.
set -u
cd "$(dirname "$0")/../.."
mkdir -p .gpu/run "${OUT:-/tmp}"
for z in .gpu/bin/dllmbench.gz; do gunzip -c "$z" >.gpu/run/dllmbench && chmod +x .gpu/run/dllmbench; done
rm -rf /tmp/ref && cp -r .gpu/ref /tmp/ref
python3 scripts/gpu/parity8b.py --out /tmp/p8b --ref /tmp/ref --tokenizer internal/demo/files/demo-llama/tokenizer.json \
	--prompt-len 8 > /tmp/p8b.log 2>&1; echo "checkpoints rc=$?"
.gpu/run/dllmbench run --config scripts/gpu/perf-short.yaml --output_dir /tmp/perf --no-quality > /tmp/perf.log 2>&1
echo "run rc=$?"; grep -E "^\|" /tmp/perf.log
cp /tmp/perf/records/*.jsonl "${OUT:-/tmp}/" 2>/dev/null
