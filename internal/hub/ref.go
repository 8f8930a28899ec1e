// Package hub is a thin client for the Hugging Face Hub protocol: repository
// references (hf://...), the listing endpoints, file resolution, and an
// io.ReaderAt over HTTP Range requests so that every analyser runs unchanged
// on remote files while only the bytes it asks for are transferred.
//
// It speaks only the documented public endpoints that huggingface_hub and
// @huggingface/hub use:
//
//	GET  /api/{models|datasets|spaces}/{repo}/revision/{rev}   repository info (sha, siblings)
//	GET  /api/{models|datasets|spaces}/{repo}/tree/{rev}?recursive=true   listing, Link-paginated
//	HEAD /{""|datasets/|spaces/}{repo}/resolve/{rev}/{path}     metadata (X-Repo-Commit, X-Linked-*)
//	GET  same, with Range                                       bytes (redirects followed)
package hub

import (
	"fmt"
	"net/url"
	"path"
	"strings"
)

// Repository types, as the Hub names them.
const (
	Model   = "model"
	Dataset = "dataset"
	Space   = "space"
)

// Ref names a repository, a revision and optionally a path inside it.
type Ref struct {
	Type     string // Model, Dataset or Space
	Repo     string // "org/name" (or a legacy single-component id such as "gpt2")
	Revision string // branch, tag or commit; "main" when not given
	Path     string // a file or folder inside the repository; "" for all of it
}

// IsRef reports whether s is written as a Hub reference (hf://...).
func IsRef(s string) bool { return strings.HasPrefix(s, "hf://") }

// ParseRef parses hf://[datasets/|spaces/|models/]ORG/NAME[@REV][/PATH].
// A revision containing "/" is written URL-escaped (@refs%2Fpr%2F1), or as
// the Hub's own refs/pr/N and refs/convert/NAME forms, which are recognised.
func ParseRef(s string) (Ref, error) {
	rest, ok := strings.CutPrefix(s, "hf://")
	if !ok {
		return Ref{}, fmt.Errorf("%q: a Hub reference starts with hf://", s)
	}
	r := Ref{Type: Model, Revision: "main"}
	for prefix, typ := range map[string]string{"datasets/": Dataset, "spaces/": Space, "models/": Model} {
		if after, ok := strings.CutPrefix(rest, prefix); ok {
			r.Type, rest = typ, after
			break
		}
	}
	// The repository id is one or two segments; the revision, if any, is
	// attached to the last of them with '@'.
	parts := strings.SplitN(rest, "/", 3)
	var id []string
	var tail string
	for i, p := range parts {
		if at := strings.IndexByte(p, '@'); at >= 0 {
			id = append(id, p[:at])
			tail = p[at:]
			if i+1 < len(parts) {
				tail += "/" + strings.Join(parts[i+1:], "/")
			}
			break
		}
		if i == 2 {
			tail = p
			break
		}
		id = append(id, p)
	}
	r.Repo = strings.Join(id, "/")
	if err := validRepoID(r.Repo); err != nil {
		return Ref{}, fmt.Errorf("%q: %w", s, err)
	}
	if rev, ok := strings.CutPrefix(tail, "@"); ok {
		rev, pth := splitRevision(rev)
		unescaped, err := url.PathUnescape(rev)
		if err != nil || unescaped == "" {
			return Ref{}, fmt.Errorf("%q: bad revision %q", s, rev)
		}
		r.Revision, tail = unescaped, pth
	}
	if tail != "" {
		clean := path.Clean(tail)
		if clean == "." || strings.HasPrefix(clean, "../") || clean == ".." || strings.HasPrefix(clean, "/") {
			return Ref{}, fmt.Errorf("%q: bad path %q inside the repository", s, tail)
		}
		r.Path = clean
	}
	return r, nil
}

// splitRevision separates "REV/PATH"; the Hub's special refs contain slashes.
func splitRevision(s string) (rev, rest string) {
	for _, special := range []string{"refs/pr/", "refs/convert/"} {
		if strings.HasPrefix(s, special) {
			n := len(special)
			if i := strings.IndexByte(s[n:], '/'); i >= 0 {
				return s[:n+i], s[n+i+1:]
			}
			return s, ""
		}
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// validRepoID applies the Hub's rules for repository ids (huggingface_hub's
// validate_repo_id): one or two segments of [A-Za-z0-9_.-], no "--" or
// "..", not starting or ending with '-' or '.', at most 96 characters.
func validRepoID(id string) error {
	if id == "" {
		return fmt.Errorf("no repository id")
	}
	if len(id) > 96 {
		return fmt.Errorf("repository id longer than 96 characters")
	}
	segs := strings.Split(id, "/")
	if len(segs) > 2 {
		return fmt.Errorf("repository id %q has more than two segments", id)
	}
	for _, seg := range segs {
		if seg == "" || strings.HasPrefix(seg, "-") || strings.HasPrefix(seg, ".") ||
			strings.HasSuffix(seg, "-") || strings.HasSuffix(seg, ".") ||
			strings.Contains(seg, "--") || strings.Contains(seg, "..") {
			return fmt.Errorf("repository id %q is not valid", id)
		}
		for _, c := range seg {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
				return fmt.Errorf("repository id %q contains %q", id, c)
			}
		}
	}
	return nil
}

// ValidRepoID reports whether id is a repository id the Hub would accept.
func ValidRepoID(id string) error { return validRepoID(id) }

// String writes the reference back in hf:// form ("@main" left out).
func (r Ref) String() string {
	if r.Revision == "main" {
		return r.At("")
	}
	return r.At(r.Revision)
}

// At writes the reference pinned to rev (a commit, typically; "" for none).
func (r Ref) At(rev string) string {
	s := "hf://" + r.urlPrefix() + r.Repo
	if rev != "" {
		s += "@" + escapeRevision(rev)
	}
	if r.Path != "" {
		s += "/" + r.Path
	}
	return s
}

// FileRef is the hf:// name of one file of the repository at rev.
func (r Ref) FileRef(rev, file string) string {
	return "hf://" + r.urlPrefix() + r.Repo + "@" + escapeRevision(rev) + "/" + file
}

func escapeRevision(rev string) string {
	if strings.HasPrefix(rev, "refs/pr/") || strings.HasPrefix(rev, "refs/convert/") {
		return rev
	}
	return url.PathEscape(rev)
}

// urlPrefix is the prefix of file URLs: "" for models.
func (r Ref) urlPrefix() string {
	switch r.Type {
	case Dataset:
		return "datasets/"
	case Space:
		return "spaces/"
	}
	return ""
}

// apiPrefix is the API collection: "models", "datasets" or "spaces".
func (r Ref) apiPrefix() string { return r.Type + "s" }

// escapePath escapes each segment of a path inside the repository.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
