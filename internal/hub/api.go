package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// MaxFiles bounds a repository listing (the largest model repositories
// hold a few thousand files).
const MaxFiles = 100_000

// maxJSON bounds one API answer (a listing page of 1000 entries is ~300 KB).
const maxJSON = 64 << 20

// Info is what GET /api/{type}s/{repo}/revision/{rev} tells about a repository.
type Info struct {
	ID       string    `json:"id"`
	SHA      string    `json:"sha"` // the resolved commit
	Private  bool      `json:"private"`
	Gated    any       `json:"gated"` // false, "auto" or "manual"
	Disabled bool      `json:"disabled"`
	Siblings []Sibling `json:"siblings"`
}

// Sibling is one file of Info.
type Sibling struct {
	RFilename string `json:"rfilename"`
}

// Entry is one item of a tree listing.
type Entry struct {
	Type string `json:"type"` // "file" or "directory"
	Path string `json:"path"`
	Size int64  `json:"size"`
	OID  string `json:"oid"` // git blob sha1
	LFS  *LFS   `json:"lfs,omitempty"`
}

// LFS describes a file stored out of git: its oid is the SHA-256 of the content.
type LFS struct {
	OID  string `json:"oid"`
	Size int64  `json:"size"`
}

// SHA256 is the content digest when the listing gives it (LFS files).
func (e Entry) SHA256() string {
	if e.LFS != nil && isHex(e.LFS.OID, 64) {
		return strings.ToLower(e.LFS.OID)
	}
	return ""
}

// Info fetches repository information at ref's revision.
func (c *Client) Info(ctx context.Context, ref Ref) (*Info, error) {
	u := fmt.Sprintf("%s/api/%s/%s/revision/%s", c.Endpoint, ref.apiPrefix(), ref.Repo, url.PathEscape(ref.Revision))
	var info Info
	if err := c.getJSON(ctx, u, &info); err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	if !isHex(info.SHA, 40) {
		return nil, fmt.Errorf("%s: the Hub gave no commit sha for revision %q", ref, ref.Revision)
	}
	return &info, nil
}

// Tree lists every file under ref.Path at commit (recursively), following
// the Link rel="next" pagination. Directories are left out.
func (c *Client) Tree(ctx context.Context, ref Ref, commit string) ([]Entry, error) {
	u := fmt.Sprintf("%s/api/%s/%s/tree/%s", c.Endpoint, ref.apiPrefix(), ref.Repo, url.PathEscape(commit))
	if ref.Path != "" {
		u += "/" + escapePath(ref.Path)
	}
	u += "?recursive=true&expand=false"
	var files []Entry
	seen := map[string]bool{}
	for page := 0; u != ""; page++ {
		if page > 10000 {
			return files, fmt.Errorf("%s: listing has more than 10000 pages", ref)
		}
		if seen[u] {
			return files, fmt.Errorf("%s: listing pagination loops", ref)
		}
		seen[u] = true
		var entries []Entry
		next, err := c.getJSONPage(ctx, u, &entries)
		if err != nil {
			return files, fmt.Errorf("%s: list files: %w", ref, err)
		}
		for _, e := range entries {
			if e.Type == "file" {
				files = append(files, e)
			}
		}
		if len(files) > MaxFiles {
			return files[:MaxFiles], fmt.Errorf("%s: more than %d files; not listed further", ref, MaxFiles)
		}
		u = next
	}
	return files, nil
}

// FileMeta is what a HEAD on a resolve URL tells, without following the
// redirect to the storage backend.
type FileMeta struct {
	Commit string // X-Repo-Commit
	ETag   string // X-Linked-Etag, else ETag, unquoted
	Size   int64  // X-Linked-Size, else Content-Length; -1 if unknown
	SHA256 string // the ETag when it is a SHA-256 (LFS files)
	// Location is the storage URL the Hub redirected to ("" when it
	// answered with the content itself).
	Location string
}

// ResolveURL is the download URL of one file.
func (c *Client) ResolveURL(ref Ref, rev, file string) string {
	return fmt.Sprintf("%s/%s%s/resolve/%s/%s", c.Endpoint, ref.urlPrefix(), ref.Repo, url.PathEscape(rev), escapePath(file))
}

// Head fetches a file's metadata the way huggingface_hub does: a HEAD on
// the resolve URL, following only relative redirects (renamed repositories)
// and stopping at a redirect to another host (the storage backend).
func (c *Client) Head(ctx context.Context, rawURL string) (*FileMeta, error) {
	u := rawURL
	for hops := 0; ; hops++ {
		if hops > 10 {
			return nil, fmt.Errorf("%s: too many redirects", rawURL)
		}
		resp, err := c.do(ctx, request{method: http.MethodHead, url: u, noRedir: true})
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		meta := &FileMeta{Commit: resp.Header.Get("X-Repo-Commit"), Size: -1}
		meta.ETag = unquoteETag(resp.Header.Get("X-Linked-Etag"))
		if meta.ETag == "" {
			meta.ETag = unquoteETag(resp.Header.Get("ETag"))
		}
		if n, err := strconv.ParseInt(resp.Header.Get("X-Linked-Size"), 10, 64); err == nil && n >= 0 {
			meta.Size = n
		} else if resp.StatusCode == http.StatusOK && resp.ContentLength >= 0 {
			meta.Size = resp.ContentLength
		}
		if isHex(meta.ETag, 64) {
			meta.SHA256 = strings.ToLower(meta.ETag)
		}
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			loc, err := resp.Location()
			if err != nil {
				return nil, fmt.Errorf("%s: redirect without a location", u)
			}
			// A relative redirect (renamed repository) is followed for
			// metadata; an absolute one is the content's storage URL.
			if raw := resp.Header.Get("Location"); strings.HasPrefix(raw, "/") && !strings.HasPrefix(raw, "//") && meta.ETag == "" {
				u = loc.String()
				continue
			}
			meta.Location = loc.String()
		}
		return meta, nil
	}
}

func unquoteETag(s string) string {
	s = strings.TrimPrefix(strings.TrimSpace(s), "W/")
	return strings.Trim(s, `"`)
}

func (c *Client) getJSON(ctx context.Context, u string, v any) error {
	_, err := c.getJSONPage(ctx, u, v)
	return err
}

// getJSONPage decodes one JSON answer and returns the Link rel="next" URL.
func (c *Client) getJSONPage(ctx context.Context, u string, v any) (string, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, url: u, header: http.Header{"Accept": {"application/json"}}})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJSON+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", u, err)
	}
	if len(body) > maxJSON {
		return "", fmt.Errorf("%s: answer larger than %d bytes", u, maxJSON)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return "", fmt.Errorf("%s: not the JSON the Hub sends: %w", u, err)
	}
	next := nextLink(resp.Header.Values("Link"))
	if next != "" {
		nu, err := resp.Request.URL.Parse(next)
		if err != nil {
			return "", fmt.Errorf("%s: bad pagination link %q", u, next)
		}
		// Pagination stays on the API host: a listing cannot send the
		// client elsewhere.
		if !strings.EqualFold(nu.Host, resp.Request.URL.Host) {
			return "", fmt.Errorf("%s: pagination link leaves the endpoint (%s)", u, nu.Host)
		}
		next = nu.String()
	}
	return next, nil
}

var linkPart = regexp.MustCompile(`<([^>]*)>\s*((?:;\s*[^;,]+)*)`)

// nextLink finds the rel="next" target in Link headers.
func nextLink(values []string) string {
	for _, v := range values {
		for _, m := range linkPart.FindAllStringSubmatch(v, -1) {
			for _, p := range strings.Split(m[2], ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "rel") {
					for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
						if strings.EqualFold(rel, "next") {
							return m[1]
						}
					}
				}
			}
		}
	}
	return ""
}

// bodyMessage extracts {"error": "..."} from an error body, else its text.
func bodyMessage(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 || strings.Contains(s, "<") {
		return ""
	}
	return s
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
