package hub

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"dllmbench/hub/hubtest"
)

const (
	commitA = "0123456789abcdef0123456789abcdef01234567"
	commitB = "89abcdef0123456789abcdef0123456789abcdef"
)

// llama is a gated model laid out as meta-llama/Meta-Llama-3-8B is: small
// JSON files in git, weights in LFS, and files the defaults leave out.
func llama() *hubtest.Repo {
	return &hubtest.Repo{
		ID: "meta-llama/Meta-Llama-3-8B", Commit: commitA, Gated: true,
		Files: map[string]string{
			"config.json":                      `{"model_type": "llama"}`,
			"generation_config.json":           `{"bos_token_id": 128000}`,
			"tokenizer.json":                   `{"model": {"type": "BPE"}}`,
			"model.safetensors.index.json":     `{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}`,
			"model-00001-of-00002.safetensors": strings.Repeat("shard one ", 300),
			"model-00002-of-00002.safetensors": strings.Repeat("shard two ", 200),
			"README.md":                        "# Llama 3",
			"original/consolidated.00.pth":     "pickled",
		},
		LFS: map[string]bool{
			"model-00001-of-00002.safetensors": true,
			"model-00002-of-00002.safetensors": true,
			"original/consolidated.00.pth":     true,
		},
	}
}

// wikitext is a dataset with parquet files in per-config directories.
func wikitext() *hubtest.Repo {
	return &hubtest.Repo{
		ID: "Salesforce/wikitext", Commit: commitB, Dataset: true,
		Files: map[string]string{
			"README.md": "# WikiText",
			"wikitext-103-raw-v1/validation-00000-of-00001.parquet": strings.Repeat("PAR1 valid ", 100),
			"wikitext-103-raw-v1/train-00000-of-00002.parquet":      strings.Repeat("PAR1 train ", 100),
			"wikitext-2-raw-v1/validation-00000-of-00001.parquet":   strings.Repeat("PAR1 small ", 100),
		},
		LFS: map[string]bool{
			"wikitext-103-raw-v1/validation-00000-of-00001.parquet": true,
			"wikitext-103-raw-v1/train-00000-of-00002.parquet":      true,
			"wikitext-2-raw-v1/validation-00000-of-00001.parquet":   true,
		},
	}
}

// tiny is a model renamed from old-org/tiny, with one LFS file of bytes
// that differ at every offset, so that a wrong resume shows.
func tiny() *hubtest.Repo {
	w := make([]byte, 3000)
	for i := range w {
		w[i] = byte(i*7 + i/256)
	}
	return &hubtest.Repo{
		ID: "new-org/tiny", Commit: commitB, Gated: true,
		Files: map[string]string{"config.json": `{"dim": 8}`, "model.safetensors": string(w)},
		LFS:   map[string]bool{"model.safetensors": true},
	}
}

func TestFetch(t *testing.T) {
	ll, wt, ti := llama(), wikitext(), tiny()
	llBlob := func(f string) string { return hubtest.SHA256(ll.Files[f]) }
	llGit := func(f string) string { return hubtest.GitBlobID(ll.Files[f]) }
	const llDir = "models--meta-llama--Meta-Llama-3-8B/"
	const llRes = "/meta-llama/Meta-Llama-3-8B/resolve/" + commitA + "/"
	const wtDir = "datasets--Salesforce--wikitext/"
	wtVal := "wikitext-103-raw-v1/validation-00000-of-00001.parquet"
	const tiDir = "models--old-org--tiny/"

	for _, tc := range []struct {
		name     string
		kind     Kind
		id, rev  string
		patterns []string
		token    string
		want     []string // the cache's layout
		wantLog  []string // the requests, in order
	}{{
		// The default patterns pick config, tokenizer and weights; the token
		// goes to the hub but not to the CDN's signed URLs.
		name: "gated model", kind: Model, id: "meta-llama/Meta-Llama-3-8B", token: "hf_good",
		want: []string{
			llDir + "blobs/" + llBlob("model-00001-of-00002.safetensors") + ": 3000 bytes",
			llDir + "blobs/" + llBlob("model-00002-of-00002.safetensors") + ": 2000 bytes",
			llDir + "blobs/" + llGit("config.json") + ": " + ll.Files["config.json"],
			llDir + "blobs/" + llGit("generation_config.json") + ": " + ll.Files["generation_config.json"],
			llDir + "blobs/" + llGit("model.safetensors.index.json") + ": 98 bytes",
			llDir + "blobs/" + llGit("tokenizer.json") + ": " + ll.Files["tokenizer.json"],
			llDir + "refs/main: " + commitA,
			llDir + "snapshots/" + commitA + "/config.json -> ../../blobs/" + llGit("config.json"),
			llDir + "snapshots/" + commitA + "/generation_config.json -> ../../blobs/" + llGit("generation_config.json"),
			llDir + "snapshots/" + commitA + "/model-00001-of-00002.safetensors -> ../../blobs/" + llBlob("model-00001-of-00002.safetensors"),
			llDir + "snapshots/" + commitA + "/model-00002-of-00002.safetensors -> ../../blobs/" + llBlob("model-00002-of-00002.safetensors"),
			llDir + "snapshots/" + commitA + "/model.safetensors.index.json -> ../../blobs/" + llGit("model.safetensors.index.json"),
			llDir + "snapshots/" + commitA + "/tokenizer.json -> ../../blobs/" + llGit("tokenizer.json"),
		},
		wantLog: []string{
			"hub GET /api/models/meta-llama/Meta-Llama-3-8B/revision/main auth=hf_good",
			"hub HEAD " + llRes + "config.json auth=hf_good",
			"hub GET " + llRes + "config.json auth=hf_good",
			"hub HEAD " + llRes + "generation_config.json auth=hf_good",
			"hub GET " + llRes + "generation_config.json auth=hf_good",
			"hub HEAD " + llRes + "model-00001-of-00002.safetensors auth=hf_good",
			"cdn GET /blobs/" + llBlob("model-00001-of-00002.safetensors"),
			"hub HEAD " + llRes + "model-00002-of-00002.safetensors auth=hf_good",
			"cdn GET /blobs/" + llBlob("model-00002-of-00002.safetensors"),
			"hub HEAD " + llRes + "model.safetensors.index.json auth=hf_good",
			"hub GET " + llRes + "model.safetensors.index.json auth=hf_good",
			"hub HEAD " + llRes + "tokenizer.json auth=hf_good",
			"hub GET " + llRes + "tokenizer.json auth=hf_good",
		},
	}, {
		// A file two levels down links three levels up; the pattern's "*"
		// stays within the config's directory only because of its prefix.
		name: "dataset file at a nested path", kind: Dataset, id: "Salesforce/wikitext",
		patterns: []string{"wikitext-103-raw-v1/validation-*"},
		want: []string{
			wtDir + "blobs/" + hubtest.SHA256(wt.Files[wtVal]) + ": 1100 bytes",
			wtDir + "refs/main: " + commitB,
			wtDir + "snapshots/" + commitB + "/" + wtVal + " -> ../../../blobs/" + hubtest.SHA256(wt.Files[wtVal]),
		},
		wantLog: []string{
			"hub GET /api/datasets/Salesforce/wikitext/revision/main",
			"hub HEAD /datasets/Salesforce/wikitext/resolve/" + commitB + "/" + wtVal,
			"cdn GET /blobs/" + hubtest.SHA256(wt.Files[wtVal]),
		},
	}, {
		// The hub answers for a renamed repository with relative redirects,
		// which keep the token; the cache is named by the ID asked for, as
		// huggingface_hub names it.
		name: "renamed repository", kind: Model, id: "old-org/tiny", token: "hf_good",
		patterns: []string{"*.json", "*.safetensors"},
		want: []string{
			tiDir + "blobs/" + hubtest.GitBlobID(ti.Files["config.json"]) + ": " + ti.Files["config.json"],
			tiDir + "blobs/" + hubtest.SHA256(ti.Files["model.safetensors"]) + ": 3000 bytes",
			tiDir + "refs/main: " + commitB,
			tiDir + "snapshots/" + commitB + "/config.json -> ../../blobs/" + hubtest.GitBlobID(ti.Files["config.json"]),
			tiDir + "snapshots/" + commitB + "/model.safetensors -> ../../blobs/" + hubtest.SHA256(ti.Files["model.safetensors"]),
		},
		wantLog: []string{
			"hub GET /api/models/old-org/tiny/revision/main auth=hf_good",
			"hub GET /api/models/new-org/tiny/revision/main auth=hf_good",
			"hub HEAD /old-org/tiny/resolve/" + commitB + "/config.json auth=hf_good",
			"hub HEAD /new-org/tiny/resolve/" + commitB + "/config.json auth=hf_good",
			"hub GET /new-org/tiny/resolve/" + commitB + "/config.json auth=hf_good",
			"hub HEAD /old-org/tiny/resolve/" + commitB + "/model.safetensors auth=hf_good",
			"hub HEAD /new-org/tiny/resolve/" + commitB + "/model.safetensors auth=hf_good",
			"cdn GET /blobs/" + hubtest.SHA256(ti.Files["model.safetensors"]),
		},
	}, {
		// A revision that is a commit hash names the snapshot itself: no ref.
		name: "revision by commit", kind: Dataset, id: "Salesforce/wikitext", rev: commitB,
		patterns: []string{"README.md"},
		want: []string{
			wtDir + "blobs/" + hubtest.GitBlobID(wt.Files["README.md"]) + ": " + wt.Files["README.md"],
			wtDir + "snapshots/" + commitB + "/README.md -> ../../blobs/" + hubtest.GitBlobID(wt.Files["README.md"]),
		},
		wantLog: []string{
			"hub GET /api/datasets/Salesforce/wikitext/revision/" + commitB,
			"hub HEAD /datasets/Salesforce/wikitext/resolve/" + commitB + "/README.md",
			"hub GET /datasets/Salesforce/wikitext/resolve/" + commitB + "/README.md",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			f := hubtest.New(t, llama(), wikitext(), tiny())
			f.Moved["old-org/tiny"] = "new-org/tiny"
			c := client(t, f, tc.token)
			last := map[string]Progress{}
			c.Progress = func(p Progress) { last[p.File] = p }

			dir, err := c.Fetch(context.Background(), tc.kind, tc.id, tc.rev, tc.patterns)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(tc.want)
			if diff := cmp.Diff(tc.want, layout(t, c.Cache)); diff != "" {
				t.Errorf("cache layout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantLog, f.TakeLog()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}

			// Every file reads through its link as the hub serves it, and its
			// progress ended at its size.
			repo := map[string]*hubtest.Repo{"meta-llama/Meta-Llama-3-8B": ll, "Salesforce/wikitext": wt, "old-org/tiny": ti}[tc.id]
			wantProgress := map[string]Progress{}
			for _, line := range tc.want {
				_, after, ok := strings.Cut(line, "/snapshots/")
				if !ok {
					continue
				}
				name, _, _ := strings.Cut(after[len(commitA)+1:], " -> ")
				b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
				if err != nil || string(b) != repo.Files[name] {
					t.Errorf("%s reads %.20q, %v; want %.20q", name, b, err, repo.Files[name])
				}
				n := int64(len(repo.Files[name]))
				wantProgress[name] = Progress{File: name, Done: n, Total: n}
			}
			if diff := cmp.Diff(wantProgress, last); diff != "" {
				t.Errorf("last progress per file (-want +got):\n%s", diff)
			}

			// Fetching again asks the API only: the snapshot has every file.
			again, err := c.Fetch(context.Background(), tc.kind, tc.id, tc.rev, tc.patterns)
			if err != nil || again != dir {
				t.Errorf("second Fetch = %q, %v; want %q", again, err, dir)
			}
			var api []string
			for _, l := range tc.wantLog {
				if strings.Contains(l, " /api/") {
					api = append(api, l)
				}
			}
			if diff := cmp.Diff(api, f.TakeLog()); diff != "" {
				t.Errorf("second Fetch's requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFetchResume(t *testing.T) {
	body := tiny().Files["model.safetensors"]
	sum := hubtest.SHA256(body)
	for _, tc := range []struct {
		name        string
		partial     string // left in blobs/<etag>.incomplete by an earlier run
		cut         int    // the CDN drops its first answer after this many bytes
		ignoreRange bool
		unavailable int
		wantErr     string
		wantLog     []string // the CDN's requests
	}{{
		name: "connection cut mid-body, resumed in the same call", cut: 1000,
		wantLog: []string{"cdn GET /blobs/" + sum, "cdn GET /blobs/" + sum + " range=bytes=1000-"},
	}, {
		name: "partial file from an earlier run", partial: body[:1200],
		wantLog: []string{"cdn GET /blobs/" + sum + " range=bytes=1200-"},
	}, {
		name: "partial file and a cut", partial: body[:1200], cut: 700,
		wantLog: []string{"cdn GET /blobs/" + sum + " range=bytes=1200-", "cdn GET /blobs/" + sum + " range=bytes=1900-"},
	}, {
		// The server may ignore Range and answer 200 with the whole file.
		name: "range ignored", partial: body[:1200], ignoreRange: true,
		wantLog: []string{"cdn GET /blobs/" + sum + " range=bytes=1200-"},
	}, {
		name: "complete file not yet renamed", partial: body,
		wantLog: nil,
	}, {
		name: "leftover longer than the file", partial: body + "more",
		wantLog: []string{"cdn GET /blobs/" + sum},
	}, {
		name: "CDN busy once", unavailable: 1,
		wantLog: []string{"cdn GET /blobs/" + sum, "cdn GET /blobs/" + sum},
	}, {
		// A leftover that is not a prefix of the file shows in the sha256;
		// it is removed so that the next try starts afresh.
		name: "leftover of another file", partial: strings.Repeat("x", 500),
		wantErr: "hub: old-org/tiny: model.safetensors: downloaded 3000 bytes with sha256 " +
			hubtest.SHA256(strings.Repeat("x", 500)+body[500:]) + ", want " + sum + "; removed them, try again",
		wantLog: []string{"cdn GET /blobs/" + sum + " range=bytes=500-"},
	}, {
		name: "CDN down", unavailable: maxFailures,
		wantErr: "hub: old-org/tiny: model.safetensors: 503 Service Unavailable: upstream busy" +
			" (gave up after 5 tries; 0 of 3000 bytes are kept for the next try)",
		wantLog: slices.Repeat([]string{"cdn GET /blobs/" + sum}, maxFailures),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			f := hubtest.New(t, tiny())
			f.Moved["old-org/tiny"] = "new-org/tiny"
			if tc.cut > 0 {
				f.Cut[sum] = tc.cut
			}
			f.IgnoreRange, f.Unavailable = tc.ignoreRange, tc.unavailable
			c := client(t, f, "hf_good")
			blobs := filepath.Join(c.Cache, "models--old-org--tiny", "blobs")
			if tc.partial != "" {
				if err := os.MkdirAll(blobs, 0o777); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(blobs, sum+".incomplete"), []byte(tc.partial), 0o666); err != nil {
					t.Fatal(err)
				}
			}

			dir, err := c.Fetch(context.Background(), Model, "old-org/tiny", "", []string{"model.safetensors"})
			if got := errString(err); got != tc.wantErr {
				t.Errorf("Fetch error:\n got %s\nwant %s", got, tc.wantErr)
			}
			var cdn []string
			for _, l := range f.TakeLog() {
				if strings.HasPrefix(l, "cdn ") {
					cdn = append(cdn, l)
				}
			}
			if diff := cmp.Diff(tc.wantLog, cdn); diff != "" {
				t.Errorf("CDN requests (-want +got):\n%s", diff)
			}
			if err != nil {
				// Nothing is left that the next try could trust, and it
				// succeeds.
				if _, serr := os.Stat(filepath.Join(blobs, sum)); serr == nil {
					t.Errorf("a blob was kept after %v", err)
				}
				f.Unavailable = 0
				if dir, err = c.Fetch(context.Background(), Model, "old-org/tiny", "", []string{"model.safetensors"}); err != nil {
					t.Fatalf("next Fetch: %v", err)
				}
			}
			b, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
			if err != nil || string(b) != body {
				t.Errorf("model.safetensors: %d bytes, %v; want the %d bytes served", len(b), err, len(body))
			}
			if _, err := os.Stat(filepath.Join(blobs, sum+".incomplete")); err == nil {
				t.Error(".incomplete file left behind")
			}
		})
	}
}

func TestFetchErrors(t *testing.T) {
	absent := tiny()
	absent.ID, absent.Gated = "org/tiny", false
	absent.Absent = map[string]bool{"config.json": true}

	for _, tc := range []struct {
		name       string
		token      string
		kind       Kind
		id, rev    string
		patterns   []string
		expired    bool // the CDN refuses its signed links
		wantErr    string
		wantStatus int // of the StatusError; 0 when it is another error
	}{{
		name: "gated, no token", id: "meta-llama/Meta-Llama-3-8B",
		wantErr: "hub: meta-llama/Meta-Llama-3-8B: config.json: 401 Unauthorized: Access to model meta-llama/Meta-Llama-3-8B is restricted." +
			" You must have access to it and be authenticated to access it. Please log in. (no token was sent: pass --hf-token or set HF_TOKEN)",
		wantStatus: 401,
	}, {
		name: "gated, token without access", id: "meta-llama/Meta-Llama-3-8B", token: "hf_noaccess",
		wantErr: "hub: meta-llama/Meta-Llama-3-8B: config.json: 403 Forbidden: Access to model meta-llama/Meta-Llama-3-8B is restricted and you are not in the authorized list." +
			" Visit https://huggingface.co/meta-llama/Meta-Llama-3-8B to ask for access." +
			" (the token in HF_TOKEN has no access: request it on the repository's page, or pass another token with --hf-token)",
		wantStatus: 403,
	}, {
		name: "invalid token", id: "meta-llama/Meta-Llama-3-8B", token: "hf_bogus",
		wantErr: "hub: meta-llama/Meta-Llama-3-8B: config.json: 401 Unauthorized: Invalid credentials in Authorization header" +
			" (the token in HF_TOKEN was refused: check it, or pass another with --hf-token)",
		wantStatus: 401,
	}, {
		name: "unknown repository", id: "nobody/nothing",
		wantErr:    "hub: nobody/nothing: 404 Not Found: Repository not found (if the repository is private, pass --hf-token or set HF_TOKEN)",
		wantStatus: 404,
	}, {
		// The API explains a bad revision in its JSON body only.
		name: "unknown revision", id: "org/tiny", rev: "v9",
		wantErr:    "hub: org/tiny: 404 Not Found: Invalid rev id: v9",
		wantStatus: 404,
	}, {
		name: "file listed but not found", id: "org/tiny", patterns: []string{"config.json"},
		wantErr:    "hub: org/tiny: config.json: 404 Not Found: Entry not found",
		wantStatus: 404,
	}, {
		// The CDN never sees the token, so no hint blames it.
		name: "CDN refuses", id: "org/tiny", token: "hf_good", patterns: []string{"*.safetensors"}, expired: true,
		wantErr: "hub: org/tiny: model.safetensors: 403 Forbidden: <Error> <Code>AccessDenied</Code>" +
			" <Message>Request has expired</Message> </Error>",
		wantStatus: 403,
	}, {
		name: "unknown dataset", kind: Dataset, id: "org/tiny",
		wantErr:    "hub: datasets/org/tiny: 404 Not Found: Repository not found (if the repository is private, pass --hf-token or set HF_TOKEN)",
		wantStatus: 404,
	}, {
		name: "no file matches", id: "org/tiny", patterns: []string{"*.gguf", "*.bin"},
		wantErr: "hub: org/tiny: no file at revision main matches *.gguf *.bin",
	}, {
		name: "bad pattern", id: "org/tiny", patterns: []string{"[z-a]"},
		wantErr: "hub: org/tiny: bad file pattern \"[z-a]\": error parsing regexp: invalid character class range: `z-a`",
	}, {
		name: "bad ID", id: "org/../x",
		wantErr: `hub: "org/../x" is not a Hugging Face model ID (org/name): more than one '/'`,
	}, {
		name: "revision escaping refs/", id: "org/tiny", rev: "../../x",
		wantErr: `hub: org/tiny: revision "../../x" is not a relative path`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			f := hubtest.New(t, llama(), absent)
			f.Expired = tc.expired
			c := client(t, f, tc.token)
			_, err := c.Fetch(context.Background(), tc.kind, tc.id, tc.rev, tc.patterns)
			if got := errString(err); got != tc.wantErr {
				t.Errorf("error:\n got %s\nwant %s", got, tc.wantErr)
			}
			status := 0
			if se, ok := errors.AsType[*StatusError](err); ok {
				status = se.Status
			}
			if status != tc.wantStatus {
				t.Errorf("StatusError.Status = %d, want %d", status, tc.wantStatus)
			}
			if tc.token != "" && strings.Contains(errString(err), tc.token) {
				t.Errorf("the error shows the token: %v", err)
			}
			// Only a download that began leaves something: its .incomplete.
			if cache := layout(t, c.Cache); len(cache) != 0 && !tc.expired {
				t.Errorf("a failed Fetch left %q", cache)
			}
		})
	}
}

func TestOffline(t *testing.T) {
	f := hubtest.New(t, wikitext())
	online := client(t, f, "")
	want, err := online.Fetch(context.Background(), Dataset, "Salesforce/wikitext", "", []string{"README.md"})
	if err != nil {
		t.Fatal(err)
	}
	f.TakeLog()

	offline := &Client{Endpoint: f.URL, Cache: online.Cache, Offline: true}
	got, err := offline.Fetch(context.Background(), Dataset, "Salesforce/wikitext", "", nil)
	if err != nil || got != want {
		t.Errorf("offline Fetch of a cached dataset = %q, %v; want %q", got, err, want)
	}
	_, err = offline.Fetch(context.Background(), Model, "meta-llama/Meta-Llama-3-8B", "", nil)
	wantErr := "hub: meta-llama/Meta-Llama-3-8B: revision main not in the cache " + online.Cache +
		"; offline (HF_HUB_OFFLINE or a local-files-only option), so not downloading"
	if errString(err) != wantErr || !errors.Is(err, ErrNotCached) {
		t.Errorf("offline Fetch of an uncached model: %v\nwant %s, wrapping ErrNotCached", err, wantErr)
	}
	if l := f.TakeLog(); len(l) != 0 {
		t.Errorf("offline client made requests: %q", l)
	}
}

// TestConcurrentFetch has a second Fetch of the same file start while the
// first is downloading it: the lock must make the second wait and reuse the
// blob rather than download it again into the same .incomplete file.
func TestConcurrentFetch(t *testing.T) {
	f := hubtest.New(t, tiny())
	f.Moved["old-org/tiny"] = "new-org/tiny"
	c := client(t, f, "hf_good")
	sum := hubtest.SHA256(tiny().Files["model.safetensors"])

	// The CDN holds its first answer until the second HEAD has come.
	var (
		mu         sync.Mutex
		heads      int
		secondHead = make(chan struct{})
	)
	f.Before = func(server string, r *http.Request) {
		switch {
		case server == "hub" && r.Method == "HEAD" && strings.HasPrefix(r.URL.Path, "/new-org/"):
			mu.Lock()
			if heads++; heads == 2 {
				close(secondHead)
			}
			mu.Unlock()
		case server == "cdn":
			select {
			case <-secondHead:
			case <-time.After(5 * time.Second):
				t.Error("the second Fetch never sent its HEAD")
			}
		}
	}

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = c.Fetch(context.Background(), Model, "old-org/tiny", "", []string{"model.safetensors"})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	gets := 0
	for _, l := range f.TakeLog() {
		if strings.HasPrefix(l, "cdn GET") {
			gets++
		}
	}
	if gets != 1 {
		t.Errorf("the CDN served the blob %d times, want 1", gets)
	}
	// The lock file is where huggingface_hub takes the same lock.
	if _, err := os.Stat(filepath.Join(c.Cache, ".locks", "models--old-org--tiny", sum+".lock")); err != nil {
		t.Error(err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestFetchFailedLayout has a download fail mid-way: the repository folder
// it leaves must still be one that huggingface_hub's scan_cache_dir (behind
// `hf cache ls`, `hf cache rm`) accepts, which needs its snapshots/ folder;
// without it the repository is reported as corrupted and its .incomplete
// bytes cannot be cleaned with those commands.
func TestFetchFailedLayout(t *testing.T) {
	f := hubtest.New(t, wikitext())
	f.Expired = true
	c := client(t, f, "")
	if _, err := c.Fetch(context.Background(), Dataset, "Salesforce/wikitext", "", []string{"wikitext-103-raw-v1/validation-*"}); err == nil {
		t.Fatal("Fetch succeeded from a CDN that refuses every link")
	}
	repo := filepath.Join(c.Cache, "datasets--Salesforce--wikitext")
	if fi, err := os.Stat(filepath.Join(repo, "snapshots")); err != nil || !fi.IsDir() {
		t.Errorf("after a failed download, %s has no snapshots folder: %v", repo, err)
	}
	// Nor does a snapshot of the commit appear, which a revision given as the
	// commit would take as cached.
	if _, err := c.Snapshot(Dataset, "Salesforce/wikitext", commitB); !errors.Is(err, ErrNotCached) {
		t.Errorf("Snapshot after a failed download: %v, want ErrNotCached", err)
	}
}
