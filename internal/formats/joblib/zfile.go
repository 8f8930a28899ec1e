package joblib

import (
	"bytes"
	"compress/zlib"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// zfileHeader is the shortest joblib 0.8–0.9 compressed-file header: "ZF",
// then the uncompressed length as hex padded with spaces, then zlib.
const zfileHeader = 2 + 19

// ZFileAnalyzer reads joblib's old "ZF" compressed files (pickles and the
// .npy.z sidecar arrays of joblib 0.9).
type ZFileAnalyzer struct{}

// Format implements analyzer.Analyzer.
func (ZFileAnalyzer) Format() string { return "joblib-zfile" }

// Match implements analyzer.Analyzer.
func (ZFileAnalyzer) Match(_ string, head []byte) bool {
	return len(head) > zfileHeader && bytes.HasPrefix(head, []byte("ZF0x"))
}

// Analyze decompresses the stream within budget and returns it as a nested
// input.
func (ZFileAnalyzer) Analyze(_ context.Context, in analyzer.Input, lim analyzer.Limits, out *analyzer.Output) error {
	// "ZF", the length in hex ("0x31f", maybe with Python 2's "L"), then
	// space padding whose width changed between joblib versions.
	hdr := make([]byte, min(in.Size, 64))
	if _, err := in.R.ReadAt(hdr, 0); err != nil && int64(len(hdr)) < in.Size {
		return fmt.Errorf("joblib zfile header: %w", err)
	}
	i := 4
	for i < len(hdr) && strings.IndexByte("0123456789abcdefABCDEFL", hdr[i]) >= 0 {
		i++
	}
	declared, err := strconv.ParseUint(strings.TrimSuffix(string(hdr[4:i]), "L"), 16, 64)
	if err != nil {
		return fmt.Errorf("joblib zfile header: bad length %q", hdr[2:i])
	}
	for i < len(hdr) && hdr[i] == ' ' {
		i++
	}
	start := int64(i)
	zr, err := zlib.NewReader(io.NewSectionReader(in.R, start, in.Size-start))
	if err != nil {
		return fmt.Errorf("joblib zfile: %w", err)
	}
	b := analyzer.ReadBounded(zr, in.Size-start, lim, in.Budget)
	// joblib 0.9's .npy.z sidecars hold raw array bytes (the header is in
	// the pickle's ZNDArrayWrapper): raw data is expected.
	b.Nested.Optional = true
	out.Add(finding.Finding{RuleID: knowledge.RuleCompressed, Severity: finding.Info, Offset: finding.NoOffset,
		Message: fmt.Sprintf("joblib zfile (zlib), %d bytes decompressed to %d (header declares %d)", in.Size, b.Written, declared)})
	name := strings.TrimSuffix(strings.TrimSuffix(baseName(in.Name), ".z"), ".gz") + ":zfile"
	return b.Finish(out, name, "", "joblib zfile")
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, "/\\"); i >= 0 {
		return p[i+1:]
	}
	return p
}
