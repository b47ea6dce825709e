package safetensors

import "strconv"

// llama3Tensors lists Meta-Llama-3-8B's 291 BF16 weights in transformers'
// state_dict order, with their shapes (dim 4096, 32 layers, 8 KV heads of
// 128, FFN 14336, vocabulary 128256), for a full-size sparse checkpoint.
func llama3Tensors() []struct {
	name  string
	shape []int
} {
	type t = struct {
		name  string
		shape []int
	}
	const dim, kv, ffn, vocab = 4096, 8 * 128, 14336, 128256
	ts := []t{{"model.embed_tokens.weight", []int{vocab, dim}}}
	for l := range 32 {
		p := "model.layers." + strconv.Itoa(l) + "."
		ts = append(ts,
			t{p + "self_attn.q_proj.weight", []int{dim, dim}},
			t{p + "self_attn.k_proj.weight", []int{kv, dim}},
			t{p + "self_attn.v_proj.weight", []int{kv, dim}},
			t{p + "self_attn.o_proj.weight", []int{dim, dim}},
			t{p + "mlp.gate_proj.weight", []int{ffn, dim}},
			t{p + "mlp.up_proj.weight", []int{ffn, dim}},
			t{p + "mlp.down_proj.weight", []int{dim, ffn}},
			t{p + "input_layernorm.weight", []int{dim}},
			t{p + "post_attention_layernorm.weight", []int{dim}},
		)
	}
	return append(ts, t{"model.norm.weight", []int{dim}}, t{"lm_head.weight", []int{vocab, dim}})
}
