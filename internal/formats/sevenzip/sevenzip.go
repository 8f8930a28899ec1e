// Package sevenzip decompresses the files inside a 7z archive, within the
// decompression budgets, and hands them back to the engine as nested
// inputs (nullifAI-style wrappers around pickles, THREATS.md item 24).
//
// Decoding is done by github.com/bodgit/sevenzip. Because that library
// sizes allocations by header values, the header is first checked by a
// bounded walker of our own (header.go); the library only ever sees
// archives whose counts and decoder memory are within caps, and every call
// into it is guarded against panics on malformed data.
package sevenzip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"

	"github.com/bodgit/sevenzip"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/compress"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// Signature is the magic at the start of every 7z archive.
var Signature = []byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c}

// maxLinkSize is the longest symlink target skipped as a link: anything
// longer is no real link and is analysed as a file.
const maxLinkSize = 4096

// Analyzer unwraps 7z archives.
type Analyzer struct{}

// Format implements analyzer.Analyzer.
func (Analyzer) Format() string { return "7z" }

// Match implements analyzer.Analyzer. Only an archive that starts with the
// signature is claimed: self-extracting executables (signature further in)
// are not models.
func (Analyzer) Match(_ string, head []byte) bool { return bytes.HasPrefix(head, Signature) }

// capsFor derives the header caps from the limits: the entry cap follows
// the member budget (an archive listing more entries than may be analysed
// cannot be analysed fully anyway), within fixed bounds.
func capsFor(lim analyzer.Limits) caps {
	entries := min(max(uint64(max(lim.MaxMembers, 0)), minEntriesCap), maxEntriesCap)
	return caps{entries: entries, coderMemory: uint64(max(lim.MaxInMemory, minCoderMemory))}
}

var registerOnce sync.Once

// registerBoundedZstd replaces the library's zstd decoder (default options:
// up to four goroutines and a 512 MiB window) with one bounded like the
// compress package's. It decodes the same bytes.
func registerBoundedZstd() {
	sevenzip.RegisterDecompressor(methodZstd, func(_ []byte, _ uint64, readers []io.ReadCloser) (io.ReadCloser, error) {
		if len(readers) != 1 {
			return nil, errors.New("zstd: need exactly one reader")
		}
		d, err := compress.NewZstdReader(readers[0], analyzer.DefaultLimits())
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return &zstdReadCloser{d: d, c: readers[0]}, nil
	})
}

type zstdReadCloser struct {
	d interface {
		io.Reader
		Close()
	}
	c io.Closer
}

func (z *zstdReadCloser) Read(p []byte) (int, error) { return z.d.Read(p) }

func (z *zstdReadCloser) Close() error {
	z.d.Close()
	return z.c.Close()
}

// counts are the facts reported about an archive.
type counts struct {
	files, empty, dirs, links, encrypted int
}

// Analyze checks the header, then decompresses every file member in order
// (the order a solid archive is decoded in) within the budgets.
func (Analyzer) Analyze(ctx context.Context, in analyzer.Input, lim analyzer.Limits, out *analyzer.Output) error {
	if in.Budget == nil { // direct callers (tests, fuzzing); the engine always sets one
		in.Budget = analyzer.NewBudget(lim)
	}
	registerOnce.Do(registerBoundedZstd)
	info, err := check(in.R, in.Size, capsFor(lim))
	switch {
	case errors.Is(err, errEncryptedHeader):
		return err
	case errors.Is(err, errLimit):
		out.Add(finding.Finding{RuleID: knowledge.RuleScanLimit, Severity: finding.Medium, Offset: finding.NoOffset,
			Message: err.Error() + "; nothing in the archive was analysed"})
		return fmt.Errorf("7z archive not analysed: %w", err)
	case err != nil:
		return fmt.Errorf("7z archive could not be read; nothing in it was analysed: %w", err)
	}
	var zr *sevenzip.Reader
	if err := guard(func() error {
		var err error
		zr, err = sevenzip.NewReader(in.R, in.Size)
		return err
	}); err != nil {
		return fmt.Errorf("7z archive could not be read; nothing in it was analysed: %w", err)
	}
	var c counts
	errs := members(ctx, zr, info, in, lim, out, &c)
	msg := fmt.Sprintf("7z archive: %d files handed on for analysis", c.files)
	for _, x := range []struct {
		n    int
		what string
	}{{c.encrypted, "encrypted files (not analysed)"}, {c.empty, "empty files"}, {c.dirs, "directories"}, {c.links, "symlinks (not followed)"}} {
		if x.n > 0 {
			msg += fmt.Sprintf(", %d %s", x.n, x.what)
		}
	}
	out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset, Message: msg})
	if len(errs) > maxErrors {
		errs = append(errs[:maxErrors], fmt.Sprintf("and %d more members could not be analysed", len(errs)-maxErrors))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// maxErrors bounds the member errors spelled out in the one error an
// analysis returns; an archive of a million encrypted files needs no
// million-line report.
const maxErrors = 20

// members decompresses the file members and returns what could not be
// analysed.
func members(ctx context.Context, zr *sevenzip.Reader, info *archiveInfo, in analyzer.Input, lim analyzer.Limits, out *analyzer.Output, c *counts) []string {
	var errs []string
	for i, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return append(errs, fmt.Sprintf("7z: stopped before member %q: %v", f.Name, err))
		}
		mode := f.FileInfo().Mode()
		if f.UncompressedSize == 0 {
			if mode.IsDir() {
				c.dirs++
			} else {
				c.empty++
			}
			continue
		}
		// An entry with data is analysed whatever its attributes say (a
		// "directory" with data included): skipping it inside a solid
		// block would still decode it, outside every budget.
		if mode&fs.ModeSymlink != 0 && f.UncompressedSize <= maxLinkSize {
			// Not opened, but a later member of the same solid block is
			// decoded past it: its bytes are drawn from the budget.
			c.links++
			if !in.Budget.TakeBytes(int64(f.UncompressedSize)) {
				return append(errs, limit(out, fmt.Sprintf("the file's total decompression budget of %d bytes is spent; 7z members from %q on were not analysed", lim.MaxTotalDecompressed, f.Name)))
			}
			continue
		}
		if f.Stream >= 0 && f.Stream < len(info.folders) && info.folders[f.Stream].encrypted {
			c.encrypted++
			errs = append(errs, fmt.Sprintf("7z member %q is encrypted (password protected) and could not be analysed", f.Name))
			continue
		}
		if !in.Budget.TakeMember() {
			return append(errs, limit(out, fmt.Sprintf("the file's archive member budget of %d is spent; %d 7z members from %q on were not analysed", lim.MaxMembers, len(zr.File)-i, f.Name)))
		}
		c.files++
		var (
			n       analyzer.Nested
			written int64
			capped  string
			rerr    error
		)
		err := guard(func() error {
			rc, err := f.Open()
			if err != nil {
				return err
			}
			bnd := analyzer.ReadBounded(safeReader{rc}, in.Size, lim, in.Budget)
			n, written, capped, rerr = bnd.Nested, bnd.Written, bnd.Capped, bnd.Err
			return guard(rc.Close)
		})
		if n.R != nil {
			n.Name = f.Name
			out.Nested = append(out.Nested, n)
		}
		if capped != "" {
			// Skipping the rest of this member inside a solid block would
			// mean decoding it without a budget: stop here.
			out.Add(finding.Finding{RuleID: knowledge.RuleScanLimit, Severity: finding.Medium, Member: f.Name, Offset: finding.NoOffset,
				Message: fmt.Sprintf("%s; only the first %d bytes were analysed, and later 7z members were not", capped, written)})
			return append(errs, fmt.Sprintf("7z member %q: %s; %d later members were not analysed", f.Name, capped, len(zr.File)-i-1))
		}
		if rerr == nil {
			rerr = err
		}
		if rerr != nil {
			errs = append(errs, describe(f.Name, written, rerr))
		}
	}
	return errs
}

func describe(name string, written int64, err error) string {
	var re *sevenzip.ReadError
	if errors.As(err, &re) && re.Encrypted {
		return fmt.Sprintf("7z member %q is encrypted (password protected) and could not be analysed", name)
	}
	return fmt.Sprintf("7z member %q is corrupt after %d bytes (what came before was analysed): %v", name, written, err)
}

func limit(out *analyzer.Output, msg string) string {
	out.Add(finding.Finding{RuleID: knowledge.RuleScanLimit, Severity: finding.Medium, Offset: finding.NoOffset, Message: msg})
	return msg
}

// guard turns a panic of the 7z library on malformed data into an error.
func guard(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the 7z reader failed on malformed data: %v", r)
		}
	}()
	return fn()
}

// safeReader guards each Read of a member, so that a decoder panic midway
// ends the member with an error (and ReadBounded still cleans up).
type safeReader struct{ r io.Reader }

func (s safeReader) Read(p []byte) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("the 7z decoder failed on malformed data: %v", r)
		}
	}()
	return s.r.Read(p)
}
