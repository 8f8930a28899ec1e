package hub

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Snapshot is a repository pinned to one commit, with its files.
type Snapshot struct {
	Ref    Ref
	Commit string
	Files  []Entry // sorted by path
	// Single is set when Ref.Path named one file rather than a folder.
	Single bool
}

// lists reports whether the snapshot's listing covers path p: it lists
// every file of the repository, or of the folder Ref.Path, when it came
// from Snapshot (the gate's one-file snapshots have no listing).
func (s *Snapshot) lists(p string) bool {
	if s.Single || len(s.Files) == 0 {
		return false
	}
	return s.Ref.Path == "" || strings.HasPrefix(p, s.Ref.Path+"/")
}

// Snapshot resolves ref's revision to a commit and lists its files (all of
// them, or those under ref.Path; exactly one when ref.Path is a file).
func (c *Client) Snapshot(ctx context.Context, ref Ref) (*Snapshot, error) {
	info, err := c.Info(ctx, ref)
	if err != nil {
		return nil, err
	}
	s := &Snapshot{Ref: ref, Commit: strings.ToLower(info.SHA)}
	if ref.Path != "" && slices.ContainsFunc(info.Siblings, func(sb Sibling) bool { return sb.RFilename == ref.Path }) {
		// One file: its size and digest come from its folder's listing.
		dir := ref
		dir.Path = path.Dir(ref.Path)
		if dir.Path == "." {
			dir.Path = ""
		}
		entries, err := c.Tree(ctx, dir, s.Commit)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.Path == ref.Path {
				s.Files, s.Single = []Entry{e}, true
				return s, nil
			}
		}
		return nil, fmt.Errorf("%s: %q is listed by the repository but not by its tree", ref, ref.Path)
	}
	s.Files, err = c.Tree(ctx, ref, s.Commit)
	if err != nil {
		return nil, err
	}
	if len(s.Files) == 0 && ref.Path != "" {
		return nil, fmt.Errorf("%s: no file under %q", ref, ref.Path)
	}
	slices.SortFunc(s.Files, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	return s, nil
}

// OpenFile opens one file of the snapshot for reading at the pinned
// commit. LFS files are resolved once (HEAD) to their storage location;
// other files are read from the resolve URL directly.
func (c *Client) OpenFile(ctx context.Context, s *Snapshot, e Entry) (*File, error) {
	u := c.ResolveURL(s.Ref, s.Commit, e.Path)
	meta := &FileMeta{Size: e.Size, SHA256: e.SHA256()}
	if e.LFS != nil {
		m, err := c.Head(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Ref.FileRef(s.Commit, e.Path), err)
		}
		if m.Size >= 0 && m.Size != e.Size {
			return nil, fmt.Errorf("%s: the listing says %d bytes, the file has %d", s.Ref.FileRef(s.Commit, e.Path), e.Size, m.Size)
		}
		m.Size = e.Size
		meta = m
	}
	return c.Open(ctx, u, meta), nil
}

// Sibling opens a file of the snapshot by a path relative to dir (the
// folder of the file being analysed), refusing paths that leave the
// repository. It serves analysers' Input.Open (a config naming its code).
func (c *Client) Sibling(ctx context.Context, s *Snapshot, dir, rel string) (io.ReaderAt, int64, func() error, error) {
	if strings.Contains(rel, "\\") || strings.HasPrefix(rel, "/") {
		return nil, 0, nil, fmt.Errorf("%q is not a path inside the repository", rel)
	}
	p := path.Clean(path.Join(dir, rel))
	if p == ".." || strings.HasPrefix(p, "../") {
		return nil, 0, nil, fmt.Errorf("%q is not a path inside the repository", rel)
	}
	i, found := slices.BinarySearchFunc(s.Files, p, func(e Entry, p string) int { return strings.Compare(e.Path, p) })
	var e Entry
	if found {
		e = s.Files[i]
	} else if s.lists(p) {
		// A complete listing does not have it: no request can find it.
		return nil, 0, nil, fmt.Errorf("%s: not in the repository at %.12s: %w", p, s.Commit, fs.ErrNotExist)
	} else {
		// The snapshot may list only a folder or one file: ask the Hub.
		m, err := c.Head(ctx, c.ResolveURL(s.Ref, s.Commit, p))
		if err != nil {
			return nil, 0, nil, err
		}
		if m.Size < 0 {
			return nil, 0, nil, fmt.Errorf("%s: size unknown", p)
		}
		f := c.Open(ctx, c.ResolveURL(s.Ref, s.Commit, p), m)
		return f, m.Size, f.Close, nil
	}
	f, err := c.OpenFile(ctx, s, e)
	if err != nil {
		return nil, 0, nil, err
	}
	return f, e.Size, f.Close, nil
}
