package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// StatusError is a request that the hub, or the CDN it redirected to,
// answered with an error status.
type StatusError struct {
	Repo    string // org/name, or datasets/org/name
	File    string // path in the repository; empty for the revision API
	Status  int    // HTTP status code
	Code    string // the hub's X-Error-Code, such as GatedRepo, RepoNotFound or EntryNotFound
	Message string // the hub's explanation on one line, or ours when it gave none
	Hint    string // what the user can do about it; may be empty
}

// Error is one line: hub: org/name: file: 401 Unauthorized: message (hint).
func (e *StatusError) Error() string {
	var b strings.Builder
	b.WriteString("hub: " + e.Repo)
	if e.File != "" {
		b.WriteString(": " + e.File)
	}
	fmt.Fprintf(&b, ": %d %s", e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Hint != "" {
		b.WriteString(" (" + e.Hint + ")")
	}
	return b.String()
}

// retryable reports whether the same request may succeed later.
func (e *StatusError) retryable() bool {
	return e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// statusError reads the hub's explanation of a failed response: the
// X-Error-Message header, else the "error" of a JSON body, else a body that
// is not HTML, as huggingface_hub's hf_raise_for_status does.
func (c *Client) statusError(r repository, file string, resp *http.Response) *StatusError {
	e := &StatusError{Repo: r.String(), File: file, Status: resp.StatusCode, Code: resp.Header.Get("X-Error-Code")}
	e.Message = resp.Header.Get("X-Error-Message")
	if e.Message == "" {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		var j struct {
			Error any `json:"error"`
		}
		switch {
		case json.Unmarshal(body, &j) == nil && j.Error != nil:
			switch v := j.Error.(type) {
			case string:
				e.Message = v
			case []any:
				for _, m := range v {
					e.Message += fmt.Sprint(m) + " "
				}
			}
		case !strings.Contains(resp.Header.Get("Content-Type"), "html"):
			e.Message = string(body) // such as the CDN's XML

		}
	}
	// One line, and short: a proxy's error page must not flood the log.
	e.Message = strings.Join(strings.Fields(e.Message), " ")
	if len(e.Message) > 300 {
		e.Message = e.Message[:300] + "..."
	}

	if e.Message == "" && e.Status == http.StatusNotFound {
		e.Message = "file not found"
		if file == "" {
			e.Message = "repository or revision not found"
		}
	}
	// Hints about the token only make sense for the hub itself: the CDN's
	// links are signed and never see it.
	tokenSent := c.token != nil
	if u, err := url.Parse(c.Endpoint); err != nil || resp.Request == nil || resp.Request.URL.Host != u.Host {
		return e
	}
	switch {
	case (e.Status == 401 || e.Status == 403) && !tokenSent:
		e.Hint = "no token was sent: pass --hf-token or set HF_TOKEN"
	case e.Status == 401:
		e.Hint = c.tokenFrom + " was refused: check it, or pass another with --hf-token"
	case e.Status == 403:
		e.Hint = c.tokenFrom + " has no access: request it on the repository's page, or pass another token with --hf-token"
	case e.Status == 404 && !tokenSent && (e.Code == "RepoNotFound" || e.Code == "" && file == ""):
		e.Hint = "if the repository is private, pass --hf-token or set HF_TOKEN"
	}
	return e
}

// netError describes a failed request by its method and host only: the URL
// of a CDN download carries a signature that has no place in logs.
func netError(ctx context.Context, r repository, file string, err error) error {
	if ctx.Err() != nil {
		err = ctx.Err()
	} else if ue, ok := errors.AsType[*url.Error](err); ok {
		host := ue.URL
		if u, perr := url.Parse(ue.URL); perr == nil {
			host = u.Host
		}
		err = fmt.Errorf("%s %s: %w", ue.Op, host, ue.Err)
	}
	if file == "" {
		return fmt.Errorf("hub: %s: %w", r, err)
	}
	return fmt.Errorf("hub: %s: %s: %w", r, file, err)
}
