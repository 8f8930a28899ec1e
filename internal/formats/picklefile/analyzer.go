package picklefile

import (
	"context"

	"github.com/modelgate/modelgate/internal/analyzer"
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

// Analyze audits every pickle in the input.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input, lim analyzer.Limits, out *analyzer.Output) error {
	au := Run(in.R, 0, in.Size, Options{Limits: lim.Pickle})
	out.Findings = append(out.Findings, au.Findings...)
	out.Nested = append(out.Nested, au.Nested...)
	return au.Result.Err
}
