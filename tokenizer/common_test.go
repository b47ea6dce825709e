package tokenizer

// Patterns the tests share; see the golden script for their sources.
const (
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	lladaPattern  = `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+`

	// tinyFile is a LLaMA-3-style tokenizer: 956 byte-level BPE tokens
	// trained on testdata/tokenizer/train.txt, ignore_merges, a BOS template.
	tinyFile = "../testdata/tokenizer/tiny/tokenizer.json"
)
