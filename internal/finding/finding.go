// Package finding defines what every analyser reports: severities, rules and
// findings. It has no I/O so that analysers, policy and report writers can all
// share one vocabulary.
package finding

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Severity orders findings. The meaning of each level is fixed project-wide
// (see the severity table in the README); analysers must not invent their own.
type Severity int

// Severity levels, lowest first so that comparisons read naturally.
const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = [...]string{"info", "low", "medium", "high", "critical"}

// String returns the lower-case name used in JSON and on the command line.
func (s Severity) String() string {
	if s < Info || s > Critical {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity accepts the names printed by String, case-insensitively.
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(s, n) {
			return Severity(i), nil
		}
	}
	return Info, fmt.Errorf("unknown severity %q (want one of %s)", s, strings.Join(severityNames[:], ", "))
}

// MarshalText makes severities render as their names in JSON.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Rule describes one kind of finding. IDs are stable: policies, suppressions
// and dashboards refer to them.
type Rule struct {
	ID          string
	Severity    Severity // the usual severity; a finding may carry another one
	Title       string
	Description string
	Reference   string
}

// NoOffset marks a finding that is not tied to a byte position.
const NoOffset int64 = -1

// Finding is one observation about one file.
type Finding struct {
	RuleID   string
	Severity Severity
	Message  string
	// Member is the chain of archive members or decompressed streams that
	// leads to the finding, joined with "/"; empty for the file itself.
	Member string
	// Offset is the byte offset inside Member (or the file), or NoOffset.
	Offset   int64
	Evidence string
	// Suppression is set when a policy accepted this finding for this exact
	// file; suppressed findings stay in reports but do not fail a scan.
	Suppression *Suppression
}

// Suppression is a reviewed exception, pinned to one file's SHA-256.
type Suppression struct {
	Reason  string
	Owner   string
	Expires string // YYYY-MM-DD; after it the suppression stops applying
}

// Location renders Member and Offset as "member@offset".
func (f Finding) Location() string {
	switch {
	case f.Member == "" && f.Offset == NoOffset:
		return ""
	case f.Offset == NoOffset:
		return f.Member
	default:
		return fmt.Sprintf("%s@%d", f.Member, f.Offset)
	}
}

// Sort orders findings by descending severity, then by location and rule, so
// that output is deterministic and the worst comes first.
func Sort(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if c := cmp.Compare(b.Severity, a.Severity); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Member, b.Member); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Offset, b.Offset); c != 0 {
			return c
		}
		return cmp.Compare(a.RuleID, b.RuleID)
	})
}

// Max returns the highest severity among the findings that are not
// suppressed, and whether there was any.
func Max(fs []Finding) (Severity, bool) {
	m, any := Info, false
	for _, f := range fs {
		if f.Suppression != nil {
			continue
		}
		m, any = max(m, f.Severity), true
	}
	return m, any
}
