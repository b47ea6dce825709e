package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"dllmbench/bench"
	"dllmbench/hub"
	"dllmbench/internal/demo"
	"dllmbench/internal/files"
)

func init() {
	register(&command{
		name:    "fetch",
		summary: "download the models and data of a grid into the Hugging Face cache, or check the cache",
		usage:   "[--config FILE] [--model ID]… [--extra-model-id ID]… [--hf-token TOKEN] [--model-cache-dir DIR] [--dataset-cache-dir DIR] [--local-files-only]",
		examples: `  # on a login node: every model of the study and the WikiText prompts (LLaMA-3 is gated)
  HF_TOKEN=hf_… dllmbench fetch --config config/experiments.yaml

  # one more model, into a cache on fast storage (run then needs HF_HUB_CACHE=/fast/hf)
  dllmbench fetch --model GSAI-ML/LLaDA-8B-Instruct --model-cache-dir /fast/hf

  # on a compute node without network: check that everything is there and intact
  dllmbench fetch --config config/experiments.yaml --local-files-only
`,
		setup: setupFetch,
	})
}

type fetchFlags struct {
	config       string
	models       stringList
	token        string
	modelCache   string
	datasetCache string
	localOnly    bool
}

func setupFetch(fs *flag.FlagSet) func(context.Context, []string) error {
	var f fetchFlags
	fs.StringVar(&f.config, "config", "", "grid file: its models, judge and encoder, and WikiText when its prompts come from there")
	fs.Var(&f.models, "model", "a model's Hugging Face id (org/name[@revision]); repeat for more")
	alias(fs, "extra-model-id", "extra_model_id")(func(n string) {
		fs.Var(&f.models, n, "another model to fetch besides the grid's (as the Python scaffold's flag); repeat for more")
	})
	alias(fs, "hf-token", "hf_token")(func(n string) {
		fs.StringVar(&f.token, n, "", "Hugging Face token for gated models (default: $HF_TOKEN, then the token file); never printed")
	})
	alias(fs, "model-cache-dir", "model_cache_dir")(func(n string) {
		fs.StringVar(&f.modelCache, n, "", "hub cache for the models (default: $HF_HUB_CACHE, else $HF_HOME/hub)")
	})
	alias(fs, "dataset-cache-dir", "dataset_cache_dir")(func(n string) {
		fs.StringVar(&f.datasetCache, n, "", "hub cache for the datasets (default: as the models without --model-cache-dir)")
	})
	alias(fs, "local-files-only", "local_files_only")(func(n string) {
		fs.BoolVar(&f.localOnly, n, false, "download nothing: check the cache, list what is missing or corrupt, exit 1 if anything is (so does HF_HUB_OFFLINE=1)")
	})
	return func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return usagef("unexpected argument %q", args[0])
		}
		return fetch(ctx, &f, out, os.Stderr)
	}
}

// wikitextFile is the one file of Salesforce/wikitext that the wikitext
// prompt source reads.
const (
	wikitextRepo = "Salesforce/wikitext"
	wikitextFile = "wikitext-103-raw-v1/validation-00000-of-00001.parquet"
)

// want is one repository to fetch or check.
type want struct {
	kind     hub.Kind
	id, rev  string
	patterns []string // nil: hub.DefaultPatterns
	why      string   // for messages: "model", "judge", "prompts"
}

func (w want) String() string {
	s := w.kind.String() + " " + w.id
	if w.rev != "" {
		s += "@" + w.rev
	}
	return s
}

// wants lists the repositories the flags name, each once.
func (f *fetchFlags) wants() ([]want, error) {
	var out []want
	add := func(w want) {
		if !slices.ContainsFunc(out, func(o want) bool { return o.kind == w.kind && o.id == w.id && o.rev == w.rev }) {
			out = append(out, w)
		}
	}
	// addModel adds a hub id; built-in models and local directories need
	// no download.
	addModel := func(id, rev, why string) {
		if id == "" || id == "none" || demo.IsBuiltin(id) || isDir(id) {
			return
		}
		add(want{kind: hub.Model, id: id, rev: rev, why: why})
	}
	if f.config != "" {
		g, err := bench.LoadGrid(f.config)
		if err != nil {
			return nil, err
		}
		for _, m := range g.Models {
			addModel(m.ID, m.Revision, "model")
		}
		addModel(g.Quality.Judge, "", "judge")
		addModel(g.Quality.Encoder, "", "BERTScore encoder")
		if (g.Prompts.Source == "" || g.Prompts.Source == "wikitext") && g.Prompts.Path == "" {
			add(want{kind: hub.Dataset, id: wikitextRepo, patterns: []string{wikitextFile}, why: "prompts"})
		}
	}
	for _, m := range f.models {
		id, rev, _ := strings.Cut(m, "@")
		if strings.TrimSpace(id) == "" {
			return nil, usagef("--model %q: give a Hugging Face id (org/name[@revision])", m)
		}
		if isDir(id) || demo.IsBuiltin(id) {
			return nil, usagef("--model %s: give a Hugging Face id (org/name); a local directory or built-in model needs no fetch", m)
		}
		addModel(id, rev, "model")
	}
	if f.config == "" && len(f.models) == 0 {
		return nil, usagef("nothing to fetch: give --config, --model or --extra-model-id")
	}
	// A path to nothing or a malformed ID fails before any download, as
	// the run would refuse it, not after the others have been fetched.
	for _, w := range out {
		if err := hub.CheckID(w.kind, w.id); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// fetch downloads (or with --local-files-only or HF_HUB_OFFLINE checks)
// every repository the flags name: progress on stderr, one line per
// repository on stdout.
func fetch(ctx context.Context, f *fetchFlags, stdout, stderr io.Writer) error {
	wants, err := f.wants()
	if err != nil {
		return err
	}
	if len(wants) == 0 {
		fmt.Fprintln(stdout, "nothing to fetch: the grid uses only built-in models, local directories and local prompts")
		return nil
	}
	models, err := hub.New(hub.Options{Cache: f.modelCache, Token: f.token, Offline: f.localOnly})
	if err != nil {
		return err
	}
	datasets := models
	if f.datasetCache != "" {
		if datasets, err = hub.New(hub.Options{Cache: f.datasetCache, Token: f.token, Offline: f.localOnly}); err != nil {
			return err
		}
	}
	// Offline (HF_HUB_OFFLINE too), the hub would return a snapshot
	// whatever it holds: check it instead, as --local-files-only does.
	offline := models.Offline
	var errs []error
	var into []string // the caches that received a repository
	incomplete := 0
	for _, w := range wants {
		c := models
		if w.kind == hub.Dataset {
			c = datasets
		}
		p := &progress{w: stderr, repo: w.String()}
		c.Progress = p.report
		if offline {
			ok, err := check(ctx, c, w, stdout)
			switch {
			case err != nil && ctx.Err() != nil:
				return err
			case err != nil:
				errs = append(errs, err)
			case !ok:
				incomplete++
			}
			continue
		}
		fmt.Fprintf(stderr, "fetch: %s (%s) into %s\n", w, w.why, c.Cache)
		dir, err := c.Fetch(ctx, w.kind, w.id, w.rev, w.patterns)
		if err != nil {
			if ctx.Err() != nil {
				// run prints the interrupted line itself, without err.
				fmt.Fprintf(stderr, "fetch: %s: stopped; the bytes downloaded are kept: run the same command again to continue\n", w)
				return err
			}
			errs = append(errs, err)
			continue
		}
		if w.kind == hub.Model {
			if l := lacking(dir); len(l) > 0 {
				errs = append(errs, fmt.Errorf("%s: the repository has no %s (dllmbench loads config.json, tokenizer.json and safetensors weights)", w, strings.Join(l, ", ")))
				continue
			}
		}
		fmt.Fprintf(stdout, "%s: %s\n", w, dir)
		if !slices.Contains(into, c.Cache) {
			into = append(into, c.Cache)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if incomplete > 0 {
		fmt.Fprintf(stderr, "dllmbench fetch: %d of %d repositories are missing or incomplete in the cache (fetch them where there is network, without --local-files-only or HF_HUB_OFFLINE)\n",
			incomplete, len(wants))
		return exitError{1}
	}
	hint(stderr, into)
	return nil
}

// check verifies one repository in the cache without the network and
// prints what it found; ok is false when something is missing or corrupt.
func check(ctx context.Context, c *hub.Client, w want, stdout io.Writer) (ok bool, err error) {
	var files []string
	if w.kind == hub.Dataset {
		files = w.patterns
	}
	rep, err := c.Verify(ctx, w.kind, w.id, w.rev, files)
	if errors.Is(err, hub.ErrNotCached) {
		fmt.Fprintf(stdout, "%s: not in the cache %s\n", w, c.Cache)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if w.kind == hub.Model {
		rep.Missing = append(rep.Missing, lacking(rep.Dir)...)
		slices.Sort(rep.Missing)
		rep.Missing = slices.Compact(rep.Missing)
	}
	if rep.OK() {
		fmt.Fprintf(stdout, "%s: ok, %s\n", w, rep.Dir)
		return true, nil
	}
	var what []string
	if len(rep.Missing) > 0 {
		what = append(what, "missing "+strings.Join(rep.Missing, ", "))
	}
	if len(rep.Corrupt) > 0 {
		// fetch skips a file whose link is in place, however bad its blob:
		// the blob must go for the file to be fetched again.
		var blobs []string
		for _, f := range rep.Corrupt {
			if b, err := filepath.EvalSymlinks(filepath.Join(rep.Dir, filepath.FromSlash(f))); err == nil {
				blobs = append(blobs, b)
			}
		}
		what = append(what, fmt.Sprintf("corrupt %s (remove %s, then fetch again)", strings.Join(rep.Corrupt, ", "), strings.Join(blobs, ", ")))
	}
	fmt.Fprintf(stdout, "%s: %s, in %s\n", w, strings.Join(what, "; "), rep.Dir)
	return false, nil
}

// lacking lists the files dllmbench loads of a model that its snapshot
// dir lacks: config.json, tokenizer.json, and safetensors weights, named
// model.safetensors when there are none (Verify checks the shards an index
// names).
func lacking(dir string) []string {
	var out []string
	for _, f := range []string{"config.json", "tokenizer.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			out = append(out, f)
		}
	}
	weights := len(files.Glob(dir, "*.safetensors")) > 0
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors.index.json")); !weights && err != nil {
		out = append(out, "model.safetensors")
	}
	return out
}

// hint tells where run will not look: it finds models and WikiText only
// in the cache that the HF variables name, and caches got what was fetched.
func hint(stderr io.Writer, caches []string) {
	def, err := hub.New(hub.Options{Offline: true})
	if err != nil {
		return
	}
	// Either may be relative, and Abs cleans a trailing slash away.
	want, _ := filepath.Abs(def.Cache)
	for _, dir := range caches {
		if a, _ := filepath.Abs(dir); a != want {
			fmt.Fprintf(stderr, "fetch: 'dllmbench run' looks in %s: set HF_HUB_CACHE=%s for it to find what was fetched into %s\n", def.Cache, a, dir)
		}
	}
}

// progress prints a file's transfer or check at most every few seconds,
// and when it ends: lines, not a redrawn bar, so that logs stay readable.
type progress struct {
	w    io.Writer
	repo string
	file string
	last time.Time
}

func (p *progress) report(pr hub.Progress) {
	now := time.Now()
	if pr.File == p.file && pr.Done < pr.Total && now.Sub(p.last) < 5*time.Second {
		return
	}
	p.file, p.last = pr.File, now
	pct := 100.0
	if pr.Total > 0 {
		pct = 100 * float64(pr.Done) / float64(pr.Total)
	}
	fmt.Fprintf(p.w, "fetch: %s: %s: %s of %s (%.0f%%)\n", p.repo, pr.File, size(pr.Done), size(pr.Total), pct)
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
