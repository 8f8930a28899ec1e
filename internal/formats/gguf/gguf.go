// Package gguf reads GGUF model files (llama.cpp, ollama, LM Studio)
// without loading them: the header only, through a bounded reader; tensor
// data is never read.
//
// GGUF itself holds no code. What a GGUF file can make a loader run is its
// chat template: tokenizer.chat_template (and tokenizer.chat_template.NAME)
// is a Jinja template that servers render for every request, and rendered
// with jinja2 outside a sandbox it runs Python (CVE-2024-34359 in
// llama-cpp-python; THREATS.md 30). The templates are parsed with gonja,
// never rendered, and their syntax tree is searched for the ways out of
// Jinja: Python internals (__class__, __globals__, ...), internals of
// Jinja's globals (cycler, joiner, namespace, lipsum), attribute names
// built at render time, and loads of other files.
package gguf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// Analyzer handles GGUF files.
type Analyzer struct{}

// Format implements analyzer.Analyzer.
func (Analyzer) Format() string { return "gguf" }

// Match implements analyzer.Analyzer: the magic, whatever the name.
func (Analyzer) Match(_ string, head []byte) bool { return bytes.HasPrefix(head, []byte(Magic)) }

// Analyze reads the header, checks every chat template and reports the
// header's facts. A malformed header is a GGUF-HEADER finding and an
// error; the templates read before the error are still checked.
func (Analyzer) Analyze(ctx context.Context, in analyzer.Input, _ analyzer.Limits, out *analyzer.Output) error {
	h, err := ReadHeader(ctx, in.R, in.Size)
	for _, p := range h.Problems {
		out.Add(finding.Finding{RuleID: knowledge.RuleGGUFHeader, Severity: finding.Medium, Offset: p.Offset, Message: p.Message})
	}
	for _, t := range h.Templates {
		checkTemplateValue(t, out)
	}
	if h.SkippedTemplates > 0 {
		out.Add(finding.Finding{RuleID: knowledge.RuleScanLimit, Severity: finding.Medium, Offset: finding.NoOffset,
			Message: fmt.Sprintf("%d more chat templates not checked: over the caps of %d templates and %d bytes per file", h.SkippedTemplates, MaxTemplates, MaxTemplateBytes)})
	}
	if err != nil {
		var he *HeaderError
		rule, off := knowledge.RuleGGUFHeader, finding.NoOffset
		if errors.As(err, &he) {
			off = he.Offset
			if he.Limit {
				rule = knowledge.RuleScanLimit
			}
		}
		out.Add(finding.Finding{RuleID: rule, Severity: finding.Medium, Offset: off, Message: err.Error()})
	}
	out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset, Message: summary(h, err != nil)})
	if err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	return nil
}

// checkTemplateValue reports the issues of one chat template, located in
// the file.
func checkTemplateValue(t Template, out *analyzer.Output) {
	var issues []Issue
	switch {
	case t.PastEnd:
		// The string runs past the end of the file (a GGUF-HEADER error):
		// readers that clamp it see these bytes, so they are checked.
		issues = lexicalScan(t.Text)
	case t.Truncated:
		out.Add(finding.Finding{RuleID: knowledge.RuleScanLimit, Severity: finding.Medium, Offset: t.Offset,
			Message: fmt.Sprintf("%s is %d bytes: only the first %d were checked, lexically", t.Key, t.Size, len(t.Text))})
		issues = lexicalScan(t.Text)
	default:
		issues = CheckTemplate(t.Text)
	}
	for _, i := range issues {
		off := t.Offset
		if i.Pos > 0 {
			off += int64(i.Pos)
		}
		out.Add(finding.Finding{RuleID: i.Rule, Severity: i.Severity, Offset: off, Evidence: i.Evidence,
			Message: t.Key + ": " + i.Message})
	}
}

// summary describes the header for the FORMAT-SUMMARY finding.
func summary(h *Header, partial bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "GGUF v%d", h.Version)
	if h.BigEndian {
		b.WriteString(" (big-endian)")
	}
	if h.Version == 1 {
		b.WriteString(" (current llama.cpp no longer loads v1)")
	}
	fmt.Fprintf(&b, ", %d tensors, %d metadata entries", h.TensorCount, h.KVCount)
	if h.Architecture != "" {
		fmt.Fprintf(&b, ", architecture %q", h.Architecture)
	}
	if len(h.Templates) == 0 {
		b.WriteString(", no chat template")
	} else {
		keys := make([]string, len(h.Templates))
		for i, t := range h.Templates {
			keys[i] = fmt.Sprintf("%s (%d bytes)", t.Key, t.Size)
		}
		b.WriteString(", chat templates: " + strings.Join(keys, ", "))
	}
	switch {
	case partial:
		b.WriteString("; header not fully read")
	case h.HeaderSize > 0:
		fmt.Fprintf(&b, "; header %d bytes, tensor data not read", h.HeaderSize)
	}
	return b.String()
}
