package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	metaTimeout  = time.Minute      // for the revision API and a HEAD, which carry no file
	stallTimeout = 30 * time.Second // a download that receives nothing this long is retried
	maxFailures  = 5                // attempts in a row that bring no byte before giving up
	maxRedirects = 10
)

// DefaultPatterns returns the files Fetch downloads when given no patterns:
// for a model, its configuration, tokenizer and safetensors weights; for a
// dataset, everything.
func DefaultPatterns(k Kind) []string {
	if k == Dataset {
		return []string{"*"}
	}
	k.plural() // panics on a kind that is neither
	return []string{
		"config.json", "generation_config.json",
		"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
		"*.safetensors", "model.safetensors.index.json",
	}
}

// Fetch downloads the files of a repository at revision ("" means main)
// that match one of patterns (nil means DefaultPatterns) into the cache, as
// huggingface_hub's snapshot_download does, and returns the snapshot
// directory. Patterns mean what they mean to huggingface_hub's
// allow_patterns: "*" also matches "/", and "dir/" matches all below dir.
//
// Files already in the snapshot are not fetched again; a download that
// breaks resumes where it stopped, in this call or in a later one; an LFS
// file is checked against its sha256. refs/<revision> is written once every
// file is in place. Offline, Fetch touches no network and returns the cached
// snapshot, whatever it holds.
func (c *Client) Fetch(ctx context.Context, k Kind, repoID, revision string, patterns []string) (string, error) {
	r, err := newRepository(k, repoID)
	if err != nil {
		return "", err
	}
	if revision == "" {
		revision = "main"
	}
	if err := checkPath(revision); err != nil {
		return "", fmt.Errorf("hub: %s: revision %v", r, err)
	}
	if c.Offline {
		dir, err := c.snapshot(r, revision)
		if err != nil {
			return "", fmt.Errorf("%w; offline (HF_HUB_OFFLINE or a local-files-only option), so not downloading", err)
		}
		return dir, nil
	}
	if patterns == nil {
		patterns = DefaultPatterns(k)
	}
	m, err := compile(patterns)
	if err != nil {
		return "", fmt.Errorf("hub: %s: %v", r, err)
	}

	commit, files, err := c.revision(ctx, r, revision)
	if err != nil {
		return "", err
	}
	files = slices.DeleteFunc(files, func(f string) bool { return !m.match(f) })
	if len(files) == 0 {
		return "", fmt.Errorf("hub: %s: no file at revision %s matches %s", r, revision, strings.Join(patterns, " "))
	}
	for _, f := range files {
		if err := c.download(ctx, r, commit, f); err != nil {
			return "", err
		}
	}
	dir := filepath.Join(c.Cache, r.folder())
	// After the files, not before as huggingface_hub does: an interrupted
	// Fetch must not leave main pointing at a half-filled snapshot.
	if revision != commit {
		if err := writeRef(dir, revision, commit); err != nil {
			return "", fmt.Errorf("hub: %s: %v", r, err)
		}
	}
	return filepath.Join(dir, "snapshots", commit), nil
}

// revision asks the hub API which commit revision names and which files it
// holds: GET /api/{models,datasets}/{id}/revision/{revision}.
func (c *Client) revision(ctx context.Context, r repository, rev string) (commit string, files []string, err error) {
	ctx, cancel := context.WithTimeout(ctx, metaTimeout)
	defer cancel()
	u := c.Endpoint + "/api/" + r.kind.plural() + "/" + r.id + "/revision/" + url.PathEscape(rev)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", nil, fmt.Errorf("hub: %s: %v", r, err)
	}
	c.header(req, true)
	resp, err := c.client(true).Do(req)
	if err != nil {
		return "", nil, netError(ctx, r, "", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", nil, c.statusError(r, "", resp)
	}
	var info struct {
		SHA      string `json:"sha"`
		Siblings []struct {
			Name string `json:"rfilename"`
		} `json:"siblings"`
	}
	// A dataset of 100k files lists a few MB; the limit only stops a runaway.
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&info); err != nil {
		return "", nil, netError(ctx, r, "", fmt.Errorf("reading the revision API's answer: %w", err))
	}
	if !isCommit(info.SHA) {
		return "", nil, fmt.Errorf("hub: %s: the revision API gave no commit hash for %s (is %s a Hugging Face hub?)", r, rev, c.Endpoint)
	}
	for _, s := range info.Siblings {
		if err := checkPath(s.Name); err != nil {
			return "", nil, fmt.Errorf("hub: %s: the hub lists a file %v", r, err)
		}
		files = append(files, s.Name)
	}
	slices.Sort(files)
	return info.SHA, files, nil
}

// meta is what a HEAD on a file's resolve URL tells about it.
type meta struct {
	commit string // X-Repo-Commit
	etag   string // X-Linked-Etag, else ETag, without W/ and quotes: the blob's name
	size   int64  // X-Linked-Size, else Content-Length
	url    string // where to GET the bytes: the CDN for an LFS file
	auth   bool   // whether url is on the hub's host and may see the token
}

// download puts file of the commit into the snapshot, fetching its blob
// unless the cache has it.
func (c *Client) download(ctx context.Context, r repository, commit, file string) error {
	dir := filepath.Join(c.Cache, r.folder())
	pointer := filepath.Join(dir, "snapshots", commit, filepath.FromSlash(file))
	if _, err := os.Stat(pointer); err == nil {
		return nil
	}
	m, err := c.head(ctx, r, commit, file)
	if err != nil {
		return err
	}
	if m.commit != commit {
		return fmt.Errorf("hub: %s: %s: asked for commit %s, the hub answered for %s", r, file, commit, m.commit)
	}
	blob := filepath.Join(dir, "blobs", m.etag)
	if _, err := os.Stat(blob); err != nil {
		if err := c.fetchBlob(ctx, r, file, m, blob); err != nil {
			return err
		}
	}
	if err := link(blob, pointer); err != nil {
		return fmt.Errorf("hub: %s: %s: %v", r, file, err)
	}
	return nil
}

// head reads a file's metadata with HEAD {endpoint}/{repo}/resolve/{commit}/{file}.
// Like huggingface_hub it follows redirects on the hub's host, which a
// renamed repository answers with, keeping the token; a redirect elsewhere
// is the CDN, whose signed URL is fetched later without the token.
func (c *Client) head(ctx context.Context, r repository, commit, file string) (meta, error) {
	ctx, cancel := context.WithTimeout(ctx, metaTimeout)
	defer cancel()
	segs := strings.Split(file, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	prefix := ""
	if r.kind == Dataset {
		prefix = "/datasets"
	}
	u := c.Endpoint + prefix + "/" + r.id + "/resolve/" + commit + "/" + strings.Join(segs, "/")
	fail := func(format string, args ...any) (meta, error) {
		return meta{}, fmt.Errorf("hub: %s: %s: %s", r, file, fmt.Sprintf(format, args...))
	}
	for range maxRedirects {
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
		if err != nil {
			return fail("%v", err)
		}
		c.header(req, true)
		resp, err := c.client(false).Do(req)
		if err != nil {
			return meta{}, netError(ctx, r, file, err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			return meta{}, c.statusError(r, file, resp)
		}
		m := meta{url: u, auth: true, size: -1}
		redirect := resp.StatusCode >= 300
		if redirect {
			loc, err := resp.Location()
			if err != nil {
				return fail("redirect without a usable Location: %v", err)
			}
			if loc.Host == req.URL.Host {
				u = loc.String()
				continue
			}
			m.url, m.auth = loc.String(), false
		}
		h := resp.Header
		m.commit = h.Get("X-Repo-Commit")
		m.etag = strings.Trim(strings.TrimPrefix(firstSet(h.Get("X-Linked-Etag"), h.Get("ETag")), "W/"), `"`)
		if s := h.Get("X-Linked-Size"); s != "" {
			m.size, _ = strconv.ParseInt(s, 10, 64)
		} else if !redirect {
			m.size = resp.ContentLength
		}
		switch {
		case !isCommit(m.commit):
			return fail("no commit hash in X-Repo-Commit (is %s a Hugging Face hub? a proxy in the way?)", c.Endpoint)
		case !goodETag(m.etag):
			return fail("unusable ETag %q", m.etag)
		case m.size < 0:
			return fail("no file size in X-Linked-Size or Content-Length")
		}
		return m, nil
	}
	return fail("more than %d redirects", maxRedirects)
}

// goodETag reports whether etag can name a file in blobs/ and nothing else.
func goodETag(etag string) bool {
	if etag == "" || len(etag) > 128 || etag[0] == '.' {
		return false
	}
	for _, c := range etag {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// fetchBlob downloads a file into blobs/<etag>.incomplete, continuing what
// is already there, checks its size and sha256, and renames it to blob.
// It holds the lock that huggingface_hub takes for the same blob.
func (c *Client) fetchBlob(ctx context.Context, r repository, file string, m meta, blob string) error {
	fail := func(err error) error { return fmt.Errorf("hub: %s: %s: %w", r, file, err) }
	locks := filepath.Join(c.Cache, ".locks", r.folder())
	// snapshots/ too, before the first byte: huggingface_hub's cache scanner
	// (hf cache ls, hf cache rm) takes a repository folder without it for a
	// corrupted one, and would not show or remove a broken download's bytes.
	snapshots := filepath.Join(c.Cache, r.folder(), "snapshots")
	for _, d := range []string{filepath.Dir(blob), snapshots, locks} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			return fail(err)
		}
	}
	unlock, err := lock(ctx, filepath.Join(locks, m.etag+".lock"))
	if err != nil {
		return fail(err)
	}
	defer unlock()
	if _, err := os.Stat(blob); err == nil {
		return nil // another process fetched it while we waited
	}

	part := blob + ".incomplete"
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	done, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fail(err)
	}
	var h hash.Hash
	if isSHA256(m.etag) {
		h = sha256.New()
	}
	if done > m.size {
		done = 0 // not a prefix of this file
	} else if h != nil && done > 0 {
		if err := hashFrom(ctx, h, io.NewSectionReader(f, 0, done), nil); err != nil {
			return fail(err)
		}
	}
	if err := restart(f, done, h); err != nil {
		return fail(err)
	}

	for failures := 0; done < m.size; {
		n, err := c.get(ctx, r, file, m, f, h, done)
		progressed := n > done
		if done = n; done == m.size {
			break
		}
		if err == nil {
			err = fail(fmt.Errorf("the download ended at byte %d of %d", done, m.size))
		}
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		var se *StatusError
		var le localError
		if errors.As(err, &le) || errors.As(err, &se) && !se.retryable() {
			return err
		}
		if progressed {
			failures = 0
			continue
		}
		if failures++; failures >= maxFailures {
			return fmt.Errorf("%w (gave up after %d tries; %d of %d bytes are kept for the next try)", err, maxFailures, done, m.size)
		}
		wait := c.retryWait
		if wait == 0 {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(wait << (failures - 1)):
		}
	}

	if h != nil {
		if sum := hex.EncodeToString(h.Sum(nil)); sum != m.etag {
			f.Close()
			f = nil
			os.Remove(part) // a retry must start afresh
			return fail(fmt.Errorf("downloaded %d bytes with sha256 %s, want %s; removed them, try again", done, sum, m.etag))
		}
	}
	// Sync before the rename, so that after a crash blobs/<etag> is whole
	// or absent.
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	f = nil
	if err == nil {
		err = os.Rename(part, blob)
	}
	if err != nil {
		return fail(err)
	}
	return nil
}

// restart positions f to append at done, dropping what lies beyond, and
// makes h the hash of the first done bytes when done is 0.
func restart(f *os.File, done int64, h hash.Hash) error {
	if done == 0 && h != nil {
		h.Reset()
	}
	if err := f.Truncate(done); err != nil {
		return err
	}
	_, err := f.Seek(done, io.SeekStart)
	return err
}

// localError marks a failure on our side (disk full, say), which retrying
// the download cannot cure.
type localError struct{ error }

func (e localError) Unwrap() error { return e.error }

// get makes one GET for the file's bytes from done on, appending them to f
// and h, and returns how many bytes f holds afterwards.
func (c *Client) get(ctx context.Context, r repository, file string, m meta, f *os.File, h hash.Hash, done int64) (int64, error) {
	// The attempt is cancelled when no byte comes for stallTimeout: a dead
	// connection can otherwise hang for hours.
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	stall := time.AfterFunc(stallTimeout, cancel)
	defer stall.Stop()

	req, err := http.NewRequestWithContext(actx, http.MethodGet, m.url, nil)
	if err != nil {
		return done, localError{fmt.Errorf("hub: %s: %s: %v", r, file, err)}
	}
	c.header(req, m.auth)
	if done > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", done))
	}
	resp, err := c.client(true).Do(req)
	if err != nil {
		return done, c.stalled(ctx, actx, r, file, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent:
		if start, ok := rangeStart(resp.Header.Get("Content-Range")); !ok || start != done {
			return done, fmt.Errorf("hub: %s: %s: asked for bytes from %d, got Content-Range %q",
				r, file, done, resp.Header.Get("Content-Range"))
		}
	case resp.StatusCode == http.StatusOK:
		// The server ignored the Range: take the whole file again.
		if done > 0 {
			done = 0
			if err := restart(f, 0, h); err != nil {
				return done, localError{fmt.Errorf("hub: %s: %s: %v", r, file, err)}
			}
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// What we hold is no prefix of the file after all.
		if err := restart(f, 0, h); err != nil {
			return 0, localError{fmt.Errorf("hub: %s: %s: %v", r, file, err)}
		}
		return 0, fmt.Errorf("hub: %s: %s: the server refused to resume at byte %d", r, file, done)
	default:
		return done, c.statusError(r, file, resp)
	}

	// The hot loop of a download: it moves every byte of the checkpoint.
	buf := make([]byte, 1<<20)
	reported := done
	c.report(file, done, m.size)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			stall.Reset(stallTimeout)
			if done+int64(n) > m.size {
				return done, localError{fmt.Errorf("hub: %s: %s: the server sent more than the %d bytes it announced", r, file, m.size)}
			}
			if _, err := f.Write(buf[:n]); err != nil {
				return done, localError{fmt.Errorf("hub: %s: %s: %v", r, file, err)}
			}
			if h != nil {
				h.Write(buf[:n])
			}
			done += int64(n)
			if done-reported >= 1<<20 || done == m.size {
				c.report(file, done, m.size)
				reported = done
			}
		}
		if rerr == io.EOF {
			return done, nil
		}
		if rerr != nil {
			return done, c.stalled(ctx, actx, r, file, rerr)
		}
	}
}

// stalled describes an error of a download attempt, naming the stall when
// the attempt's own timer cancelled it.
func (c *Client) stalled(ctx, actx context.Context, r repository, file string, err error) error {
	if ctx.Err() == nil && actx.Err() != nil {
		err = fmt.Errorf("no data for %v", stallTimeout)
	}
	return netError(ctx, r, file, err)
}

// rangeStart parses the first byte position of "bytes first-last/total".
func rangeStart(cr string) (int64, bool) {
	s, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	s, _, ok = strings.Cut(s, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}

func (c *Client) report(file string, done, total int64) {
	if c.Progress != nil {
		c.Progress(Progress{File: file, Done: done, Total: total})
	}
}

// header sets what every request carries. Accept-Encoding: identity keeps
// net/http from asking for gzip, which would make sizes, byte ranges and
// hashes refer to the compressed stream.
func (c *Client) header(req *http.Request, auth bool) {
	req.Header.Set("User-Agent", "dllmbench")
	req.Header.Set("Accept-Encoding", "identity")
	if auth && c.token != nil {
		req.Header.Set("Authorization", "Bearer "+*c.token)
	}
}

// client returns c.HTTP with the redirect policy of the request: HEAD
// follows none (head does it), the others drop the token when a redirect
// leaves the host it was sent to.
func (c *Client) client(follow bool) *http.Client {
	var hc http.Client
	if c.HTTP != nil {
		hc = *c.HTTP
	}
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !follow {
			return http.ErrUseLastResponse
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		if req.URL.Host != via[0].URL.Host {
			req.Header.Del("Authorization")
		}
		return nil
	}
	return &hc
}
