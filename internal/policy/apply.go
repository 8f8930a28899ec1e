package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/report"
)

// Apply enforces the policy on a scan's document; call it once per
// document, after the scan and before writing the report.
//
//   - doc.FailOn, doc.PolicyHash and doc.PolicySource are set.
//   - A file whose format is disabled loses its findings and gets the error
//     "format X disabled by policy: not analysed" (so it is incomplete, never
//     silently passed).
//   - Every finding of a rule with a severity override gets that severity
//     (the message notes the change).
//   - A finding whose file SHA-256 and rule id match a suppression that has
//     not expired at now gets Finding.Suppression. A suppression that has
//     expired but would have matched leaves the findings as they are and adds
//     one POLICY-SUPPRESSION-EXPIRED finding to the file. Suppressions that
//     match no file are not an error: one policy covers many repositories.
//
// Files without a SHA-256 (scanned with --no-sha256) match no suppression.
func (p *Policy) Apply(doc *report.Document, now time.Time) {
	doc.FailOn = p.FailOn
	doc.PolicyHash = p.Hash()
	doc.PolicySource = p.Source
	bySHA := map[string][]*Suppression{}
	for i := range p.Suppressions {
		s := &p.Suppressions[i]
		bySHA[s.SHA256] = append(bySHA[s.SHA256], s)
	}
	for i := range doc.Files {
		f := &doc.Files[i]
		if !p.FormatEnabled(f.Format) {
			// The engine already refuses disabled formats at every level;
			// this covers documents built without it.
			msg := fmt.Sprintf("format %s disabled by policy: not analysed", f.Format)
			f.Findings = nil
			if !slices.Contains(f.Errors, msg) {
				f.Errors = append(f.Errors, msg)
			}
			continue
		}
		var sups []*Suppression
		if f.SHA256 != "" {
			sups = bySHA[strings.ToLower(f.SHA256)]
		}
		for _, s := range sups {
			if s.Expired(now) && hasRule(f.Findings, s.Rule) {
				f.Findings = append(f.Findings, expiredFinding(s, p.Source))
			}
		}
		for j := range f.Findings {
			x := &f.Findings[j]
			if sev, ok := p.Severity[x.RuleID]; ok && sev != x.Severity {
				x.Message += fmt.Sprintf(" (severity %s by policy; was %s)", sev, x.Severity)
				x.Severity = sev
			}
			for _, s := range sups {
				if s.Rule == x.RuleID && !s.Expired(now) {
					x.Suppression = &finding.Suppression{Reason: s.Reason, Owner: s.Owner, Expires: s.Expires}
					break
				}
			}
		}
		finding.Sort(f.Findings)
	}
}

func hasRule(fs []finding.Finding, id string) bool {
	for _, f := range fs {
		if f.RuleID == id {
			return true
		}
	}
	return false
}

func expiredFinding(s *Suppression, source string) finding.Finding {
	where := source
	if s.Line > 0 {
		where = fmt.Sprintf("%s:%d", source, s.Line)
	}
	return finding.Finding{
		RuleID:   knowledge.RulePolicySuppressionExpired,
		Severity: finding.Medium,
		Message: fmt.Sprintf("the suppression of %s for this file (%s, owner %s: %q) expired on %s; its findings count again",
			s.Rule, where, s.Owner, s.Reason, s.Expires),
		Offset: finding.NoOffset,
	}
}
