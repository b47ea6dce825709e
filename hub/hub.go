// Package hub finds and downloads Hugging Face models and datasets in the
// cache layout of Python's huggingface_hub, so that both share one cache:
//
//	<cache>/models--org--name/
//	    refs/main                   the commit main pointed to when last fetched
//	    blobs/<etag>                file contents, named by ETag: the sha256 of an
//	                                LFS file, the git blob id of a small one
//	    snapshots/<commit>/<path>   relative symlinks to ../../blobs/<etag>
//	<cache>/datasets--org--name/    the same for a dataset
//	<cache>/.locks/models--org--name/<etag>.lock
//
// Settings come from the environment variables huggingface_hub reads
// (HF_HUB_CACHE, HF_HOME, HF_ENDPOINT, HF_HUB_OFFLINE, HF_TOKEN, ...), with the
// same precedence; Options override them.
package hub

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Kind is the type of a hub repository.
type Kind int

const (
	Model   Kind = iota // a model repository, cached as models--org--name
	Dataset             // a dataset repository, cached as datasets--org--name
)

// String returns "model" or "dataset".
func (k Kind) String() string { return strings.TrimSuffix(k.plural(), "s") }

// plural is the word the hub uses in cache folders and API paths.
func (k Kind) plural() string {
	switch k {
	case Model:
		return "models"
	case Dataset:
		return "datasets"
	}
	panic(fmt.Sprintf("hub: unknown Kind %d", int(k)))
}

// DefaultEndpoint is the hub that HF_ENDPOINT replaces.
const DefaultEndpoint = "https://huggingface.co"

// Options override the environment; a zero field defers to it.
type Options struct {
	Cache    string // the hub cache, instead of HF_HUB_CACHE and HF_HOME
	Endpoint string // instead of HF_ENDPOINT
	Token    string // instead of HF_TOKEN and the token file
	Offline  bool   // use local files only, whatever HF_HUB_OFFLINE says
}

// Client finds files in one hub cache and downloads them from one endpoint.
// Its methods are safe for concurrent use, also by other processes (Python's
// included) that share the cache.
type Client struct {
	Endpoint string       // such as https://huggingface.co, without a trailing slash
	Cache    string       // the directory that holds models--* and datasets--*
	Offline  bool         // when set, no method touches the network
	HTTP     *http.Client // nil means a client with net/http's defaults
	// Progress, when set, is called as a file's bytes arrive (Fetch) or are
	// hashed (Verify), from the goroutine that called the method.
	Progress func(Progress)

	// token is behind a pointer so that printing a Client with %+v shows an
	// address, never the token.
	token     *string
	tokenFrom string        // where the token came from, for hints: "the token in HF_TOKEN", ...
	retryWait time.Duration // first wait before retrying a failed request; 0 means 1s
}

// Progress is the state of one file's transfer or check.
type Progress struct {
	File  string // path in the repository, such as model-00001-of-00004.safetensors
	Done  int64  // bytes written or hashed so far
	Total int64  // the file's size in bytes
}

// New returns a client configured as huggingface_hub would be by this
// process's environment (see constants.py there), with o overriding it.
// It fails when the cache is in an unknown home directory and, unless the
// client is offline, when the endpoint is not an http(s) URL or the token
// file exists but cannot be read: an offline client sends no request, and
// a shared HF_HOME's token file that only its owner may read must not keep
// the others from the cache.
func New(o Options) (*Client, error) {
	env := os.Getenv
	home, homeErr := os.UserHomeDir()
	// path expands p as Python would, failing where that needs a home
	// directory that this process does not have.
	path := func(p string) (string, error) {
		if (p == "~" || strings.HasPrefix(p, "~/")) && homeErr != nil {
			return "", fmt.Errorf("hub: cannot place %s: %v; set HF_HOME or HF_HUB_CACHE", p, homeErr)
		}
		return expand(p, home), nil
	}
	// HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
	hfHome := firstSet(env("HF_HOME"), filepath.Join(firstSet(env("XDG_CACHE_HOME"), filepath.Join("~", ".cache")), "huggingface"))

	c := &Client{Cache: o.Cache, Endpoint: o.Endpoint, Offline: o.Offline}
	if c.Cache == "" {
		// HUGGINGFACE_HUB_CACHE is the older name that huggingface_hub still reads.
		var err error
		c.Cache, err = path(firstSet(env("HF_HUB_CACHE"), env("HUGGINGFACE_HUB_CACHE"), filepath.Join(hfHome, "hub")))
		if err != nil {
			return nil, err
		}
	}

	// huggingface_hub reads TRANSFORMERS_OFFLINE only when HF_HUB_OFFLINE is unset.
	if isTrue(firstSet(env("HF_HUB_OFFLINE"), env("TRANSFORMERS_OFFLINE"))) {
		c.Offline = true
	}

	if c.Endpoint == "" {
		c.Endpoint = firstSet(env("HF_ENDPOINT"), DefaultEndpoint)
	}
	c.Endpoint = strings.TrimRight(c.Endpoint, "/")
	if u, err := url.Parse(c.Endpoint); (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") && !c.Offline {
		return nil, fmt.Errorf("hub: endpoint %q is not an http(s) URL", c.Endpoint)
	}

	switch tok := cleanToken(o.Token); {
	case tok != "":
		c.token, c.tokenFrom = &tok, "the token given"
	case isTrue(env("HF_HUB_DISABLE_IMPLICIT_TOKEN")):
		// The user asked that only explicitly passed tokens be sent.
	default:
		for _, k := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"} {
			if tok := cleanToken(env(k)); tok != "" {
				c.token, c.tokenFrom = &tok, "the token in "+k
				break
			}
		}
		if c.token != nil {
			break
		}
		file, err := path(firstSet(env("HF_TOKEN_PATH"), filepath.Join(hfHome, "token")))
		if err != nil {
			break // no home, so no token file there
		}
		b, err := os.ReadFile(file)
		if err != nil && !os.IsNotExist(err) && !c.Offline {
			return nil, fmt.Errorf("hub: token file: %v", err)
		}
		if tok := cleanToken(string(b)); tok != "" {
			c.token, c.tokenFrom = &tok, "the token in "+file
		}
	}
	return c, nil
}

// firstSet returns the first non-empty value. An empty variable counts as
// unset, where Python would use the empty string as a (relative) path.
func firstSet(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// isTrue is huggingface_hub's reading of a boolean variable.
func isTrue(v string) bool {
	switch strings.ToUpper(v) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}

// cleanToken drops line breaks and surrounding blanks, as huggingface_hub
// does to tokens from the environment and from the token file.
func cleanToken(t string) string {
	return strings.TrimSpace(strings.NewReplacer("\r", "", "\n", "").Replace(t))
}

// expand does to p what os.path.expandvars(os.path.expanduser(p)) does in
// huggingface_hub, so that HF_HOME='~/hf' or '$SCRATCH/hf' (quoted in an
// sbatch script) names the same directory for both: $name and ${name} are
// replaced where the variable is set, and kept as written where not.
func expand(p, home string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		p = home + p[1:]
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(p, '$')
		if i < 0 {
			return b.String() + p
		}
		b.WriteString(p[:i])
		p = p[i:]
		var name string
		n := 1 // length of the reference in p
		if strings.HasPrefix(p, "${") {
			if end := strings.IndexByte(p, '}'); end > 0 {
				name, n = p[2:end], end+1
			}
		} else {
			for n < len(p) && (p[n] == '_' || p[n] >= '0' && p[n] <= '9' || p[n] >= 'a' && p[n] <= 'z' || p[n] >= 'A' && p[n] <= 'Z') {
				n++
			}
			name = p[1:n]
		}
		if v, ok := os.LookupEnv(name); ok && name != "" {
			b.WriteString(v)
		} else {
			b.WriteString(p[:n])
		}
		p = p[n:]
	}
}
