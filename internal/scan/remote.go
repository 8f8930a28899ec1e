package scan

import (
	"context"
	"fmt"
	"io"
	"runtime"
)

// Remote is one file whose bytes are elsewhere (a Hub repository, a URL):
// the engine reads it through the io.ReaderAt that Open returns, so only the
// bytes the analysers ask for are fetched.
type Remote struct {
	Path string // the name reported (hf://org/name@commit/file)
	Name string // the file's own name, for format hints
	Size int64
	// SHA256 is the content digest when the source vouches for it (a Hub
	// LFS oid). When empty, the digest is computed only for files of at
	// most RemoteDigestMax bytes: computing it would download the file.
	SHA256   string
	Optional bool // as a file met in a directory walk
	Open     func(ctx context.Context) (io.ReaderAt, func() error, error)
	// Sibling opens another file of the same repository relative to this
	// file's folder (a config naming its custom code); nil when none.
	Sibling func(rel string) (io.ReaderAt, int64, func() error, error)
}

// RemoteDigestMax is the largest remote file whose SHA-256 is computed by
// reading it when its source does not give one.
const RemoteDigestMax = 32 << 20

// Source is one remote input (a repository or a URL) as a whole: what it
// resolved to and what scanning it cost. Reports print one line per source.
type Source struct {
	Input  string // as given: hf://org/name@main
	Commit string // the commit the revision resolved to ("" for plain URLs)
	Files  int
	// Size is the total size of the files; Transferred is the number of
	// bytes actually downloaded to scan them.
	Size        int64
	Transferred int64
	Error       string
}

// ScanRemote scans remote files concurrently (Workers at a time) and
// returns one result per file, in the order given. Optional files that no
// analyser recognises are dropped, as in a directory walk.
func (e *Engine) ScanRemote(ctx context.Context, files []Remote) []FileResult {
	// Remote scans wait on the network more than on the CPU.
	results := e.parallel(len(files), max(runtime.GOMAXPROCS(0), 4), func(i int) FileResult { return e.scanRemote(ctx, files[i]) })
	var out []FileResult
	for i, r := range results {
		if files[i].Optional && (r.Format == "" || r.Format == "empty") && len(r.Findings) == 0 && len(r.Errors) == 0 {
			continue
		}
		out = append(out, r)
	}
	return out
}

// ScanRemoteFile scans one remote file and returns its result even when
// the file is optional and unrecognised (Format "" then, no errors).
func (e *Engine) ScanRemoteFile(ctx context.Context, f Remote) FileResult {
	return e.scanRemote(ctx, f)
}

func (e *Engine) scanRemote(ctx context.Context, f Remote) FileResult {
	if err := ctx.Err(); err != nil {
		return FileResult{Path: f.Path, Size: f.Size, Errors: []string{err.Error()}}
	}
	// The verdict cache is not used for remote files: their digest is the
	// source's claim, and a hostile endpoint could claim the digest of a
	// file once found clean. Remote scans read little anyway.
	r, closeFn, err := f.Open(ctx)
	if err != nil {
		return FileResult{Path: f.Path, Size: f.Size, SHA256: f.SHA256, Errors: []string{fmt.Sprintf("open: %v", err)}}
	}
	defer closeFn()
	digest := digestCompute
	switch {
	case e.NoDigest:
		digest = digestSkip
	case f.SHA256 != "":
		digest = f.SHA256
	case f.Size > RemoteDigestMax:
		digest = digestSkip
	}
	return e.scanAs(ctx, f.Path, f.Name, r, f.Size, f.Optional, f.Sibling, digest)
}
