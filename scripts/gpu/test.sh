#!/usr/bin/env bash
# Runs, on the GPU machine, the binaries scripts/gpu/build.sh made: every
# test with a GPU required (DLLMBENCH_REQUIRE_GPU=1, so that a missing GPU
# or library fails instead of skipping), then the benchmarks, then the
# conformance tests under compute-sanitizer's memcheck, racecheck and
# synccheck, and the goldens under its initcheck, when it is there.
# Logs go to $OUT when set (else .gpu/logs); summary.txt lists each step's
# exit status. Exits non-zero if any test step failed.
#
#   scripts/gpu/test.sh            # from the repository root or anywhere
#   SKIP_BENCH=1 scripts/gpu/test.sh   # without the benchmarks
set -uo pipefail
cd "$(dirname "$0")/../.."
# build.sh compresses the binaries; unpack them next to the repository.
bin=.gpu/run
mkdir -p "$bin"
for z in .gpu/bin/*.gz; do gunzip -c "$z" >"$bin/$(basename "$z" .gz)" && chmod +x "$bin/$(basename "$z" .gz)"; done
# Logs gather in a work folder, packed into $OUT/gpu-test.tar.gz at the end
# (the device tool returns at most 8 files).
final=${OUT:-.gpu/logs}
out=/tmp/gpu-test-logs
rm -rf "$out"
mkdir -p "$out" "$final"
summary="$out/summary.txt"
: >"$summary"
status=0

step() { # step NAME LOG CMD...: runs CMD, logging to $out/LOG, and records its status
	local name=$1 log=$2
	shift 2
	echo "== $name: $*" | tee -a "$summary"
	local t0=$SECONDS
	"$@" >"$out/$log" 2>&1
	local rc=$?
	echo "   exit $rc in $((SECONDS - t0)) s, log $log" | tee -a "$summary"
	# What a reader needs first: failures and their messages, benchmark
	# results, then the end of the log.
	grep -E -e '--- FAIL|panic:|_test\.go:[0-9]+: .*(error|exceeds|want|got|unusable|failed)|^Benchmark|========= ' "$out/$log" |
		head -n 60 | sed 's/^/   | /'
	tail -n 3 "$out/$log" | sed 's/^/   | /'
	return $rc
}

{
	echo "date: $(date -u +%FT%TZ)"
	echo "host: $(uname -a)"
	echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
	echo "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-}"
	command -v nvidia-smi >/dev/null && nvidia-smi
	ls -d /usr/local/cuda* 2>/dev/null
} >"$out/machine.txt" 2>&1

export DLLMBENCH_REQUIRE_GPU=1
for t in internal-cuda compute-cuda; do
	step "$t tests" "$t.test.log" "$bin/$t.test" -test.v -test.count=1 -test.timeout=6m || status=1
done
if [ "${SKIP_BENCH:-}" != 1 ]; then # SKIP_BENCH=1: correctness only, a shorter call
	for t in internal-cuda compute-cuda; do
		step "$t benchmarks" "$t.bench.log" "$bin/$t.test" -test.run='^$' -test.bench=. -test.benchtime=1s -test.timeout=6m || status=1
	done
fi

# compute-sanitizer, when it is there. memcheck (out-of-bounds and
# misaligned accesses) and synccheck (barriers some threads of a block never
# reach) over the conformance, fusion and graph tests; racecheck (shared
# memory hazards) over them too, failing only on a hazard in a kernel of
# ours: it reports some in cuBLAS's own sm_90 kernels (nvjet_*), as it does
# for PyTorch's bf16 product on the same machine, and excluding those
# kernels (--kernel-name-exclude) makes the sanitizer itself fail; initcheck
# (device memory read before anything wrote it) over the goldens' whole
# models, since it does not see what cuBLAS's sm_90 kernels write (every
# read of a product's output is reported, in PyTorch too), and so not
# over the goldens in half precision, whose products are cuBLAS's.
# docs/perf.md v21, v23.
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -n 1)
sanitized='^(TestConformance|TestAttentionShapes|TestGatherScatterConversions|TestGraph|TestWriteReadViews|TestFusionsMatchComposed|TestArgmaxProbShapes|TestAttentionTiledRowIndependence)$'
ours_only() { # ours_only LOG CMD...: runs CMD; fails when it fails or LOG names an access outside nvjet_* in a race
	local log=$1
	shift
	"$@" || return 1
	! grep -E 'access at ' "$log" | grep -q -v -E 'access at nvjet_'
}
if [ -z "$sanitizer" ]; then
	echo "== compute-sanitizer not found: memcheck, synccheck, racecheck and initcheck skipped" | tee -a "$summary"
else
	for tool in memcheck synccheck; do
		step "$tool" "$tool.log" timeout 400 "$sanitizer" --tool "$tool" --error-exitcode 9 \
			"$bin/compute-cuda.test" -test.v -test.count=1 -test.run="$sanitized" || status=1
	done
	step "racecheck (hazards outside cuBLAS fail)" "racecheck.log" ours_only "$out/racecheck.log" \
		timeout 400 "$sanitizer" --tool racecheck --print-limit 10000 \
		"$bin/compute-cuda.test" -test.v -test.count=1 -test.run="$sanitized" || status=1
	for p in model decode; do
		step "initcheck, $p goldens on cuda" "$p-initcheck.log" env DLLMBENCH_TEST_BACKEND=cuda bash -c \
			"cd $p && timeout 300 '$sanitizer' --tool initcheck --error-exitcode 9 ../$bin/$p.test -test.v -test.count=1 -test.run 'Golden|Stories260K' -test.skip HalfPrecision -test.timeout=280s" || status=1
	done
fi

# Whole models on the GPU against the PyTorch goldens (testdata/golden),
# run from each package's folder for its relative testdata paths.
for p in model decode; do
	step "$p goldens on cuda" "$p-cuda.log" env DLLMBENCH_TEST_BACKEND=cuda \
		bash -c "cd $p && ../$bin/$p.test -test.v -test.count=1 -test.run 'Golden|Stories260K|SampleTokens|Gumbel|Sampled' -test.timeout=5m" || status=1
done
if [ -x "$bin/dllmbench" ]; then
	step "dllmbench env" "dllmbench-env.log" "$bin/dllmbench" env || status=1
	step "generate on cuda" "generate-cuda.log" "$bin/dllmbench" generate --backend cuda --model testdata/stories260K \
		--prompt-ids 1 --gen-length 40 --format json || status=1
	step "generate on cuda, sampled on the device" "generate-cuda-sampled.log" "$bin/dllmbench" generate --backend cuda \
		--model testdata/stories260K --prompt-ids 1 --gen-length 40 --temperature 0.9 --top-p 0.9 --seed 3 --format json || status=1
	step "default grid on cuda" "run-cuda.log" timeout 240 "$bin/dllmbench" run --backend cuda \
		--output_dir /tmp/dllmbench-results || status=1
	cp /tmp/dllmbench-results/records/*.jsonl "$out/default-grid-records.jsonl" 2>/dev/null
fi
echo "== overall: $([ $status = 0 ] && echo PASS || echo FAIL)" | tee -a "$summary"
tar czf "$final/gpu-test.tar.gz" -C "$out" .
exit $status
