#!/usr/bin/env bash
# Why a LLaMA-3-8B decode layer of the model takes about 13 µs more than
# compute/cuda's BenchmarkLayer times for the same kernels (docs/perf.md,
# CUDA v9), in one device call of about 3 minutes: model's
# BenchmarkLayerTensors (the first layer with the model's tensors, with each
# kind of them copied afresh, and compute/cuda's layer in the model's
# process: "bench") in the process of the 8B checkpoint and in that of
# stories260K, then BenchmarkLayer itself, all on one card. LLADA=1 adds
# LLaDA-8B's reference step split the same way (BenchmarkDiffusionStep,
# with its checkpoint: about 90 s more) next to BenchmarkLayer's 256-row
# layer.
#
#   make gpu, then on the GPU machine: bash scripts/gpu/layergap.sh
set -u
cd "$(dirname "$0")/../.."
mkdir -p .gpu/run
for z in model.test compute-cuda.test; do gunzip -c ".gpu/bin/$z.gz" >".gpu/run/$z" && chmod +x ".gpu/run/$z"; done
export DLLMBENCH_KERNEL_CACHE=/tmp/dllmbench-kernels DLLMBENCH_TEST_BACKEND=cuda
nvidia-smi --query-gpu=uuid --format=csv,noheader
# ref puts the peers' code (.gpu/ref; the LLaDA checkpoint's reference
# needs its modeling code) in /tmp/ref, once.
ref() {
	[ -d /tmp/ref/fastdllm ] && return
	rm -rf /tmp/ref
	cp -r .gpu/ref /tmp/ref 2>/dev/null || mkdir -p /tmp/ref
}
if [ ! -d /tmp/p8b/llama3-8b ]; then
	t0=$SECONDS
	ref
	timeout 200 python3 scripts/gpu/parity8b.py --out /tmp/p8b --ref /tmp/ref --only llama \
		--tokenizer internal/demo/files/demo-llama/tokenizer.json --prompt-len 8 >/tmp/p8b.log 2>&1
	echo "== checkpoint rc=$? in $((SECONDS - t0)) s"
fi
for dir in /tmp/p8b/llama3-8b ""; do
	echo "== BenchmarkLayerTensors on ${dir:-stories260K}"
	(cd model && DLLMBENCH_STEP_MODEL=$dir timeout 150 ../.gpu/run/model.test -test.run '^$' \
		-test.bench LayerTensors -test.benchtime 300x) 2>&1 | grep -E "^Bench|FAIL|panic|SKIP" | awk '{print $1, $(NF-1), $NF}'
done
echo "== BenchmarkLayer"
timeout 100 .gpu/run/compute-cuda.test -test.run '^$' -test.bench 'Layer/llama/decode/B=1/T=256/(default|32-layers)$' \
	-test.benchtime=1s 2>&1 | grep -E "^Bench" | awk '{print $1, $3, $4}'
if [ "${LLADA:-0}" = 1 ]; then
	if [ ! -d /tmp/p8b/llada-8b ]; then
		t0=$SECONDS
		ref
		timeout 200 python3 scripts/gpu/parity8b.py --out /tmp/p8b --ref /tmp/ref --only llada \
			--tokenizer internal/demo/files/demo-llama/tokenizer.json --prompt-len 8 >/tmp/p8b-llada.log 2>&1
		echo "== LLaDA checkpoint rc=$? in $((SECONDS - t0)) s"
	fi
	echo "== BenchmarkDiffusionStep"
	(cd model && DLLMBENCH_DIFFUSION_MODEL=/tmp/p8b/llada-8b timeout 150 ../.gpu/run/model.test -test.run '^$' \
		-test.bench DiffusionStep -test.benchtime 50x) 2>&1 | grep -E "^Bench|FAIL|panic" | awk '{print $1, $(NF-1), $NF}'
	timeout 100 .gpu/run/compute-cuda.test -test.run '^$' -test.bench 'Layer/llada/no-cache/n=256/T=256/default$' \
		-test.benchtime=1s 2>&1 | grep -E "^Bench" | awk '{print $1, $3, $4}'
fi
