package safetensors

import (
	"fmt"
	"io"
	"strings"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/picklefile"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// maxActs caps the globals quoted as evidence.
const maxActs = 8

// checkPolyglot reports a file that is also a pickle doing something at
// load time, with the pickle's own findings; a pickle that does nothing is
// a low note.
func checkPolyglot(in analyzer.Input, lim analyzer.Limits, out *analyzer.Output) {
	pr := picklefile.ReadAsPickle(in.R, in.Size, picklefile.Options{Limits: lim.Pickle, Catalogue: lim.Catalogue})
	switch {
	case len(pr.Acts) > 0:
		ev := pr.Acts
		if len(ev) > maxActs {
			ev = append(ev[:maxActs:maxActs], "…")
		}
		out.Add(finding.Finding{RuleID: knowledge.RuleSafetensorsPolyglot, Severity: finding.High, Offset: 0,
			Message:  "the file is also a pickle: pickle.load, or torch.load without weights_only, decodes it from byte 0 (the header-length bytes are opcodes) and imports or calls globals, while safetensors tools see tensors",
			Evidence: strings.Join(ev, ", ")})
		out.Findings = append(out.Findings, pr.Audit.Findings...)
		out.Nested = append(out.Nested, pr.Audit.Nested...)
	case pr.Harmless:
		p := pr.Audit.Result.Pickles[0]
		out.Add(finding.Finding{RuleID: knowledge.RuleSafetensorsPolyglot, Severity: finding.Low, Offset: 0,
			Message:  fmt.Sprintf("the first %d bytes also decode as a complete pickle that imports and calls nothing: pickle.load accepts the file and returns a plain value", p.End),
			Evidence: pickleBytes(in.R, p.End)})
	}
}

// pickleBytes quotes the first n (at most 16) bytes.
func pickleBytes(r io.ReaderAt, n int64) string {
	b := make([]byte, min(n, 16))
	k, _ := r.ReadAt(b, 0)
	return quote(b[:k])
}
