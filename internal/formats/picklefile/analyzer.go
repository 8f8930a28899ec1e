package picklefile

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/joblib"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/pickle"
)

// Analyzer handles raw pickle streams of any extension: several pickles one
// after another, protocol 0 without a PROTO opcode, and trailing data.
type Analyzer struct{}

// Format implements analyzer.Analyzer.
func (Analyzer) Format() string { return "pickle" }

// Match sniffs content only: a pickle named .safetensors is a pickle, and a
// protocol-0 pickle has no magic bytes, so the head is decoded.
func (Analyzer) Match(_ string, head []byte) bool { return pickle.Sniff(head) }

// Analyze audits every pickle in the input. joblib's inline arrays are
// skipped the way joblib.load skips them wherever a NumpyArrayWrapper is
// built: any pickle may carry one, whatever its name.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input, lim analyzer.Limits, out *analyzer.Output) error {
	var arrays joblib.Inline
	au := Run(in.R, 0, in.Size, Options{Limits: lim.Pickle, Catalogue: lim.Catalogue, AfterBuild: arrays.AfterBuild})
	out.Findings = append(out.Findings, au.Findings...)
	out.Nested = append(out.Nested, au.Nested...)
	out.Imports = append(out.Imports, au.Imports...)
	// Bytes after the last pickle are what another reader of the file sees:
	// a zip appended to a pickle is a zip to zipfile-based loaders (Keras,
	// many tools) while pickle.load sees only the pickle. Sniff them too.
	// ("PK" decodes as PERSID: the appended archive may look like a broken
	// further pickle, so start from the end of the last complete one.)
	if end := completeEnd(au.Result); end > 0 && end < in.Size {
		out.Nested = append(out.Nested, analyzer.Nested{Name: fmt.Sprintf("trailing-data@%d", end),
			R: io.NewSectionReader(in.R, end, in.Size-end), Size: in.Size - end, Optional: true})
	}
	if arrays.Arrays+arrays.ObjectArray > 0 {
		out.Format = "joblib"
		out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset,
			Message: fmt.Sprintf("joblib pickle: %d inline NumPy arrays skipped (%d bytes, not read), %d object arrays analysed as nested pickles",
				arrays.Arrays, arrays.Bytes, arrays.ObjectArray)})
	}
	for _, name := range arrays.Escaping {
		out.Add(finding.Finding{RuleID: knowledge.RuleJoblibSidecar, Severity: finding.High, Offset: finding.NoOffset,
			Message:  "an old joblib array wrapper makes joblib.load open a file outside the model's directory (with allow_pickle=True)",
			Evidence: name})
	}
	if n := len(arrays.Sidecars); n > 0 {
		out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset,
			Message: fmt.Sprintf("joblib 0.8–0.9 pickle: arrays in %d sidecar files, which joblib.load opens next to it (scan them too): %s",
				n, strings.Join(arrays.Sidecars[:min(n, 8)], ", "))})
	}
	return au.Result.Err
}

// completeEnd is where the last complete pickle ends, or 0.
func completeEnd(res *pickle.Result) int64 {
	for i := len(res.Pickles) - 1; i >= 0; i-- {
		if res.Pickles[i].Complete {
			return res.Pickles[i].End
		}
	}
	return 0
}
