package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"dllmbench/hub/hubtest"
)

// fakeHub starts the fake hub of package hubtest with a small model, a
// gated one and the WikiText dataset, their weights and parquet files in
// LFS as on the real hub. Gated repositories want the token hf_good.
func fakeHub(t *testing.T) (*hubtest.Hub, []*hubtest.Repo) {
	repos := []*hubtest.Repo{{
		ID: "org/tiny", Commit: strings.Repeat("a1", 20),
		Files: map[string]string{
			"config.json": `{"model_type": "llama"}`, "tokenizer.json": `{"model": {}}`,
			"model.safetensors": strings.Repeat("weights ", 500), "README.md": "# tiny",
		},
		LFS: map[string]bool{"model.safetensors": true},
	}, {
		ID: "gated/llama", Commit: strings.Repeat("b2", 20), Gated: true,
		Files: map[string]string{"config.json": `{}`, "tokenizer.json": `{}`, "model.safetensors": "w"},
		LFS:   map[string]bool{"model.safetensors": true},
	}, {
		ID: "Salesforce/wikitext", Commit: strings.Repeat("c3", 20), Dataset: true,
		Files: map[string]string{
			"wikitext-103-raw-v1/validation-00000-of-00001.parquet": strings.Repeat("PAR1 valid ", 100),
			"wikitext-103-raw-v1/train-00000-of-00002.parquet":      strings.Repeat("PAR1 train ", 100),
		},
		LFS: map[string]bool{
			"wikitext-103-raw-v1/validation-00000-of-00001.parquet": true,
			"wikitext-103-raw-v1/train-00000-of-00002.parquet":      true,
		},
	}}
	return hubtest.New(t, repos...), repos
}

// downloads takes the hub's log and lists, sorted, the files whose contents
// it served since the last call, as org/name/path (datasets/org/name/path
// for a dataset): small files from the hub, LFS files from its CDN.
func downloads(h *hubtest.Hub, repos []*hubtest.Repo) []string {
	blobs := map[string]string{} // CDN path → file
	for _, r := range repos {
		id := r.ID
		if r.Dataset {
			id = "datasets/" + id
		}
		for name := range r.LFS {
			blobs["/blobs/"+hubtest.SHA256(r.Files[name])] = id + "/" + name
		}
	}
	var out []string
	for _, line := range h.TakeLog() {
		f := strings.Fields(line) // server method path [auth=…] [range=…]
		switch {
		case f[0] == "cdn" && f[1] == http.MethodGet:
			out = append(out, blobs[f[2]])
		case f[0] == "hub" && f[1] == http.MethodGet && strings.Contains(f[2], "/resolve/"):
			id, rest, _ := strings.Cut(strings.TrimPrefix(f[2], "/"), "/resolve/")
			_, file, _ := strings.Cut(rest, "/")
			out = append(out, id+"/"+file)
		}
	}
	slices.Sort(out)
	return out
}

// fetchEnv runs commands against the fake hub, with caches and a home of
// the test's own (no token file, no offline mode from the machine).
func fetchEnv(t *testing.T, h *hubtest.Hub) *env {
	e := newEnv(t, "")
	e.vars = slices.DeleteFunc(e.vars, func(kv string) bool {
		return strings.HasPrefix(kv, "HF_") || strings.HasPrefix(kv, "HUGGING") || strings.HasPrefix(kv, "TRANSFORMERS_")
	})
	e.vars = append(e.vars, "HF_ENDPOINT="+h.URL, "HF_HOME="+filepath.Join(e.dir, "hf"))
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
	h, repos := fakeHub(t)
	e := fetchEnv(t, h)
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
	want := []string{"datasets/Salesforce/wikitext/" + wikitextFile, "org/tiny/config.json", "org/tiny/model.safetensors", "org/tiny/tokenizer.json"}
	if got := downloads(h, repos); !slices.Equal(got, want) {
		t.Errorf("downloaded %q, want %q (the demo model, README and the train split stay out)", got, want)
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
	if r := e.run(t, nil, "fetch", "--config", "grid.yaml", "--model-cache-dir", models, "--dataset-cache-dir", datasets); r.code != 0 {
		t.Errorf("second fetch: code %d\n%s", r.code, r.stderr)
	}
	if got := downloads(h, repos); len(got) != 0 {
		t.Errorf("second fetch downloaded %q", got)
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
	if l := h.TakeLog(); len(l) != 0 {
		t.Errorf("--local-files-only sent requests: %q", l)
	}

	// HF_HUB_OFFLINE makes fetch the same check. Before, it printed the
	// damaged snapshot's folder as fetched and exited 0.
	offline := e.run(t, []string{"HF_HUB_OFFLINE=1"}, "fetch", "--config", "grid.yaml", "--model", "org/other",
		"--model-cache-dir", models, "--dataset-cache-dir", datasets)
	if offline.code != r.code || offline.stdout != r.stdout || !strings.Contains(offline.stderr, "2 of 3 repositories are missing or incomplete") {
		t.Errorf("HF_HUB_OFFLINE=1: code %d, want %d and what --local-files-only printed:\n%s%s", offline.code, r.code, offline.stdout, offline.stderr)
	}
	if l := h.TakeLog(); len(l) != 0 {
		t.Errorf("HF_HUB_OFFLINE=1 sent requests: %q", l)
	}

	// Doing as the check says repairs the cache. Before, it named no blob,
	// and a fetch kept the corrupt one, its link being in place.
	if w := "corrupt model.safetensors (remove " + blob + ", then fetch again)"; !strings.Contains(r.stdout, w) {
		t.Errorf("damaged cache: stdout lacks %q:\n%s", w, r.stdout)
	}
	must(t, os.Remove(blob))
	if r := e.run(t, nil, "fetch", "--config", "grid.yaml", "--model-cache-dir", models, "--dataset-cache-dir", datasets); r.code != 0 {
		t.Errorf("fetch after removing the blob: code %d\n%s", r.code, r.stderr)
	}
	r = e.run(t, nil, "fetch", "--config", "grid.yaml", "--model-cache-dir", models, "--dataset-cache-dir", datasets, "--local-files-only")
	if r.code != 0 || !strings.Contains(r.stdout, "model org/tiny: ok") {
		t.Errorf("check after the repair: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// fetch says where run will look only when that is not where it fetched
// to: before, a relative HF_HUB_CACHE, or a cache named with a trailing
// slash, got the advice to set HF_HUB_CACHE to the same folder, and a
// --dataset-cache-dir that received nothing the advice to set HF_HUB_CACHE
// to it, where run would then miss the model.
func TestFetchCacheHint(t *testing.T) {
	h, _ := fakeHub(t)
	e := fetchEnv(t, h)
	for _, tc := range []struct {
		hfHubCache string
		args       []string
		hint       bool
	}{
		{"cache", []string{"--model-cache-dir", "cache"}, false},
		{"cache", []string{"--model-cache-dir", "./cache/"}, false},
		{filepath.Join(e.dir, "cache"), []string{"--model-cache-dir", "cache/"}, false},
		{"cache", []string{"--model-cache-dir", "other"}, true},
		{"cache", []string{"--dataset-cache-dir", "other"}, false},
	} {
		r := e.run(t, []string{"HF_HUB_CACHE=" + tc.hfHubCache}, append([]string{"fetch", "--model", "org/tiny"}, tc.args...)...)
		if r.code != 0 || strings.Contains(r.stderr, "set HF_HUB_CACHE=") != tc.hint {
			t.Errorf("HF_HUB_CACHE=%s, %q: code %d, want 0 and a hint %v:\n%s", tc.hfHubCache, tc.args, r.code, tc.hint, r.stderr)
		}
	}
}

// Ctrl-C in a download stops fetch with the interrupted line, after one
// that says that fetching again continues it, and nothing it left passes for
// complete: the check finds no snapshot of main, and the next fetch
// resumes at the byte where the download stopped. Before, the line about
// continuing was built and never printed.
func TestFetchInterrupted(t *testing.T) {
	h, repos := fakeHub(t)
	e := fetchEnv(t, h)
	h.Cut[hubtest.SHA256(repos[0].Files["model.safetensors"])] = 1000
	var hold atomic.Bool
	hold.Store(true)
	held := make(chan struct{}, 1)
	// The CDN's second GET, which resumes after the cut, waits for the
	// client to go.
	var gets atomic.Int32
	h.Before = func(server string, r *http.Request) {
		if server == "cdn" && gets.Add(1) > 1 && hold.Load() {
			held <- struct{}{}
			<-r.Context().Done()
		}
	}
	cmd := exec.Command(binary, "fetch", "--model", "org/tiny")
	cmd.Dir, cmd.Env = e.dir, e.vars
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the download did not resume:\n%s", stderr.String())
	}
	must(t, cmd.Process.Signal(syscall.SIGINT))
	err := cmd.Wait()
	hold.Store(false)
	want := "fetch: model org/tiny: stopped; the bytes downloaded are kept: run the same command again to continue\n" +
		"dllmbench fetch: interrupted by SIGINT\n"
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 || !strings.HasSuffix(stderr.String(), want) {
		t.Errorf("%v, want exit status 130 and the last lines %q:\n%s", err, want, stderr.String())
	}

	r := e.run(t, nil, "fetch", "--model", "org/tiny", "--local-files-only")
	if want := "model org/tiny: not in the cache "; r.code != 1 || !strings.HasPrefix(r.stdout, want) {
		t.Errorf("check after the interruption: code %d, want 1 and %q:\n%s%s", r.code, want, r.stdout, r.stderr)
	}
	h.TakeLog()
	if r := e.run(t, nil, "fetch", "--model", "org/tiny"); r.code != 0 {
		t.Fatalf("fetch after the interruption: code %d\n%s", r.code, r.stderr)
	}
	if log := h.TakeLog(); !slices.ContainsFunc(log, func(l string) bool {
		return strings.HasPrefix(l, "cdn GET") && strings.HasSuffix(l, "range=bytes=1000-")
	}) {
		t.Errorf("the next fetch did not resume at byte 1000:\n%s", strings.Join(log, "\n"))
	}
	if r := e.run(t, nil, "fetch", "--model", "org/tiny", "--local-files-only"); r.code != 0 {
		t.Errorf("check after the resumed fetch: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// A model repository without what dllmbench loads (safetensors weights,
// here) fails fetch, as the check would flag it. Before, fetch printed its
// folder as fetched, and --local-files-only then called it incomplete,
// which no fetch could cure.
func TestFetchUnloadable(t *testing.T) {
	h := hubtest.New(t, &hubtest.Repo{
		ID: "org/pickled", Commit: strings.Repeat("d4", 20),
		Files: map[string]string{"config.json": `{}`, "tokenizer.json": `{}`, "pytorch_model.bin": "pickled weights"},
		LFS:   map[string]bool{"pytorch_model.bin": true},
	})
	e := fetchEnv(t, h)
	r := e.run(t, nil, "fetch", "--model", "org/pickled")
	want := "dllmbench fetch: model org/pickled: the repository has no model.safetensors (dllmbench loads config.json, tokenizer.json and safetensors weights)\n"
	if r.code != 1 || r.stdout != "" || !strings.HasSuffix(r.stderr, want) {
		t.Errorf("code %d, want 1 and the last line %q:\n%s%s", r.code, want, r.stdout, r.stderr)
	}
	r = e.run(t, nil, "fetch", "--model", "org/pickled", "--local-files-only")
	if r.code != 1 || !strings.HasPrefix(r.stdout, "model org/pickled: missing model.safetensors, in ") {
		t.Errorf("check: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Safetensors weights are found in a cache whose path holds pattern
	// characters, which the check took for a pattern before.
	h, _ = fakeHub(t)
	e = fetchEnv(t, h)
	cache := filepath.Join(e.dir, "hf[1]")
	if r := e.run(t, nil, "fetch", "--model", "org/tiny", "--model-cache-dir", cache); r.code != 0 {
		t.Errorf("fetch into %s: code %d\n%s", cache, r.code, r.stderr)
	}
	if r := e.run(t, nil, "fetch", "--model", "org/tiny", "--model-cache-dir", cache, "--local-files-only"); r.code != 0 {
		t.Errorf("check of %s: code %d\n%s%s", cache, r.code, r.stdout, r.stderr)
	}
}

// A gated repository without a token, or with a wrong one, fails with the
// hub's message on one line, and the token never shows.
func TestFetchGated(t *testing.T) {
	h, _ := fakeHub(t)
	e := fetchEnv(t, h)
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
	h, _ := fakeHub(t)
	e := fetchEnv(t, h)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"fetch"}, 2, "nothing to fetch"},
		{[]string{"fetch", "--model", "builtin:demo-llama"}, 2, "needs no fetch"},
		{[]string{"fetch", "--model", ""}, 2, `--model "": give a Hugging Face id`},
		{[]string{"fetch", "--model", "@main"}, 2, `--model "@main": give a Hugging Face id`},
		{[]string{"fetch", "--model", "not a/valid/id"}, 1, "is not a Hugging Face model ID"},
		{[]string{"fetch", "--config", "nonexistent.yaml"}, 1, "nonexistent.yaml"},
	} {
		r := e.run(t, nil, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: code %d, %q; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

// A model or judge named by a path to nothing is one line, "no such
// directory", naming the path, from every command that takes one. Before,
// the hub called it a malformed ID, and run and quality advised
// 'dllmbench fetch --model ./nojudge', which fails the same way.
func TestPathToNothing(t *testing.T) {
	dir := t.TempDir()
	results := interruptible(t)
	grid := func(name, old, new string) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, []byte(strings.Replace(killGrid, old, new, 1)), 0o644))
		return p
	}
	judgeGrid := grid("judge.yaml", "repetitions: 1\n", "repetitions: 1\nquality:\n  judge: ./nojudge\n")
	modelGrid := grid("model.yaml", "builtin:demo-llada", "./nomodel")
	for _, tc := range []struct {
		args []string
		path string
	}{
		{[]string{"generate", "--model", "./nomodel", "--prompt", "hi"}, "./nomodel"},
		{[]string{"score", "--model", "../nomodel", "--text", "hi"}, "../nomodel"},
		{[]string{"generate", "--model", "~/nomodel", "--prompt", "hi"}, "~/nomodel"},
		{[]string{"fetch", "--model", "./nomodel"}, "./nomodel"},
		{[]string{"fetch", "--config", modelGrid}, "./nomodel"},
		{[]string{"run", "--config", modelGrid, "--dry-run"}, "./nomodel"},
		{[]string{"run", "--config", judgeGrid, "--dry-run"}, "./nojudge"},
		{[]string{"run", "--config", judgeGrid, "--output_dir", filepath.Join(dir, "out")}, "./nojudge"},
		{[]string{"quality", "--judge", "./nojudge", "--output_dir", results}, "./nojudge"},
	} {
		cmd := exec.Command(binary, tc.args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HF_HOME="+filepath.Join(dir, "hf"), "HF_HUB_CACHE=", "HUGGINGFACE_HUB_CACHE=",
			"HF_HUB_OFFLINE=1", "XDG_CACHE_HOME="+filepath.Join(dir, "cache"), "HOME="+dir)
		r := execute(t, cmd)
		want := fmt.Sprintf("dllmbench %s: ", tc.args[0])
		if r.code != 1 || r.stdout != "" || !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 ||
			!strings.HasSuffix(r.stderr, tc.path+": no such directory\n") {
			t.Errorf("%v: exit %d, want 1 and one line %q…%q:\n%s%s", tc.args, r.code, want, tc.path+": no such directory", r.stdout, r.stderr)
		}
	}
}
