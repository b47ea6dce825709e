package quality

import (
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const (
	pairsPath  = "../testdata/quality/pairs.json"
	goldenPath = "../testdata/quality/golden/quality_golden.json"
)

type pair struct {
	Name string `json:"name"`
	Hyp  string `json:"hyp"`
	Ref  string `json:"ref"`
}

// goldenBLEU is a sacreBLEU BLEUScore as scripts/golden/quality_goldens.py writes it.
type goldenBLEU struct {
	Score      float64   `json:"score"`
	Counts     []int     `json:"counts"`
	Totals     []int     `json:"totals"`
	Precisions []float64 `json:"precisions"`
	BP         float64   `json:"bp"`
	SysLen     int       `json:"sys_len"`
	RefLen     int       `json:"ref_len"`
}

type golden struct {
	Parts      map[string]string `json:"parts"`
	RougeImpl  string            `json:"rouge_impl"`
	CorpusBLEU goldenBLEU        `json:"corpus_bleu"`
	Pairs      []struct {
		pair
		Tok13aHyp    []string   `json:"tok13a_hyp"`
		Tok13aRef    []string   `json:"tok13a_ref"`
		SentenceBLEU goldenBLEU `json:"sentence_bleu"`
		RougeTokHyp  []string   `json:"rouge_tokens_hyp"`
		RougeTokRef  []string   `json:"rouge_tokens_ref"`
		RougeL       struct {
			Precision float64 `json:"precision"`
			Recall    float64 `json:"recall"`
			F         float64 `json:"fmeasure"`
		} `json:"rougeL"`
	} `json:"pairs"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// checkBLEU compares a score with sacreBLEU's: counts exactly, real numbers to
// 1e-9 relative (exp and log may differ in the last bit between libms).
func checkBLEU(t *testing.T, what string, got BLEUScore, want goldenBLEU) {
	t.Helper()
	s := got.BLEUStats
	if diff := cmp.Diff(want.Counts, s.Matches[:]); diff != "" {
		t.Errorf("%s: counts (-sacrebleu +go):\n%s", what, diff)
	}
	if diff := cmp.Diff(want.Totals, s.Totals[:]); diff != "" {
		t.Errorf("%s: totals (-sacrebleu +go):\n%s", what, diff)
	}
	if s.HypLen != want.SysLen || s.RefLen != want.RefLen {
		t.Errorf("%s: lengths %d/%d, sacrebleu %d/%d", what, s.HypLen, s.RefLen, want.SysLen, want.RefLen)
	}
	near := func(g, w float64) bool { return g == w || math.Abs(g-w) <= 1e-9*math.Abs(w) }
	if !near(got.Score, want.Score) || !near(got.BP, want.BP) {
		t.Errorf("%s: BLEU %.17g BP %.17g, sacrebleu %.17g BP %.17g", what, got.Score, got.BP, want.Score, want.BP)
	}
	for n, p := range want.Precisions {
		if !near(got.Precisions[n], p) {
			t.Errorf("%s: p%d = %.17g, sacrebleu %.17g", what, n+1, got.Precisions[n], p)
		}
	}
}

// TestGolden compares with the reference Python implementations on
// testdata/quality/pairs.json, through the file that
// scripts/golden/quality_goldens.py writes.
func TestGolden(t *testing.T) {
	if _, err := os.Stat(goldenPath); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s absent: run scripts/golden/quality_goldens.py OUTDIR (sacrebleu, rouge_score or torchmetrics) and copy OUTDIR/quality_golden.json there", goldenPath)
	}
	var g golden
	readJSON(t, goldenPath, &g)
	var pairs []pair
	readJSON(t, pairsPath, &pairs)
	if g.Parts["bleu"] != "ok" || g.Parts["rouge"] != "ok" {
		t.Fatalf("golden file has failed parts: %v", g.Parts)
	}
	if len(g.Pairs) != len(pairs) {
		t.Fatalf("golden file has %d pairs, %s has %d: regenerate it", len(g.Pairs), pairsPath, len(pairs))
	}
	t.Logf("ROUGE reference: %s", g.RougeImpl)
	var stats []BLEUStats
	for i, want := range g.Pairs {
		p := pairs[i]
		if want.pair != p {
			t.Fatalf("golden pair %d is %+v, %s has %+v: regenerate it", i, want.pair, pairsPath, p)
		}
		if diff := cmp.Diff(want.Tok13aHyp, Tokenize13a(p.Hyp), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: 13a hypothesis tokens (-sacrebleu +go):\n%s", p.Name, diff)
		}
		if diff := cmp.Diff(want.Tok13aRef, Tokenize13a(p.Ref), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: 13a reference tokens (-sacrebleu +go):\n%s", p.Name, diff)
		}
		s := NewBLEUStats(p.Hyp, p.Ref)
		stats = append(stats, s)
		checkBLEU(t, p.Name+": sentence BLEU", SentenceBLEU(s), want.SentenceBLEU)

		if diff := cmp.Diff(want.RougeTokHyp, ROUGETokens(p.Hyp), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: ROUGE hypothesis tokens (-reference +go):\n%s", p.Name, diff)
		}
		if diff := cmp.Diff(want.RougeTokRef, ROUGETokens(p.Ref), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: ROUGE reference tokens (-reference +go):\n%s", p.Name, diff)
		}
		r := ROUGEL(p.Hyp, p.Ref)
		w := want.RougeL
		if math.Abs(r.Precision-w.Precision) > 1e-12 || math.Abs(r.Recall-w.Recall) > 1e-12 || math.Abs(r.F-w.F) > 1e-12 {
			t.Errorf("%s: ROUGE-L %+v, reference %+v", p.Name, r, w)
		}
	}
	checkBLEU(t, "corpus BLEU", CorpusBLEU(stats), g.CorpusBLEU)
}

func TestPairsFile(t *testing.T) {
	var pairs []pair
	readJSON(t, pairsPath, &pairs)
	names := map[string]bool{}
	for _, p := range pairs {
		if p.Name == "" || names[p.Name] {
			t.Errorf("pair name %q empty or repeated", p.Name)
		}
		names[p.Name] = true
	}
	if len(pairs) < 40 {
		t.Errorf("%d pairs, the golden comparison wants at least 40", len(pairs))
	}
}
