#!/usr/bin/env bash
# Two GPUs (run on a machine with two, after scripts/gpu/build.sh): the
# default grid with one worker per GPU, then with one GPU; the cells and
# generations must be identical, only timings differ.
set -u
cd "$(dirname "$0")/../.."
gunzip -c .gpu/bin/dllmbench.gz > /tmp/dllmbench && chmod +x /tmp/dllmbench
nvidia-smi --query-gpu=index,name,uuid --format=csv,noheader
export XDG_CACHE_HOME=/tmp/cache
( while sleep 1; do nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader; done ) > /tmp/util.log 2>&1 &
mon=$!
t0=$SECONDS
/tmp/dllmbench run --backend cuda --devices 0,1 --output_dir /tmp/two --no-quality > /tmp/two.log 2>&1; echo "two GPUs rc=$? in $((SECONDS-t0)) s"
kill $mon
t0=$SECONDS
/tmp/dllmbench run --backend cuda --devices 0 --output_dir /tmp/one --no-quality > /tmp/one.log 2>&1; echo "one GPU rc=$? in $((SECONDS-t0)) s"
ls /tmp/two/records /tmp/one/records
echo "busy samples per GPU (utilization > 0) during the two-GPU run:"
awk -F, '$2+0 > 0 {n[$1]++} END {for (g in n) print "  gpu " g ": " n[g]}' /tmp/util.log
python3 - <<'PY'
import json, glob
def load(d):
    out = {}
    for f in glob.glob(d + "/records/*.jsonl"):
        for l in open(f):
            r = json.loads(l)
            out[r["key"]] = (r["status"], r["outputs"], r["env"]["gpu"]["uuid"] if r["env"].get("gpu") else None)
    return out
two, one = load("/tmp/two"), load("/tmp/one")
print("cells: two GPUs", len(two), "one GPU", len(one), "same keys", set(two) == set(one))
same = sum(1 for k in two if k in one and two[k][1] == one[k][1])
print("identical generations:", same, "of", len(two))
print("GPUs used by the two-GPU run:", sorted({v[2] for v in two.values()}))
files = glob.glob("/tmp/two/records/*.jsonl")
print("record files:", [f.split("/")[-1] for f in files])
PY
tail -3 /tmp/two.log
