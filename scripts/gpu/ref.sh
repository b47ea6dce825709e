#!/usr/bin/env bash
# Assembles .gpu/ref, the PyTorch peers' third-party code (peers.py and
# parity8b.py take it as --ref; profile.sh copies it to the GPU machine's
# /tmp/ref), from local git clones of the three projects, at the commits
# the goldens and docs/perf.md's tables were made with. Nothing of theirs
# is committed here: .gpu is git-ignored.
#
#   scripts/gpu/ref.sh GPT_FAST_CLONE FAST_DLLM_CLONE LLADA_CLONE
#
#   git clone https://github.com/pytorch-labs/gpt-fast
#   git clone https://github.com/NVlabs/Fast-dLLM
#   git clone https://github.com/ML-GSAI/LLaDA
#
# Other commits: GPTFAST_COMMIT, FASTDLLM_MODEL_COMMIT (llada/model/*),
# FASTDLLM_GENERATE_COMMIT (llada/generate.py), LLADA_COMMIT. Before
# f6b35ec, Fast-dLLM's generate.py imported its model as a top-level
# package (`from model.modeling_llada ...`); the copy is made to import it
# relatively, as later commits do, so that it loads as fastdllm.generate.
set -euo pipefail
if [ $# -ne 3 ]; then
	sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
fi
gptfast=$1 fastdllm=$2 llada=$3
gf_commit=${GPTFAST_COMMIT:-32971d3}
fm_commit=${FASTDLLM_MODEL_COMMIT:-24cc59e}
fg_commit=${FASTDLLM_GENERATE_COMMIT:-f6b35ec}
ll_commit=${LLADA_COMMIT:-b7e6c35}
cd "$(dirname "$0")/../.."
ref=.gpu/ref
mkdir -p .gpu
tmp=$(mktemp -d .gpu/ref.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# get CLONE COMMIT PATH DEST: PATH at COMMIT of the clone, into DEST.
get() {
	if ! git -C "$1" show "$2:$3" >"$4" 2>/dev/null; then
		echo "ref.sh: $1 has no $3 at $2 (fetch it, or set the commit: see the header)" >&2
		exit 1
	fi
}
mkdir -p "$tmp/gptfast" "$tmp/fastdllm/model" "$tmp/llada_ref"
for f in model.py generate.py LICENSE; do get "$gptfast" "$gf_commit" "$f" "$tmp/gptfast/$f"; done
git -C "$gptfast" rev-parse "$gf_commit^{commit}" >"$tmp/gptfast/COMMIT"
for f in __init__.py configuration_llada.py modeling_llada.py; do
	get "$fastdllm" "$fm_commit" "llada/model/$f" "$tmp/fastdllm/model/$f"
done
get "$fastdllm" "$fg_commit" llada/generate.py "$tmp/fastdllm/generate.py"
sed -i 's/^from model\.modeling_llada import/from .model.modeling_llada import/' "$tmp/fastdllm/generate.py"
: >"$tmp/fastdllm/__init__.py"
printf 'llada/model %s\nllada/generate.py %s\n' "$(git -C "$fastdllm" rev-parse "$fm_commit^{commit}")" \
	"$(git -C "$fastdllm" rev-parse "$fg_commit^{commit}")" >"$tmp/fastdllm/COMMIT"
for f in generate.py get_log_likelihood.py; do get "$llada" "$ll_commit" "$f" "$tmp/llada_ref/$f"; done
git -C "$llada" rev-parse "$ll_commit^{commit}" >"$tmp/llada_ref/COMMIT"

rm -rf "$ref"
mv "$tmp" "$ref"
trap - EXIT
find "$ref" -type f | sort
