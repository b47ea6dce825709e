package tokenizer

import (
	"os"
	"testing"

	"dllmbench/tokenizer/internal/pattern"
)

// benchText is about 8 KB of English from the training text: prose with
// the punctuation, digits and newlines real prompts have.
func benchText(b *testing.B) string {
	data, err := os.ReadFile("../testdata/tokenizer/train.txt")
	if err != nil {
		b.Fatal(err)
	}
	s := string(data)
	return s[len(s)-8192:]
}

func BenchmarkEncode(b *testing.B) {
	tk, err := Load(tinyFile)
	if err != nil {
		b.Fatal(err)
	}
	text := benchText(b)
	var ids []int
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		ids = tk.AppendEncode(ids[:0], text, true)
	}
	b.ReportMetric(float64(len(ids)), "tokens/op")
}

// BenchmarkSplitLlama3 isolates the pre-tokenizer regex, the part of
// encoding that a BPE cache does not help with.
func BenchmarkSplitLlama3(b *testing.B) {
	re := pattern.MustCompile(llama3Pattern)
	text := benchText(b)
	var m [][2]int
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		m = re.FindAll(m[:0], text)
	}
	b.ReportMetric(float64(len(m)), "pieces/op")
}
