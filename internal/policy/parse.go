package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/modelgate/modelgate/internal/finding"
)

// Error is one problem in a policy file, with its position (1-based; 0 when
// the problem has no single position).
type Error struct {
	Source string
	Line   int
	Column int
	Msg    string
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.Source, e.Line, e.Column, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.Source, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Source, e.Msg)
}

// Errors is every problem found in one policy file, in file order.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// maxErrors caps the problems reported for one file.
const maxErrors = 50

// Parse parses a policy. source names it in error messages and becomes the
// policy's Source. The whole file is checked; the error (of type Errors)
// lists every problem with its line and column.
func Parse(data []byte, source string) (*Policy, error) {
	if source == "" {
		source = "policy"
	}
	ps := &parser{source: source}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	// The document is decoded into a yaml.Node and walked by hand below,
	// so that every unknown key and every bad value is reported with its
	// line and column (a struct decode reports lines only). KnownFields
	// keeps the decoder strict should it ever be given a struct.
	dec.KnownFields(true)
	var doc yaml.Node
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) {
		return nil, Errors{{Source: source, Msg: "empty policy: it needs at least `version: 1` (`modelgate policy init` writes a commented default)"}}
	}
	if err != nil {
		return nil, Errors{ps.yamlError(err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, Errors{ps.yamlError(err)}
		}
		return nil, Errors{{Source: source, Line: extra.Line, Column: extra.Column, Msg: "a policy is one YAML document; found a second one"}}
	}
	p := ps.policy(&doc)
	if len(ps.errs) > 0 {
		return nil, ps.errs
	}
	p.Source = source
	return p, nil
}

type parser struct {
	source string
	errs   Errors
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a syntax error from the YAML library into an Error; the
// library gives a line only.
func (ps *parser) yamlError(err error) *Error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{Source: ps.source, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &Error{Source: ps.source, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

func (ps *parser) errorf(n *yaml.Node, format string, args ...any) {
	if len(ps.errs) >= maxErrors {
		return
	}
	e := &Error{Source: ps.source, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	ps.errs = append(ps.errs, e)
	if len(ps.errs) == maxErrors {
		ps.errs = append(ps.errs, &Error{Source: ps.source, Msg: "too many problems; stopping"})
	}
}

// rejectAliases refuses anchors' aliases anywhere: a policy has no use for
// them, and refusing them keeps the walk below linear in the file.
func (ps *parser) rejectAliases(n *yaml.Node, depth int) {
	if depth > 64 {
		ps.errorf(n, "nested too deeply")
		return
	}
	if n.Kind == yaml.AliasNode {
		ps.errorf(n, "YAML aliases (*%s) are not supported in a policy", n.Value)
		return
	}
	for _, c := range n.Content {
		ps.rejectAliases(c, depth+1)
	}
}

var topKeys = []string{"version", "fail_on", "severity", "allow", "deny", "suppressions", "formats", "limits"}

func (ps *parser) policy(doc *yaml.Node) *Policy {
	p := Default()
	ps.rejectAliases(doc, 0)
	if len(ps.errs) > 0 {
		return p
	}
	root := doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			ps.errorf(root, "empty policy: it needs at least `version: 1`")
			return p
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		ps.errorf(root, "empty policy: it needs at least `version: 1`")
		return p
	}
	sawVersion := false
	ps.mapping(root, "top level", topKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "version":
			sawVersion = true
			n, ok := ps.integer(v, "version")
			if ok && n != Version {
				ps.errorf(v, "version: unsupported policy version %d (this modelgate understands version %d)", n, Version)
			}
		case "fail_on":
			if s, ok := ps.severity(v, "fail_on"); ok {
				p.FailOn = s
			}
		case "severity":
			ps.severities(v, p)
		case "allow":
			ps.allows(v, p)
		case "deny":
			ps.denies(v, p)
		case "suppressions":
			ps.suppressions(v, p)
		case "formats":
			ps.formats(v, p)
		case "limits":
			ps.limits(v, p)
		}
	})
	if !sawVersion && root.Kind == yaml.MappingNode {
		ps.errorf(root, "version: missing; start the file with `version: %d`", Version)
	}
	return p
}

// mapping walks a mapping node, reporting keys that are not strings,
// duplicated, or not in known (with a suggestion).
func (ps *parser) mapping(n *yaml.Node, what string, known []string, fn func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		ps.errorf(n, "%s: want a mapping (key: value lines), found %s", what, describe(n))
		return
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			ps.errorf(k, "%s: keys must be plain names, found %s", what, describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			ps.errorf(k, "%s: duplicate key %q (first at line %d)", what, k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		if known != nil && !slices.Contains(known, k.Value) {
			ps.errorf(k, "%s: unknown key %q%s (known keys: %s)", what, k.Value, suggest(k.Value, known), strings.Join(known, ", "))
			continue
		}
		fn(k.Value, k, v)
	}
}

// sequence walks a sequence node.
func (ps *parser) sequence(n *yaml.Node, what string, fn func(item *yaml.Node)) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // "allow:" with nothing under it
	}
	if n.Kind != yaml.SequenceNode {
		ps.errorf(n, "%s: want a list (lines starting with \"- \"), found %s", what, describe(n))
		return
	}
	for _, c := range n.Content {
		fn(c)
	}
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!str":
			return fmt.Sprintf("the text %q", clip(n.Value))
		case "!!int", "!!float":
			return "the number " + clip(n.Value)
		case "!!bool":
			return "the boolean " + n.Value
		case "!!timestamp":
			return "the date " + n.Value
		}
		return fmt.Sprintf("%s %q", n.ShortTag(), clip(n.Value))
	}
	return "something else"
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// text is a scalar string value; numbers and dates are taken as written.
func (ps *parser) text(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" || n.ShortTag() == "!!binary" {
		ps.errorf(n, "%s: want a text value, found %s", what, describe(n))
		return "", false
	}
	return n.Value, true
}

func (ps *parser) severity(n *yaml.Node, what string) (finding.Severity, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		ps.errorf(n, "%s: want a severity (info, low, medium, high, critical), found %s", what, describe(n))
		return 0, false
	}
	s, err := finding.ParseSeverity(n.Value)
	if err != nil {
		ps.errorf(n, "%s: %v", what, err)
		return 0, false
	}
	return s, true
}

func (ps *parser) boolean(n *yaml.Node, what string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		ps.errorf(n, "%s: want true or false, found %s", what, describe(n))
		return false, false
	}
	return strings.EqualFold(n.Value, "true"), true
}

var wholeNumber = regexp.MustCompile(`^[0-9]+(_[0-9]+)*$`)

func (ps *parser) integer(n *yaml.Node, what string) (int64, bool) {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!str") || !wholeNumber.MatchString(n.Value) {
		ps.errorf(n, "%s: want a whole number (digits, optionally grouped with _), found %s", what, describe(n))
		return 0, false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 10, 64)
	if err != nil {
		ps.errorf(n, "%s: %s is too large", what, clip(n.Value))
		return 0, false
	}
	return v, true
}

var sizePattern = regexp.MustCompile(`^([0-9]+(?:_[0-9]+)*)\s*([A-Za-z]*)$`)

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// size is a byte count: a whole number with an optional unit (B, KB, MB, GB,
// TB in powers of 1000; KiB, MiB, GiB, TiB in powers of 1024).
func (ps *parser) size(n *yaml.Node, what string) (int64, bool) {
	bad := func() (int64, bool) {
		ps.errorf(n, "%s: want a size such as 512MiB, 16GiB or 1000000 (units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), found %s", what, describe(n))
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!str") {
		return bad()
	}
	m := sizePattern.FindStringSubmatch(strings.TrimSpace(n.Value))
	if m == nil {
		return bad()
	}
	unit, ok := sizeUnits[strings.ToLower(m[2])]
	if !ok {
		return bad()
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(m[1], "_", ""), 10, 64)
	if err != nil || v > math.MaxInt64/unit {
		ps.errorf(n, "%s: %s is too large", what, clip(n.Value))
		return 0, false
	}
	return v * unit, true
}

func (ps *parser) date(n *yaml.Node, what string) (string, bool) {
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!timestamp" || n.ShortTag() == "!!str") {
		if t, err := time.Parse(time.DateOnly, n.Value); err == nil {
			return t.Format(time.DateOnly), true
		}
	}
	ps.errorf(n, "%s: want a date written YYYY-MM-DD (for example 2027-03-31), found %s", what, describe(n))
	return "", false
}

var ruleIDPattern = regexp.MustCompile(`^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$`)

func (ps *parser) ruleID(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		ps.errorf(n, "%s: want a rule id such as PICKLE-UNKNOWN-CALL, found %s", what, describe(n))
		return "", false
	}
	id := strings.ToUpper(strings.TrimSpace(n.Value))
	if !ruleIDPattern.MatchString(id) {
		ps.errorf(n, "%s: %q is not a rule id (upper-case words joined by '-', as listed by `modelgate rules`)", what, clip(n.Value))
		return "", false
	}
	return id, true
}

func (ps *parser) severities(n *yaml.Node, p *Policy) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	ps.mapping(n, "severity", nil, func(_ string, k, v *yaml.Node) {
		id, ok := ps.ruleID(k, "severity")
		if !ok {
			return
		}
		if _, dup := p.Severity[id]; dup {
			ps.errorf(k, "severity: %s is overridden twice", id)
			return
		}
		if s, ok := ps.severity(v, "severity."+id); ok {
			p.Severity[id] = s
		}
	})
}

var allowKeys = []string{"global", "calls", "reason"}

func (ps *parser) allows(n *yaml.Node, p *Policy) {
	seen := map[Global]int{}
	ps.sequence(n, "allow", func(item *yaml.Node) {
		a := Allow{Line: item.Line}
		var globalNode *yaml.Node
		ok := true
		ps.mapping(item, "allow entry", allowKeys, func(key string, _, v *yaml.Node) {
			switch key {
			case "global":
				globalNode = v
				g, good := ps.global(v, "allow.global")
				a.Global, ok = g, ok && good
			case "calls":
				c, good := ps.boolean(v, "allow.calls")
				a.Calls, ok = c, ok && good
			case "reason":
				r, good := ps.text(v, "allow.reason")
				a.Reason, ok = strings.TrimSpace(r), ok && good
			}
		})
		if item.Kind != yaml.MappingNode {
			return
		}
		if globalNode == nil {
			ps.errorf(item, "allow entry: missing global (for example `global: mycorp.models.*`)")
			return
		}
		if !ok {
			return
		}
		if a.Calls && a.Global.Name == "" {
			ps.errorf(globalNode, "allow.global: %s with calls: true: only an exact name can be vouched for as safe to call, not a whole module", a.Global)
			return
		}
		if first, dup := seen[a.Global]; dup {
			ps.errorf(globalNode, "allow: %s is listed twice (first at line %d)", a.Global, first)
			return
		}
		seen[a.Global] = item.Line
		p.Allow = append(p.Allow, a)
	})
}

var denyKeys = []string{"global", "severity", "reason"}

func (ps *parser) denies(n *yaml.Node, p *Policy) {
	seen := map[Global]int{}
	ps.sequence(n, "deny", func(item *yaml.Node) {
		d := Deny{Severity: finding.Critical, Line: item.Line}
		var globalNode *yaml.Node
		ok := true
		ps.mapping(item, "deny entry", denyKeys, func(key string, _, v *yaml.Node) {
			switch key {
			case "global":
				globalNode = v
				g, good := ps.global(v, "deny.global")
				d.Global, ok = g, ok && good
			case "severity":
				s, good := ps.severity(v, "deny.severity")
				d.Severity, ok = s, ok && good
			case "reason":
				r, good := ps.text(v, "deny.reason")
				d.Reason, ok = strings.TrimSpace(r), ok && good
			}
		})
		if item.Kind != yaml.MappingNode {
			return
		}
		if globalNode == nil {
			ps.errorf(item, "deny entry: missing global (for example `global: mycorp.legacy.*`)")
			return
		}
		if !ok {
			return
		}
		if first, dup := seen[d.Global]; dup {
			ps.errorf(globalNode, "deny: %s is listed twice (first at line %d)", d.Global, first)
			return
		}
		seen[d.Global] = item.Line
		p.Deny = append(p.Deny, d)
	})
}

var suppressionKeys = []string{"sha256", "rule", "reason", "owner", "expires"}

var sha256Pattern = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

func (ps *parser) suppressions(n *yaml.Node, p *Policy) {
	seen := map[[2]string]int{}
	ps.sequence(n, "suppressions", func(item *yaml.Node) {
		s := Suppression{Line: item.Line}
		got := map[string]bool{}
		ok := true
		ps.mapping(item, "suppression", suppressionKeys, func(key string, _, v *yaml.Node) {
			got[key] = true
			switch key {
			case "sha256":
				h, good := ps.text(v, "suppression.sha256")
				h = strings.TrimPrefix(strings.TrimSpace(h), "sha256:")
				if good && !sha256Pattern.MatchString(h) {
					ps.errorf(v, "suppression.sha256: want the file's SHA-256 as 64 hex digits (as in the JSON report's \"sha256\"), found %s", describe(v))
					good = false
				}
				s.SHA256, ok = strings.ToLower(h), ok && good
			case "rule":
				id, good := ps.ruleID(v, "suppression.rule")
				s.Rule, ok = id, ok && good
			case "reason":
				r, good := ps.text(v, "suppression.reason")
				s.Reason, ok = strings.TrimSpace(r), ok && good
			case "owner":
				o, good := ps.text(v, "suppression.owner")
				s.Owner, ok = strings.TrimSpace(o), ok && good
			case "expires":
				d, good := ps.date(v, "suppression.expires")
				s.Expires, ok = d, ok && good
			}
		})
		if item.Kind != yaml.MappingNode {
			return
		}
		var missing []string
		for _, k := range suppressionKeys {
			if !got[k] {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			ps.errorf(item, "suppression: missing %s (every suppression names the file's sha256, the rule, a reason, an owner and an expiry date)", strings.Join(missing, ", "))
			return
		}
		if !ok {
			return
		}
		if s.Reason == "" || s.Owner == "" {
			ps.errorf(item, "suppression: reason and owner must not be blank")
			return
		}
		key := [2]string{s.SHA256, s.Rule}
		if first, dup := seen[key]; dup {
			ps.errorf(item, "suppression: %s is already suppressed for this sha256 (first at line %d)", s.Rule, first)
			return
		}
		seen[key] = item.Line
		p.Suppressions = append(p.Suppressions, s)
	})
}

var formatIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

func (ps *parser) formats(n *yaml.Node, p *Policy) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	lines := map[string]int{}
	ps.mapping(n, "formats", []string{"enabled", "disabled"}, func(key string, _, v *yaml.Node) {
		ps.sequence(v, "formats."+key, func(item *yaml.Node) {
			f, ok := ps.text(item, "formats."+key)
			if !ok {
				return
			}
			f = strings.ToLower(strings.TrimSpace(f))
			if !formatIDPattern.MatchString(f) {
				ps.errorf(item, "formats.%s: %q is not a format id (as reported in the JSON \"format\" field, e.g. pickle, pytorch-zip)", key, clip(f))
				return
			}
			if first, dup := lines[f]; dup {
				ps.errorf(item, "formats.%s: %s is already listed (line %d)", key, f, first)
				return
			}
			lines[f] = item.Line
			if key == "enabled" {
				p.Formats.Enabled = append(p.Formats.Enabled, f)
			} else {
				p.Formats.Disabled = append(p.Formats.Disabled, f)
			}
		})
	})
	slices.Sort(p.Formats.Enabled)
	slices.Sort(p.Formats.Disabled)
}

var limitKeys = []string{"max_depth", "max_decompressed", "max_total_decompressed", "max_ratio", "max_members", "max_opcodes", "max_findings"}

func (ps *parser) limits(n *yaml.Node, p *Policy) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	ps.mapping(n, "limits", limitKeys, func(key string, _, v *yaml.Node) {
		what := "limits." + key
		var val int64
		var ok bool
		if key == "max_decompressed" || key == "max_total_decompressed" {
			val, ok = ps.size(v, what)
		} else {
			val, ok = ps.integer(v, what)
		}
		if !ok {
			return
		}
		if val <= 0 {
			ps.errorf(v, "%s: must be at least 1", what)
			return
		}
		asInt := func(dst *int, ceiling int64) {
			if val > ceiling {
				ps.errorf(v, "%s: at most %d", what, ceiling)
				return
			}
			*dst = int(val)
		}
		l := &p.Limits
		switch key {
		case "max_depth":
			asInt(&l.MaxDepth, 1000)
		case "max_members":
			asInt(&l.MaxMembers, math.MaxInt32)
		case "max_findings":
			asInt(&l.MaxFindings, math.MaxInt32)
		case "max_decompressed":
			l.MaxDecompressed = val
		case "max_total_decompressed":
			l.MaxTotalDecompressed = val
		case "max_ratio":
			l.MaxRatio = val
		case "max_opcodes":
			l.MaxOpcodes = val
		}
	})
}

// global parses "module.name", "module:qualname" or "module.*". The last
// dot splits module from name; write "module:Outer.Inner" for a nested
// (dotted) name.
func (ps *parser) global(n *yaml.Node, what string) (Global, bool) {
	s, ok := ps.text(n, what)
	if !ok {
		return Global{}, false
	}
	g, err := ParseGlobal(s)
	if err != nil {
		ps.errorf(n, "%s: %v", what, err)
		return Global{}, false
	}
	return g, true
}

// ParseGlobal parses a global pattern as written in a policy:
// "module.name", "module:dotted.qualname", "module.*" (or "module:*").
func ParseGlobal(s string) (Global, error) {
	hint := `write "module.name", "module.*" for a module and its submodules, or "module:Outer.name" for a nested name`
	var mod, name string
	switch {
	case strings.Contains(s, ":"):
		mod, name, _ = strings.Cut(s, ":")
		if name == "*" {
			name = ""
		} else if name == "" {
			return Global{}, fmt.Errorf("%q has nothing after ':'; %s", clip(s), hint)
		}
	case strings.HasSuffix(s, ".*"):
		mod = strings.TrimSuffix(s, ".*")
	default:
		i := strings.LastIndexByte(s, '.')
		if i < 0 {
			return Global{}, fmt.Errorf("%q names a module, not a global; %s", clip(s), hint)
		}
		mod, name = s[:i], s[i+1:]
	}
	if strings.Contains(mod, "*") || strings.Contains(name, "*") {
		return Global{}, fmt.Errorf("%q: '*' is only allowed as the whole name (\"module.*\"); %s", clip(s), hint)
	}
	if !dottedIdentifiers(mod) {
		return Global{}, fmt.Errorf("%q: module %q is not a dotted Python name; %s", clip(s), clip(mod), hint)
	}
	if name != "" && !dottedIdentifiers(name) {
		return Global{}, fmt.Errorf("%q: name %q is not a Python name; %s", clip(s), clip(name), hint)
	}
	return Global{Module: mod, Name: name}, nil
}

func dottedIdentifiers(s string) bool {
	if s == "" {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" {
			return false
		}
		for i, r := range part {
			if !(r == '_' || unicode.IsLetter(r) || i > 0 && unicode.IsDigit(r)) {
				return false
			}
		}
	}
	return true
}

// suggest returns ` (did you mean "x"?)` for a near miss among known.
func suggest(got string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(got), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
