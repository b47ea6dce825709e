#!/usr/bin/env bash
# Where a step's time goes, and the checks of the commits since the last GPU
# session, in one device call (about 9 minutes):
#   1. the CUDA tests and the engine goldens on CUDA;
#   2. the 8B random checkpoints (parity8b.py, no references);
#   3. per-kernel times from Nsight Compute for LLaMA-3-8B decode, LLaDA's
#      reference step and the dual-cache call (ncu_summary.py tables);
#   4. the performance grids (GRIDS, default perf-short perf-batch
#      perf-prefill).
# Optional, between 1 and 2: CUDA_TESTS (compute-cuda tests it matches),
# BENCH (benchmarks of every compute-cuda*.test), NCU_BENCH (benchmarks
# under Nsight Compute) and MEMCHECK (compute-sanitizer over the tests it
# matches), SASS=1 (the compiler's resource report of the kernels);
# SKIP_CKPT=1 ends the run there; after 2,
# PARITY=1 (the full-shape parity test), STEP=1 (a decode step's device
# and host shares, BenchmarkDecodeStep); at the end, PEERS (peers.py
# --only each of them). SKIP_TESTS=1 and SKIP_NCU=1 leave those steps out.
# Everything lands in $OUT/profile.tar.gz; the summaries are printed.
set -u
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/profile}
work=/tmp/profile-logs
rm -rf "$work" && mkdir -p "$work" "$out" .gpu/run
deadline=$((SECONDS + ${BUDGET:-585}))
# left RESERVE: the seconds a step may take so that RESERVE remain; at least
# 1, so that a step past the budget ends at once with timeout's rc 124 (a
# negative number would be read as an option).
left() {
	local s=$((deadline - SECONDS - ${1:-0}))
	echo $((s < 1 ? 1 : s))
}
# atleast N RESERVE: left RESERVE, but no less than N seconds while the
# budget has them: for a step whose output every later step needs (the
# checkpoints), so that a short BUDGET cuts the later steps rather than
# starving it and leaving them nothing to run on (v18 and v19 lost a call
# each to BUDGET=400 and 330 this way).
atleast() {
	local s=$(left "$2") all=$(left 0)
	[ "$s" -lt "$1" ] && s=$((all < $1 ? all : $1))
	echo "$s"
}
for z in .gpu/bin/*.gz; do gunzip -c "$z" >".gpu/run/$(basename "$z" .gz)" && chmod +x ".gpu/run/$(basename "$z" .gz)"; done
export DLLMBENCH_KERNEL_CACHE=/tmp/dllmbench-kernels PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,uuid,driver_version,clocks.sm,clocks.mem,power.limit --format=csv,noheader | tee "$work/gpu.txt"
bin=$PWD/.gpu/run
# Nsight Compute, where the machine has it (NCU_BENCH and the profiles).
ncu=$(command -v ncu || ls /usr/local/cuda*/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -n 1)
pack() { tar czf "$out/profile.tar.gz" -C "$work" .; }
trap pack EXIT

if [ "${SKIP_TESTS:-0}" != 1 ]; then
	export DLLMBENCH_REQUIRE_GPU=1
	for t in internal-cuda compute-cuda; do
		t0=$SECONDS
		timeout "$(left 420)" "$bin/$t.test" -test.count=1 -test.timeout=5m >"$work/$t.log" 2>&1
		rc=$?
		echo "== $t tests rc=$rc in $((SECONDS - t0)) s"; grep -E "^--- FAIL|panic:|^FAIL|^ok" "$work/$t.log" | head
		if [ $t = compute-cuda ] && [ $rc != 0 ] && [ "${DLLMBENCH_CUDA_PDL:-1}" != 0 ]; then
			# Programmatic dependent launches are the newest mechanism: if
			# the tests fail with them, run them without, and go on so
			# (compute-cuda-nopdl.log says that the session did).
			export DLLMBENCH_CUDA_PDL=0
			timeout "$(left 420)" "$bin/$t.test" -test.count=1 -test.timeout=5m >"$work/$t-nopdl.log" 2>&1
			echo "== $t tests without programmatic launches rc=$?"; grep -E "^--- FAIL|^ok" "$work/$t-nopdl.log" | head -5
		fi
	done
	for p in model decode; do
		t0=$SECONDS
		(cd $p && DLLMBENCH_TEST_BACKEND=cuda timeout "$(left 400)" "$bin/$p.test" -test.count=1 \
			-test.run 'Golden|Stories260K' -test.timeout=3m) >"$work/$p-goldens.log" 2>&1
		echo "== $p goldens on cuda rc=$? in $((SECONDS - t0)) s"; grep -E "^--- FAIL|panic:|^FAIL|^ok|^PASS" "$work/$p-goldens.log" | head -5
	done
	unset DLLMBENCH_REQUIRE_GPU
fi

# CUDA_TESTS: a -test.run pattern of compute-cuda.test run on its own (with
# SKIP_TESTS=1: the tests of a change before the whole suite).
if [ -n "${CUDA_TESTS:-}" ]; then
	t0=$SECONDS
	DLLMBENCH_REQUIRE_GPU=1 timeout "$(left 420)" "$bin/compute-cuda.test" -test.count=1 -test.run="$CUDA_TESTS" \
		-test.timeout=5m >"$work/cuda-tests.log" 2>&1
	echo "== compute-cuda tests $CUDA_TESTS rc=$? in $((SECONDS - t0)) s"
	grep -E "^\s*--- FAIL|panic:|^FAIL|^ok|^PASS|_test.go:[0-9]+: " "$work/cuda-tests.log" | head -30
fi

# BENCH: -test.bench patterns (separated by spaces) run on every
# compute-cuda*.test binary (a variant built from changed kernels sits next
# to the main one as compute-cuda-NAME.test), so that both are timed on the
# same card.
if [ -n "${BENCH:-}" ]; then
	read -ra pats <<<"$BENCH" # split on spaces, never globbed
	for tb in "$bin"/compute-cuda*.test; do
		t0=$SECONDS
		name=$(basename "$tb" .test)
		for pat in "${pats[@]}"; do
			DLLMBENCH_KERNEL_CACHE=/tmp/kc-$name timeout "$(left 360)" "$tb" -test.run='^$' -test.bench="$pat" \
				-test.benchtime=0.3s -test.timeout=4m >>"$work/bench-$name.log" 2>&1
		done
		echo "== benchmarks $name rc=$? in $((SECONDS - t0)) s"
		grep -E "^Benchmark" "$work/bench-$name.log" | awk '{printf "%-70s %s %s\n", $1, $3, $4}'
	done
fi
# NCU_BENCH: a -test.bench pattern run once under Nsight Compute with its
# throughput, memory, occupancy and stall sections (kernels matching NCU_K,
# default every kernel; NCU_LAUNCHES of them): why a kernel is as fast as
# it is, next to cuBLAS on the same shapes.
# The stall reasons (cycles a warp waits, per issued instruction, by
# reason) come as metrics matched by NCU_METRICS (a regex); where ncu
# refuses them, the run is repeated with the sections alone.
if [ -n "${NCU_BENCH:-}" ] && [ -n "$ncu" ]; then
	t0=$SECONDS
	ncu_bench() {
		timeout "$(left 360)" "$ncu" --clock-control none -k "regex:${NCU_K:-.}" --launch-count "${NCU_LAUNCHES:-40}" \
			--section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats \
			--section WarpStateStats --section SchedulerStats "$@" \
			"$bin/compute-cuda.test" -test.run='^$' -test.bench="$NCU_BENCH" -test.benchtime=2x >"$work/ncu-bench.log" 2>&1
	}
	ncu_bench --metrics "regex:${NCU_METRICS:-smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio}"
	rc=$?
	if [ $rc != 0 ]; then
		echo "== ncu with the stall metrics rc=$rc: $(grep -m1 -iE "error|failed" "$work/ncu-bench.log")"
		ncu_bench
		rc=$?
	fi
	echo "== ncu benchmarks rc=$rc in $((SECONDS - t0)) s"
	grep -E "^  [a-z_0-9]+.*\(|^Benchmark|Duration|DRAM Throughput|L2 Cache Throughput|L1/TEX Cache Throughput|Memory Throughput|Achieved Occupancy|Registers Per|Block Limit|Warp Cycles Per Issued|Issued Warp Per|No Eligible|Mem Busy|Max Bandwidth|Shared Memory Configuration Size|Dynamic Shared" "$work/ncu-bench.log" | cut -c1-150 | head -${NCU_LINES:-200}
	# Each kernel's stall reasons over 0.05 cycles an instruction.
	grep -E "^  [a-z_0-9]+.*\(|issue_stalled" "$work/ncu-bench.log" |
		sed -E 's/smsp__average_warps_issue_stalled_([a-z_]+)_per_issue_active\.ratio/stall \1/' |
		awk '/\(/ {print; next} $NF + 0 > 0.05 {printf "    %-32s %s\n", $2, $NF}' | head -${NCU_LINES:-200}
fi
# SASS=1: the registers, shared memory, stack and spills of every kernel
# matching NCU_K (default the GEMVs) in the cubin the tests compiled, from
# cuobjdump: the compiler's report, with no device time.
if [ "${SASS:-0}" = 1 ] && command -v cuobjdump >/dev/null; then
	for c in "$DLLMBENCH_KERNEL_CACHE"/*.cubin; do
		cuobjdump --dump-resource-usage "$c" >"$work/resource-usage.txt" 2>&1
		echo "== resource usage ($(basename "$c"))"
		grep -A1 -E "Function (${NCU_K:-gemv})" "$work/resource-usage.txt" | grep -vE "^--$" | paste - - |
			sed -E 's/Function ([a-z_0-9]+):/\1/; s/[[:space:]]+/ /g' | cut -c1-160 | head -60
	done
fi
if [ -n "${MEMCHECK:-}" ] && command -v compute-sanitizer >/dev/null; then
	t0=$SECONDS
	DLLMBENCH_REQUIRE_GPU=1 timeout "$(left 330)" compute-sanitizer --tool memcheck --error-exitcode 9 "$bin/compute-cuda.test" \
		-test.count=1 -test.run="$MEMCHECK" >"$work/memcheck.log" 2>&1
	echo "== memcheck ($MEMCHECK) rc=$? in $((SECONDS - t0)) s"; grep -E "ERROR SUMMARY|^--- FAIL|^ok|^PASS|^FAIL" "$work/memcheck.log" | head -5
fi

# SKIP_CKPT=1 stops here: no checkpoints, parity, profiles or grids.
[ "${SKIP_CKPT:-0}" = 1 ] && exit 0
t0=$SECONDS
rm -rf /tmp/ref && cp -r .gpu/ref /tmp/ref
# PARITY=1: references over a 64-token prompt (the cuBLAS path) and the
# full-shape parity test on them; otherwise 8 tokens, for the checkpoints.
plen=8
[ "${PARITY:-0}" = 1 ] && plen=64
timeout "$(atleast 240 300)" python3 scripts/gpu/parity8b.py --out /tmp/p8b --ref /tmp/ref \
	--tokenizer internal/demo/files/demo-llama/tokenizer.json --prompt-len $plen >"$work/p8b.log" 2>&1
echo "== checkpoints rc=$? in $((SECONDS - t0)) s"
if [ "${PARITY:-0}" = 1 ]; then
	t0=$SECONDS
	(cd model && DLLMBENCH_TEST_BACKEND=cuda DLLMBENCH_PARITY_DIR=/tmp/p8b timeout "$(left 240)" \
		"$bin/model.test" -test.run FullShapeParity -test.v -test.count=1) >"$work/parity-test.log" 2>&1
	echo "== parity test rc=$? in $((SECONDS - t0)) s"
	grep -E "relative error|agreement|FAIL|PASS|panic" "$work/parity-test.log" | head -12
fi

# stepbench LOG VAR=CHECKPOINT PATTERN COUNT RESERVE runs model.test's
# benchmarks PATTERN COUNT times on the checkpoint VAR names, leaving
# RESERVE seconds of the budget, into $work/LOG.log.
stepbench() {
	local log=$1 ck=$2 pat=$3 count=$4 reserve=$5 t0=$SECONDS
	(cd model && env DLLMBENCH_TEST_BACKEND=cuda "$ck" timeout "$(left "$reserve")" \
		"$bin/model.test" -test.run '^$' -test.bench "$pat" -test.benchtime "$count") >"$work/$log.log" 2>&1
	echo "== $log rc=$? in $((SECONDS - t0)) s"
	grep -E "^Benchmark" "$work/$log.log" | awk '{print $1, $(NF-1), $NF}'
}
# STEP=1: where a LLaMA-3-8B decode step's time goes (model's
# BenchmarkDecodeStep on the checkpoint): the device's share (the step's
# graph, with and without the head) and the host's; and a LLaDA-8B
# reference step's (BenchmarkDiffusionStep).
if [ "${STEP:-0}" = 1 ]; then
	[ -d /tmp/p8b/llama3-8b ] && stepbench decode-step DLLMBENCH_STEP_MODEL=/tmp/p8b/llama3-8b DecodeStep 100x 200
	[ -d /tmp/p8b/llada-8b ] && stepbench diffusion-step DLLMBENCH_DIFFUSION_MODEL=/tmp/p8b/llada-8b DiffusionStep 50x 120
fi

ids=$(python3 -c 'print(",".join(str(1000 + 37 * i) for i in range(128)))')
prof() { # prof NAME LAUNCHES generate-flags...
	local name=$1 count=$2
	shift 2
	local t0=$SECONDS
	timeout "$(left 200)" "$ncu" --clock-control none --metrics gpu__time_duration.sum --csv --page raw \
		--print-units base --launch-count "$count" --log-file "$work/ncu-$name.csv" \
		"$bin/dllmbench" generate --backend cuda --prompt-ids "$ids" "$@" >"$work/ncu-$name.out" 2>&1
	echo "== ncu $name rc=$? in $((SECONDS - t0)) s"
	python3 scripts/gpu/ncu_summary.py "$work/ncu-$name.csv" >"$work/ncu-$name.txt" 2>&1
	head -n 28 "$work/ncu-$name.txt"
}
if [ -n "$ncu" ] && [ "${SKIP_NCU:-0}" != 1 ]; then
	for p in ${PROFILES:-llama-decode llada-ref llada-dual}; do
		case $p in
		llama-decode) prof $p 1000 --model /tmp/p8b/llama3-8b --gen-length 6 --ignore-eos ;;
		llada-ref) prof $p 900 --model /tmp/p8b/llada-8b --gen-length 128 --block-length 32 --steps 4 ;;
		llada-dual) prof $p 1400 --model /tmp/p8b/llada-8b --gen-length 64 --block-length 32 --steps 8 --cache dual ;;
		esac
	done
else
	echo "== ncu not found or skipped"
fi

[ -f .gpu/data/wiki.valid.raw ] || echo "== no .gpu/data/wiki.valid.raw (make gpu copies it): perf-prefill has no prompts"
python3 - <<'PY'
import re
out, art = [], []
for line in open(".gpu/data/wiki.valid.raw", encoding="utf-8"):
    if re.match(r"^ = [^=].* = $", line.rstrip("\n")):
        if art:
            out.append(" ".join(art))
        art = []
    elif line.strip() and not line.startswith(" = "):
        art.append(line.strip())
out.append(" ".join(art))
open("/tmp/wiki-articles.txt", "w", encoding="utf-8").write("\n".join(a for a in out if len(a.split()) > 3000) + "\n")
PY
for g in ${GRIDS:-perf-short perf-batch perf-prefill}; do
	[ "$(left 20)" -gt 30 ] || { echo "== $g: no time left"; continue; }
	t0=$SECONDS
	timeout "$(left 10)" "$bin/dllmbench" run --config scripts/gpu/$g.yaml --output_dir /tmp/$g --no-quality >"$work/$g.log" 2>&1
	echo "== $g rc=$? in $((SECONDS - t0)) s"; grep -E "^\|" "$work/$g.log" | head -12
	cp /tmp/$g/records/*.jsonl "$work/" 2>/dev/null
done

# PEERS: the PyTorch peers (scripts/gpu/peers.py --only each), same card.
for p in ${PEERS:-}; do
	t0=$SECONDS
	timeout "$(left 5)" python3 scripts/gpu/peers.py --models /tmp/p8b --ref /tmp/ref --out "$work/peers.jsonl" \
		--reps 2 --only "$p" >"$work/peers-$p.log" 2>&1
	echo "== peers $p rc=$? in $((SECONDS - t0)) s"; grep -E '"peer"' "$work/peers-$p.log" | cut -c1-260; tail -2 "$work/peers-$p.log"
done
