#!/usr/bin/env bash
# The closing GPU session in one command (the device's 10 minutes): CUDA
# correctness (conformance suite with every fusion, batch invariance,
# memcheck of the new paths), the PyTorch goldens on CUDA, a few decisive
# benchmarks, then round3.sh (8B parity, performance grid, PyTorch peers).
# Logs go to $OUT/final.tar.gz and $OUT/round3.tar.gz.
set -u
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/final}
work=/tmp/final-logs
rm -rf "$work" && mkdir -p "$work" "$out" .gpu/run
for z in .gpu/bin/*.gz; do gunzip -c "$z" >".gpu/run/$(basename "$z" .gz)" && chmod +x ".gpu/run/$(basename "$z" .gz)"; done
export DLLMBENCH_REQUIRE_GPU=1
t0=$SECONDS
echo "== compute/cuda tests"
.gpu/run/compute-cuda.test -test.v -test.count=1 -test.timeout=4m > "$work/cuda-tests.log" 2>&1
echo "   rc=$? in $((SECONDS - t0)) s"; grep -E "^--- FAIL|panic:|agree" "$work/cuda-tests.log" | head -20
t0=$SECONDS
echo "== goldens on cuda"
for p in model decode; do
	(cd $p && DLLMBENCH_TEST_BACKEND=cuda ../.gpu/run/$p.test -test.v -test.count=1 -test.run 'Golden|Stories260K' -test.timeout=3m) > "$work/$p-goldens.log" 2>&1
	echo "   $p rc=$?"; grep -E "^--- FAIL|panic:" "$work/$p-goldens.log" | head -5
done
echo "   in $((SECONDS - t0)) s"
t0=$SECONDS
echo "== benchmarks"
.gpu/run/compute-cuda.test -test.run='^$' -test.bench='BenchmarkLayer|BenchmarkMatMul/BF16/n=(1|32)/|BenchmarkAttention/(block|diffusion/MHA/n=256)' \
	-test.benchtime=0.3s -test.timeout=3m > "$work/bench.log" 2>&1
echo "   rc=$? in $((SECONDS - t0)) s"; grep -E "^Benchmark" "$work/bench.log" | awk '{print $1, $3, $4, $5, $6}'
tar czf "$out/final.tar.gz" -C "$work" .
BUDGET=$((560 - SECONDS)) bash scripts/gpu/round3.sh
