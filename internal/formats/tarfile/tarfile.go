// Package tarfile hands the files inside a tar archive (POSIX ustar, GNU,
// PAX and old v7 tar) back to the engine as nested inputs. Compressed tars
// (.tar.gz, .tar.xz, .tar.zst, ...) need nothing special: the compress
// analyser unwraps the stream and the engine sniffs its content as tar.
//
// Tar stores each member's bytes contiguously, so a member is handed on as
// a window onto the archive (an io.SectionReader): nothing is copied, and
// only what the member's own analyser reads is ever read.
package tarfile

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/picklefile"
	"github.com/modelgate/modelgate/internal/formats/pytorch"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/pickle"
)

// blockSize is the tar header and padding unit.
const blockSize = 512

// Analyzer unwraps tar archives.
type Analyzer struct{}

// Format implements analyzer.Analyzer.
func (Analyzer) Format() string { return "tar" }

// Match implements analyzer.Analyzer: the first header must carry a valid
// checksum and either the "ustar" magic (POSIX and GNU) or, for the
// magic-less v7 format, fields that only a tar writer produces. Being
// strict matters: whatever this claims is hidden from the analysers after it
// in the registry, including the raw pickle one.
func (Analyzer) Match(_ string, head []byte) bool { return Sniff(head) }

// Sniff reports whether head starts with a tar header.
func Sniff(head []byte) bool {
	if len(head) < blockSize {
		return false
	}
	h := head[:blockSize]
	if !checksumOK(h) {
		return false
	}
	if bytes.Equal(h[257:262], []byte("ustar")) {
		return true
	}
	return isV7(h)
}

// checksumOK verifies the header checksum: the octal number at 148..156
// equals the sum of the header bytes with that field read as spaces. Both
// the unsigned and the historical signed sum are accepted, as archive/tar
// and Python's tarfile do.
func checksumOK(h []byte) bool {
	field := strings.Trim(string(h[148:156]), " \x00")
	if field == "" || !isOctal(field) {
		return false
	}
	want, err := strconv.ParseInt(field, 8, 64)
	if err != nil {
		return false
	}
	var unsigned, signed int64
	for i, c := range h {
		if i >= 148 && i < 156 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	// An all-zero block (the end-of-archive marker) sums to 256 with the
	// checksum spaces; it is not a header.
	return want != 8*' ' && (want == unsigned || want == signed)
}

// isV7 accepts a pre-POSIX header only when every numeric field is octal,
// the type is one v7/early-GNU tar writes, the name is a NUL-terminated
// printable ASCII string, and everything past the v7 fields is zero.
func isV7(h []byte) bool {
	name, _, ok := bytes.Cut(h[:100], []byte{0})
	if !ok || len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 0x20 || c >= 0x7f {
			return false
		}
	}
	for _, f := range [][2]int{{100, 108}, {108, 116}, {116, 124}, {124, 136}, {136, 148}} {
		v := strings.Trim(string(h[f[0]:f[1]]), " \x00")
		if v == "" || !isOctal(v) {
			return false
		}
	}
	if t := h[156]; t != 0 && (t < '0' || t > '6') {
		return false
	}
	for _, c := range h[257:] {
		if c != 0 {
			return false
		}
	}
	return true
}

func isOctal(s string) bool {
	for _, c := range s {
		if c < '0' || c > '7' {
			return false
		}
	}
	return true
}

// counts are the facts reported about an archive.
type counts struct {
	files, empty, sparse, dirs, links, other int
}

// Analyze walks the headers and returns every regular file as a nested
// input. Member names are labels only: nothing is written anywhere.
func (Analyzer) Analyze(ctx context.Context, in analyzer.Input, lim analyzer.Limits, out *analyzer.Output) error {
	if in.Budget == nil { // direct callers (tests, fuzzing); the engine always sets one
		in.Budget = analyzer.NewBudget(lim)
	}
	var c counts
	err := walk(ctx, in, lim, out, &c)
	msg := fmt.Sprintf("tar archive: %d files handed on for analysis", c.files)
	for _, x := range []struct {
		n    int
		what string
	}{{c.sparse, "of them sparse"}, {c.empty, "empty files"}, {c.dirs, "directories"}, {c.links, "links (not followed)"},
		{c.other, "devices, FIFOs and other entries without data"}} {
		if x.n > 0 {
			msg += fmt.Sprintf(", %d %s", x.n, x.what)
		}
	}
	names := make([]string, 0, len(out.Nested))
	for _, n := range out.Nested {
		names = append(names, n.Name)
	}
	// PyTorch's oldest format (before 0.4) is a tar of sys_info, pickle,
	// storages and tensors; its pickles are found like any member's.
	if pytorch.IsTarLayout(names) {
		out.Format = "pytorch-tar"
		msg = "PyTorch tar format (before 0.4): " + msg
	}
	out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset, Message: msg})
	pickleToo(in, lim, out)
	return err
}

// pickleToo audits the archive itself as a pickle when its first bytes
// also decode as one. A tar header starts with the member name, which can be
// a pickle: pickle.load on such a polyglot runs the pickle while a scanner
// that only looks inside the tar sees harmless members.
func pickleToo(in analyzer.Input, lim analyzer.Limits, out *analyzer.Output) {
	head := make([]byte, min(in.Size, int64(pickle.SniffSize)))
	n, _ := in.R.ReadAt(head, 0)
	if !pickle.Sniff(head[:n]) {
		return
	}
	au := picklefile.Run(in.R, 0, in.Size, picklefile.Options{Limits: lim.Pickle, Catalogue: lim.Catalogue})
	out.Findings = append(out.Findings, au.Findings...)
	out.Nested = append(out.Nested, au.Nested...)
}

func walk(ctx context.Context, in analyzer.Input, lim analyzer.Limits, out *analyzer.Output, c *counts) error {
	// archive/tar reads headers from the SectionReader and seeks over member
	// data (it uses io.Seeker when the reader has one), so the reader's
	// position after Next is where the member's data starts, and member
	// data is never read here.
	sr := io.NewSectionReader(in.R, 0, in.Size)
	tr := tar.NewReader(sr)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("tar: after %d members: %w", c.files, err)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			pos, _ := sr.Seek(0, io.SeekCurrent)
			return fmt.Errorf("tar archive is corrupt near byte %d, after %d members (those were analysed): %w", pos, c.files, err)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			c.dirs++
			continue
		case tar.TypeLink, tar.TypeSymlink:
			// A hard link's content is its target's, analysed under that
			// name; a symlink has none.
			c.links++
			continue
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo, tar.TypeXGlobalHeader:
			c.other++
			continue
		}
		// Everything else has data: regular files ('0', '\x00'), contiguous
		// files ('7'), sparse files, and unknown type flags, which Python's
		// tarfile extracts as regular files.
		if hdr.Size == 0 {
			c.empty++
			continue
		}
		if !in.Budget.TakeMember() {
			msg := fmt.Sprintf("the file's archive member budget of %d is spent; tar members from %q on were not analysed", lim.MaxMembers, hdr.Name)
			out.Add(finding.Finding{RuleID: knowledge.RuleScanLimit, Severity: finding.Medium, Offset: finding.NoOffset, Message: msg})
			return errors.New(msg)
		}
		c.files++
		if isSparse(hdr) {
			c.sparse++
			if err := expandSparse(tr, hdr, in, lim, out); err != nil {
				return err
			}
			continue
		}
		start, err := sr.Seek(0, io.SeekCurrent)
		if err != nil {
			return fmt.Errorf("tar: position of member %q: %w", hdr.Name, err)
		}
		size := hdr.Size
		if start > in.Size-size {
			// Truncated archive: hand on what is there (a loader that
			// streams the member would see it too) and say the rest is
			// missing; Next reports the corruption.
			size = max(in.Size-start, 0)
		}
		out.Nested = append(out.Nested, analyzer.Nested{Name: hdr.Name, R: io.NewSectionReader(in.R, start, size), Size: size})
	}
}

// isSparse reports GNU sparse members, old-style ('S') or PAX-encoded. Their
// stored bytes are not the file's content (holes are left out and a map may
// precede the data), so they are expanded through archive/tar instead of
// being handed on in place.
func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// expandSparse copies a sparse member's logical content within the
// decompression budgets: its holes make it a bomb as easily as compression
// does.
func expandSparse(tr *tar.Reader, hdr *tar.Header, in analyzer.Input, lim analyzer.Limits, out *analyzer.Output) error {
	bnd := analyzer.ReadBounded(tr, in.Size, lim, in.Budget)
	return bnd.Finish(out, hdr.Name, hdr.Name, fmt.Sprintf("sparse tar member %q", hdr.Name))
}
