#!/usr/bin/env bash
# One GPU-machine session: full-shape parity at 8B (PyTorch references,
# then dllmbench's CUDA backend against them), dllmbench's performance
# grid on the same checkpoints, then the PyTorch peers. Each step has a
# time limit so the whole fits in the device's 10 minutes; logs and records
# are packed into $OUT/round3.tar.gz.
set -u
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/round3}
work=/tmp/round3-logs
mkdir -p "$out" "$work"
deadline=$((SECONDS + ${BUDGET:-570}))
left() { echo $((deadline - SECONDS - ${1:-0})); }
P=/tmp/p8b
mkdir -p .gpu/run
for z in .gpu/bin/*.gz; do gunzip -c "$z" >".gpu/run/$(basename "$z" .gz)" && chmod +x ".gpu/run/$(basename "$z" .gz)"; done
rm -rf /tmp/ref && cp -r .gpu/ref /tmp/ref
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,uuid,driver_version,clocks.sm,clocks.mem,power.limit --format=csv | tee "$work/gpu.txt"
echo "== parity8b ($(left) s left)"
timeout "$(left 300)" python3 scripts/gpu/parity8b.py --out $P --ref /tmp/ref \
	--tokenizer internal/demo/files/demo-llama/tokenizer.json > "$work/parity8b.log" 2>&1
echo "   rc=$?"; grep -E "error|Error|rows" "$work/parity8b.log" | tail -5
echo "== parity test on cuda ($(left) s left)"
(cd model && DLLMBENCH_TEST_BACKEND=cuda DLLMBENCH_PARITY_DIR=$P timeout "$(left 240)" \
	../.gpu/run/model.test -test.run FullShapeParity -test.v -test.count=1) > "$work/parity-test.log" 2>&1
echo "   rc=$?"; grep -E "relative error|agreement|FAIL|PASS|panic" "$work/parity-test.log" | head -12
echo "== dllmbench perf grid ($(left) s left)"
timeout "$(left 150)" .gpu/run/dllmbench run --config scripts/gpu/perf.yaml --output_dir /tmp/perf \
	> "$work/perf-run.log" 2>&1
echo "   rc=$?"; grep -E "^\|" "$work/perf-run.log" | head -12; tail -3 "$work/perf-run.log"
cp /tmp/perf/records/*.jsonl "$work/" 2>/dev/null
echo "== peers ($(left) s left)"
timeout "$(left 15)" python3 scripts/gpu/peers.py --models $P --ref /tmp/ref --out "$work/peers.jsonl" --reps 2 \
	> "$work/peers.log" 2>&1
echo "   rc=$?"; grep -E '"peer"' "$work/peers.log" | cut -c1-300; tail -3 "$work/peers.log"
tar czf "$out/round3.tar.gz" -C "$work" .
ls -la "$out"
