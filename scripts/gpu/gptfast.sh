#!/usr/bin/env bash
# The second device call of a closing session: gpt-fast (peers.py --only
# gptfast, about 2.5 minutes with torch.compile) on the card final.sh has
# just measured, then table.py again over everything, gpt-fast included.
# final.sh and gpt-fast together pass the 10 minutes a device call may
# take, so call this right after it, while the machine is warm and
# /tmp/p8b, /tmp/ref and /tmp/final-extra are still there.
#
#   bash scripts/gpu/final.sh   (one call), then bash scripts/gpu/gptfast.sh
set -u
cd "$(dirname "$0")/../.."
extra=/tmp/final-extra
out=${OUT:-/tmp/final}
if [ ! -d /tmp/p8b/llama3-8b ] || [ ! -f "$extra/ceilings.jsonl" ]; then
	echo "gptfast.sh: no final.sh results on this machine (a fresh one?): run final.sh first" >&2
	exit 1
fi
[ -d /tmp/ref/gptfast ] || cp -r .gpu/ref /tmp/ref
nvidia-smi --query-gpu=uuid --format=csv,noheader
t0=$SECONDS
timeout 300 python3 scripts/gpu/peers.py --models /tmp/p8b --ref /tmp/ref --out "$extra/gptfast.jsonl" --reps 2 \
	--only gptfast >"$extra/peers-gptfast.log" 2>&1
echo "== gpt-fast rc=$? in $((SECONDS - t0)) s"
python3 scripts/gpu/table.py "$extra/ceilings.jsonl" "$extra/profile" "$extra/gptfast.jsonl" >"$extra/table.md" 2>&1
cat "$extra/table.md"
mkdir -p "$out" && tar czf "$out/final.tar.gz" -C "$extra" .
