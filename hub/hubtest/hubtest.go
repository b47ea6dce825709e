// Package hubtest is a fake Hugging Face hub for tests: the part of the
// hub's protocol that package hub's Fetch uses, answered as huggingface.co
// answers it. The revision API, HEAD and GET on resolve URLs, and, on a
// second server with another host:port, the CDN that LFS files redirect to
// with a signed URL. Point HF_ENDPOINT (or hub.Client.Endpoint) at Hub.URL.
package hubtest

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Repo is one repository at one commit.
type Repo struct {
	ID      string // org/name, as the hub names it in messages
	Commit  string
	Files   map[string]string // path → contents
	LFS     map[string]bool   // files stored in LFS, served by the CDN
	Gated   bool              // files need a token with access
	Dataset bool
	Absent  map[string]bool // listed, but resolve answers 404 EntryNotFound
}

// Hub is a running fake hub and its CDN. Set the exported fields before the
// requests they should affect.
type Hub struct {
	URL    string            // the hub's endpoint
	Moved  map[string]string // renamed models: old ID → new
	Tokens map[string]bool   // valid tokens → whether they may read gated repos

	// The CDN misbehaves as these say.
	Cut         map[string]int // sha256 → bytes the CDN sends before cutting its next GET
	IgnoreRange bool           // the CDN answers 200 with the whole file to a Range
	Unavailable int            // the CDN answers this many GETs with 503
	Expired     bool           // the CDN answers 403, as for a stale signature

	// Before, when set, is called first for every request, with the server
	// ("hub" or "cdn") that received it.
	Before func(server string, r *http.Request)

	hub, cdn *httptest.Server
	repos    map[string]*Repo // by URL path: org/name or datasets/org/name
	mu       sync.Mutex
	log      []string          // one line per request, see record
	blobs    map[string][]byte // LFS contents by sha256, served by the CDN
}

// New starts a hub serving repos, with the tokens hf_good (which may read
// gated repositories) and hf_noaccess (which may not); t's cleanup stops it.
func New(t testing.TB, repos ...*Repo) *Hub {
	h := &Hub{
		Moved:  map[string]string{},
		Tokens: map[string]bool{"hf_good": true, "hf_noaccess": false},
		Cut:    map[string]int{},
		repos:  map[string]*Repo{},
		blobs:  map[string][]byte{},
	}
	for _, r := range repos {
		p := r.ID
		if r.Dataset {
			p = "datasets/" + p
		}
		h.repos[p] = r
		for name := range r.LFS {
			h.blobs[SHA256(r.Files[name])] = []byte(r.Files[name])
		}
	}
	h.hub = httptest.NewServer(http.HandlerFunc(h.serveHub))
	h.cdn = httptest.NewServer(http.HandlerFunc(h.serveCDN))
	h.URL = h.hub.URL
	t.Cleanup(h.hub.Close)
	t.Cleanup(h.cdn.Close)
	return h
}

// record logs a request as "hub HEAD /org/name/resolve/... auth=TOKEN range=bytes=5-".
func (h *Hub) record(server string, r *http.Request) {
	line := server + " " + r.Method + " " + r.URL.EscapedPath()
	if a := r.Header.Get("Authorization"); a != "" {
		line += " auth=" + strings.TrimPrefix(a, "Bearer ")
	}
	if rg := r.Header.Get("Range"); rg != "" {
		line += " range=" + rg
	}
	h.mu.Lock()
	h.log = append(h.log, line)
	before := h.Before
	h.mu.Unlock()
	if before != nil {
		before(server, r)
	}
}

// TakeLog returns the requests logged so far, one line each as
// "hub GET /org/name/resolve/REV/FILE auth=TOKEN range=bytes=5-" or
// "cdn GET /blobs/SHA256", and forgets them.
func (h *Hub) TakeLog() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.log
	h.log = nil
	return l
}

func (h *Hub) serveHub(w http.ResponseWriter, r *http.Request) {
	h.record("hub", r)
	p := strings.TrimPrefix(r.URL.EscapedPath(), "/")
	api := strings.HasPrefix(p, "api/")
	if api {
		p = strings.TrimPrefix(p, "api/")
		p = strings.TrimPrefix(p, "models/")
	}
	for old, to := range h.Moved {
		if rest, ok := strings.CutPrefix(p, old+"/"); ok {
			loc := "/" + to + "/" + rest
			if api {
				loc = "/api/models/" + to + "/" + rest
			}
			http.Redirect(w, r, loc, http.StatusTemporaryRedirect) // relative, as the hub sends it
			return
		}
	}
	var repo *Repo
	var rest string
	for id, rp := range h.repos {
		if after, ok := strings.CutPrefix(p, id+"/"); ok {
			repo, rest = rp, after
		}
	}
	if repo == nil {
		hubError(w, http.StatusNotFound, "RepoNotFound", "Repository not found")
		return
	}
	if api {
		h.serveAPI(w, repo, rest)
		return
	}
	h.serveResolve(w, r, repo, rest)
}

// serveAPI answers GET /api/models/{id}/revision/{rev}. Like the hub it
// lists a gated repository's files without a token.
func (h *Hub) serveAPI(w http.ResponseWriter, repo *Repo, rest string) {
	rev, ok := strings.CutPrefix(rest, "revision/")
	rev, err := url.PathUnescape(rev)
	if !ok || err != nil || (rev != "main" && rev != repo.Commit) {
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
	}{ID: repo.ID, SHA: repo.Commit}
	for _, name := range slices.Sorted(maps.Keys(repo.Files)) {
		info.Siblings = append(info.Siblings, sibling{name})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(info)
}

// serveResolve answers HEAD and GET on /{id}/resolve/{rev}/{path}: a small
// file directly, with its git blob id as a weak ETag; an LFS file with a 302
// to the CDN that carries X-Linked-Etag (its sha256) and X-Linked-Size.
func (h *Hub) serveResolve(w http.ResponseWriter, r *http.Request, repo *Repo, rest string) {
	rev, file, ok := strings.Cut(strings.TrimPrefix(rest, "resolve/"), "/")
	file, err := url.PathUnescape(file)
	if !ok || err != nil || !strings.HasPrefix(rest, "resolve/") || (rev != "main" && rev != repo.Commit) {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	if repo.Gated {
		what := "model"
		if repo.Dataset {
			what = "dataset"
		}
		tok, sent := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		access, valid := h.Tokens[tok]
		switch {
		case !sent:
			hubError(w, http.StatusUnauthorized, "GatedRepo", fmt.Sprintf("Access to %s %s is restricted. You must have access to it and be authenticated to access it. Please log in.", what, repo.ID))
			return
		case !valid:
			hubError(w, http.StatusUnauthorized, "", "Invalid credentials in Authorization header")
			return
		case !access:
			hubError(w, http.StatusForbidden, "GatedRepo", fmt.Sprintf("Access to %s %s is restricted and you are not in the authorized list. Visit https://huggingface.co/%s to ask for access.", what, repo.ID, repo.ID))
			return
		}
	}
	body, ok := repo.Files[file]
	if !ok || repo.Absent[file] {
		w.Header().Set("X-Repo-Commit", repo.Commit)
		hubError(w, http.StatusNotFound, "EntryNotFound", "Entry not found")
		return
	}
	hd := w.Header()
	hd.Set("X-Repo-Commit", repo.Commit)
	if repo.LFS[file] {
		sum := SHA256(body)
		hd.Set("X-Linked-Etag", `"`+sum+`"`)
		hd.Set("X-Linked-Size", fmt.Sprint(len(body)))
		hd.Set("ETag", `"`+GitBlobID("pointer for "+file)+`"`)
		hd.Set("Location", h.cdn.URL+"/blobs/"+sum+"?X-Amz-Signature=s1gn3d&X-Amz-Expires=3600")
		w.WriteHeader(http.StatusFound)
		return
	}
	hd.Set("ETag", `W/"`+GitBlobID(body)+`"`)
	http.ServeContent(w, r, "", time.Time{}, strings.NewReader(body))
}

// serveCDN answers GET /blobs/{sha256}?signature with byte ranges, and
// misbehaves as the test asks.
func (h *Hub) serveCDN(w http.ResponseWriter, r *http.Request) {
	h.record("cdn", r)
	sum := strings.TrimPrefix(r.URL.Path, "/blobs/")
	h.mu.Lock()
	body, ok := h.blobs[sum]
	cut, cutting := h.Cut[sum]
	delete(h.Cut, sum)
	unavailable := h.Unavailable > 0
	h.Unavailable--
	ignoreRange, expired := h.IgnoreRange, h.Expired
	h.mu.Unlock()
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

// SHA256 is the hex sha256 of s: an LFS file's ETag and blob name.
func SHA256(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// GitBlobID is git's object id for a file, which the hub sends as the ETag
// of a file not in LFS.
func GitBlobID(s string) string {
	h := sha1.Sum([]byte(fmt.Sprintf("blob %d\x00%s", len(s), s)))
	return hex.EncodeToString(h[:])
}
