#!/usr/bin/env bash
# The closing GPU session of issue 5 in one device call (under 10 minutes):
#   1. the card's ceilings B and G (ceilings.py);
#   2. correctness: the CUDA tests and the engine goldens on CUDA; if the
#      CUDA tests fail with programmatic dependent launches, they run again
#      without (DLLMBENCH_CUDA_PDL=0) and the session goes on that way;
#   3. profile.sh: layer benchmarks, memcheck of the newest kernels, the 8B
#      checkpoints, dllmbench's grids and the PyTorch peers (PEERS, default
#      "hf llada"; add gptfast where its copy is in .gpu/ref, about 2 min);
#   4. the perf-short grid again without programmatic launches (A/B);
#   5. table.py: one table per card, with where each target stands.
# Logs, records and table.md land in $OUT/final.tar.gz; the table is printed.
#
#   make gpu, then on the GPU machine: bash scripts/gpu/final.sh
set -u
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/final}
mkdir -p "$out" .gpu/run
for z in .gpu/bin/*.gz; do gunzip -c "$z" >".gpu/run/$(basename "$z" .gz)" && chmod +x ".gpu/run/$(basename "$z" .gz)"; done
bin=$PWD/.gpu/run
export DLLMBENCH_KERNEL_CACHE=/tmp/dllmbench-kernels PYTHONUNBUFFERED=1
extra=/tmp/final-extra
rm -rf "$extra" && mkdir -p "$extra"

t0=$SECONDS
python3 scripts/gpu/ceilings.py --out "$extra/ceilings.jsonl" 2>&1 | tail -1 | cut -c1-300
echo "== ceilings in $((SECONDS - t0)) s"

t0=$SECONDS
DLLMBENCH_REQUIRE_GPU=1 timeout 200 "$bin/compute-cuda.test" -test.count=1 -test.timeout=3m >"$extra/compute-cuda.log" 2>&1
rc=$?
echo "== compute-cuda tests rc=$rc in $((SECONDS - t0)) s"; grep -E "^--- FAIL|panic:|^FAIL|^ok" "$extra/compute-cuda.log" | head -8
if [ $rc != 0 ]; then
	export DLLMBENCH_CUDA_PDL=0
	DLLMBENCH_REQUIRE_GPU=1 timeout 200 "$bin/compute-cuda.test" -test.count=1 -test.timeout=3m >"$extra/compute-cuda-nopdl.log" 2>&1
	echo "== without programmatic launches: rc=$?"; grep -E "^--- FAIL|^ok" "$extra/compute-cuda-nopdl.log" | head -5
fi
for p in model decode; do
	(cd $p && DLLMBENCH_TEST_BACKEND=cuda DLLMBENCH_REQUIRE_GPU=1 timeout 120 "$bin/$p.test" -test.count=1 \
		-test.run 'Golden|Stories260K' -test.timeout=2m) >"$extra/$p-goldens.log" 2>&1
	echo "== $p goldens on cuda rc=$?"
done

SKIP_TESTS=1 SKIP_NCU=1 BUDGET=${BUDGET:-480} BENCH=${BENCH:-'BenchmarkLayer/(llama|llada)/.*/.*/.*/default'} \
	MEMCHECK=${MEMCHECK:-'^(TestAttentionShapes|TestFusionsMatchComposed|TestMatMul3Batched)$'} \
	GRIDS=${GRIDS:-'perf perf-batch perf-prefill'} PEERS=${PEERS:-'hf llada'} bash scripts/gpu/profile.sh

if [ "${DLLMBENCH_CUDA_PDL:-1}" != 0 ] && [ -d /tmp/p8b/llama3-8b ]; then
	t0=$SECONDS
	DLLMBENCH_CUDA_PDL=0 timeout 60 "$bin/dllmbench" run --config scripts/gpu/perf-short.yaml --output_dir /tmp/nopdl \
		--no-quality >"$extra/perf-short-nopdl.log" 2>&1
	echo "== perf-short without programmatic launches rc=$? in $((SECONDS - t0)) s"
	grep -E "^\| (llama|llada)" "$extra/perf-short-nopdl.log"
	mkdir -p "$extra/nopdl" && cp /tmp/nopdl/records/*.jsonl "$extra/nopdl/" 2>/dev/null
fi

cp -r /tmp/profile-logs "$extra/profile"
python3 scripts/gpu/table.py "$extra/ceilings.jsonl" "$extra/profile" >"$extra/table.md" 2>&1
cat "$extra/table.md"
tar czf "$out/final.tar.gz" -C "$extra" .
