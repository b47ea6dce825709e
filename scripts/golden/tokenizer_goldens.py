#!/usr/bin/env python3
"""Golden data for the Go package dllmbench/tokenizer.

Usage: tokenizer_goldens.py OUTDIR [--data DIR]

Needs `tokenizers` (0.23.x) and `transformers` (5.x); no network. DIR defaults
to testdata/tokenizer/ of this repository and must hold train.txt (training
text) and llama-bpe-cases.jsonl (46 texts). Copy OUTDIR to
testdata/tokenizer/golden/ afterwards; the Go golden tests read it from there.

Writes into OUTDIR:
  patterns.json      Split(Regex(p), "isolated").pre_tokenize_str(text) for each
                     pattern and text: pieces with character offsets, or the
                     error tokenizers raised.
  <name>/            one trained tokenizer per pre-tokenizer set-up:
                     tokenizer.json and the tokenizer_config.json transformers reads.
  encodings.json     for each tokenizer and text: ids with and without special
                     tokens (tokenizers.Tokenizer.from_file), decoded strings, and
                     what transformers.AutoTokenizer.from_pretrained(<name>)(text)
                     gives.
  summary.json       which parts succeeded, versions.

Each part runs in its own try/except so one failure keeps the others; the exit
status is 1 if any part failed.
"""

import json
import os
import random
import sys
import traceback

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.normpath(os.path.join(HERE, "..", "..", "testdata", "tokenizer"))

# The three patterns that matter, and edge patterns for the matcher.
PATTERNS = {
    # meta-llama/llama3 tokenizer.py pat_str; also in LLaMA-3's tokenizer.json.
    "llama3": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    # GPT-2, the pattern ByteLevel(use_regex=True) applies.
    "gpt2": r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
    # Bailing/LLaDA as llama.cpp quotes it from tokenizer.json (llama-vocab.cpp, BAILINGMOE).
    "llada": r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+",
    # The same without the leading apostrophe, as written in the project notes.
    "llada_noapos": r"(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+",
    # Edge cases: possessive and atomic groups, lazy quantifiers, lookahead,
    # case folding, anchors, word boundaries, \w \d \h.
    "edge_possessive": r"\p{L}++\p{L}|[\p{L}\p{M}]++|\p{N}{2,3}|\p{N}*+|[^\p{L}\p{M}\p{N}\s]++|\s++",
    "edge_lookahead": r"\S+(?=\s)|\s+(?!\S)|\s*[\r\n]+|(?!\p{N})\S+|\p{N}|\s+",
    "edge_fold": r"(?i:'s|'t|'re|'ve|'m|'ll|'d|hello|é|ǅ|σ)|\p{Lu}\p{Ll}*|\p{N}{1,2}?|.",
    "edge_atomic": r"(?>\p{L}+|\p{L}\p{N})\p{N}?|\p{N}+?|(?:\p{P}|\p{S})+?\s?|\s",
    "edge_anchors": r"^\s+|\s+$|\b\w+\b|\W",
    "edge_classes": r"[\p{L}&&[^\p{Lu}]]+|[\p{Lu}\p{Lt}]+|\h+|\d+|[^\w\s]|\s",
}

# Special tokens for the trained tokenizers.
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|mdm_mask|>"]


def base_texts(data_dir):
    """Varied texts, then the 46 llama.cpp LLaMA-3 test texts, then random mixes."""
    texts = [
        "",
        " ",
        "Hello world",
        "Hello, world! How are you doing today?",
        "The quick brown fox jumps over the lazy dog. It's 5 o'clock somewhere.",
        "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n",
        # contractions, both cases
        "I'm here, you're there, he's gone, we've won, they'll see, she'd know, don't.",
        "I'M HERE, YOU'RE THERE, HE'S GONE, WE'VE WON, THEY'LL SEE, SHE'D KNOW, DON'T.",
        "it'S 'S 'll 'LL 'Ll 're 'rE 've 'VE 'm 'M 'd 'D 't 'T",
        "'s's''s ''ll 'x 'sx 'ſ 'ſt",
        # digits
        "1 12 123 1234 12345 1234567 3.14159 1,000,000 2024-01-01",
        "٠١٢٣٤٥٦٧٨٩ ½ ² Ⅻ 一二三",
        # code with indentation and tabs
        "def f(x):\n    if x > 0:\n        return x * 2\n\treturn -x  # tab\n",
        "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\r\n}\r\n",
        "    leading spaces and trailing spaces    ",
        # whitespace runs
        "a  b   c    d\t\te\n\nf\n\n\ng\r\n\r\nh",
        "\n",
        "\n\n\n",
        "   \n   \n",
        "\t \t \n",
        "word\u00a0nbsp\u3000ideographic\u2003em\u200bzwsp\ufeffbom\u0085nel\u2028ls\u2029ps",
        "trailing   ",
        "  ",
        "\r\n\r\n",
        # unicode letters and combining marks
        "caf\u00e9 cafe\u0301 na\u00efve r\u00e9sum\u00e9",
        "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
        "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u3053\u3093\u306b\u3061\u306f\u3002\ud55c\uad6d\uc5b4",
        "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
        "\u0391\u03b8\u03ae\u03bd\u03b1 \u041c\u043e\u0441\u043a\u0432\u0430 \u01c5\u01c6\u01c4 \u03a3\u03c3\u03c2",
        "Stra\u00dfe STRASSE \u017fs \u212a K k",
        # emoji, ZWJ sequences, skin tones, flags
        "\U0001f600 \U0001f44d\U0001f3fd \U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 \U0001f1fa\U0001f1f8 \u2764\ufe0f",
        "emoji\U0001f525in\U0001f680words",
        # special tokens inside text
        "<|begin_of_text|>Hello<|end_of_text|>",
        "a<|mdm_mask|><|mdm_mask|>b <|mdm_mask|> c",
        "<|begin_of_text|><|begin_of_text|>",
        "not special: <|begin_of_text| and <|end_of_text",
        " <tool> call <tool>x<tool>  ",
        "a[WORD]b a [WORD] b [WORD]",
        "<role>user</role><|startoftext|>hi<|endoftext|><|number_start|>12<|number_end|><|number",
        # punctuation runs
        "!!! ??? ... --- === *** ### @@@ $$$ %%% ^^^ &&& ((( ))) [[[ ]]] {{{ }}} <<< >>> /// \\\\\\ |||",
        "e.g. i.e. etc... \"quoted\" 'single' `back` \u00abguillemets\u00bb \u201ccurly\u201d",
        "https://example.com/path?q=1&r=two#frag user@example.com",
    ]
    with open(os.path.join(data_dir, "llama-bpe-cases.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                texts.append(json.loads(line)["text"])
    # Random mixes from a fixed alphabet, reproducible.
    rng = random.Random(20240601)
    alphabet = list("aZé\u0301 \t\n\r'sSlLdDmt0123456789.,!?-_()[]<>|/\\\"") + [
        "\u00a0", "\u3000", "\u2003", "\u200b", "\u4e2d", "\u0928", "\u094d", "\U0001f600",
        "\u200d", "<|mdm_mask|>", "<|begin_of_text|>", "ſ", "K", "\u0660", "\u00bd",
    ]
    for _ in range(40):
        texts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))))
    return texts


def pattern_part(out, texts):
    """Part a: Split(Regex(p), behavior='isolated').pre_tokenize_str(text)."""
    from tokenizers import Regex, pre_tokenizers

    results = []
    for name, pat in PATTERNS.items():
        entry = {"name": name, "pattern": pat, "results": []}
        try:
            split = pre_tokenizers.Split(Regex(pat), behavior="isolated", invert=False)
        except Exception as e:  # the pattern does not compile in Oniguruma
            entry["error"] = repr(e)
            results.append(entry)
            continue
        for text in texts:
            try:
                pieces = split.pre_tokenize_str(text)
                entry["results"].append({"pieces": [[p, o[0], o[1]] for p, o in pieces]})
            except Exception as e:
                entry["results"].append({"error": repr(e)})
        results.append(entry)
    dump(os.path.join(out, "patterns.json"), {"texts": texts, "patterns": results}, indent=None)


def train_part(out, data_dir):
    """Part b: train small byte-level BPE tokenizers and save them."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    train_file = os.path.join(data_dir, "train.txt")
    made = []

    def train(name, pre, ignore_merges, vocab_size, extra_specials=()):
        tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
        tok.pre_tokenizer = pre
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=2,
            show_progress=False,
            special_tokens=SPECIALS + list(extra_specials),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
        tok.train([train_file], trainer)
        return tok

    def split_then_bytes(pat):
        return pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pat), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])

    def bos_template(tok, bos):
        bos_id = tok.token_to_id(bos)
        return processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{bos} $A", pair=f"{bos} $A {bos}:1 $B:1", special_tokens=[(bos, bos_id)]),
        ])

    def save(name, tok, config):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        tok.save(os.path.join(d, "tokenizer.json"))
        config = dict(config, tokenizer_class="PreTrainedTokenizerFast", model_max_length=8192)
        dump(os.path.join(d, "tokenizer_config.json"), config)
        made.append(name)

    # LLaMA-3 style: Split + ByteLevel, ignore_merges, BOS template; the config
    # names BOS/EOS but has no add_bos_token, so transformers keeps the template.
    tok = train("llama3", split_then_bytes(PATTERNS["llama3"]), True, 1500)
    tok.post_processor = bos_template(tok, "<|begin_of_text|>")
    tok.add_tokens([
        AddedToken("<tool>", single_word=False, lstrip=True, rstrip=True, normalized=False, special=False),
    ])
    tok.add_special_tokens([AddedToken("[WORD]", single_word=True, normalized=False)])
    save("llama3", tok, {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"})

    # LLaDA style: its likely pattern, possessive quantifiers, no ignore_merges,
    # a BOS template in tokenizer.json but add_bos_token false in the config
    # (as LLaDA-8B ships). transformers 5.17 ignores the flag when
    # tokenizer.json is present: the template's BOS stays (see the goldens).
    extra = ["<|startoftext|>", "<|endoftext|>", "<role>", "</role>", "<|number_start|>", "<|number_end|>", "<|number"]
    tok = train("llada", split_then_bytes(PATTERNS["llada"]), False, 1200, extra)
    tok.post_processor = bos_template(tok, "<|startoftext|>")
    save("llada", tok, {
        "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
        "add_bos_token": False, "add_eos_token": False,
        "additional_special_tokens": ["<|mdm_mask|>", "<role>", "</role>"],
    })

    # GPT-2 style: ByteLevel with its own regex, ByteLevel post-processor; the
    # config asks for BOS and EOS, which transformers 5.17 ignores when
    # tokenizer.json is present: no special tokens are added.
    tok = train("gpt2", pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), False, 1000)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    save("gpt2", tok, {
        "bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>",
        "add_bos_token": True, "add_eos_token": True,
    })

    # Digits then ByteLevel with add_prefix_space (a space before every piece),
    # no post-processor and no config flags.
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True),
    ])
    tok = train("digits_prefix", pre, True, 1000)
    save("digits_prefix", tok, {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"})
    return made


def encode_part(out, names, texts):
    """Parts c and d: encodings with tokenizers and with transformers."""
    from tokenizers import Tokenizer

    result = {"texts": texts, "tokenizers": []}
    failures = []
    for name in names:
        d = os.path.join(out, name)
        entry = {"name": name, "cases": []}
        try:
            tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
            entry["vocab_size"] = tok.get_vocab_size(with_added_tokens=True)
            entry["token_ids"] = {s: tok.token_to_id(s) for s in SPECIALS + ["<tool>", "[WORD]", "<|startoftext|>", "<|endoftext|>"]}
            for text in texts:
                case = {}
                enc = tok.encode(text, add_special_tokens=True)
                case["ids_special"] = enc.ids
                case["ids"] = tok.encode(text, add_special_tokens=False).ids
                case["decoded"] = tok.decode(case["ids_special"], skip_special_tokens=False)
                case["decoded_skip"] = tok.decode(case["ids_special"], skip_special_tokens=True)
                entry["cases"].append(case)
        except Exception:
            entry["error"] = traceback.format_exc()
            failures.append(f"tokenizers {name}")
        try:
            from transformers import AutoTokenizer

            at = AutoTokenizer.from_pretrained(d)
            entry["hf_class"] = type(at).__name__
            entry["hf_bos_token_id"] = at.bos_token_id
            entry["hf_eos_token_id"] = at.eos_token_id
            entry["hf_pad_token_id"] = at.pad_token_id
            hf = [at(text)["input_ids"] for text in texts]
            for case, ids in zip(entry["cases"], hf):
                case["hf_input_ids"] = ids
            if not entry["cases"]:
                entry["hf_input_ids"] = hf
        except Exception:
            entry["hf_error"] = traceback.format_exc()
            failures.append(f"transformers {name}")
        result["tokenizers"].append(entry)
    dump(os.path.join(out, "encodings.json"), result, indent=None)
    if failures:
        raise RuntimeError("failed: " + ", ".join(failures))


def dump(path, obj, indent=1):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent)
        f.write("\n")


def main(argv):
    args = argv[1:]
    data_dir = DEFAULT_DATA
    if "--data" in args:
        i = args.index("--data")
        data_dir = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = args[0]
    os.makedirs(out, exist_ok=True)

    summary = {"parts": {}}
    try:
        import tokenizers

        summary["tokenizers"] = tokenizers.__version__
    except Exception as e:
        summary["tokenizers"] = repr(e)
    try:
        import transformers

        summary["transformers"] = transformers.__version__
    except Exception as e:
        summary["transformers"] = repr(e)

    texts = []
    names = []

    def part(name, fn):
        try:
            value = fn()
            summary["parts"][name] = "ok"
            return value
        except Exception:
            summary["parts"][name] = "FAILED: " + traceback.format_exc()
            return None

    texts = part("texts", lambda: base_texts(data_dir)) or []
    part("patterns", lambda: pattern_part(out, texts))
    names = part("train", lambda: train_part(out, data_dir)) or []
    part("encode", lambda: encode_part(out, names, texts))
    dump(os.path.join(out, "summary.json"), summary)

    total = 0
    for root, _, files in os.walk(out):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print(f"tokenizers {summary['tokenizers']}, transformers {summary['transformers']}")
    for name, status in summary["parts"].items():
        print(f"{name:10s} {status.splitlines()[0] if status != 'ok' else 'ok'}")
    print(f"{len(texts)} texts, tokenizers {names}, {total} bytes in {out}")
    failed = [n for n, s in summary["parts"].items() if s != "ok"]
    if failed:
        for n in failed:
            print(f"\n--- {n} ---\n{summary['parts'][n]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
