package hub

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"dllmbench/hub/hubtest"
)

func TestVerify(t *testing.T) {
	ll := llama()
	shard1, shard2 := "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, snap, blobs string)
		want    []string // files expected besides the index's shards
		missing []string
		corrupt []string
	}{{
		name:   "as fetched",
		damage: func(*testing.T, string, string) {},
	}, {
		// One flipped byte in a 3000-byte LFS blob.
		name: "shard blob altered",
		damage: func(t *testing.T, _, blobs string) {
			p := filepath.Join(blobs, hubtest.SHA256(ll.Files[shard1]))
			b, _ := os.ReadFile(p)
			b[1234] ^= 1
			must(t, os.WriteFile(p, b, 0o666))
		},
		corrupt: []string{shard1},
	}, {
		// The index names the shard, so its absence shows without a list.
		name:    "shard link removed",
		damage:  func(t *testing.T, snap, _ string) { must(t, os.Remove(filepath.Join(snap, shard2))) },
		missing: []string{shard2},
	}, {
		name: "blob behind a link removed",
		damage: func(t *testing.T, _, blobs string) {
			must(t, os.Remove(filepath.Join(blobs, hubtest.SHA256(ll.Files[shard1]))))
		},
		missing: []string{shard1},
	}, {
		// Before, Verify failed, reading the index for its shards.
		name: "index blob removed",
		damage: func(t *testing.T, _, blobs string) {
			must(t, os.Remove(filepath.Join(blobs, hubtest.GitBlobID(ll.Files["model.safetensors.index.json"]))))
		},
		missing: []string{"model.safetensors.index.json"},
	}, {
		name:    "expected file never fetched",
		damage:  func(*testing.T, string, string) {},
		want:    []string{"config.json", "tokenizer_config.json"},
		missing: []string{"tokenizer_config.json"},
	}, {
		name: "missing and corrupt at once",
		damage: func(t *testing.T, snap, blobs string) {
			must(t, os.Remove(filepath.Join(snap, "config.json")))
			must(t, os.WriteFile(filepath.Join(blobs, hubtest.SHA256(ll.Files[shard2])), []byte("truncated"), 0o666))
		},
		want:    []string{"config.json"},
		missing: []string{"config.json"},
		corrupt: []string{shard2},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			f := hubtest.New(t, llama())
			c := client(t, f, "hf_good")
			snap, err := c.Fetch(context.Background(), Model, "meta-llama/Meta-Llama-3-8B", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			f.TakeLog()
			tc.damage(t, snap, filepath.Join(c.Cache, "models--meta-llama--Meta-Llama-3-8B", "blobs"))

			last := map[string]Progress{}
			c.Progress = func(p Progress) { last[p.File] = p }
			c.Offline = true
			rep, err := c.Verify(t.Context(), Model, "meta-llama/Meta-Llama-3-8B", "main", tc.want)
			if err != nil {
				t.Fatal(err)
			}
			want := Report{Dir: snap, Missing: tc.missing, Corrupt: tc.corrupt}
			if diff := cmp.Diff(want, rep); diff != "" {
				t.Errorf("Verify (-want +got):\n%s", diff)
			}
			if rep.OK() != (tc.missing == nil && tc.corrupt == nil) {
				t.Errorf("OK() = %v for %+v", rep.OK(), rep)
			}
			if l := f.TakeLog(); len(l) != 0 {
				t.Errorf("Verify made requests: %q", l)
			}
			// Every shard still there was hashed to its end.
			for _, s := range []string{shard1, shard2} {
				fi, err := os.Stat(filepath.Join(snap, s))
				if err != nil {
					continue
				}
				if want := (Progress{File: s, Done: fi.Size(), Total: fi.Size()}); last[s] != want {
					t.Errorf("last progress %+v, want %+v", last[s], want)
				}
			}
		})
	}
}

// A done context stops Verify before it hashes a byte more: hashing a
// checkpoint takes a minute, which Ctrl-C waited for before.
func TestVerifyCancelled(t *testing.T) {
	f := hubtest.New(t, llama())
	c := client(t, f, "hf_good")
	if _, err := c.Fetch(t.Context(), Model, "meta-llama/Meta-Llama-3-8B", "", nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	c.Progress = func(p Progress) { t.Errorf("hashed %+v after the context was done", p) }
	if _, err := c.Verify(ctx, Model, "meta-llama/Meta-Llama-3-8B", "", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify: %v, want context.Canceled", err)
	}
}

func TestVerifyErrors(t *testing.T) {
	cache := pythonCache(t)
	writeCache(t, cache,
		"models--org--bad-index/refs/main: "+commitA,
		"models--org--bad-index/snapshots/"+commitA+"/model.safetensors.index.json: {\"weight_map\": {\"w\": \"../../../x\"}}",
	)
	c := &Client{Cache: cache}
	for _, tc := range []struct {
		name, id string
		want     []string
		wantErr  string
	}{
		{name: "not cached", id: "org/none", wantErr: "hub: org/none: revision main not in the cache " + cache},
		{name: "index leaving the snapshot", id: "org/bad-index",
			wantErr: `hub: org/bad-index: verify: model.safetensors.index.json: weight_map names "../../../x" is not a relative path`},
		{name: "bad expected name", id: "GSAI-ML/LLaDA-8B-Instruct", want: []string{"/etc/passwd"},
			wantErr: `hub: GSAI-ML/LLaDA-8B-Instruct: verify: "/etc/passwd" is not a relative path`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Verify(t.Context(), Model, tc.id, "", tc.want)
			if got := errString(err); got != tc.wantErr {
				t.Errorf("error:\n got %s\nwant %s", got, tc.wantErr)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
