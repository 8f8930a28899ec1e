// Package policy is an organisation's rule for modelgate, read from a YAML
// file (modelgate.yaml): the severity threshold, per-rule severity
// overrides, extra allowed and denied globals, suppressions pinned to one
// file's SHA-256 and one rule, enabled and disabled formats, and the limits
// budget. The same package serves the CLI and the gate.
//
// A Policy is always the effective policy: defaults are filled in and lists
// are sorted when it is parsed, so two files that say the same thing in a
// different order or with different comments have the same Hash.
package policy

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// Version is the policy schema version this package understands.
const Version = 1

// DefaultSource is the Source of the built-in default policy.
const DefaultSource = "built-in default"

// FileNames are the names Find looks for, in order of preference.
var FileNames = []string{"modelgate.yaml", ".modelgate.yaml"}

// maxFileSize caps what Load reads: a policy is a short text file.
const maxFileSize = 4 << 20

// Policy is the effective policy. Fields may be read freely; a caller that
// changes one (the CLI applying --fail-on) changes the effective policy, and
// Hash follows.
type Policy struct {
	// Source is the file the policy came from, or DefaultSource. It is not
	// part of the hash.
	Source string
	// FailOn is the threshold: a finding at or above it fails the scan.
	FailOn finding.Severity
	// Severity overrides the severity of every finding of a rule, by rule id.
	Severity map[string]finding.Severity
	// Allow and Deny extend the built-in catalogue (see Catalogue).
	Allow []Allow
	Deny  []Deny
	// Suppressions accept one rule's findings for one exact file.
	Suppressions []Suppression
	Formats      Formats
	Limits       Limits
}

// Global is a module/name pattern: Name empty means the whole module and its
// submodules (written "module.*").
type Global struct {
	Module string
	Name   string
}

// String renders the pattern as it is written in a policy.
func (g Global) String() string {
	if g.Name == "" {
		return g.Module + ".*"
	}
	if strings.Contains(g.Name, ".") {
		return g.Module + ":" + g.Name
	}
	return g.Module + "." + g.Name
}

// Allow vouches for a global the built-in catalogue does not know.
type Allow struct {
	Global Global
	// Calls: calling the global at load time is safe (exact names only).
	// Without it only instantiation and BUILD are safe.
	Calls  bool
	Reason string
	Line   int // position in the policy file (0 when not from a file)
}

// Deny marks a global (or a whole module) as dangerous.
type Deny struct {
	Global   Global
	Severity finding.Severity // default critical
	Reason   string
	Line     int
}

// Suppression accepts the findings of one rule in one exact file.
type Suppression struct {
	SHA256  string // lower-case hex
	Rule    string
	Reason  string
	Owner   string
	Expires string // YYYY-MM-DD, inclusive (valid through that day, UTC)
	Line    int
}

// Expired reports whether the suppression no longer applies at now: it is
// valid through its expiry date, in UTC.
func (s *Suppression) Expired(now time.Time) bool {
	return now.UTC().Format(time.DateOnly) > s.Expires
}

// Formats enables and disables format ids (as reported in the JSON "format"
// field). Enabled empty means every format; Disabled wins.
type Formats struct {
	Enabled  []string
	Disabled []string
}

// Limits is the policy's view of analyzer.Limits.
type Limits struct {
	MaxDepth             int
	MaxDecompressed      int64
	MaxTotalDecompressed int64
	MaxRatio             int64
	MaxMembers           int
	MaxOpcodes           int64
	MaxFindings          int
}

func defaultLimits() Limits {
	d := analyzer.DefaultLimits()
	return Limits{
		MaxDepth:             d.MaxDepth,
		MaxDecompressed:      d.MaxDecompressed,
		MaxTotalDecompressed: d.MaxTotalDecompressed,
		MaxRatio:             d.MaxRatio,
		MaxMembers:           d.MaxMembers,
		MaxOpcodes:           d.Pickle.MaxOpcodes,
		MaxFindings:          d.MaxFindings,
	}
}

// Default returns the built-in policy: fail on high, nothing added,
// suppressed or disabled, default limits.
func Default() *Policy {
	return &Policy{
		Source:   DefaultSource,
		FailOn:   finding.High,
		Severity: map[string]finding.Severity{},
		Limits:   defaultLimits(),
	}
}

// Find returns the policy file in dir (modelgate.yaml, else
// .modelgate.yaml), if there is one.
func Find(dir string) (path string, ok bool) {
	for _, n := range FileNames {
		p := filepath.Join(dir, n)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, true
		}
	}
	return "", false
}

// Load reads and parses a policy file.
func Load(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes; not a policy file", path, maxFileSize)
	}
	return Parse(data, path)
}

// Threshold is the fail_on severity.
func (p *Policy) Threshold() finding.Severity { return p.FailOn }

// FormatEnabled reports whether files of the format are analysed. The
// pseudo-formats "", "empty" and "unknown" are always enabled: they already
// say that nothing was (or needed to be) analysed.
func (p *Policy) FormatEnabled(format string) bool {
	format = strings.ToLower(format)
	switch format {
	case "", "empty", "unknown":
		return true
	}
	if slices.Contains(p.Formats.Disabled, format) {
		return false
	}
	return len(p.Formats.Enabled) == 0 || slices.Contains(p.Formats.Enabled, format)
}

// ApplyLimits writes the policy's budgets into lim, and its catalogue
// additions into lim.Catalogue (nil when the policy adds nothing).
func (p *Policy) ApplyLimits(lim *analyzer.Limits) {
	l := p.Limits
	lim.MaxDepth = l.MaxDepth
	lim.MaxDecompressed = l.MaxDecompressed
	lim.MaxTotalDecompressed = l.MaxTotalDecompressed
	lim.MaxRatio = l.MaxRatio
	lim.MaxMembers = l.MaxMembers
	lim.Pickle.MaxOpcodes = l.MaxOpcodes
	lim.MaxFindings = l.MaxFindings
	lim.Catalogue = p.Catalogue()
}

// Catalogue returns the built-in catalogue with the policy's allow and deny
// entries, or nil (the built-in tables alone) when there are none. Deny
// entries win over everything; allow entries only decide globals the
// built-in tables know nothing about.
func (p *Policy) Catalogue() *knowledge.Catalogue {
	if len(p.Allow) == 0 && len(p.Deny) == 0 {
		return nil
	}
	c := &knowledge.Catalogue{}
	for _, d := range p.Deny {
		why := d.Reason
		if why == "" {
			why = "denied by policy"
		}
		c.Deny = append(c.Deny, knowledge.Danger{Module: d.Global.Module, Name: d.Global.Name, Severity: d.Severity,
			Category: "policy", Why: why, Ref: "policy"})
	}
	for _, a := range p.Allow {
		why := a.Reason
		if why == "" {
			why = "allowed by policy"
		}
		c.Allow = append(c.Allow, knowledge.SafeGlobal{Module: a.Global.Module, Name: a.Global.Name, Calls: a.Calls, Why: why})
	}
	return c
}

// NeedsDigest reports whether the policy can only be applied to files whose
// SHA-256 is known (it has suppressions): a scan without digests would
// silently ignore them.
func (p *Policy) NeedsDigest() bool { return len(p.Suppressions) > 0 }

// canonical is the serialisation the hash is computed over. Its field order
// is fixed; every list is sorted; positions and the source are left out.
type canonical struct {
	Schema       string            `json:"schema"`
	FailOn       string            `json:"fail_on"`
	Severity     [][2]string       `json:"severity"`
	Allow        []canonicalAllow  `json:"allow"`
	Deny         []canonicalDeny   `json:"deny"`
	Suppressions []canonicalSuppr  `json:"suppressions"`
	Formats      canonicalFormats  `json:"formats"`
	Limits       map[string]string `json:"limits"`
}

type canonicalAllow struct {
	Global string `json:"global"`
	Calls  bool   `json:"calls"`
	Reason string `json:"reason"`
}

type canonicalDeny struct {
	Global   string `json:"global"`
	Severity string `json:"severity"`
	Reason   string `json:"reason"`
}

type canonicalSuppr struct {
	SHA256  string `json:"sha256"`
	Rule    string `json:"rule"`
	Reason  string `json:"reason"`
	Owner   string `json:"owner"`
	Expires string `json:"expires"`
}

type canonicalFormats struct {
	Enabled  []string `json:"enabled"`
	Disabled []string `json:"disabled"`
}

// Canonical returns the canonical serialisation of the effective policy
// (compact JSON), the bytes Hash is computed over.
func (p *Policy) Canonical() []byte {
	c := canonical{
		Schema:       fmt.Sprintf("modelgate-policy/%d", Version),
		FailOn:       p.FailOn.String(),
		Severity:     [][2]string{},
		Allow:        []canonicalAllow{},
		Deny:         []canonicalDeny{},
		Suppressions: []canonicalSuppr{},
		Formats:      canonicalFormats{Enabled: sortedLower(p.Formats.Enabled), Disabled: sortedLower(p.Formats.Disabled)},
	}
	for id, s := range p.Severity {
		c.Severity = append(c.Severity, [2]string{id, s.String()})
	}
	slices.SortFunc(c.Severity, func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	for _, a := range p.Allow {
		c.Allow = append(c.Allow, canonicalAllow{Global: a.Global.String(), Calls: a.Calls, Reason: a.Reason})
	}
	slices.SortFunc(c.Allow, func(a, b canonicalAllow) int {
		return cmp.Or(cmp.Compare(a.Global, b.Global), boolCmp(a.Calls, b.Calls), cmp.Compare(a.Reason, b.Reason))
	})
	for _, d := range p.Deny {
		c.Deny = append(c.Deny, canonicalDeny{Global: d.Global.String(), Severity: d.Severity.String(), Reason: d.Reason})
	}
	slices.SortFunc(c.Deny, func(a, b canonicalDeny) int {
		return cmp.Or(cmp.Compare(a.Global, b.Global), cmp.Compare(a.Severity, b.Severity), cmp.Compare(a.Reason, b.Reason))
	})
	for _, s := range p.Suppressions {
		c.Suppressions = append(c.Suppressions, canonicalSuppr{SHA256: strings.ToLower(s.SHA256), Rule: s.Rule,
			Reason: s.Reason, Owner: s.Owner, Expires: s.Expires})
	}
	slices.SortFunc(c.Suppressions, func(a, b canonicalSuppr) int {
		return cmp.Or(cmp.Compare(a.SHA256, b.SHA256), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Expires, b.Expires),
			cmp.Compare(a.Owner, b.Owner), cmp.Compare(a.Reason, b.Reason))
	})
	l := p.Limits
	// Decimal strings: JSON numbers are not a safe carrier for int64.
	c.Limits = map[string]string{ // encoding/json sorts map keys
		"max_depth":              fmt.Sprint(l.MaxDepth),
		"max_decompressed":       fmt.Sprint(l.MaxDecompressed),
		"max_total_decompressed": fmt.Sprint(l.MaxTotalDecompressed),
		"max_ratio":              fmt.Sprint(l.MaxRatio),
		"max_members":            fmt.Sprint(l.MaxMembers),
		"max_opcodes":            fmt.Sprint(l.MaxOpcodes),
		"max_findings":           fmt.Sprint(l.MaxFindings),
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // plain strings, slices and maps: cannot fail
	}
	return b
}

// Hash is the hex SHA-256 of Canonical: policies that say the same thing
// hash the same, however they are written.
func (p *Policy) Hash() string {
	sum := sha256.Sum256(p.Canonical())
	return hex.EncodeToString(sum[:])
}

func sortedLower(list []string) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		out = append(out, strings.ToLower(s))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	default:
		return 1
	}
}
