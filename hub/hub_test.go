package hub

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// envVars are all the variables New reads; every row of TestNew starts with
// them empty, which New takes as unset.
var envVars = []string{
	"HOME", "XDG_CACHE_HOME", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
	"HF_ENDPOINT", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
	"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_DISABLE_IMPLICIT_TOKEN",
	"SCRATCH",
}

// TestNew checks each variable against huggingface_hub's constants.py and
// utils/_auth.py. $HOME is a temporary directory, shown as ~ in what New
// returns.
func TestNew(t *testing.T) {
	type settings struct {
		Cache, Endpoint  string
		Offline          bool
		Token, TokenFrom string
	}
	def := settings{Cache: "~/.cache/huggingface/hub", Endpoint: DefaultEndpoint}
	with := func(f func(*settings)) settings { s := def; f(&s); return s }

	for _, tc := range []struct {
		name    string
		env     map[string]string
		files   map[string]string // written under $HOME first
		opts    Options
		want    settings
		wantErr string
	}{{
		name: "nothing set",
		want: def,
	}, {
		name:  "XDG_CACHE_HOME moves HF_HOME, token file included",
		env:   map[string]string{"XDG_CACHE_HOME": "~/xdg"},
		files: map[string]string{"xdg/huggingface/token": "hf_file\n"},
		want: with(func(s *settings) {
			s.Cache, s.Token, s.TokenFrom = "~/xdg/huggingface/hub", "hf_file", "the token in ~/xdg/huggingface/token"
		}),
	}, {
		name:  "HF_HOME beats XDG_CACHE_HOME",
		env:   map[string]string{"XDG_CACHE_HOME": "~/xdg", "HF_HOME": "~/hf"},
		files: map[string]string{"hf/token": "  hf_file \r\n"},
		want: with(func(s *settings) {
			s.Cache, s.Token, s.TokenFrom = "~/hf/hub", "hf_file", "the token in ~/hf/token"
		}),
	}, {
		name: "HF_HUB_CACHE beats HF_HOME",
		env:  map[string]string{"HF_HOME": "~/hf", "HF_HUB_CACHE": "~/cache"},
		want: with(func(s *settings) { s.Cache = "~/cache" }),
	}, {
		name: "the old HUGGINGFACE_HUB_CACHE beats HF_HOME",
		env:  map[string]string{"HF_HOME": "~/hf", "HUGGINGFACE_HUB_CACHE": "~/old"},
		want: with(func(s *settings) { s.Cache = "~/old" }),
	}, {
		name: "HF_HUB_CACHE beats HUGGINGFACE_HUB_CACHE",
		env:  map[string]string{"HF_HUB_CACHE": "~/new", "HUGGINGFACE_HUB_CACHE": "~/old"},
		want: with(func(s *settings) { s.Cache = "~/new" }),
	}, {
		// expandvars: set variables are replaced, unset ones kept as written.
		name: "variables in paths",
		env:  map[string]string{"SCRATCH": "/scratch/u1", "HF_HUB_CACHE": "$SCRATCH/hf/${SCRATCH}/$NO_SUCH_VAR/${NO_SUCH_VAR}/$"},
		want: with(func(s *settings) { s.Cache = "/scratch/u1/hf//scratch/u1/$NO_SUCH_VAR/${NO_SUCH_VAR}/$" }),
	}, {
		name: "HF_ENDPOINT loses its trailing slash",
		env:  map[string]string{"HF_ENDPOINT": "https://hf-mirror.example/"},
		want: with(func(s *settings) { s.Endpoint = "https://hf-mirror.example" }),
	}, {
		name:    "HF_ENDPOINT without a scheme",
		env:     map[string]string{"HF_ENDPOINT": "hf-mirror.example"},
		wantErr: `hub: endpoint "hf-mirror.example" is not an http(s) URL`,
	}, {
		// An offline client sends no request: its endpoint does not matter.
		name: "HF_ENDPOINT without a scheme, offline",
		env:  map[string]string{"HF_ENDPOINT": "hf-mirror.example", "HF_HUB_OFFLINE": "1"},
		want: with(func(s *settings) { s.Endpoint, s.Offline = "hf-mirror.example", true }),
	}, {
		name: "HF_HUB_OFFLINE=yes",
		env:  map[string]string{"HF_HUB_OFFLINE": "yes"},
		want: with(func(s *settings) { s.Offline = true }),
	}, {
		name: "HF_HUB_OFFLINE=ON, in any case",
		env:  map[string]string{"HF_HUB_OFFLINE": "On"},
		want: with(func(s *settings) { s.Offline = true }),
	}, {
		name: "HF_HUB_OFFLINE=2 is not true",
		env:  map[string]string{"HF_HUB_OFFLINE": "2"},
		want: def,
	}, {
		name: "TRANSFORMERS_OFFLINE when HF_HUB_OFFLINE is unset",
		env:  map[string]string{"TRANSFORMERS_OFFLINE": "1"},
		want: with(func(s *settings) { s.Offline = true }),
	}, {
		// constants.py: HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE, on the strings.
		name: "HF_HUB_OFFLINE=0 hides TRANSFORMERS_OFFLINE",
		env:  map[string]string{"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "1"},
		want: def,
	}, {
		name:  "HF_TOKEN beats the token file",
		env:   map[string]string{"HF_TOKEN": " hf_env\n"},
		files: map[string]string{".cache/huggingface/token": "hf_file"},
		want:  with(func(s *settings) { s.Token, s.TokenFrom = "hf_env", "the token in HF_TOKEN" }),
	}, {
		name: "the old HUGGING_FACE_HUB_TOKEN",
		env:  map[string]string{"HUGGING_FACE_HUB_TOKEN": "hf_old"},
		want: with(func(s *settings) { s.Token, s.TokenFrom = "hf_old", "the token in HUGGING_FACE_HUB_TOKEN" }),
	}, {
		name:  "a blank HF_TOKEN falls through to the file",
		env:   map[string]string{"HF_TOKEN": " \n"},
		files: map[string]string{".cache/huggingface/token": "hf_file"},
		want:  with(func(s *settings) { s.Token, s.TokenFrom = "hf_file", "the token in ~/.cache/huggingface/token" }),
	}, {
		name:  "HF_TOKEN_PATH",
		env:   map[string]string{"HF_TOKEN_PATH": "~/secret"},
		files: map[string]string{"secret": "hf_path", ".cache/huggingface/token": "hf_file"},
		want:  with(func(s *settings) { s.Token, s.TokenFrom = "hf_path", "the token in ~/secret" }),
	}, {
		name:  "HF_HUB_DISABLE_IMPLICIT_TOKEN",
		env:   map[string]string{"HF_HUB_DISABLE_IMPLICIT_TOKEN": "1", "HF_TOKEN": "hf_env"},
		files: map[string]string{".cache/huggingface/token": "hf_file"},
		want:  def,
	}, {
		name: "options beat the environment",
		env: map[string]string{
			"HF_HUB_CACHE": "~/cache", "HF_ENDPOINT": "https://hf-mirror.example",
			"HF_TOKEN": "hf_env", "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
		},
		opts: Options{Cache: "/opt/cache", Endpoint: "http://127.0.0.1:8080/", Token: "hf_opt", Offline: true},
		want: settings{Cache: "/opt/cache", Endpoint: "http://127.0.0.1:8080", Offline: true, Token: "hf_opt", TokenFrom: "the token given"},
	}, {
		name:    "no home",
		env:     map[string]string{"HOME": ""},
		wantErr: "hub: cannot place ~/.cache/huggingface/hub: $HOME is not defined; set HF_HOME or HF_HUB_CACHE",
	}, {
		// Nor is a token file looked for under the unknown home.
		name: "no home, but HF_HUB_CACHE",
		env:  map[string]string{"HOME": "", "HF_HUB_CACHE": "/scratch/hub"},
		want: with(func(s *settings) { s.Cache = "/scratch/hub" }),
	}, {
		name:    "unreadable token file",
		files:   map[string]string{".cache/huggingface/token/x": ""},
		wantErr: "hub: token file: read ~/.cache/huggingface/token: is a directory",
	}, {
		// Nor its token: a shared HF_HOME's token file, which only its owner
		// may read, does not keep the others from the cache.
		name:  "unreadable token file, offline",
		files: map[string]string{".cache/huggingface/token/x": ""},
		opts:  Options{Offline: true},
		want:  with(func(s *settings) { s.Offline = true }),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			tilde := func(s string) string { return strings.ReplaceAll(s, home, "~") }
			for _, k := range envVars {
				t.Setenv(k, "")
			}
			t.Setenv("HOME", home)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			for name, data := range tc.files {
				p := filepath.Join(home, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
					t.Fatal(err)
				}
			}

			c, err := New(tc.opts)
			if got, want := tilde(errString(err)), tc.wantErr; got != want {
				t.Fatalf("error:\n got %s\nwant %s", got, want)
			}
			if err != nil {
				return
			}
			got := settings{Cache: tilde(c.Cache), Endpoint: c.Endpoint, Offline: c.Offline, TokenFrom: tilde(c.tokenFrom)}
			if c.token != nil {
				got.Token = *c.token
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
			// However a Client is printed, the token stays out.
			for _, format := range []string{"%v", "%+v", "%#v"} {
				if s := fmt.Sprintf(format, *c); got.Token != "" && strings.Contains(s, got.Token) {
					t.Errorf("Sprintf(%q, client) shows the token: %s", format, s)
				}
			}
		})
	}
}
