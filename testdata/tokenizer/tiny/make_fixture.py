# Builds tiny/tokenizer.json, the fixture of the Go tokenizer tests: a naive
# byte-level BPE (700 merges, most frequent pair first) trained on train.txt,
# with the LLaMA-3 split pattern, ignore_merges and a BOS template. The split
# used for counting is a rough Python re stand-in; only the file it writes
# matters. Usage (from testdata/tokenizer): python3 tiny/make_fixture.py tiny
import collections, json, os, re, sys
text = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'train.txt'), encoding='utf-8').read()
bs = list(range(ord('!'), ord('~')+1)) + list(range(0xa1, 0xac+1)) + list(range(0xae, 0xff+1))
cs = bs[:]
n = 0
for b in range(256):
    if b not in bs:
        bs.append(b); cs.append(256+n); n += 1
b2c = {b: chr(c) for b, c in zip(bs, cs)}
# rough split, good enough for a fixture
pat = re.compile(r"'(?:[sdmt]|ll|ve|re)|[^\r\n\w]?[^\W\d_]+|\d{1,3}| ?[^\s\w]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
words = collections.Counter(''.join(b2c[b] for b in w.encode()) for w in pat.findall(text))
vocab = {}
for b in bs:
    vocab[b2c[b]] = len(vocab)
splits = {w: list(w) for w in words}
merges = []
while len(merges) < 700:
    pairs = collections.Counter()
    for w, c in words.items():
        s = splits[w]
        for a, b in zip(s, s[1:]):
            pairs[(a, b)] += c
    if not pairs: break
    best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
    merges.append(best)
    vocab[best[0]+best[1]] = len(vocab)
    for w in words:
        s = splits[w]; i = 0; out = []
        while i < len(s):
            if i+1 < len(s) and (s[i], s[i+1]) == best:
                out.append(s[i]+s[i+1]); i += 2
            else:
                out.append(s[i]); i += 1
        splits[w] = out
V = len(vocab)
specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|mdm_mask|>"]
added = [{"id": V+i, "content": s, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True} for i, s in enumerate(specials)]
LLAMA = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
tok = {
  "version": "1.0", "truncation": None, "padding": None,
  "added_tokens": added,
  "normalizer": None,
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": LLAMA}, "behavior": "Isolated", "invert": False},
      {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
  "post_processor": {"type": "Sequence", "processors": [
      {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
      {"type": "TemplateProcessing",
       "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
       "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
       "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [V], "tokens": ["<|begin_of_text|>"]}}}]},
  "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
  "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
            "vocab": vocab, "merges": [[a, b] for a, b in merges]},
}

os.makedirs(sys.argv[1], exist_ok=True)
with open(os.path.join(sys.argv[1], 'tokenizer.json'), 'w', encoding='utf-8') as f:
    json.dump(tok, f, ensure_ascii=False, indent=1)
print(V, len(merges), merges[:10])
