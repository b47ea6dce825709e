package hub

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrNotCached is wrapped by the errors of Snapshot, ResolveModel and an
// offline Fetch when the cache lacks what was asked for.
var ErrNotCached = errors.New("not in the cache")

// repository is a validated repository ID with its kind.
type repository struct {
	kind Kind
	id   string // "org/name", or "name" for the few repositories without an owner
}

// String names the repository as its URL path does: org/name for a model,
// datasets/org/name for a dataset.
func (r repository) String() string {
	if r.kind == Model {
		return r.id
	}
	return r.kind.plural() + "/" + r.id
}

// folder is the repository's directory name in the cache, as
// huggingface_hub's repo_folder_name makes it.
func (r repository) folder() string {
	return r.kind.plural() + "--" + strings.ReplaceAll(r.id, "/", "--")
}

// CheckID returns the error that Snapshot, Fetch, Verify and ResolveModel
// give for an ID they cannot look up: a local path (see newRepository), or
// an ID that breaks the hub's rules. A command checks its IDs so before it
// starts on any of them.
func CheckID(k Kind, id string) error {
	_, err := newRepository(k, id)
	return err
}

// newRepository checks id with huggingface_hub's rules (validate_repo_id):
// "name" or "owner/name" of at most 96 characters from [A-Za-z0-9_.-], not
// starting or ending with '-' or '.', without "--" or "..", not ending in
// ".git". These rules also keep the cache folder name unambiguous. An id
// that is clearly a local path is refused first, as checkLocal says.
func newRepository(k Kind, id string) (repository, error) {
	k.plural() // panics on a kind that is not Model or Dataset
	if err := checkLocal(k, id); err != nil {
		return repository{}, err
	}
	bad := func(why string) (repository, error) {
		return repository{}, fmt.Errorf("hub: %q is not a Hugging Face %s ID (org/name): %s", id, k, why)
	}
	parts := strings.Split(id, "/")
	if len(parts) > 2 {
		return bad("more than one '/'")
	}
	if strings.Contains(id, "--") || strings.Contains(id, "..") {
		return bad(`it contains "--" or ".."`)
	}
	if strings.HasSuffix(id, ".git") {
		return bad(`it ends in ".git"`)
	}
	for i, p := range parts {
		if p == "" || (i == len(parts)-1 && len(p) > 96) {
			return bad("a part is empty or longer than 96 characters")
		}
		if strings.Trim(p, "-.") != p {
			return bad("a part starts or ends with '-' or '.'")
		}
		for _, c := range p {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
				return bad(fmt.Sprintf("%q is not a letter, digit, '_', '-' or '.'", c))
			}
		}
	}
	return repository{k, id}, nil
}

// checkLocal refuses an id that names a local path rather than a
// repository: one that starts with /, ./, ../ or ~ (a path by its form,
// though nothing may be there), or that names an existing file. Every
// caller has taken an existing directory as the model before it asks the
// hub, so such an id reaching the hub is a path to nothing (or to a file),
// and saying so beats saying that it breaks the ID rules, or that it should
// be fetched. An existing directory whose name is a valid ID (org/name) is
// left to the hub: that is a fetch of the ID.
func checkLocal(k Kind, id string) error {
	fi, err := os.Stat(id)
	path := filepath.IsAbs(id) || id == "." || id == ".." || strings.HasPrefix(id, "./") ||
		strings.HasPrefix(id, "../") || strings.HasPrefix(id, "~")
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("hub: %s %s is a file; give its directory or a Hugging Face ID", k, id)
	case !path:
		return nil
	case err == nil:
		return fmt.Errorf("hub: %s %s is a local directory, not a Hugging Face ID (org/name)", k, id)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		// Only the shell expands ~: a grid file or a quoted flag keeps it.
		if home, herr := os.UserHomeDir(); herr == nil && strings.HasPrefix(id, "~/") {
			if fi, err := os.Stat(filepath.Join(home, id[2:])); err == nil && fi.IsDir() {
				return fmt.Errorf("hub: %s %s: no such directory (~ is not expanded here: write %s)", k, id, filepath.Join(home, id[2:]))
			}
		}
		return fmt.Errorf("hub: %s %s: no such directory", k, id)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is in the message already
	}
	return fmt.Errorf("hub: %s %s: %w", k, id, err)
}

// isCommit reports whether rev is a full commit hash, which names a snapshot
// directly rather than through refs/.
func isCommit(rev string) bool { return isHex(rev, 40) }

// isSHA256 reports whether a blob name is the sha256 of its contents, as the
// ETag of an LFS file is.
func isSHA256(etag string) bool { return isHex(etag, 64) }

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// checkPath accepts a slash-separated relative path that stays inside the
// directory it is joined to: file names the hub lists, revisions that become
// refs/ files (refs/pr/1 is one), shard names in an index.
func checkPath(p string) error {
	if p == "" || strings.ContainsAny(p, "\\\x00") || strings.HasPrefix(p, "/") {
		return fmt.Errorf("%q is not a relative path", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%q is not a relative path", p)
		}
	}
	return nil
}

// Snapshot returns the directory of a repository's cached snapshot at
// revision: a branch or tag recorded in refs/, or a full commit hash; ""
// means main. It never touches the network; when the cache lacks the
// snapshot, the error wraps ErrNotCached.
func (c *Client) Snapshot(k Kind, repoID, revision string) (string, error) {
	r, err := newRepository(k, repoID)
	if err != nil {
		return "", err
	}
	return c.snapshot(r, revision)
}

func (c *Client) snapshot(r repository, rev string) (string, error) {
	if rev == "" {
		rev = "main"
	}
	if err := checkPath(rev); err != nil {
		return "", fmt.Errorf("hub: %s: revision %v", r, err)
	}
	dir := filepath.Join(c.Cache, r.folder())
	commit := rev
	if !isCommit(rev) {
		b, err := os.ReadFile(filepath.Join(dir, "refs", filepath.FromSlash(rev)))
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("hub: %s: revision %s %w %s", r, rev, ErrNotCached, c.Cache)
		}
		if err != nil {
			return "", fmt.Errorf("hub: %s: %v", r, err)
		}
		// Python writes the bare hash; git-style tools add a newline.
		commit = strings.TrimSpace(string(b))
		if !isCommit(commit) {
			return "", fmt.Errorf("hub: %s: refs/%s holds %q, not a commit hash", r, rev, commit)
		}
	}
	snap := filepath.Join(dir, "snapshots", commit)
	fi, err := os.Stat(snap)
	if errors.Is(err, fs.ErrNotExist) {
		if commit != rev {
			return "", fmt.Errorf("hub: %s: revision %s (commit %s) %w %s", r, rev, commit, ErrNotCached, c.Cache)
		}
		return "", fmt.Errorf("hub: %s: commit %s %w %s", r, commit, ErrNotCached, c.Cache)
	}
	if err != nil {
		return "", fmt.Errorf("hub: %s: %v", r, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("hub: %s: %s is not a directory", r, snap)
	}
	return snap, nil
}

// ResolveModel returns the directory holding a model: nameOrPath itself when
// it is an existing directory, else the cached snapshot of a Hugging Face
// ID such as GSAI-ML/LLaDA-8B-Instruct, at main or at the revision (a
// branch, tag, ref or commit) after an @, as fetch takes them. It never
// touches the network.
func (c *Client) ResolveModel(nameOrPath string) (string, error) {
	if fi, err := os.Stat(nameOrPath); err == nil && fi.IsDir() {
		return nameOrPath, nil
	}
	if err := checkLocal(Model, nameOrPath); err != nil {
		return "", err
	}
	id, rev, pinned := strings.Cut(nameOrPath, "@")
	if !pinned {
		rev = "main"
	}
	r, err := newRepository(Model, id)
	if err != nil || rev == "" {
		return "", fmt.Errorf("hub: model %s: no such directory, and not a Hugging Face ID (org/name[@revision])", nameOrPath)
	}
	dir, err := c.snapshot(r, rev)
	if errors.Is(err, ErrNotCached) {
		return "", fmt.Errorf("hub: model %s is no local directory and %w %s; download it with 'dllmbench fetch --model %s'%s",
			nameOrPath, ErrNotCached, c.Cache, nameOrPath, transformersCacheHint(c.Cache))
	}
	return dir, err
}

// transformersCacheHint points a user whose models are where
// TRANSFORMERS_CACHE says, which transformers 4 reads before HF_HUB_CACHE
// and huggingface_hub (and so dllmbench) does not, at that cache; "" when it
// is unset or is cache.
func transformersCacheHint(cache string) string {
	tc := os.Getenv("TRANSFORMERS_CACHE")
	if tc == "" || filepath.Clean(tc) == filepath.Clean(cache) {
		return ""
	}
	return fmt.Sprintf(", or, if transformers downloaded it into TRANSFORMERS_CACHE (%s), which only transformers reads, set HF_HUB_CACHE=%s", tc, tc)
}

// link makes the snapshot entry pointer a symlink to blob, relative as
// huggingface_hub makes it (../../blobs/<etag>, one more ../ per directory in
// the file's path) so that the cache still works when moved or mounted
// elsewhere.
func link(blob, pointer string) error {
	rel, err := filepath.Rel(filepath.Dir(pointer), blob)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(pointer), 0o777); err != nil {
		return err
	}
	err = os.Symlink(rel, pointer)
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	// Another process linked it first, or a link from a broken download is
	// in the way.
	if cur, _ := os.Readlink(pointer); cur == rel {
		return nil
	}
	if err := os.Remove(pointer); err != nil {
		return err
	}
	return os.Symlink(rel, pointer)
}

// writeRef records that revision pointed to commit. It writes a file of its
// own and renames it into place, so that a concurrent reader never sees half
// a hash.
func writeRef(dir, rev, commit string) error {
	ref := filepath.Join(dir, "refs", filepath.FromSlash(rev))
	if b, err := os.ReadFile(ref); err == nil && string(b) == commit {
		return nil // also spares a read-only cache a write
	}
	if err := os.MkdirAll(filepath.Dir(ref), 0o777); err != nil {
		return err
	}
	// Not os.CreateTemp: its 0600 would hide the ref from the others who
	// share the cache.
	tmp := fmt.Sprintf("%s.%d.%08x.tmp", ref, os.Getpid(), rand.Uint32())
	err := os.WriteFile(tmp, []byte(commit), 0o666)
	if err == nil {
		err = os.Rename(tmp, ref)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
