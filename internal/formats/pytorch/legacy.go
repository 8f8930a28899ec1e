package pytorch

import (
	"bytes"
	"context"
	"fmt"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/picklefile"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/pickle"
)

// legacyMagic is torch's MAGIC_NUMBER (0x1950a86a20f9469cfc6c) as the
// LONG1 opcode that starts every legacy file.
var legacyMagic = []byte{0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

// legacyPickles is how many pickles _legacy_load reads before the storage
// bytes: magic number, protocol version, sys info, the object, storage keys.
const legacyPickles = 5

// LegacyAnalyzer reads files written with
// torch.save(..., _use_new_zipfile_serialization=False).
type LegacyAnalyzer struct{}

// Format implements analyzer.Analyzer.
func (LegacyAnalyzer) Format() string { return "pytorch-legacy" }

// Match looks for the magic number in the first pickle.
func (LegacyAnalyzer) Match(_ string, head []byte) bool {
	i := bytes.Index(head[:min(len(head), 64)], legacyMagic)
	return i >= 0 && pickle.Sniff(head)
}

// Analyze audits the five pickles torch reads and stops where the raw
// storage bytes start: torch never unpickles them, and reading them would
// cost as much as the tensors themselves.
func (LegacyAnalyzer) Analyze(_ context.Context, in analyzer.Input, lim analyzer.Limits, out *analyzer.Output) error {
	au := picklefile.Run(in.R, 0, in.Size, picklefile.Options{Limits: lim.Pickle, Catalogue: lim.Catalogue, MaxPickles: legacyPickles})
	out.Findings = append(out.Findings, au.Findings...)
	out.Nested = append(out.Nested, au.Nested...)
	out.Imports = append(out.Imports, au.Imports...)
	res := au.Result
	// torch.load(weights_only=True) reads the same five pickles with a
	// machine of its own (see weightsonly.go); it stops where they end.
	out.Add(WeightsOnlyFinding(WeightsOnlyLegacy(in.R, in.Size, lim.Pickle), ""))
	if res.Err != nil {
		return res.Err
	}
	if len(res.Pickles) < legacyPickles {
		return fmt.Errorf("legacy PyTorch file ends after %d of its %d pickles", len(res.Pickles), legacyPickles)
	}
	storage := in.Size - res.End
	out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset,
		Message: fmt.Sprintf("legacy PyTorch file: %d pickles analysed, %d bytes of raw storage data after them (not read)", legacyPickles, storage)})
	return nil
}
