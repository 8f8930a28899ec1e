// Package remote scans inputs that are not local files: Hugging Face Hub
// repositories (hf://org/name@rev), files inside them, and plain http(s)
// URLs. It turns a repository into a list of scan.Remote files read with
// HTTP Range requests, so the engine's analysers run unchanged and only the
// bytes they ask for cross the network.
package remote

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/modelgate/modelgate/internal/hub"
	"github.com/modelgate/modelgate/internal/scan"
)

// Is reports whether an input names a remote source.
func Is(input string) bool {
	return hub.IsRef(input) || strings.HasPrefix(input, "https://") || strings.HasPrefix(input, "http://")
}

// Scan scans one remote input and returns its source summary and a result
// per file. Problems with the input as a whole (repository not found, gated,
// unreachable) are reported as one result with an error, like an unreadable
// local path.
func Scan(ctx context.Context, eng *scan.Engine, c *hub.Client, input string) (scan.Source, []scan.FileResult) {
	src := scan.Source{Input: input}
	before := c.Received()
	var files []scan.Remote
	var err error
	if ref, ok := refOf(c, input); ok {
		files, err = repoFiles(ctx, c, ref, &src)
	} else if hub.IsRef(input) {
		_, err = hub.ParseRef(input)
	} else {
		files, err = urlFile(ctx, c, input, &src)
	}
	if err != nil {
		src.Error = err.Error()
		return src, []scan.FileResult{{Path: input, Errors: []string{err.Error()}}}
	}
	src.Files = len(files)
	for _, f := range files {
		src.Size += f.Size
	}
	results := eng.ScanRemote(ctx, files)
	src.Transferred = c.Received() - before
	return src, results
}

// refOf reads an input as a Hub reference: hf://..., or an https URL of a
// file on the client's endpoint (…/resolve/REV/PATH or …/blob/REV/PATH).
func refOf(c *hub.Client, input string) (hub.Ref, bool) {
	if hub.IsRef(input) {
		ref, err := hub.ParseRef(input)
		return ref, err == nil
	}
	u, err := url.Parse(input)
	e, err2 := url.Parse(c.Endpoint)
	if err != nil || err2 != nil || !strings.EqualFold(u.Host, e.Host) {
		return hub.Ref{}, false
	}
	p := strings.TrimPrefix(u.EscapedPath(), strings.TrimRight(e.EscapedPath(), "/"))
	m := fileURL.FindStringSubmatch(p)
	if m == nil {
		return hub.Ref{}, false
	}
	typ := hub.Model
	switch m[1] {
	case "datasets/":
		typ = hub.Dataset
	case "spaces/":
		typ = hub.Space
	}
	rev, err := url.PathUnescape(m[3])
	file, err2 := url.PathUnescape(m[4])
	if err != nil || err2 != nil || hub.ValidRepoID(m[2]) != nil {
		return hub.Ref{}, false
	}
	return hub.Ref{Type: typ, Repo: m[2], Revision: rev, Path: path.Clean(file)}, true
}

var fileURL = regexp.MustCompile(`^/(datasets/|spaces/)?([^/]+(?:/[^/]+)?)/(?:resolve|blob)/([^/]+)/(.+)$`)

func repoFiles(ctx context.Context, c *hub.Client, ref hub.Ref, src *scan.Source) ([]scan.Remote, error) {
	snap, err := c.Snapshot(ctx, ref)
	if err != nil {
		return nil, err
	}
	src.Commit = snap.Commit
	var files []scan.Remote
	for _, e := range snap.Files {
		e := e
		dir := path.Dir(e.Path)
		files = append(files, scan.Remote{
			Path:     ref.FileRef(snap.Commit, e.Path),
			Name:     path.Base(e.Path),
			Size:     e.Size,
			SHA256:   e.SHA256(),
			Optional: !snap.Single && scan.Optional(e.Path),
			Open: func(ctx context.Context) (io.ReaderAt, func() error, error) {
				f, err := c.OpenFile(ctx, snap, e)
				if err != nil {
					return nil, nil, err
				}
				return f, f.Close, nil
			},
			Sibling: func(rel string) (io.ReaderAt, int64, func() error, error) {
				return c.Sibling(ctx, snap, dir, rel)
			},
		})
	}
	return files, nil
}

// urlFile is a plain URL of one file: metadata from a HEAD, bytes by Range.
func urlFile(ctx context.Context, c *hub.Client, input string, src *scan.Source) ([]scan.Remote, error) {
	meta, err := c.Head(ctx, input)
	if err != nil {
		return nil, err
	}
	if meta.Size < 0 && meta.Location != "" {
		// Redirected elsewhere (object storage): ask there.
		loc := meta.Location
		if meta, err = c.Head(ctx, loc); err != nil {
			return nil, err
		}
		if meta.Location == "" {
			meta.Location = loc
		}
	}
	if meta.Size < 0 {
		return nil, fmt.Errorf("%s: the server does not say how large the file is", input)
	}
	src.Commit = meta.Commit
	u, _ := url.Parse(input)
	name := path.Base(u.Path)
	return []scan.Remote{{
		Path: input, Name: name, Size: meta.Size, SHA256: meta.SHA256,
		Open: func(ctx context.Context) (io.ReaderAt, func() error, error) {
			f := c.Open(ctx, input, meta)
			return f, f.Close, nil
		},
	}}, nil
}

// File scans one file of a repository at a pinned commit whose metadata the
// caller already has (the gate, from its HEAD on the upstream Hub). Other
// files the analysers ask for (a config's custom code) are fetched from the
// same commit. A documentation or source file that no analyser recognises
// comes back with an empty Format and no errors.
func File(ctx context.Context, eng *scan.Engine, c *hub.Client, ref hub.Ref, commit, file string, meta *hub.FileMeta) scan.FileResult {
	snap := &hub.Snapshot{Ref: ref, Commit: commit}
	u := c.ResolveURL(ref, commit, file)
	dir := path.Dir(file)
	return eng.ScanRemoteFile(ctx, scan.Remote{
		Path: ref.FileRef(commit, file), Name: path.Base(file), Size: meta.Size, SHA256: meta.SHA256,
		Optional: scan.Optional(file),
		Open: func(ctx context.Context) (io.ReaderAt, func() error, error) {
			f := c.Open(ctx, u, meta)
			return f, f.Close, nil
		},
		Sibling: func(rel string) (io.ReaderAt, int64, func() error, error) {
			return c.Sibling(ctx, snap, dir, rel)
		},
	})
}
