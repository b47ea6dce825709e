package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHub answers the part of the Hugging Face hub protocol that the hub
// package's Fetch uses (hub/fake_test.go has a fuller one): the revision
// API, and HEAD and GET on resolve URLs, every file served directly with
// its sha256 as ETag. Gated repositories want the token hf_good.
type fakeHub struct {
	srv   *httptest.Server
	repos map[string]*fakeRepo // by URL path: org/name or datasets/org/name
	mu    sync.Mutex
	gets  []string // files served with GET
}

type fakeRepo struct {
	commit string
	files  map[string]string
	gated  bool
}

func newFakeHub(t *testing.T) *fakeHub {
	f := &fakeHub{repos: map[string]*fakeRepo{
		"org/tiny": {commit: strings.Repeat("a1", 20), files: map[string]string{
			"config.json": `{"model_type": "llama"}`, "tokenizer.json": `{"model": {}}`,
			"model.safetensors": strings.Repeat("weights ", 500), "README.md": "# tiny",
		}},
		"gated/llama": {commit: strings.Repeat("b2", 20), gated: true, files: map[string]string{
			"config.json": `{}`, "tokenizer.json": `{}`, "model.safetensors": "w",
		}},
		"datasets/Salesforce/wikitext": {commit: strings.Repeat("c3", 20), files: map[string]string{
			"wikitext-103-raw-v1/validation-00000-of-00001.parquet": strings.Repeat("PAR1 valid ", 100),
			"wikitext-103-raw-v1/train-00000-of-00002.parquet":      strings.Repeat("PAR1 train ", 100),
		}},
	}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeHub) serve(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	api := strings.HasPrefix(p, "api/")
	if api {
		p = strings.TrimPrefix(strings.TrimPrefix(p, "api/"), "models/")
	}
	for id, repo := range f.repos {
		rest, ok := strings.CutPrefix(p, id+"/")
		if !ok {
			continue
		}
		if api { // GET /api/{models,datasets}/{id}/revision/{rev}
			var sib []map[string]string
			for _, name := range slices.Sorted(maps.Keys(repo.files)) {
				sib = append(sib, map[string]string{"rfilename": name})
			}
			json.NewEncoder(w).Encode(map[string]any{"sha": repo.commit, "siblings": sib})
			return
		}
		// /{id}/resolve/{rev}/{file}
		_, file, _ := strings.Cut(strings.TrimPrefix(rest, "resolve/"), "/")
		if repo.gated && r.Header.Get("Authorization") != "Bearer hf_good" {
			w.Header().Set("X-Error-Code", "GatedRepo")
			w.Header().Set("X-Error-Message", "Access to model "+id+" is restricted. You must have access to it and be authenticated to access it. Please log in.")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		body, ok := repo.files[file]
		if !ok {
			w.Header().Set("X-Error-Code", "EntryNotFound")
			w.WriteHeader(http.StatusNotFound)
			return
		}
		sum := sha256.Sum256([]byte(body))
		w.Header().Set("X-Repo-Commit", repo.commit)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		if r.Method == http.MethodGet {
			f.mu.Lock()
			f.gets = append(f.gets, id+"/"+file)
			f.mu.Unlock()
		}
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader(body))
		return
	}
	w.Header().Set("X-Error-Code", "RepoNotFound")
	w.Header().Set("X-Error-Message", "Repository not found")
	w.WriteHeader(http.StatusNotFound)
}

// fetchEnv runs commands against the fake hub, with caches and a home of
// the test's own (no token file, no offline mode from the machine).
func fetchEnv(t *testing.T, f *fakeHub) *env {
	e := newEnv(t, "")
	e.vars = slices.DeleteFunc(e.vars, func(kv string) bool {
		return strings.HasPrefix(kv, "HF_") || strings.HasPrefix(kv, "HUGGING") || strings.HasPrefix(kv, "TRANSFORMERS_")
	})
	e.vars = append(e.vars, "HF_ENDPOINT="+f.srv.URL, "HF_HOME="+filepath.Join(e.dir, "hf"))
	must(t, os.WriteFile(filepath.Join(e.dir, "grid.yaml"), []byte(`name: fetch-test
models:
  - id: builtin:demo-llama
  - id: org/tiny
prompts:
  source: wikitext
batch_size: [1]
prompt_length: [16]
gen_length: [8]
`), 0o644))
	return e
}

func TestFetch(t *testing.T) {
	f := newFakeHub(t)
	e := fetchEnv(t, f)
	models, datasets := filepath.Join(e.dir, "models"), filepath.Join(e.dir, "datasets")
	r := e.run(t, nil, "fetch", "--config", "grid.yaml", "--model-cache-dir", models, "--dataset-cache-dir", datasets)
	if r.code != 0 {
		t.Fatalf("fetch: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	tiny := filepath.Join(models, "models--org--tiny", "snapshots", strings.Repeat("a1", 20))
	wiki := filepath.Join(datasets, "datasets--Salesforce--wikitext", "snapshots", strings.Repeat("c3", 20))
	for _, p := range []string{"config.json", "tokenizer.json", "model.safetensors"} {
		if _, err := os.Stat(filepath.Join(tiny, p)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(wiki, wikitextFile)); err != nil {
		t.Error(err)
	}
	slices.Sort(f.gets)
	want := []string{"datasets/Salesforce/wikitext/" + wikitextFile, "org/tiny/config.json", "org/tiny/model.safetensors", "org/tiny/tokenizer.json"}
	if !slices.Equal(f.gets, want) {
		t.Errorf("downloaded %q, want %q (the demo model, README and the train split stay out)", f.gets, want)
	}
	for _, w := range []string{"model org/tiny: " + tiny, "dataset Salesforce/wikitext: " + wiki} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
		}
	}
	for _, w := range []string{"fetch: model org/tiny (model) into " + models, "fetch: model org/tiny: model.safetensors: 3.9 KiB of 3.9 KiB (100%)",
		"set HF_HUB_CACHE="} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}

	// A second fetch downloads nothing; the cache checks out.
	f.gets = nil
	if r := e.run(t, nil, "fetch", "--config", "grid.yaml", "--model-cache-dir", models, "--dataset-cache-dir", datasets); r.code != 0 || len(f.gets) != 0 {
		t.Errorf("second fetch: code %d, downloaded %q\n%s", r.code, f.gets, r.stderr)
	}
	r = e.run(t, nil, "fetch", "--config", "grid.yaml", "--model-cache-dir", models, "--dataset-cache-dir", datasets, "--local-files-only")
	if r.code != 0 || !strings.Contains(r.stdout, "model org/tiny: ok") || !strings.Contains(r.stdout, "dataset Salesforce/wikitext: ok") {
		t.Errorf("local check: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Damage the cache: a blob that no longer matches its hash, a file gone,
	// and a model never fetched.
	blob, err := filepath.EvalSymlinks(filepath.Join(tiny, "model.safetensors"))
	must(t, err)
	must(t, os.WriteFile(blob, []byte("bit rot"), 0o644))
	must(t, os.Remove(filepath.Join(tiny, "tokenizer.json")))
	r = e.run(t, nil, "fetch", "--config", "grid.yaml", "--model", "org/other", "--model-cache-dir", models, "--dataset-cache-dir", datasets,
		"--local-files-only")
	for _, w := range []string{"model org/tiny: missing tokenizer.json; corrupt model.safetensors", "model org/other: not in the cache " + models,
		"dataset Salesforce/wikitext: ok"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("damaged cache: stdout lacks %q:\n%s", w, r.stdout)
		}
	}
	if r.code != 1 || !strings.Contains(r.stderr, "2 of 3 repositories are missing or incomplete") {
		t.Errorf("damaged cache: code %d\n%s", r.code, r.stderr)
	}
	if len(f.gets) != 0 {
		t.Errorf("--local-files-only downloaded %q", f.gets)
	}
}

// A gated repository without a token, or with a wrong one, fails with the
// hub's message on one line, and the token never shows.
func TestFetchGated(t *testing.T) {
	f := newFakeHub(t)
	e := fetchEnv(t, f)
	for _, tc := range []struct {
		name  string
		extra []string
		args  []string
		code  int
		want  string
	}{
		{"no token", nil, nil, 1, "Access to model gated/llama is restricted. You must have access to it and be authenticated to access it. Please log in. (no token was sent: pass --hf-token or set HF_TOKEN)"},
		{"wrong token", nil, []string{"--hf-token", "hf_secret_wrong"}, 1, "401 Unauthorized"},
		{"token in HF_TOKEN", []string{"HF_TOKEN=hf_good"}, nil, 0, ""},
		{"token flag", nil, []string{"--hf-token", "hf_good"}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"fetch", "--model", "gated/llama", "--model-cache-dir", filepath.Join(e.dir, tc.name)}, tc.args...)
			r := e.run(t, tc.extra, args...)
			if r.code != tc.code {
				t.Fatalf("code %d, want %d\n%s", r.code, tc.code, r.stderr)
			}
			if tc.code != 0 {
				lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
				last := lines[len(lines)-1]
				if !strings.HasPrefix(last, "dllmbench fetch: hub: gated/llama: ") || !strings.Contains(last, tc.want) {
					t.Errorf("last line %q, want the hub's message %q", last, tc.want)
				}
			}
			for _, secret := range []string{"hf_good", "hf_secret_wrong"} {
				if strings.Contains(r.stdout+r.stderr, secret) {
					t.Errorf("the token %s was printed:\n%s%s", secret, r.stdout, r.stderr)
				}
			}
		})
	}
}

func TestFetchUsage(t *testing.T) {
	e := fetchEnv(t, newFakeHub(t))
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"fetch"}, 2, "nothing to fetch"},
		{[]string{"fetch", "--model", "builtin:demo-llama"}, 2, "needs no fetch"},
		{[]string{"fetch", "--model", "not a/valid/id"}, 1, "is not a Hugging Face model ID"},
		{[]string{"fetch", "--config", "nonexistent.yaml"}, 1, "nonexistent.yaml"},
	} {
		r := e.run(t, nil, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: code %d, %q; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}
