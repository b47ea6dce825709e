#!/usr/bin/env bash
# Runs every golden script on the GPU machine and packs the results into
# $OUT/goldens.tar.gz (the device tool brings back at most 8 files).
# Needs .gpu/ref (the official LLaDA / Fast-dLLM code, never committed) and
# .gpu/data (tiny Shakespeare, WikiText-103 validation) carried along.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-/tmp/golden-out}
work=/tmp/goldens
rm -rf "$work" /tmp/ref /tmp/ref2 && mkdir -p "$work" "$out"
export PYTHONUNBUFFERED=1
python3 -c 'import torch, transformers, tokenizers; print("torch", torch.__version__, "transformers", transformers.__version__, "tokenizers", tokenizers.__version__, torch.cuda.get_device_name(0))'
nvidia-smi --query-gpu=name,uuid,driver_version,memory.total --format=csv,noheader
cp -r "$root/.gpu/ref" /tmp/ref
cp -r "$root/.gpu/ref" /tmp/ref2
# The demo pair trains in the background while the goldens run.
(timeout 540 python3 "$root/scripts/golden/train_demo.py" --ref /tmp/ref2 --wikitext "$root/.gpu/data/wiki.valid.raw" \
    --out "$work/demo" --minutes "${DEMO_MINUTES:-2}" > "$work/demo.log" 2>&1; echo "demo rc=$?" >> "$work/demo.log") &
timeout 120 python3 "$root/scripts/golden/tokenizer_goldens.py" "$work/tokenizer" > "$work/tokenizer.log" 2>&1; echo "tokenizer rc=$?"
timeout 60 python3 "$root/scripts/golden/quality_goldens.py" "$work/quality" > "$work/quality.log" 2>&1; echo "quality rc=$?"
timeout 480 python3 "$root/scripts/golden/engine_goldens.py" --ref /tmp/ref --data "$root/.gpu/data" --out "$work/engine" \
    --train-steps "${TRAIN_STEPS:-1500}" > "$work/engine.log" 2>&1; echo "engine rc=$?"
wait
tail -3 "$work/tokenizer.log" "$work/quality.log"
grep -E "^==|candidates|FAIL|Error|rc=|parameters|step 1499" "$work/engine.log" | tail -40
tail -8 "$work/demo.log"
tar czf "$out/goldens.tar.gz" -C "$work" .
ls -la "$out"
