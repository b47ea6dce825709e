#!/usr/bin/env python3
"""Reference outputs for dllmbench's encoder and BERTScore, made with PyTorch.

Runs on the GPU machine (PyTorch 2.11, transformers 5.17, tokenizers; no
network, and the bert_score package is not needed) in float32 with TF32 off,
and writes into OUTDIR:

  model/         a tiny random RobertaModel (hidden 64, 4 layers, 4 heads,
                 intermediate 128, max_position_embeddings 130, pad 1) saved by
                 transformers (config.json, model.safetensors in float32), and
                 the byte-level BPE tokenizer it uses, trained here with
                 `tokenizers` on the sentences below and given RoBERTa's
                 specials and RobertaProcessing post-processor (tokenizer.json,
                 tokenizer_config.json).
  hidden.safetensors
                 hidden_states[layer] of padded batches (right padding with the
                 pad token, a real attention mask): "batch{b}.layer{l}" of
                 shape (rows, longest, 64).
  golden.json    the batches' token ids (unpadded) and layers; ~10
                 hypothesis/reference pairs with their token ids as
                 bert_score's sent_encode makes them and their BERTScore P, R,
                 F1 at layer 3, computed below exactly as bert_score's
                 greedy_cos_idf does with idf off (weights 1, <s> and </s> 0).

The Go tests model/encoder_golden_test.go and quality/bertscore_golden_test.go
read testdata/golden/bertscore/.

Usage: bertscore_goldens.py OUTDIR
"""

import argparse
import math
import os
import sys
import traceback

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_goldens as eg  # noqa: E402  (shared helpers: safetensors writer, part, write_json)

DIM, LAYERS, HEADS, FFN, MAX_POS, PAD = 64, 4, 4, 128, 130, 1
VOCAB = 600  # an upper bound: the small corpus may stop the merges earlier
SCORE_LAYER = 3
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # RoBERTa's, at ids 0-4

CORPUS = [
    "The cat sat on the mat and looked at the door.",
    "A dog barked at the mailman every morning of the week.",
    "It is a cold day, and the wind blows from the north.",
    "The weather is cold today; everyone wears a coat.",
    "Numbers like 12345 and 2024 appear in many documents.",
    "Symbols such as #, !, ? and & are common in text too.",
    "She sells sea shells by the sea shore, or so they say.",
    "The quick brown fox jumps over the lazy dog.",
    "In the beginning the universe was created; this made many people angry.",
    "Language models generate text one token at a time, or all at once by diffusion.",
    "A masked diffusion model fills in the blanks over several steps.",
    "The reference continuation is compared with the generated one.",
    "Precision, recall and F1 measure how well the tokens match.",
    "Trains leave the station at noon and arrive in the evening.",
    "Caf\u00e9, na\u00efve and r\u00e9sum\u00e9 keep their accents in French words.",
    "Repeated repeated words are a sign of degenerate generation.",
    "He said that he would come back, but he never did.",
    "Water boils at one hundred degrees at sea level.",
    "The library opens at nine and closes at six on weekdays.",
    "They walked along the river until the sun went down.",
]

# Texts of the hidden-state batches: lengths from one word to a paragraph.
BATCHES = [
    ["the cat sat on the mat", "a dog", "It is a cold day, and the wind blows from the north."],
    ["short", "Numbers like 12345 appear.", "  spaces around  ", "Caf\u00e9 na\u00efve r\u00e9sum\u00e9",
     "The quick brown fox jumps over the lazy dog, and the dog does not mind at all."],
    [" ".join(CORPUS[:3])],  # about 50 to 80 tokens
]

PAIRS = [
    ("the cat sat on the mat", "the cat sat on the mat"),
    ("a cat was sitting on a mat", "the cat sat on the mat"),
    ("the weather is cold today", "it is a cold day"),
    ("", "some reference text"),  # empty hypothesis: bert_score sets P = R = F = 0
    ("  leading and trailing spaces \n", "leading and trailing spaces"),
    ("numbers 12345 and symbols #!?", "numbers and symbols"),
    ("a much longer hypothesis that goes on and on about many different things in the world", "a short reference"),
    ("short", "a much longer reference sentence with several more words than the hypothesis"),
    ("Caf\u00e9 na\u00efve r\u00e9sum\u00e9", "cafe naive resume"),
    ("repeated repeated repeated words", "repeated words"),
    ("The library opens at nine.", "The library closes at six on weekdays."),
]


# ---------------------------------------------------------------- tokenizer

@eg.part("tokenizer")
def make_tokenizer(model_dir):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    # RoBERTa's tokenizer.json: ByteLevel without a prefix space (bert_score
    # adds the space itself), its decoder, RobertaProcessing.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 8, trainer)
    ids = {s: tok.token_to_id(s) for s in SPECIALS}
    assert ids == {s: i for i, s in enumerate(SPECIALS)}, ids
    # Positional: tokenizers 0.23 rejects these as keywords.
    tok.post_processor = processors.RobertaProcessing(("</s>", ids["</s>"]), ("<s>", ids["<s>"]), True, False)
    # transformers' wrapper writes tokenizer_config.json (the special token
    # names); tokenizer.json is then written by tokenizers itself, so that it
    # is exactly the object the ids below come from.
    kw = dict(bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>", unk_token="<unk>",
              pad_token="<pad>", mask_token="<mask>")
    try:
        from transformers import PreTrainedTokenizerFast
        PreTrainedTokenizerFast(tokenizer_object=tok, **kw).save_pretrained(model_dir)
    except Exception:
        traceback.print_exc()
        print("  transformers' wrapper failed: writing tokenizer_config.json by hand")
        eg.write_json(os.path.join(model_dir, "tokenizer_config.json"),
                      dict(kw, tokenizer_class="PreTrainedTokenizerFast", model_max_length=MAX_POS - PAD - 1),
                      ensure_ascii=False)
    tok.save(os.path.join(model_dir, "tokenizer.json"))
    print(f"  vocabulary of {tok.get_vocab_size()} tokens")
    return tok


def sent_encode(tok, sent):
    """bert_score's sent_encode for RoBERTa: strip, a space in front (the
    slow tokenizer's add_prefix_space=True), <s> … </s>; <s></s> when empty."""
    sent = sent.strip()
    if sent == "":
        return [tok.token_to_id("<s>"), tok.token_to_id("</s>")]
    ids = tok.encode(" " + sent, add_special_tokens=True).ids
    assert len(ids) <= MAX_POS - PAD - 1, f"{len(ids)} tokens: longer than the model"
    return ids


def check_hf_tokenizer(model_dir, tok, texts):
    """transformers' AutoTokenizer on the saved folder gives the same ids."""
    try:
        from transformers import AutoTokenizer
        hf = AutoTokenizer.from_pretrained(model_dir)
        for t in texts:
            want = sent_encode(tok, t)
            s = t.strip()
            got = hf(" " + s)["input_ids"] if s else [0, 2]
            if got != want:
                print(f"  NOTE: AutoTokenizer gives {got} for {t!r}, tokenizers {want}")
                return False
        return True
    except Exception:
        traceback.print_exc()
        return None


# ---------------------------------------------------------------- model

@eg.part("model")
def make_model(model_dir, vocab, device):
    from transformers import RobertaConfig, RobertaModel
    cfg = RobertaConfig(vocab_size=vocab, hidden_size=DIM, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                        intermediate_size=FFN, hidden_act="gelu", max_position_embeddings=MAX_POS, type_vocab_size=1,
                        layer_norm_eps=1e-5, pad_token_id=PAD, bos_token_id=0, eos_token_id=2,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    try:
        model = RobertaModel._from_config(cfg, attn_implementation="eager", add_pooling_layer=False)
    except Exception:
        traceback.print_exc()
        print("  eager attention not selectable: the default implementation")
        model = RobertaModel(cfg, add_pooling_layer=False)
    # Weights of order 1/sqrt(fan-in), norms and biases drawn too, so a
    # misplaced bias or norm shows.
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                std = 1.0 if "embeddings" in name else 1.0 / math.sqrt(p.shape[1])
                p.copy_(torch.randn(p.shape, generator=g) * std)
            elif "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    model = model.float().to(device).eval()
    model.save_pretrained(model_dir, safe_serialization=True)
    print(f"  {sum(p.numel() for p in model.parameters())} parameters")
    return model


def pad(batch, device):
    """Right padding with the pad token and the attention mask, as
    bert_score's padding() makes them."""
    L = max(len(s) for s in batch)
    ids = torch.full((len(batch), L), PAD, dtype=torch.long)
    mask = torch.zeros((len(batch), L), dtype=torch.long)
    for i, s in enumerate(batch):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    return ids.to(device), mask.to(device)


def hidden_states(model, batch, device):
    ids, mask = pad(batch, device)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        hs = out.hidden_states
        assert len(hs) == LAYERS + 1, f"{len(hs)} hidden states for {LAYERS} layers"
        # hidden_states[0] is the embeddings' output, the last one the
        # model's output.
        emb = model.embeddings(input_ids=ids)
        assert torch.allclose(hs[0], emb, rtol=0, atol=1e-6), "hidden_states[0] is not the embeddings' output"
        assert torch.allclose(hs[-1], out.last_hidden_state, rtol=0, atol=1e-6), \
            "hidden_states[-1] is not the last layer's output"
    return [h.float() for h in hs]


@eg.part("hidden states")
def hidden_goldens(out, model, tok, device):
    tensors, batches = {}, []
    for b, texts in enumerate(BATCHES):
        ids = [sent_encode(tok, t) for t in texts]
        hs = hidden_states(model, ids, device)
        for l, h in enumerate(hs):
            tensors[f"batch{b}.layer{l}"] = h
        batches.append({"texts": texts, "ids": ids, "layers": list(range(len(hs)))})
    eg.save_safetensors(os.path.join(out, "hidden.safetensors"), tensors)
    return batches


# ---------------------------------------------------------------- BERTScore

def greedy_cos_idf(ref_emb, ref_idf, hyp_emb, hyp_idf):
    """bert_score's greedy_cos_idf for one pair (no padding: all mask ones),
    in float32: unit embeddings, best cosine per token, idf-weighted means,
    F1, and the empty-sentence rule (a sentence of two tokens, <s></s>,
    scores 0)."""
    ref_emb = ref_emb / torch.norm(ref_emb, dim=-1).unsqueeze(-1)
    hyp_emb = hyp_emb / torch.norm(hyp_emb, dim=-1).unsqueeze(-1)
    sim = hyp_emb @ ref_emb.T
    word_precision = sim.max(dim=1)[0]
    word_recall = sim.max(dim=0)[0]
    hyp_idf = hyp_idf / hyp_idf.sum()
    ref_idf = ref_idf / ref_idf.sum()
    P = (word_precision * hyp_idf).sum()
    R = (word_recall * ref_idf).sum()
    F = 2 * P * R / (P + R)
    if hyp_emb.shape[0] == 2 or ref_emb.shape[0] == 2:
        P, R = torch.zeros_like(P), torch.zeros_like(R)
    if torch.isnan(F):
        F = torch.zeros_like(F)
    return float(P), float(R), float(F)


def bert_score_batched(embs, idfs, hyps, refs):
    """bert_score's own batched matching (pad_batch_stats: padding 2.0 and
    masks, greedy_cos_idf over the batch), for comparison only: where a
    token's cosines are all negative, the padding's zeros win."""
    def pad_stats(sents):
        e = torch.nn.utils.rnn.pad_sequence([embs[s] for s in sents], batch_first=True, padding_value=2.0)
        i = torch.nn.utils.rnn.pad_sequence([idfs[s] for s in sents], batch_first=True)
        lens = torch.tensor([embs[s].shape[0] for s in sents])
        m = torch.arange(int(lens.max())).expand(len(sents), -1) < lens.unsqueeze(1)
        return e, m.to(e.device), i
    re, rm, ri = pad_stats(refs)
    he, hm, hi = pad_stats(hyps)
    re = re / torch.norm(re, dim=-1).unsqueeze(-1)
    he = he / torch.norm(he, dim=-1).unsqueeze(-1)
    sim = torch.bmm(he, re.transpose(1, 2))
    masks = torch.bmm(hm.unsqueeze(2).float(), rm.unsqueeze(1).float())
    sim = sim * masks
    wp, wr = sim.max(dim=2)[0], sim.max(dim=1)[0]
    hi = hi / hi.sum(dim=1, keepdim=True)
    ri = ri / ri.sum(dim=1, keepdim=True)
    P, R = (wp * hi).sum(dim=1), (wr * ri).sum(dim=1)
    F = 2 * P * R / (P + R)
    P = P.masked_fill(hm.sum(dim=1).eq(2), 0.0).masked_fill(rm.sum(dim=1).eq(2), 0.0)
    R = R.masked_fill(hm.sum(dim=1).eq(2), 0.0).masked_fill(rm.sum(dim=1).eq(2), 0.0)
    F = F.masked_fill(torch.isnan(F), 0.0)
    return F.tolist()


@eg.part("bertscore")
def bertscore_goldens(model, tok, device):
    cls, sep = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    hyps, refs = [p[0] for p in PAIRS], [p[1] for p in PAIRS]
    # bert_score encodes each distinct sentence once, longest first, in
    # padded batches of 64, and keeps the states of its real tokens.
    sents = sorted(sorted(set(hyps + refs)), key=lambda x: len(x.split(" ")), reverse=True)
    ids = {s: sent_encode(tok, s) for s in sents}
    embs, idfs = {}, {}
    for lo in range(0, len(sents), 64):
        chunk = sents[lo:lo + 64]
        hs = hidden_states(model, [ids[s] for s in chunk], device)[SCORE_LAYER]
        for i, s in enumerate(chunk):
            n = len(ids[s])
            embs[s] = hs[i, :n]
            # idf off: every token 1, the separator and the class token 0.
            idfs[s] = torch.tensor([0.0 if t in (cls, sep) else 1.0 for t in ids[s]], device=hs.device)
    pairs = []
    for h, r in PAIRS:
        P, R, F = greedy_cos_idf(embs[r], idfs[r], embs[h], idfs[h])
        pairs.append({"hyp": h, "ref": r, "hyp_ids": ids[h], "ref_ids": ids[r], "P": P, "R": R, "F": F})
    batched = bert_score_batched(embs, idfs, hyps, refs)
    diff = max(abs(a - p["F"]) for a, p in zip(batched, pairs))
    print(f"  F1 of bert_score's batched matching differs from pair by pair by at most {diff:.2e}")
    for p in pairs:
        print(f"  P {p['P']:.6f} R {p['R']:.6f} F {p['F']:.6f}  {p['hyp']!r} / {p['ref']!r}")
    return {"layer": SCORE_LAYER, "pairs": pairs, "batched_F": batched}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    import transformers
    import tokenizers
    source = "transformers %s (RobertaModel), tokenizers %s, torch %s on %s, float32, TF32 off" % (
        transformers.__version__, tokenizers.__version__, torch.__version__, device)
    print(source, flush=True)
    model_dir = os.path.join(a.outdir, "model")
    os.makedirs(model_dir, exist_ok=True)

    tok = make_tokenizer(model_dir)
    model = make_model(model_dir, tok.get_vocab_size(), device) if tok is not None else None
    golden = {"source": source}
    if model is not None:
        golden["hf_tokenizer_agrees"] = check_hf_tokenizer(model_dir, tok, [p[0] for p in PAIRS] + [p[1] for p in PAIRS])
        hidden = hidden_goldens(a.outdir, model, tok, device)
        if hidden is not None:
            golden["hidden"] = {"batches": hidden}
        score = bertscore_goldens(model, tok, device)
        if score is not None:
            golden["bertscore"] = score
    else:
        eg.FAILURES.append("model missing: nothing else made")
    eg.write_json(os.path.join(a.outdir, "golden.json"), golden, ensure_ascii=False)
    print("failed parts:", eg.FAILURES or "none")
    sys.exit(1 if eg.FAILURES else 0)


if __name__ == "__main__":
    main()
