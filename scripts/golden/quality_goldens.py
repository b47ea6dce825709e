#!/usr/bin/env python3
"""Reference values for dllmbench's quality package.

Usage: quality_goldens.py OUTDIR

Reads testdata/quality/pairs.json (a list of {"name", "hyp", "ref"}) and
writes OUTDIR/quality_golden.json with
  - sacreBLEU corpus BLEU of all pairs with its defaults (13a, exp smoothing):
    score, counts, totals, precisions, bp, sys_len, ref_len;
  - per pair: the 13a tokenization, sentence BLEU with sacreBLEU's
    sentence_bleu defaults (same fields), and ROUGE-L precision, recall and
    F-measure with rouge_score's defaults (no stemming).
ROUGE-L comes from rouge_score when it imports; otherwise from torchmetrics'
tokenizer and LCS, with P/R/F computed in float64 by rouge_score's formula
(torchmetrics' public rouge_score returns float32 tensors, kept alongside as a
cross-check). The output names the implementation used.

Needs Python 3.8+, sacrebleu, and rouge_score or torchmetrics; no network.
Copy the output to testdata/quality/golden/ for `go test ./quality`.
Each part runs on its own; the exit status is 1 if any part failed.
"""

import json
import os
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
PAIRS = os.path.join(HERE, "..", "..", "testdata", "quality", "pairs.json")


def bleu_fields(s):
    return {
        "score": s.score,
        "counts": list(s.counts),
        "totals": list(s.totals),
        "precisions": list(s.precisions),
        "bp": s.bp,
        "sys_len": s.sys_len,
        "ref_len": s.ref_len,
    }


def part_bleu(pairs, out):
    import sacrebleu
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    tok = Tokenizer13a()
    hyps = [p["hyp"] for p in pairs]
    refs = [p["ref"] for p in pairs]
    out["sacrebleu_version"] = sacrebleu.__version__
    metric = sacrebleu.BLEU()  # corpus_bleu's defaults
    out["corpus_bleu"] = bleu_fields(metric.corpus_score(hyps, [refs]))
    out["corpus_bleu_signature"] = str(metric.get_signature())
    for p, o in zip(pairs, out["pairs"]):
        # sacreBLEU strips trailing white space before tokenizing.
        o["tok13a_hyp"] = tok(p["hyp"].rstrip()).split()
        o["tok13a_ref"] = tok(p["ref"].rstrip()).split()
        o["sentence_bleu"] = bleu_fields(sacrebleu.sentence_bleu(p["hyp"], [p["ref"]]))


def rouge_with_rouge_score(pairs, out):
    import rouge_score
    from rouge_score import rouge_scorer, tokenize

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    out["rouge_impl"] = "rouge_score %s" % getattr(rouge_score, "__version__", "(version unknown)")
    for p, o in zip(pairs, out["pairs"]):
        s = scorer.score(p["ref"], p["hyp"])["rougeL"]  # score(target, prediction)
        o["rouge_tokens_hyp"] = tokenize.tokenize(p["hyp"], None)
        o["rouge_tokens_ref"] = tokenize.tokenize(p["ref"], None)
        o["rougeL"] = {"precision": s.precision, "recall": s.recall, "fmeasure": s.fmeasure}


def rouge_with_torchmetrics(pairs, out):
    import torchmetrics
    from torchmetrics.functional.text import rouge as tmr

    out["rouge_impl"] = (
        "torchmetrics %s: its tokenizer and LCS, P/R/F in float64 by rouge_score's formula" % torchmetrics.__version__
    )
    for p, o in zip(pairs, out["pairs"]):
        h = list(tmr._normalize_and_tokenize_text(p["hyp"]))
        r = list(tmr._normalize_and_tokenize_text(p["ref"]))
        o["rouge_tokens_hyp"] = h
        o["rouge_tokens_ref"] = r
        if not h or not r:
            prec = rec = f = 0.0
        else:
            lcs = tmr._lcs(h, r)
            if isinstance(lcs, (list, tuple)):  # versions that return the table
                lcs = lcs[-1][-1]
            prec = int(lcs) / len(h)
            rec = int(lcs) / len(r)
            f = 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
        o["rougeL"] = {"precision": prec, "recall": rec, "fmeasure": f}
        pub = tmr.rouge_score(p["hyp"], p["ref"], rouge_keys=("rougeL",))
        o["rougeL_torchmetrics_float32"] = {
            "precision": float(pub["rougeL_precision"]),
            "recall": float(pub["rougeL_recall"]),
            "fmeasure": float(pub["rougeL_fmeasure"]),
        }


def part_rouge(pairs, out):
    try:
        import rouge_score  # noqa: F401
    except ImportError:
        rouge_with_torchmetrics(pairs, out)
    else:
        rouge_with_rouge_score(pairs, out)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    outdir = sys.argv[1]
    with open(PAIRS, encoding="utf-8") as f:
        pairs = json.load(f)
    out = {
        "python": sys.version.split()[0],
        "pairs": [{"name": p["name"], "hyp": p["hyp"], "ref": p["ref"]} for p in pairs],
    }
    results = {}
    for name, fn in (("bleu", part_bleu), ("rouge", part_rouge)):
        try:
            fn(pairs, out)
            results[name] = "ok"
        except Exception:
            traceback.print_exc()
            results[name] = "FAILED"
    out["parts"] = results
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, "quality_golden.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("wrote %s (%d pairs)" % (path, len(pairs)))
    for name, status in results.items():
        print("  %-6s %s" % (name, status))
    if "rouge_impl" in out:
        print("  rouge via", out["rouge_impl"])
    return 0 if all(s == "ok" for s in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
