#!/usr/bin/env python3
"""Golden data for tokenizer.Decode's clean-up of spaces: what transformers'
decode gives under each combination of tokenizer_config.json's
clean_up_tokenization_spaces flags.

Usage: cleanup_goldens.py OUT.json

Needs transformers (5.x); no network. Reads the llama3 tokenizer of
testdata/tokenizer/golden/ and writes, for each config, the ids of a few
texts with spaces before punctuation and transformers' decode of them with
and without skip_special_tokens. Copy OUT.json to
testdata/tokenizer/golden/cleanup.json; TestDecodeCleanUpGolden reads it.
"""

import json
import os
import shutil
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import transformers
from transformers import AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", "..", "testdata", "tokenizer", "golden", "llama3"))
BPE_FLAG = "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output"

CONFIGS = {
    "absent": {},
    "false": {"clean_up_tokenization_spaces": False},
    "true": {"clean_up_tokenization_spaces": True},
    "bpe flag only": {BPE_FLAG: True},
    "true and bpe flag": {"clean_up_tokenization_spaces": True, BPE_FLAG: True},
}
TEXTS = [
    'He said , "do n\'t" . x != y',
    "It 's over , is n't it ? Yes ! I 'm sure they 've gone , you 're right .",
    "a ' b ' c",
]


def main():
    base = json.load(open(os.path.join(SRC, "tokenizer_config.json")))
    out = {"transformers": transformers.__version__, "cases": []}
    for name, flags in CONFIGS.items():
        d = tempfile.mkdtemp()
        shutil.copy(os.path.join(SRC, "tokenizer.json"), d)
        cfg = dict(base)
        cfg.update(flags)
        json.dump(cfg, open(os.path.join(d, "tokenizer_config.json"), "w"))
        tok = AutoTokenizer.from_pretrained(d)
        for text in TEXTS:
            ids = tok.encode(text, add_special_tokens=True)
            out["cases"].append({
                "config": name, "flags": flags, "ids": ids,
                "decode": tok.decode(ids),
                "decode_skip_special": tok.decode(ids, skip_special_tokens=True),
            })
        shutil.rmtree(d)
    json.dump(out, open(sys.argv[1], "w"), indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
