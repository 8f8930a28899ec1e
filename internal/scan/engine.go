// Package scan is the engine: it turns paths into inputs, sniffs each input
// by content, dispatches it to the analyser registered for its format,
// feeds nested inputs (decompressed streams, embedded pickles) back through
// the same path within the budgets, and collects one result per file.
package scan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/cache"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// FileResult is everything found about one file.
type FileResult struct {
	Path     string
	Format   string
	Size     int64
	SHA256   string
	Findings []finding.Finding
	// Errors say what could not be analysed. A file with errors was not
	// fully analysed (exit status 2 unless a finding fails it anyway).
	Errors []string
	// Imports lists every global the file's pickles import, with the
	// member they are in ("member: module.name").
	Imports []string
	// Cached is set when the result came from the verdict cache.
	Cached bool
}

// Engine scans inputs with a fixed set of analysers and budgets.
type Engine struct {
	Analyzers []analyzer.Analyzer
	Limits    analyzer.Limits
	// Workers is how many files are scanned at once (default: CPUs).
	Workers int
	// NoDigest skips the SHA-256 of each file. The digest is the only step
	// that reads every byte; without it a checkpoint costs only its
	// directory and pickles.
	NoDigest bool
	// Cache, if set, returns stored results for unchanged files and keeps
	// new complete ones (it needs the digest).
	Cache *cache.Dir
	// Progress, if set, is called after each file with the files done and
	// the total.
	Progress func(done, total int)
	// FormatEnabled, if set, says whether a format may be analysed (the
	// policy's formats section). A disabled format is refused at every
	// nesting level: its input is reported as not analysed.
	FormatEnabled func(format string) bool
}

// New returns an engine with every registered analyser and default limits.
func New() *Engine {
	return &Engine{Analyzers: Registry(), Limits: analyzer.DefaultLimits()}
}

// Match returns the analyser for an input, or nil when no format matches.
func (e *Engine) Match(name string, head []byte) analyzer.Analyzer {
	for _, a := range e.Analyzers {
		if a.Match(name, head) {
			return a
		}
	}
	return nil
}

// ScanPaths scans files and directories (recursively) and returns one
// result per file, in a stable order: arguments in the order given,
// directory contents in lexical order.
func (e *Engine) ScanPaths(ctx context.Context, paths []string) []FileResult {
	var jobs []job
	for _, p := range paths {
		jobs = append(jobs, e.expand(p)...)
	}
	results := e.parallel(len(jobs), runtime.GOMAXPROCS(0), func(i int) FileResult { return e.runJob(ctx, jobs[i]) })
	var out []FileResult
	for i, r := range results {
		if jobs[i].optional && (r.Format == "" || r.Format == "empty") && len(r.Findings) == 0 {
			continue // a non-model file met in a directory walk
		}
		out = append(out, r)
	}
	return out
}

// parallel runs scan(i) for i in [0, n) on Workers goroutines (def when
// Workers is not set), reporting progress, and returns the results in order.
func (e *Engine) parallel(n, def int, scan func(i int) FileResult) []FileResult {
	results := make([]FileResult, n)
	workers := e.Workers
	if workers <= 0 {
		workers = def
	}
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for range min(workers, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = scan(i)
				if e.Progress != nil {
					mu.Lock()
					done++
					e.Progress(done, n)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// job is one file to scan. optional files (met while walking a directory,
// with an extension that says "not a model") are dropped from the results
// when no analyser recognises them.
type job struct {
	path     string
	optional bool
	err      error
}

// skipExtensions are files a directory walk passes over unless their
// content sniffs as a supported format (a pickle named .txt is still found):
// documentation, source, and the text and media files datasets are made of.
var skipExtensions = map[string]bool{
	// documentation and configuration
	".md": true, ".txt": true, ".rst": true, ".json": true, ".yaml": true, ".yml": true,
	".toml": true, ".cfg": true, ".ini": true, ".html": true, ".css": true, ".ipynb": true,
	".xml": true, ".lock": true, ".gitattributes": true, ".gitignore": true, ".log": true, ".pdf": true,
	// source (custom code is judged through config.json's auto_map)
	".py": true, ".pyc": true, ".js": true, ".ts": true, ".sh": true, ".go": true,
	".c": true, ".h": true, ".cpp": true, ".cc": true, ".hpp": true,
	// tabular and text data
	".csv": true, ".tsv": true, ".jsonl": true, ".ndjson": true, ".srt": true, ".vtt": true,
	// images, audio and video
	".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".svg": true, ".webp": true,
	".bmp": true, ".tif": true, ".tiff": true, ".ico": true,
	".wav": true, ".mp3": true, ".flac": true, ".ogg": true, ".opus": true, ".m4a": true,
	".mp4": true, ".webm": true, ".mkv": true, ".avi": true, ".mov": true,
}

// Optional reports whether a file met in a repository (a directory walk, a
// Hub listing) is passed over when no analyser recognises its content: its
// extension or name says documentation, source or data, not a model.
func Optional(name string) bool {
	base := path.Base(name)
	return skipExtensions[strings.ToLower(path.Ext(base))] || strings.HasPrefix(base, ".") ||
		strings.EqualFold(base, "LICENSE") || strings.EqualFold(base, "README")
}

func (e *Engine) expand(p string) []job {
	if p == "-" {
		return []job{{path: p}}
	}
	st, err := os.Stat(p)
	if err != nil {
		return []job{{path: p, err: err}}
	}
	if !st.IsDir() {
		return []job{{path: p}}
	}
	var jobs []job
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			jobs = append(jobs, job{path: path, err: err})
			return nil
		}
		if d.IsDir() {
			if path != p && (strings.HasPrefix(d.Name(), ".") || d.Name() == "__pycache__") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil // symlinks and devices are not followed
		}
		jobs = append(jobs, job{path: path, optional: Optional(d.Name())})
		return nil
	})
	if err != nil {
		jobs = append(jobs, job{path: p, err: err})
	}
	return jobs
}

func (e *Engine) runJob(ctx context.Context, j job) FileResult {
	if j.err != nil {
		return FileResult{Path: j.path, Errors: []string{j.err.Error()}}
	}
	if err := ctx.Err(); err != nil {
		return FileResult{Path: j.path, Errors: []string{err.Error()}}
	}
	if j.path == "-" {
		return e.scanStdin(ctx)
	}
	f, err := os.Open(j.path)
	if err != nil {
		return FileResult{Path: j.path, Errors: []string{err.Error()}}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return FileResult{Path: j.path, Errors: []string{err.Error()}}
	}
	id, cacheable := cache.IdentityOf(j.path, st)
	cacheable = cacheable && e.Cache != nil && !e.NoDigest
	if cacheable {
		var r FileResult
		if e.Cache.Lookup(id, &r) {
			r.Path, r.Cached = j.path, true
			return r
		}
	}
	// The siblings an analyser opens (a config's custom code, the model
	// that references a tensor-data file) are part of the verdict: the
	// cache re-checks them.
	var (
		mu   sync.Mutex
		deps []cache.Identity
	)
	dir := filepath.Dir(j.path)
	siblings := siblingOpener(dir)
	open := func(rel string) (io.ReaderAt, int64, func() error, error) {
		if clean := path.Clean(rel); fs.ValidPath(clean) {
			dep := cache.DependencyOf(filepath.Join(dir, filepath.FromSlash(clean))) // before reading it
			mu.Lock()
			deps = append(deps, dep)
			mu.Unlock()
		}
		return siblings(rel)
	}
	res := e.scan(ctx, j.path, f, st.Size(), j.optional, open)
	// Only complete results are kept: an error may be transient.
	if cacheable && len(res.Errors) == 0 && res.SHA256 != "" {
		stored := res
		stored.Path = ""
		mu.Lock()
		_ = e.Cache.Put(id, res.SHA256, deps, stored) // a cache that cannot be written only costs time
		mu.Unlock()
	}
	return res
}

// siblingOpener opens files next to a scanned file, refusing any path that
// leaves its directory (a config naming "../../etc/passwd" as its code).
func siblingOpener(dir string) func(string) (io.ReaderAt, int64, func() error, error) {
	return func(rel string) (io.ReaderAt, int64, func() error, error) {
		clean := path.Clean(rel)
		if !fs.ValidPath(clean) || strings.Contains(rel, "\\") {
			return nil, 0, nil, fmt.Errorf("%q is not a path inside the repository", rel)
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			return nil, 0, nil, err
		}
		defer root.Close()
		f, err := root.Open(clean)
		if err != nil {
			return nil, 0, nil, err
		}
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			f.Close()
			return nil, 0, nil, fmt.Errorf("%q is not a regular file", rel)
		}
		return f, st.Size(), f.Close, nil
	}
}

// scanStdin spools standard input to a temporary file so that analysers get
// random access.
func (e *Engine) scanStdin(ctx context.Context) FileResult {
	f, err := os.CreateTemp("", "modelgate-stdin-*")
	if err != nil {
		return FileResult{Path: "-", Errors: []string{fmt.Sprintf("spool stdin: %v", err)}}
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := io.Copy(f, os.Stdin)
	if err != nil {
		return FileResult{Path: "-", Errors: []string{fmt.Sprintf("read stdin: %v", err)}}
	}
	return e.ScanReaderAt(ctx, "-", f, n, false)
}

// ScanReaderAt scans one file given as random-access bytes. When optional is
// set and no analyser recognises the content, the result has an empty
// Format and no errors.
func (e *Engine) ScanReaderAt(ctx context.Context, path string, r io.ReaderAt, size int64, optional bool) FileResult {
	return e.scan(ctx, path, r, size, optional, nil)
}

func (e *Engine) scan(ctx context.Context, path string, r io.ReaderAt, size int64, optional bool,
	open func(string) (io.ReaderAt, int64, func() error, error)) FileResult {
	digest := digestCompute
	if e.NoDigest {
		digest = digestSkip
	}
	return e.scanAs(ctx, path, filepath.Base(path), r, size, optional, open, digest)
}

// Digest instructions for scanAs; any other value is a digest the source
// vouches for.
const (
	digestCompute = "\x00compute"
	digestSkip    = "\x00skip"
)

func (e *Engine) scanAs(ctx context.Context, path, name string, r io.ReaderAt, size int64, optional bool,
	open func(string) (io.ReaderAt, int64, func() error, error), knownDigest string) FileResult {
	res := FileResult{Path: path, Size: size}
	// The digest is computed alongside the analysis: it is the one pass
	// over every byte, and it should not wait for the analysis or vice versa.
	var wg sync.WaitGroup
	var sum string
	var sumErr error
	switch knownDigest {
	case digestSkip:
	case digestCompute:
		wg.Add(1)
		go digest(&wg, r, size, &sum, &sumErr)
	default:
		sum = knownDigest
	}
	st := &state{engine: e, res: &res}
	in := analyzer.Input{Name: name, R: r, Size: size, Budget: analyzer.NewBudget(e.Limits), Open: open}
	a := e.Match(in.Name, head(in))
	switch {
	case size == 0:
		res.Format = "empty"
	case a == nil:
		if !optional {
			res.Format = "unknown"
			res.Errors = append(res.Errors, "not a recognised model format: nothing was analysed")
		}
	default:
		res.Format = st.analyze(ctx, a, in, "")
	}
	wg.Wait()
	res.SHA256 = sum
	if sumErr != nil {
		res.Errors = append(res.Errors, fmt.Sprintf("sha256: %v", sumErr))
	}
	e.capFindings(&res)
	return res
}

func digest(wg *sync.WaitGroup, r io.ReaderAt, size int64, sum *string, sumErr *error) {
	defer wg.Done()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, 0, size)); err != nil {
		*sumErr = err
		return
	}
	*sum = hex.EncodeToString(h.Sum(nil))
}

func head(in analyzer.Input) []byte {
	b := make([]byte, min(int64(analyzer.HeadSize), in.Size))
	n, _ := in.R.ReadAt(b, 0)
	return b[:n]
}

type state struct {
	engine *Engine
	res    *FileResult
}

// analyze runs one analyser on one input and recurses into nested inputs.
// It returns the format id.
func (s *state) analyze(ctx context.Context, a analyzer.Analyzer, in analyzer.Input, member string) string {
	if !s.enabled(a.Format(), member) {
		return a.Format()
	}
	var out analyzer.Output
	err := a.Analyze(ctx, in, s.engine.Limits, &out)
	format := out.Format
	if format == "" {
		format = a.Format()
	}
	if format != a.Format() && !s.enabled(format, member) {
		for _, n := range out.Nested {
			if n.Close != nil {
				n.Close()
			}
		}
		return format
	}
	for _, f := range out.Findings {
		f.Member = joinMember(member, f.Member)
		s.res.Findings = append(s.res.Findings, f)
	}
	for _, imp := range out.Imports {
		if member != "" {
			imp = member + ": " + imp
		}
		s.res.Imports = append(s.res.Imports, imp)
	}
	if err != nil {
		s.res.Errors = append(s.res.Errors, prefixMember(member, err.Error()))
	}
	for _, n := range out.Nested {
		s.nested(ctx, in, n, joinMember(member, n.Name))
		if n.Close != nil {
			n.Close()
		}
	}
	return format
}

func (s *state) nested(ctx context.Context, parent analyzer.Input, n analyzer.Nested, member string) {
	if err := ctx.Err(); err != nil {
		s.res.Errors = append(s.res.Errors, prefixMember(member, err.Error()))
		return
	}
	in := analyzer.Input{Name: n.Name, R: n.R, Size: n.Size, Depth: parent.Depth + 1, Budget: parent.Budget}
	if in.Depth > s.engine.Limits.MaxDepth {
		msg := fmt.Sprintf("nesting deeper than %d levels; not analysed", s.engine.Limits.MaxDepth)
		s.res.Findings = append(s.res.Findings, finding.Finding{RuleID: knowledge.RuleScanLimit, Severity: finding.Medium,
			Message: msg, Member: member, Offset: finding.NoOffset})
		s.res.Errors = append(s.res.Errors, prefixMember(member, msg))
		return
	}
	if in.Size == 0 {
		return // nothing to analyse, nothing that can run
	}
	a := s.engine.Match(in.Name, head(in))
	if a == nil {
		// Documentation and source files inside archives are passed over
		// as in a directory walk, and so is content marked as possibly raw
		// data; anything else unknown is not safe.
		if !n.Optional && !skipExtensions[strings.ToLower(path.Ext(n.Name))] && !strings.HasSuffix(n.Name, "/") {
			s.res.Errors = append(s.res.Errors, prefixMember(member, "not a recognised format: not analysed"))
		}
		return
	}
	s.analyze(ctx, a, in, member)
}

// enabled applies the policy's formats section, recording a refusal.
func (s *state) enabled(format, member string) bool {
	if s.engine.FormatEnabled == nil || s.engine.FormatEnabled(format) {
		return true
	}
	s.res.Errors = append(s.res.Errors, prefixMember(member, fmt.Sprintf("format %s disabled by policy: not analysed", format)))
	return false
}

// joinMember builds the member chain; "!" separates nesting levels so that
// member names containing "/" (zip paths) stay readable.
func joinMember(parent, child string) string {
	switch {
	case parent == "":
		return child
	case child == "":
		return parent
	}
	return parent + "!" + child
}

func prefixMember(member, msg string) string {
	if member == "" {
		return msg
	}
	return member + ": " + msg
}

// capFindings keeps the worst MaxFindings findings of a file.
func (e *Engine) capFindings(res *FileResult) {
	finding.Sort(res.Findings)
	if m := e.Limits.MaxFindings; m > 0 && len(res.Findings) > m {
		dropped := len(res.Findings) - m
		res.Findings = append(res.Findings[:m], finding.Finding{RuleID: knowledge.RuleScanLimit, Severity: finding.Info,
			Message: fmt.Sprintf("%d further findings not listed", dropped), Offset: finding.NoOffset})
	}
}
