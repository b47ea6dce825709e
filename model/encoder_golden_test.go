package model_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"testing"

	"dllmbench/compute/computetest"
	"dllmbench/compute/cpu"
	"dllmbench/model"
	"dllmbench/safetensors"
)

// bertScoreGoldenDir holds a tiny random RobertaModel and its hidden states
// made by scripts/golden/bertscore_goldens.py with transformers in float32
// (TF32 off).
const bertScoreGoldenDir = "../testdata/golden/bertscore"

// encoderGolden is the part of golden.json this test reads.
type encoderGolden struct {
	Source string `json:"source"`
	Hidden *struct {
		Batches []struct {
			Texts  []string `json:"texts"`
			IDs    [][]int  `json:"ids"`
			Layers []int    `json:"layers"`
		} `json:"batches"`
	} `json:"hidden"`
}

// The encoder reproduces transformers' RobertaModel hidden states of padded
// batches at every layer within 1e-5 (norm-wise, over each batch's real
// tokens).
func TestEncoderGolden(t *testing.T) {
	if _, err := os.Stat(bertScoreGoldenDir); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s is absent: generate it on the GPU machine with scripts/golden/bertscore_goldens.py %s", bertScoreGoldenDir, bertScoreGoldenDir)
	}
	raw, err := os.ReadFile(filepath.Join(bertScoreGoldenDir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g encoderGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if g.Hidden == nil || len(g.Hidden.Batches) == 0 {
		t.Fatal("golden.json has no hidden states: the script's part failed")
	}
	b := cpu.New(0)
	defer b.Close()
	enc, err := model.LoadEncoder(filepath.Join(bertScoreGoldenDir, "model"), b)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	f, err := safetensors.Open(filepath.Join(bertScoreGoldenDir, "hidden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	t.Logf("golden: %s", g.Source)
	for bi, batch := range g.Hidden.Batches {
		L := 0
		for _, s := range batch.IDs {
			L = max(L, len(s))
		}
		for _, layer := range batch.Layers {
			name := fmt.Sprintf("batch%d.layer%d", bi, layer)
			tn, ok := f.Tensor(name)
			if !ok || tn.DType != safetensors.F32 || len(tn.Shape) != 3 || tn.Shape[0] != len(batch.IDs) || tn.Shape[1] != L ||
				tn.Shape[2] != enc.Config.Dim {
				t.Fatalf("%s: missing or shaped %v, want (%d, %d, %d) F32", name, tn.Shape, len(batch.IDs), L, enc.Config.Dim)
			}
			got, err := enc.Hidden(batch.IDs, layer)
			if err != nil {
				t.Fatal(err)
			}
			var gv []float32
			var want []float64
			for r, s := range batch.IDs {
				for j := range s {
					gv = append(gv, got[r][j]...)
					for c := range enc.Config.Dim {
						o := 4 * ((r*L+j)*enc.Config.Dim + c)
						want = append(want, float64(math.Float32frombits(binary.LittleEndian.Uint32(tn.Data[o:]))))
					}
				}
			}
			rel, maxAbs := computetest.RelErr(gv, want)
			if !(rel <= 1e-5) {
				t.Errorf("%s: relative error %.3g (max abs %.3g) exceeds 1e-5", name, rel, maxAbs)
			} else {
				t.Logf("%s: relative error %.3g", name, rel)
			}
		}
	}
}
