package hub

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeCache lays files out under dir: "path -> target" makes a symlink,
// "path: contents" a file.
func writeCache(t *testing.T, dir string, entries ...string) {
	t.Helper()
	for _, e := range entries {
		var err error
		if name, target, ok := strings.Cut(e, " -> "); ok {
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err = os.MkdirAll(filepath.Dir(p), 0o777); err == nil {
				err = os.Symlink(target, p)
			}
		} else {
			name, data, _ := strings.Cut(e, ": ")
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err = os.MkdirAll(filepath.Dir(p), 0o777); err == nil {
				err = os.WriteFile(p, []byte(data), 0o666)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// pythonCache is a cache as huggingface_hub leaves it after downloading
// main, refs/pr/1 and a dataset.
func pythonCache(t *testing.T) string {
	cache := t.TempDir()
	writeCache(t, cache,
		"models--GSAI-ML--LLaDA-8B-Instruct/refs/main: "+commitA,
		"models--GSAI-ML--LLaDA-8B-Instruct/refs/refs/pr/1: "+commitB,
		"models--GSAI-ML--LLaDA-8B-Instruct/refs/nl: "+commitA+"\n",
		"models--GSAI-ML--LLaDA-8B-Instruct/refs/gone: 1111111111111111111111111111111111111111",
		"models--GSAI-ML--LLaDA-8B-Instruct/refs/junk: not a hash",
		"models--GSAI-ML--LLaDA-8B-Instruct/blobs/aaaa: {}",
		"models--GSAI-ML--LLaDA-8B-Instruct/snapshots/"+commitA+"/config.json -> ../../blobs/aaaa",
		"models--GSAI-ML--LLaDA-8B-Instruct/snapshots/"+commitB+"/config.json -> ../../blobs/aaaa",
		"datasets--Salesforce--wikitext/refs/main: "+commitB,
		"datasets--Salesforce--wikitext/snapshots/"+commitB+"/README.md -> ../../blobs/bbbb",
	)
	return cache
}

func TestSnapshot(t *testing.T) {
	cache := pythonCache(t)
	llada := filepath.Join(cache, "models--GSAI-ML--LLaDA-8B-Instruct", "snapshots")
	for _, tc := range []struct {
		name    string
		kind    Kind
		id, rev string
		want    string // under cache, or the error with ~ for the cache
	}{
		{name: "default is main", id: "GSAI-ML/LLaDA-8B-Instruct", want: filepath.Join(llada, commitA)},
		{name: "branch", id: "GSAI-ML/LLaDA-8B-Instruct", rev: "main", want: filepath.Join(llada, commitA)},
		{name: "ref with a slash", id: "GSAI-ML/LLaDA-8B-Instruct", rev: "refs/pr/1", want: filepath.Join(llada, commitB)},
		{name: "ref ending in a newline", id: "GSAI-ML/LLaDA-8B-Instruct", rev: "nl", want: filepath.Join(llada, commitA)},
		{name: "commit hash, no ref needed", id: "GSAI-ML/LLaDA-8B-Instruct", rev: commitB, want: filepath.Join(llada, commitB)},
		{name: "dataset", kind: Dataset, id: "Salesforce/wikitext", want: filepath.Join(cache, "datasets--Salesforce--wikitext", "snapshots", commitB)},
		{
			name: "unknown branch", id: "GSAI-ML/LLaDA-8B-Instruct", rev: "dev",
			want: "hub: GSAI-ML/LLaDA-8B-Instruct: revision dev not in the cache ~",
		}, {
			name: "unknown commit", id: "GSAI-ML/LLaDA-8B-Instruct", rev: "2222222222222222222222222222222222222222",
			want: "hub: GSAI-ML/LLaDA-8B-Instruct: commit 2222222222222222222222222222222222222222 not in the cache ~",
		}, {
			// A ref whose snapshot was deleted (by `hf cache delete`, say).
			name: "ref to a missing snapshot", id: "GSAI-ML/LLaDA-8B-Instruct", rev: "gone",
			want: "hub: GSAI-ML/LLaDA-8B-Instruct: revision gone (commit 1111111111111111111111111111111111111111) not in the cache ~",
		}, {
			name: "model not cached", id: "meta-llama/Meta-Llama-3-8B",
			want: "hub: meta-llama/Meta-Llama-3-8B: revision main not in the cache ~",
		}, {
			// Same ID, other kind: datasets-- is another folder.
			name: "model ID asked as a dataset", kind: Dataset, id: "GSAI-ML/LLaDA-8B-Instruct",
			want: "hub: datasets/GSAI-ML/LLaDA-8B-Instruct: revision main not in the cache ~",
		}, {
			name: "ref holding junk", id: "GSAI-ML/LLaDA-8B-Instruct", rev: "junk",
			want: `hub: GSAI-ML/LLaDA-8B-Instruct: refs/junk holds "not a hash", not a commit hash`,
		}, {
			name: "revision leaving refs/", id: "GSAI-ML/LLaDA-8B-Instruct", rev: "../../../etc/passwd",
			want: `hub: GSAI-ML/LLaDA-8B-Instruct: revision "../../../etc/passwd" is not a relative path`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Client{Cache: cache}
			dir, err := c.Snapshot(tc.kind, tc.id, tc.rev)
			got := dir
			if err != nil {
				got = strings.ReplaceAll(err.Error(), cache, "~")
			}
			if got != tc.want {
				t.Errorf("Snapshot(%v, %q, %q):\n got %s\nwant %s", tc.kind, tc.id, tc.rev, got, tc.want)
			}
			if notCached := strings.Contains(tc.want, "not in the cache"); errors.Is(err, ErrNotCached) != notCached {
				t.Errorf("errors.Is(%v, ErrNotCached) = %v, want %v", err, !notCached, notCached)
			}
		})
	}
}

func TestResolveModel(t *testing.T) {
	cache := pythonCache(t)
	local := t.TempDir()
	file := filepath.Join(local, "config.json")
	writeCache(t, local, "config.json: {}")
	t.Chdir(local)

	for _, tc := range []struct {
		name string
		arg  string
		want string // the directory, or the error with ~ for the cache
	}{
		{name: "local directory as is", arg: local, want: local},
		{name: "relative local directory", arg: ".", want: "."},
		{name: "ID in the cache", arg: "GSAI-ML/LLaDA-8B-Instruct",
			want: filepath.Join(cache, "models--GSAI-ML--LLaDA-8B-Instruct", "snapshots", commitA)},
		// A revision as fetch takes it: a ref or a commit.
		{name: "ID at a ref", arg: "GSAI-ML/LLaDA-8B-Instruct@refs/pr/1",
			want: filepath.Join(cache, "models--GSAI-ML--LLaDA-8B-Instruct", "snapshots", commitB)},
		{name: "ID at a commit", arg: "GSAI-ML/LLaDA-8B-Instruct@" + commitB,
			want: filepath.Join(cache, "models--GSAI-ML--LLaDA-8B-Instruct", "snapshots", commitB)},
		{
			name: "ID at a revision not in the cache", arg: "GSAI-ML/LLaDA-8B-Instruct@v2",
			want: "hub: model GSAI-ML/LLaDA-8B-Instruct@v2 is no local directory and not in the cache ~;" +
				" download it with 'dllmbench fetch --model GSAI-ML/LLaDA-8B-Instruct@v2'",
		}, {
			name: "an empty revision", arg: "GSAI-ML/LLaDA-8B-Instruct@",
			want: "hub: model GSAI-ML/LLaDA-8B-Instruct@: no such directory, and not a Hugging Face ID (org/name[@revision])",
		},
		{
			name: "ID not in the cache", arg: "meta-llama/Meta-Llama-3-8B",
			want: "hub: model meta-llama/Meta-Llama-3-8B is no local directory and not in the cache ~;" +
				" download it with 'dllmbench fetch --model meta-llama/Meta-Llama-3-8B'",
		}, {
			name: "path to nothing", arg: "../weights/llada",
			want: "hub: model ../weights/llada: no such directory",
		}, {
			name: "neither a directory nor an ID", arg: "not a/valid/id",
			want: "hub: model not a/valid/id: no such directory, and not a Hugging Face ID (org/name[@revision])",
		}, {
			name: "a file", arg: file,
			want: "hub: model " + file + " is a file; give its directory or a Hugging Face ID",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TRANSFORMERS_CACHE", "")
			c := &Client{Cache: cache}
			dir, err := c.ResolveModel(tc.arg)
			got := dir
			if err != nil {
				got = strings.ReplaceAll(err.Error(), cache, "~")
			}
			if got != tc.want {
				t.Errorf("ResolveModel(%q):\n got %s\nwant %s", tc.arg, got, tc.want)
			}
		})
	}
}

// A model missing from the hub cache while TRANSFORMERS_CACHE names another
// (transformers 4 reads it; huggingface_hub and dllmbench do not) is
// pointed at that cache; one that names the hub cache itself adds nothing.
func TestResolveModelTransformersCache(t *testing.T) {
	cache := pythonCache(t)
	c := &Client{Cache: cache}
	t.Setenv("TRANSFORMERS_CACHE", "/data/tf-cache")
	_, err := c.ResolveModel("meta-llama/Meta-Llama-3-8B")
	want := "; download it with 'dllmbench fetch --model meta-llama/Meta-Llama-3-8B', or, if transformers downloaded it into" +
		" TRANSFORMERS_CACHE (/data/tf-cache), which only transformers reads, set HF_HUB_CACHE=/data/tf-cache"
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("ResolveModel with TRANSFORMERS_CACHE elsewhere: %v\nwant it to end %q", err, want)
	}
	t.Setenv("TRANSFORMERS_CACHE", cache+"/")
	if _, err := c.ResolveModel("meta-llama/Meta-Llama-3-8B"); err == nil || strings.Contains(err.Error(), "TRANSFORMERS_CACHE") {
		t.Errorf("ResolveModel with TRANSFORMERS_CACHE the hub cache: %v", err)
	}
}

// A model or dataset named by a local path that is not there is "no such
// directory" from every entry of the hub, not a malformed ID to fetch
// (before: `"./nojudge" is not a Hugging Face model ID`, which the run
// followed with "pre-fetch it with: dllmbench fetch --model ./nojudge").
func TestLocalPathIsNoID(t *testing.T) {
	cache := pythonCache(t)
	local := t.TempDir()
	writeCache(t, local, "weights.bin: x")
	t.Chdir(local)
	home := t.TempDir()
	t.Setenv("HOME", home)
	os.Mkdir(filepath.Join(home, "llada"), 0o777)
	abs := filepath.Join(local, "nothing")

	for _, tc := range []struct {
		id   string
		want string
	}{
		{"./nojudge", "hub: model ./nojudge: no such directory"},
		{"../weights/llada", "hub: model ../weights/llada: no such directory"},
		{abs, "hub: model " + abs + ": no such directory"},
		{"~/nothing", "hub: model ~/nothing: no such directory"},
		// A grid file or a quoted flag keeps the ~ that only a shell expands.
		{"~/llada", "hub: model ~/llada: no such directory (~ is not expanded here: write " + filepath.Join(home, "llada") + ")"},
		{"./weights.bin/x", "hub: model ./weights.bin/x: no such directory"},
		// An existing file, path-like or not, is no ID either.
		{"weights.bin", "hub: model weights.bin is a file; give its directory or a Hugging Face ID"},
		{"./weights.bin", "hub: model ./weights.bin is a file; give its directory or a Hugging Face ID"},
		// A directory named as a path is not one to fetch.
		{".", "hub: model . is a local directory, not a Hugging Face ID (org/name)"},
	} {
		c := &Client{Cache: cache, Offline: true}
		_, resolve := c.ResolveModel(tc.id)
		_, snap := c.Snapshot(Model, tc.id, "")
		_, fetch := c.Fetch(t.Context(), Model, tc.id, "", nil)
		_, verify := c.Verify(t.Context(), Model, tc.id, "", nil)
		for _, got := range []struct {
			call string
			err  error
		}{{"CheckID", CheckID(Model, tc.id)}, {"Snapshot", snap}, {"Fetch", fetch}, {"Verify", verify}, {"ResolveModel", resolve}} {
			if got.call == "ResolveModel" && tc.id == "." {
				continue // a directory, which ResolveModel takes
			}
			if fmt.Sprint(got.err) != tc.want {
				t.Errorf("%s(%q): %v\nwant %s", got.call, tc.id, got.err, tc.want)
			}
		}
	}
	// A dataset says so.
	if err := CheckID(Dataset, "./prompts"); fmt.Sprint(err) != "hub: dataset ./prompts: no such directory" {
		t.Errorf("CheckID(Dataset, ./prompts): %v", err)
	}
}

func TestRepositoryID(t *testing.T) {
	for _, tc := range []struct {
		id     string
		folder string // or the reason it is refused
	}{
		{"GSAI-ML/LLaDA-8B-Instruct", "models--GSAI-ML--LLaDA-8B-Instruct"},
		{"gpt2", "models--gpt2"}, // an old ID without an owner
		{"Org_1/na.me-2", "models--Org_1--na.me-2"},
		{"org/" + strings.Repeat("n", 96), "models--org--" + strings.Repeat("n", 96)},
		{"", "a part is empty or longer than 96 characters"},
		{"org/", "a part is empty or longer than 96 characters"},
		{"org/" + strings.Repeat("n", 97), "a part is empty or longer than 96 characters"},
		{"a/b/c", "more than one '/'"},
		{"org/a--b", `it contains "--" or ".."`}, // would make folder names ambiguous
		{"org/a..b", `it contains "--" or ".."`},
		{"org/x.git", `it ends in ".git"`},
		{"org/.x", "a part starts or ends with '-' or '.'"},
		{"-org/x", "a part starts or ends with '-' or '.'"},
		{"org/ná", `'á' is not a letter, digit, '_', '-' or '.'`},
		{`org\x`, `'\\' is not a letter, digit, '_', '-' or '.'`},
	} {
		r, err := newRepository(Model, tc.id)
		got := r.folder()
		if err != nil {
			got = strings.TrimPrefix(err.Error(), fmt.Sprintf("hub: %q is not a Hugging Face model ID (org/name): ", tc.id))
		}
		if got != tc.folder {
			t.Errorf("newRepository(%q): got %s, want %s", tc.id, got, tc.folder)
		}
	}
}

func TestKindPanics(t *testing.T) {
	defer func() {
		if got, want := recover(), "hub: unknown Kind 7"; got != want {
			t.Errorf("panic %v, want %q", got, want)
		}
	}()
	(&Client{}).Snapshot(Kind(7), "org/name", "")
}
