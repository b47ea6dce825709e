package hub

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHub speaks the part of the hub's protocol that Fetch uses, as
// huggingface.co answers it: the revision API, HEAD and GET on resolve URLs,
// and, on a second server with another host:port, the CDN that LFS files
// redirect to with a signed URL.
type fakeHub struct {
	hub, cdn *httptest.Server
	repos    map[string]*fakeRepo // by URL path: org/name or datasets/org/name
	moved    map[string]string    // renamed models: old ID → new
	tokens   map[string]bool      // valid tokens → whether they may read gated repos

	mu          sync.Mutex
	log         []string                             // one line per request, see record
	blobs       map[string][]byte                    // LFS contents by sha256, served by the CDN
	cut         map[string]int                       // sha256 → bytes the CDN sends before cutting its next GET
	ignoreRange bool                                 // the CDN answers 200 with the whole file to a Range
	unavailable int                                  // the CDN answers this many GETs with 503
	expired     bool                                 // the CDN answers 403, as for a stale signature
	before      func(server string, r *http.Request) // called first for every request
}

// fakeRepo is one repository at one commit.
type fakeRepo struct {
	id      string // as the hub names it in messages
	commit  string
	files   map[string]string // path → contents
	lfs     map[string]bool   // files stored in LFS, served by the CDN
	gated   bool              // files need a token with access
	dataset bool
	absent  map[string]bool // listed, but resolve answers 404 EntryNotFound
}

func newFakeHub(t *testing.T, repos ...*fakeRepo) *fakeHub {
	f := &fakeHub{
		repos:  map[string]*fakeRepo{},
		moved:  map[string]string{},
		tokens: map[string]bool{"hf_good": true, "hf_noaccess": false},
		blobs:  map[string][]byte{},
		cut:    map[string]int{},
	}
	for _, r := range repos {
		p := r.id
		if r.dataset {
			p = "datasets/" + p
		}
		f.repos[p] = r
		for name := range r.lfs {
			f.blobs[sha256hex(r.files[name])] = []byte(r.files[name])
		}
	}
	f.hub = httptest.NewServer(http.HandlerFunc(f.serveHub))
	f.cdn = httptest.NewServer(http.HandlerFunc(f.serveCDN))
	t.Cleanup(f.hub.Close)
	t.Cleanup(f.cdn.Close)
	return f
}

// client returns a client of the fake hub with a fresh cache.
func (f *fakeHub) client(t *testing.T, token string) *Client {
	c := &Client{Endpoint: f.hub.URL, Cache: t.TempDir(), retryWait: time.Millisecond}
	if token != "" {
		c.token, c.tokenFrom = &token, "the token in HF_TOKEN"
	}
	return c
}

// record logs a request as "hub HEAD /org/name/resolve/... auth range=bytes=5-".
func (f *fakeHub) record(server string, r *http.Request) {
	line := server + " " + r.Method + " " + r.URL.EscapedPath()
	if a := r.Header.Get("Authorization"); a != "" {
		line += " auth=" + strings.TrimPrefix(a, "Bearer ")
	}
	if rg := r.Header.Get("Range"); rg != "" {
		line += " range=" + rg
	}
	f.mu.Lock()
	f.log = append(f.log, line)
	before := f.before
	f.mu.Unlock()
	if before != nil {
		before(server, r)
	}
}

// takeLog returns the requests logged so far and forgets them.
func (f *fakeHub) takeLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.log
	f.log = nil
	return l
}

func (f *fakeHub) serveHub(w http.ResponseWriter, r *http.Request) {
	f.record("hub", r)
	p := strings.TrimPrefix(r.URL.EscapedPath(), "/")
	api := strings.HasPrefix(p, "api/")
	if api {
		p = strings.TrimPrefix(p, "api/")
		p = strings.TrimPrefix(p, "models/")
	}
	for old, to := range f.moved {
		if rest, ok := strings.CutPrefix(p, old+"/"); ok {
			loc := "/" + to + "/" + rest
			if api {
				loc = "/api/models/" + to + "/" + rest
			}
			http.Redirect(w, r, loc, http.StatusTemporaryRedirect) // relative, as the hub sends it
			return
		}
	}
	var repo *fakeRepo
	var rest string
	for id, rp := range f.repos {
		if after, ok := strings.CutPrefix(p, id+"/"); ok {
			repo, rest = rp, after
		}
	}
	if repo == nil {
		hubError(w, http.StatusNotFound, "RepoNotFound", "Repository not found")
		return
	}
	if api {
		f.serveAPI(w, repo, rest)
		return
	}
	f.serveResolve(w, r, repo, rest)
}

// serveAPI answers GET /api/models/{id}/revision/{rev}. Like the hub it
// lists a gated repository's files without a token.
func (f *fakeHub) serveAPI(w http.ResponseWriter, repo *fakeRepo, rest string) {
	rev, ok := strings.CutPrefix(rest, "revision/")
	rev, err := url.PathUnescape(rev)
	if !ok || err != nil || (rev != "main" && rev != repo.commit) {
		w.Header().Set("X-Error-Code", "RevisionNotFound")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error": "Invalid rev id: %s"}`, rev)
		return
	}
	type sibling struct {
		Name string `json:"rfilename"`
	}
	info := struct {
		ID       string    `json:"id"`
		SHA      string    `json:"sha"`
		Siblings []sibling `json:"siblings"`
	}{ID: repo.id, SHA: repo.commit}
	for _, name := range slices.Sorted(maps.Keys(repo.files)) {
		info.Siblings = append(info.Siblings, sibling{name})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(info)
}

// serveResolve answers HEAD and GET on /{id}/resolve/{rev}/{path}: a small
// file directly, with its git blob id as a weak ETag; an LFS file with a 302
// to the CDN that carries X-Linked-Etag (its sha256) and X-Linked-Size.
func (f *fakeHub) serveResolve(w http.ResponseWriter, r *http.Request, repo *fakeRepo, rest string) {
	rev, file, ok := strings.Cut(strings.TrimPrefix(rest, "resolve/"), "/")
	file, err := url.PathUnescape(file)
	if !ok || err != nil || !strings.HasPrefix(rest, "resolve/") || (rev != "main" && rev != repo.commit) {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	if repo.gated {
		what := "model"
		if repo.dataset {
			what = "dataset"
		}
		tok, sent := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		access, valid := f.tokens[tok]
		switch {
		case !sent:
			hubError(w, http.StatusUnauthorized, "GatedRepo", fmt.Sprintf("Access to %s %s is restricted. You must have access to it and be authenticated to access it. Please log in.", what, repo.id))
			return
		case !valid:
			hubError(w, http.StatusUnauthorized, "", "Invalid credentials in Authorization header")
			return
		case !access:
			hubError(w, http.StatusForbidden, "GatedRepo", fmt.Sprintf("Access to %s %s is restricted and you are not in the authorized list. Visit https://huggingface.co/%s to ask for access.", what, repo.id, repo.id))
			return
		}
	}
	body, ok := repo.files[file]
	if !ok || repo.absent[file] {
		w.Header().Set("X-Repo-Commit", repo.commit)
		hubError(w, http.StatusNotFound, "EntryNotFound", "Entry not found")
		return
	}
	h := w.Header()
	h.Set("X-Repo-Commit", repo.commit)
	if repo.lfs[file] {
		sum := sha256hex(body)
		h.Set("X-Linked-Etag", `"`+sum+`"`)
		h.Set("X-Linked-Size", fmt.Sprint(len(body)))
		h.Set("ETag", `"`+gitBlobID("pointer for "+file)+`"`)
		h.Set("Location", f.cdn.URL+"/blobs/"+sum+"?X-Amz-Signature=s1gn3d&X-Amz-Expires=3600")
		w.WriteHeader(http.StatusFound)
		return
	}
	h.Set("ETag", `W/"`+gitBlobID(body)+`"`)
	http.ServeContent(w, r, "", time.Time{}, strings.NewReader(body))
}

// serveCDN answers GET /blobs/{sha256}?signature with byte ranges, and
// misbehaves as the test asks.
func (f *fakeHub) serveCDN(w http.ResponseWriter, r *http.Request) {
	f.record("cdn", r)
	sum := strings.TrimPrefix(r.URL.Path, "/blobs/")
	f.mu.Lock()
	body, ok := f.blobs[sum]
	cut, cutting := f.cut[sum]
	delete(f.cut, sum)
	unavailable := f.unavailable > 0
	f.unavailable--
	ignoreRange, expired := f.ignoreRange, f.expired
	f.mu.Unlock()
	switch {
	case !ok:
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "<Error><Code>NoSuchKey</Code></Error>")
		return
	case expired:
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, "<Error>\n  <Code>AccessDenied</Code>\n  <Message>Request has expired</Message>\n</Error>\n")
		return
	case unavailable:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "upstream\nbusy")
		return
	}
	if ignoreRange {
		r.Header.Del("Range")
	}
	if cutting {
		w = &cutWriter{ResponseWriter: w, left: cut}
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// cutWriter drops the connection after sending left bytes of the body, as a
// network failure mid-download does.
type cutWriter struct {
	http.ResponseWriter
	left int
}

func (w *cutWriter) Write(b []byte) (int, error) {
	if len(b) >= w.left {
		w.ResponseWriter.Write(b[:w.left])
		w.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	w.left -= len(b)
	return w.ResponseWriter.Write(b)
}

// hubError answers as the hub does: X-Error-Code, X-Error-Message and the
// message again as JSON.
func hubError(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Error-Code", code)
	}
	w.Header().Set("X-Error-Message", msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func sha256hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// gitBlobID is git's object id for a file, which the hub sends as the ETag
// of a file not in LFS.
func gitBlobID(s string) string {
	h := sha1.Sum([]byte(fmt.Sprintf("blob %d\x00%s", len(s), s)))
	return hex.EncodeToString(h[:])
}

// layout lists what is under the cache but for .locks: "path -> target" for
// a symlink, "path: contents" for a small file, "path: N bytes" for a large
// one.
func layout(t *testing.T, cache string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".locks" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(cache, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out = append(out, rel+" -> "+target)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if len(b) > 64 {
				out = append(out, fmt.Sprintf("%s: %d bytes", rel, len(b)))
			} else {
				out = append(out, rel+": "+string(b))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
