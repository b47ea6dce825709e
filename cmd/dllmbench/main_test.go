package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"dllmbench/internal/demo"
)

// binary builds dllmbench once for the tests that run it as users do.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dllmbench-cmd")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "dllmbench")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func dllmbench(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	return execute(t, cmd)
}

// execute runs cmd and returns its output and exit status; a command that
// cannot start fails the test.
func execute(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// Every command has help with examples, and help exits 0.
func TestHelp(t *testing.T) {
	r := dllmbench(t, "", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "Commands:") {
		t.Fatalf("--help: code %d, output %q", r.code, r.stdout)
	}
	for name := range commands {
		r := dllmbench(t, "", name, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "dllmbench "+name) {
			t.Errorf("%s --help: code %d, output %q", name, r.code, r.stdout)
		}
	}
}

func TestVersionJSON(t *testing.T) {
	r := dllmbench(t, "", "version", "--json")
	var v map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v["go_version"] == "" || v["version"] == "" {
		t.Errorf("version --json: %q (%v)", r.stdout, err)
	}
}

// env --json gives every reason the text form gives, as strings: each
// error marshalled as {} before. With no device visible the CUDA backend
// cannot run on any machine, so its reason is never empty.
func TestEnvJSON(t *testing.T) {
	cmd := exec.Command(binary, "env", "--json")
	cmd.Env = append(os.Environ(), "CUDA_VISIBLE_DEVICES=-1")
	r := execute(t, cmd)
	var v struct {
		CUDA struct {
			Libraries []struct {
				Name, Path string
				Err        json.RawMessage
			}
			Err json.RawMessage
		}
		CUDAError string `json:"cuda_error"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 0 || len(v.CUDA.Libraries) != 4 {
		t.Fatalf("env --json: code %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	cmd = exec.Command(binary, "env")
	cmd.Env = append(os.Environ(), "CUDA_VISIBLE_DEVICES=-1")
	text := execute(t, cmd).stdout
	// reason decodes an Err field, which must be a string.
	reason := func(what string, raw json.RawMessage) string {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Errorf("%s: Err is %s, not a string", what, raw)
		}
		return s
	}
	for _, l := range v.CUDA.Libraries {
		msg := reason(l.Name, l.Err)
		switch {
		case l.Path == "" && msg == "":
			t.Errorf("%s did not load, and JSON gives no reason", l.Name)
		case l.Path != "" && msg != "":
			t.Errorf("%s loaded from %s, and JSON gives a reason: %q", l.Name, l.Path, msg)
		case msg != "" && !strings.Contains(text, "not usable: "+msg):
			t.Errorf("%s: JSON's reason %q is not the text's:\n%s", l.Name, msg, text)
		}
	}
	if msg := reason("cuda", v.CUDA.Err); msg == "" || msg != v.CUDAError ||
		!strings.Contains(text, "CUDA backend unavailable: "+strings.Split(msg, "\n")[0]) {
		t.Errorf("the backend's reason: %q in cuda, %q in cuda_error; text:\n%s", msg, v.CUDAError, text)
	}
}

// Mistakes a user can make: one line on stderr, a non-zero exit, no panic.
func TestUserErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		// Help for a command that does not exist is the same mistake, not the main help.
		{"help for an unknown command", []string{"help", "frobnicate"}, 2, `unknown command "frobnicate"; run 'dllmbench --help'`},
		{"--help for an unknown command", []string{"--help", "frobnicate"}, 2, `unknown command "frobnicate"`},
		{"unknown flag", []string{"generate", "--modle", "x"}, 2, "flag provided but not defined: -modle"},
		{"no prompt", []string{"generate", "--model", "../../testdata/stories260K"}, 2, "no prompt"},
		{"diffusion flag on a causal model", []string{"generate", "--model", "../../testdata/stories260K", "--prompt-ids", "1", "--steps", "8"}, 2,
			"--steps does not apply to LlamaForCausalLM"},
		{"text prompt without a tokenizer", []string{"generate", "--model", "../../testdata/stories260K", "--prompt", "hi"}, 1, "has no tokenizer.json"},
		{"token id outside the vocabulary", []string{"generate", "--model", "../../testdata/stories260K", "--prompt-ids", "1,99999", "--backend", "cpu"}, 1,
			"token id 99999 outside the vocabulary of 512"},
		{"a model that is not there", []string{"generate", "--model", "/nonexistent/model", "--prompt-ids", "1"}, 1, "/nonexistent/model"},
		{"bad id list", []string{"generate", "--model", "../../testdata/stories260K", "--prompt-ids", "1,x"}, 2, `"x" is not an integer`},
		// Both were read as "1,2" and "block length -8" (a message about a
		// multiple of -8).
		{"empty entry in an id list", []string{"generate", "--model", "../../testdata/stories260K", "--prompt-ids", "1,,2"}, 2, `"1,,2" has an empty entry between commas`},
		{"empty entry in a steps list", []string{"run", "--dry-run", "--steps", "8,"}, 2, `"8," has an empty entry between commas`},
		{"negative block length", []string{"generate", "--model", "../../testdata/golden/engine/llada-tiny", "--prompt-ids", "5", "--gen-length", "8", "--block-length", "-8"}, 2,
			"--steps 0 and --block-length -8: want at least 1, or leave them out for gen-length"},
		{"generation beyond the context", []string{"generate", "--model", "../../testdata/stories260K", "--prompt-ids", "1", "--gen-length", "600", "--backend", "cpu"}, 1,
			"exceeds the model's context of 512"},
		{"unknown backend", []string{"generate", "--model", "../../testdata/stories260K", "--prompt-ids", "1", "--backend", "tpu"}, 2, `--backend "tpu": want auto, cpu or cuda`},
		{"more diffusion steps than tokens", []string{"generate", "--model", "../../testdata/golden/engine/llada-tiny", "--prompt-ids", "5", "--gen-length", "8", "--steps", "16"}, 2,
			"steps 16 exceed gen-length 8: at most one step per generated token"},
		// --steps was ignored.
		{"--steps with --threshold", []string{"generate", "--model", "../../testdata/golden/engine/llada-tiny", "--prompt-ids", "5", "--gen-length", "8", "--steps", "4", "--threshold", "0.9"}, 2,
			"--steps does not apply with --threshold, which commits tokens until the block is done"},
		// bench lists each bad override on a line of its own; the user gets them on one.
		{"several bad overrides", []string{"run", "--dry-run", "--steps", "0", "--batch_size", "0", "--max_prompts", "0"}, 2,
			"--steps: 0 is out of range (want ≥ 1); --batch_size: 0 is out of range (want ≥ 1); --max_prompts: 0 is out of range (want ≥ 1) (see 'dllmbench run --help')"},
		{"LLaDA flag for a causal score", []string{"score", "--model", "../../testdata/stories260K", "--ids", "5", "--mc-samples", "4"}, 2,
			"--mc-samples applies to LLaDA"},
		// --dry-run: before the check, an empty name ran the grid into ./records.
		{"run into an empty folder name", []string{"run", "--output_dir", "", "--dry-run"}, 2, "dllmbench run: --output_dir: empty"},
		{"run into a file", []string{"run", "--output_dir", "main.go"}, 1, "dllmbench run: output folder main.go is a file\n"},
		{"report into an empty folder name", []string{"report", "--output_dir", "", "nothere.jsonl"}, 2, "dllmbench report: --output_dir: empty"},
		// Before, the first file inside it named the problem: "open main.go/raw_data/quality_metrics.json: not a directory".
		{"report into a file", []string{"report", "--output_dir", "main.go", "../../testdata"}, 1, "dllmbench report: output folder main.go is a file\n"},
		{"plot into a file", []string{"plot", "--output_dir", "main.go", "../../testdata"}, 1, "dllmbench plot: output folder main.go is a file\n"},
		// A flag of the other direction was silently ignored.
		{"tokenize --skip-special without --decode", []string{"tokenize", "--tokenizer", "../../internal/demo/files/demo-llama", "--skip-special"}, 2,
			"dllmbench tokenize: --skip-special applies to --decode only"},
		{"tokenize --add-special with --decode", []string{"tokenize", "--tokenizer", "../../internal/demo/files/demo-llama", "--decode", "--add-special"}, 2,
			"dllmbench tokenize: --add-special applies to encoding only, not to --decode"},
		// The flag package stops at the first argument: the flag was read as a record file.
		{"report flag after the records", []string{"report", "nothere.jsonl", "--output_dir", "merged"}, 2,
			`dllmbench report: flag --output_dir after the argument "nothere.jsonl": put flags before the record files and folders`},
		{"plot flag after the records", []string{"plot", "nothere", "--output-dir=merged"}, 2,
			`dllmbench plot: flag --output-dir=merged after the argument "nothere": put flags before the record files and folders`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := dllmbench(t, "", tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("code %d, stderr %q; want code %d and %q", r.code, r.stderr, tc.code, tc.want)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, "dllmbench") || strings.Contains(r.stderr, "goroutine") {
				t.Errorf("stderr is not one clean error line: %q", r.stderr)
			}
		})
	}
}

// A result that cannot be written (standard output on a full disk) fails
// the command with one line. Before, the text forms exited 0, the output
// lost.
func TestOutputLost(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer full.Close()
	grid := filepath.Join(t.TempDir(), "grid.yaml")
	must(t, os.WriteFile(grid, []byte("name: local\nmodels: [{id: builtin:demo-llama}]\nprompts: {source: file, path: prompts.txt}\n"), 0o644))
	study := filepath.Join("..", "..", "report", "testdata", "study", "records")
	for _, args := range [][]string{
		{"version"},
		{"env"},
		{"generate", "--model", "builtin:demo-llama", "--prompt", "The game", "--gen-length", "4", "--backend", "cpu"},
		{"score", "--model", "builtin:demo-llama", "--text", "The game", "--backend", "cpu"},
		{"tokenize", "--tokenizer", "builtin:demo-llama"},
		{"fetch", "--config", grid}, // nothing to fetch, which it says
		{"report", "--output_dir", t.TempDir(), study},
		{"plot", "--output_dir", t.TempDir(), study},
	} {
		cmd := exec.Command(binary, args...)
		var stderr bytes.Buffer
		cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader("Hello"), full, &stderr
		err := cmd.Run()
		// One line: the command, then where the error arose.
		e := stderr.String()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.HasPrefix(e, "dllmbench "+args[0]+": ") ||
			!strings.HasSuffix(e, "write /dev/stdout: no space left on device\n") || strings.Count(e, "\n") != 1 {
			t.Errorf("%v: %v, stderr %q; want exit status 1 and one line of the lost write", args, err, e)
		}
	}
}

// Commands that only read the cache do not read the token nor parse the
// endpoint: a shared HF_HOME's token file that only its owner may read (a
// directory here, which no one can read as a file) and a mistyped
// HF_ENDPOINT fail only what downloads. Before, every command that looked
// up a model failed with "hub: token file: …".
func TestCacheWithoutToken(t *testing.T) {
	cache := t.TempDir()
	snap := filepath.Join(cache, "models--org--demo", "snapshots", strings.Repeat("e5", 20))
	must(t, os.MkdirAll(filepath.Join(cache, "models--org--demo", "refs"), 0o755))
	must(t, os.WriteFile(filepath.Join(cache, "models--org--demo", "refs", "main"), []byte(strings.Repeat("e5", 20)), 0o644))
	must(t, os.CopyFS(snap, os.DirFS("../../internal/demo/files/demo-llama")))
	for _, tc := range []struct {
		env  string
		args []string
	}{
		{"HF_TOKEN_PATH=" + t.TempDir(), []string{"generate", "--model", "org/demo", "--prompt", "The game", "--gen-length", "2", "--backend", "cpu"}},
		{"HF_TOKEN_PATH=" + t.TempDir(), []string{"score", "--model", "org/demo", "--text", "The game", "--backend", "cpu"}},
		{"HF_TOKEN_PATH=" + t.TempDir(), []string{"tokenize", "--tokenizer", "org/demo"}},
		{"HF_TOKEN_PATH=" + t.TempDir(), []string{"fetch", "--model", "org/demo", "--local-files-only"}},
		{"HF_ENDPOINT=hf-mirror.example", []string{"generate", "--model", "org/demo", "--prompt", "The game", "--gen-length", "2", "--backend", "cpu"}},
	} {
		cmd := exec.Command(binary, tc.args...)
		cmd.Env = append(os.Environ(), "HF_HUB_CACHE="+cache, "HF_TOKEN=", "HUGGING_FACE_HUB_TOKEN=", "HF_HUB_OFFLINE=", "HF_ENDPOINT=", tc.env)
		cmd.Stdin = strings.NewReader("Hello")
		if r := execute(t, cmd); r.code != 0 {
			t.Errorf("%s %v: code %d\n%s", tc.env, tc.args, r.code, r.stderr)
		}
	}
}

// The published stories260K greedy sample, through the command line.
func TestGenerateJSON(t *testing.T) {
	r := dllmbench(t, "", "generate", "--model", "../../testdata/stories260K", "--prompt-ids", "1", "--prompt-ids", "1,403,407",
		"--gen-length", "10", "--format", "json", "--backend", "cpu")
	if r.code != 0 {
		t.Fatalf("code %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want one per prompt: %q", len(lines), r.stdout)
	}
	var g generation
	if err := json.Unmarshal([]byte(lines[0]), &g); err != nil {
		t.Fatal(err)
	}
	// testdata/stories260K/greedy_reference.json starts 403, 407, 261, …
	want := []int{403, 407, 261, 378, 432, 383, 286, 261, 376, 298}
	if jsonInts(g.OutputIDs) != jsonInts(want) || g.NFE != 10 || g.Backend != "cpu" {
		t.Errorf("first prompt: %+v", g)
	}
	if err := json.Unmarshal([]byte(lines[1]), &g); err != nil {
		t.Fatal(err)
	}
	if g.Prompt != 1 || jsonInts(g.OutputIDs[:2]) != jsonInts(want[2:4]) {
		t.Errorf("second prompt (continuing the sample): %+v", g)
	}
}

// tokenize: stdin verbatim to ids and back.
func TestTokenizeRoundTrip(t *testing.T) {
	const tok = "../../testdata/golden/engine/llada-tiny"
	text := "  To be, or not to be:\n\tthat is the question.  "
	r := dllmbench(t, text, "tokenize", "--tokenizer", tok)
	if r.code != 0 {
		t.Fatalf("encode: %s", r.stderr)
	}
	var ids []int
	if err := json.Unmarshal([]byte(r.stdout), &ids); err != nil || len(ids) == 0 {
		t.Fatalf("encode output %q: %v", r.stdout, err)
	}
	back := dllmbench(t, r.stdout, "tokenize", "--tokenizer", tok, "--decode")
	if back.code != 0 || back.stdout != text {
		t.Errorf("decode: %q (code %d, %s), want %q", back.stdout, back.code, back.stderr, text)
	}
	bad := dllmbench(t, "[1, 99999]", "tokenize", "--tokenizer", tok, "--decode")
	if bad.code == 0 || !strings.Contains(bad.stderr, "token id 99999") {
		t.Errorf("unknown id: code %d, %q", bad.code, bad.stderr)
	}
}

// tokenize takes a model as generate names it: builtin:demo-llama is the
// demo model's tokenizer; a .json file that is not there says the file is
// missing, a model that is not there why, as generate says it. Before, every
// one said "stat NAME: no such file or directory".
func TestTokenizeModelNames(t *testing.T) {
	dir, err := demo.Dir("builtin:demo-llama")
	if err != nil {
		t.Fatal(err)
	}
	want := dllmbench(t, "Hello world", "tokenize", "--tokenizer", dir)
	got := dllmbench(t, "Hello world", "tokenize", "--tokenizer", "builtin:demo-llama")
	if want.code != 0 || got.code != 0 || got.stdout != want.stdout {
		t.Errorf("builtin:demo-llama: %q (code %d, %s), want the demo directory's %q", got.stdout, got.code, got.stderr, want.stdout)
	}
	r := dllmbench(t, "Hello", "tokenize", "--tokenizer", filepath.Join(t.TempDir(), "none.json"))
	if r.code == 0 || !strings.Contains(r.stderr, "none.json: no such file or directory") {
		t.Errorf("a missing file: code %d, %q", r.code, r.stderr)
	}
	cache := t.TempDir()
	for name, want := range map[string]string{
		"org/absent":     "dllmbench tokenize: hub: model org/absent is no local directory and not in the cache " + cache + "; download it with 'dllmbench fetch --model org/absent'\n",
		"./absent":       "dllmbench tokenize: hub: model ./absent: no such directory\n",
		"builtin:absent": "dllmbench tokenize: demo: no built-in model \"absent\" (have demo-llama, demo-llada)\n",
	} {
		cmd := exec.Command(binary, "tokenize", "--tokenizer", name)
		cmd.Env = append(os.Environ(), "HF_HUB_CACHE="+cache, "TRANSFORMERS_CACHE=")
		cmd.Stdin = strings.NewReader("Hello")
		if r := execute(t, cmd); r.code != 1 || r.stderr != want {
			t.Errorf("%s: code %d, %q; want 1 and %q", name, r.code, r.stderr, want)
		}
	}
}

// tokenize --decode gives what transformers' decode gives: a directory whose
// tokenizer_config.json asks for the clean-up of spaces (with the override
// a BPE model needs since transformers 5.7) has it, the tokenizer.json
// alone, as tokenizers' decode, has not.
func TestTokenizeDecodeCleanUp(t *testing.T) {
	const text = "It 's over , is n't it ?"
	dir := t.TempDir()
	data, err := os.ReadFile("../../testdata/golden/engine/llada-tiny/tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "tokenizer.json")
	cfg := `{"clean_up_tokenization_spaces": true, "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output": true}`
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ids := dllmbench(t, text, "tokenize", "--tokenizer", file)
	if ids.code != 0 {
		t.Fatalf("encode: %s", ids.stderr)
	}
	for _, tc := range []struct{ path, want string }{
		{dir, "It's over, isn't it?"},
		{file, text},
	} {
		r := dllmbench(t, ids.stdout, "tokenize", "--tokenizer", tc.path, "--decode")
		if r.code != 0 || r.stdout != tc.want {
			t.Errorf("decode with %s: %q (code %d, %s), want %q", tc.path, r.stdout, r.code, r.stderr, tc.want)
		}
	}
}

// A LLaDA model through the command line: the whole canvas comes back, with
// NFE and tokens per step; Fast-dLLM flags combine with caches.
func TestGenerateDiffusion(t *testing.T) {
	const m = "../../testdata/golden/engine/llada-tiny"
	r := dllmbench(t, "", "generate", "--model", m, "--prompt", "ROMEO:", "--gen-length", "16", "--block-length", "8",
		"--cache", "dual", "--threshold", "0.7", "--format", "json", "--backend", "cpu")
	if r.code != 0 {
		t.Fatalf("code %d: %s", r.code, r.stderr)
	}
	var g generation
	if err := json.Unmarshal([]byte(r.stdout), &g); err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, k := range g.TokensPerStep {
		sum += k
	}
	if len(g.OutputIDs) != 16 || sum != 16 || len(g.TokensPerStep) != g.NFE || g.Text == nil {
		t.Errorf("diffusion output: %+v", g)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--block-length", "5"}, "not a multiple of block-length 5"},
		{[]string{"--threshold", "0.9", "--factor", "1"}, "exclude each other"},
		{[]string{"--threshold", "1.5"}, "threshold 1.5 outside (0, 1]"},
		{[]string{"--top-k", "3"}, "--top-k does not apply"},
		// Fast-dLLM's threshold and factor rules commit until the block is
		// done: a step count would label cells with a count never run.
		{[]string{"--threshold", "0.9", "--steps", "8"}, "--steps does not apply with --threshold, which commits"},
		{[]string{"--factor", "1", "--steps", "16"}, "--steps does not apply with --factor, which commits"},
	} {
		args := append([]string{"generate", "--model", m, "--prompt-ids", "5,6", "--gen-length", "16", "--backend", "cpu"}, tc.args...)
		r := dllmbench(t, "", args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: code %d, %q; want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

// A multi-line report (the CUDA probe's, in an error) reads as one line:
// a line ending in a colon runs into the next, the others are separated
// by "; ", and blank lines and trailing newlines leave no empty parts.
func TestOneLine(t *testing.T) {
	report := "cuda: no usable GPU:\n" +
		"cuda    not usable: no usable library among libcuda.so.1\n" +
		"          tried libcuda.so.1: cannot open shared object file\n" +
		"\n" +
		"CUDA backend unavailable: no usable library\n"
	want := "cuda: no usable GPU: cuda not usable: no usable library among libcuda.so.1; " +
		"tried libcuda.so.1: cannot open shared object file; CUDA backend unavailable: no usable library"
	if got := oneLine(report); got != want {
		t.Errorf("oneLine:\n got %q\nwant %q", got, want)
	}
	if got := oneLine("plain  message"); got != "plain message" {
		t.Errorf("oneLine of one line: %q", got)
	}
}
