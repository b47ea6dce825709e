package quality

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"testing"

	"dllmbench/compute/cpu"
	"dllmbench/model"
	"dllmbench/tokenizer"
)

// bertScoreGoldenDir holds a tiny random RobertaModel, its tokenizer, and
// BERTScores computed as bert_score computes them, made by
// scripts/golden/bertscore_goldens.py with transformers in float32 (TF32
// off).
const bertScoreGoldenDir = "../testdata/golden/bertscore"

type bertScoreGolden struct {
	Source    string `json:"source"`
	BERTScore *struct {
		Layer int `json:"layer"`
		Pairs []struct {
			Hyp    string  `json:"hyp"`
			Ref    string  `json:"ref"`
			HypIDs []int   `json:"hyp_ids"`
			RefIDs []int   `json:"ref_ids"`
			P      float64 `json:"P"`
			R      float64 `json:"R"`
			F      float64 `json:"F"`
		} `json:"pairs"`
	} `json:"bertscore"`
}

// The tokenization of bert_score's sent_encode and its P, R and F1, each
// within 1e-5.
func TestBERTScoreGolden(t *testing.T) {
	if _, err := os.Stat(bertScoreGoldenDir); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s is absent: generate it on the GPU machine with scripts/golden/bertscore_goldens.py %s", bertScoreGoldenDir, bertScoreGoldenDir)
	}
	raw, err := os.ReadFile(filepath.Join(bertScoreGoldenDir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g bertScoreGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if g.BERTScore == nil || len(g.BERTScore.Pairs) == 0 {
		t.Fatal("golden.json has no BERTScores: the script's part failed")
	}
	dir := filepath.Join(bertScoreGoldenDir, "model")
	b := cpu.New(0)
	defer b.Close()
	enc, err := model.LoadEncoder(dir, b)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := &BERTScorer{Enc: enc, Tok: tok, Layer: g.BERTScore.Layer}
	var hyps, refs []string
	for i, p := range g.BERTScore.Pairs {
		for _, c := range []struct {
			text string
			want []int
		}{{p.Hyp, p.HypIDs}, {p.Ref, p.RefIDs}} {
			if got := s.Encode(c.text); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("pair %d: Encode(%q) = %v, want %v", i, c.text, got, c.want)
			}
		}
		hyps, refs = append(hyps, p.Hyp), append(refs, p.Ref)
	}
	got, err := s.Score(hyps, refs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("golden: %s", g.Source)
	for i, p := range g.BERTScore.Pairs {
		d := max(math.Abs(got[i].P-p.P), math.Abs(got[i].R-p.R), math.Abs(got[i].F-p.F))
		if !(d <= 1e-5) {
			t.Errorf("pair %d (%q, %q): got P %.7f R %.7f F %.7f, want %.7f %.7f %.7f", i, p.Hyp, p.Ref,
				got[i].P, got[i].R, got[i].F, p.P, p.R, p.F)
		} else {
			t.Logf("pair %d: F %.7f, largest difference %.2g", i, got[i].F, d)
		}
	}
}
