package gguf

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// Bounds on parsing a template. gonja's parser recurses once per nesting
// level and Go cannot recover from a stack overflow, so nesting is measured
// on the tokens first and a template nested deeper than any real one is
// scanned lexically instead of parsed.
const (
	// maxExprDepth caps brackets nested inside one tag.
	maxExprDepth = 64
	// maxBlockDepth caps block tags nested inside each other.
	maxBlockDepth = 64
	// maxIssues caps the issues reported for one template.
	maxIssues = 50
	// maxEvidence caps the quoted template text of one issue.
	maxEvidence = 200
)

// Issue is one problem found in a chat template.
type Issue struct {
	Rule     string // knowledge.RuleGGUFTemplateInjection or knowledge.RuleGGUFTemplateUnparsable
	Severity finding.Severity
	Message  string
	Evidence string // the offending template text, shortened
	// Pos is the byte offset of the offending text in the template as
	// given, or -1.
	Pos int
}

// CheckTemplate looks for server-side template injection in a Jinja chat
// template (CVE-2024-34359): expressions that climb from template values to
// Python internals (__class__, __globals__, ...), internals of Jinja's
// globals (cycler, joiner, namespace, lipsum), attribute names built at
// render time, and loads of other templates or files. The template is
// parsed, never rendered; the parser is given a loader that refuses every
// read, and our own tags for extends/include/import never call it. A
// template that cannot be parsed is reported as such and scanned
// lexically. CheckTemplate never panics.
func CheckTemplate(text string) []Issue {
	return checkTemplate(text, refusingLoader{})
}

// checkTemplate is CheckTemplate with the loader given to the parser (the
// tests pass one that records calls).
func checkTemplate(text string, loader loaders.Loader) (issues []Issue) {
	norm, removed := normalizeNewlines(text)
	defer func() {
		if r := recover(); r != nil {
			// A bug in our walker or in gonja: what was found stays, and the
			// lexical scan covers the rest.
			issues = append(issues, Issue{Rule: knowledge.RuleGGUFTemplateUnparsable, Severity: finding.Medium, Pos: -1,
				Message: fmt.Sprintf("chat template could not be checked (internal error: %v); scanned lexically", r)})
			issues = mergeIssues(issues, lexicalScan(norm))
		}
		issues = finishIssues(issues, removed)
	}()
	toks, tpl, err := parseTemplate(norm, loader)
	if err != nil {
		return append([]Issue{unparsable(err)}, lexicalScan(norm)...)
	}
	a := newAnalysis(norm)
	a.run(tpl)
	issues = a.issues
	if a.incomplete {
		issues = mergeIssues(issues, lexicalScan(norm))
	}
	return mergeIssues(issues, dataScan(toks))
}

// unparsable reports a template gonja could not parse. jinja2 may still
// render it, so the lexical scan runs too.
func unparsable(err error) Issue {
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return Issue{Rule: knowledge.RuleGGUFTemplateUnparsable, Severity: finding.Medium, Pos: -1,
		Message: "chat template could not be parsed, so it was only scanned lexically: " + msg}
}

// parseTemplate lexes and parses a template with our tag set. gonja may
// panic on odd input; that becomes an error.
func parseTemplate(src string, loader loaders.Loader) (toks []*tokens.Token, tpl *nodes.Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			tpl, err = nil, fmt.Errorf("parser failed: %v", r)
		}
	}()
	cfg := config.New()
	// KeepTrailingNewline stops gonja from trimming the source, so token
	// positions stay positions in src.
	cfg.KeepTrailingNewline = true
	stream := tokens.LexAll(src, cfg)
	for {
		t := stream.Current()
		if t == nil {
			break
		}
		toks = append(toks, t)
		if t.Type == tokens.Error {
			return toks, nil, fmt.Errorf("line %d column %d: %s", t.Line, t.Col, t.Val)
		}
		if t.Type == tokens.EOF {
			break
		}
		stream.Next()
	}
	if err := checkNesting(toks); err != nil {
		return toks, nil, err
	}
	p := parser.NewParser("chat_template", tokens.NewStream(slices.Clone(toks)), cfg, loader, templateTags)
	tpl, err = p.Parse()
	return toks, tpl, err
}

// blockOpeners are the tags closed by a matching end tag.
var blockOpeners = map[string]bool{
	"if": true, "for": true, "macro": true, "call": true, "filter": true, "with": true, "block": true,
	"autoescape": true, "trans": true, "raw": true, "generation": true, "set": true,
}

// checkNesting refuses token streams nested deeper than the parser can
// take without risking a stack overflow.
func checkNesting(toks []*tokens.Token) error {
	expr, block := 0, 0
	for i, t := range toks {
		switch t.Type {
		case tokens.LeftParenthesis, tokens.LeftBracket, tokens.LeftBrace:
			if expr++; expr > maxExprDepth {
				return fmt.Errorf("line %d: brackets nested deeper than %d", t.Line, maxExprDepth)
			}
		case tokens.RightParenthesis, tokens.RightBracket, tokens.RightBrace:
			expr = max(expr-1, 0)
		case tokens.VariableBegin, tokens.VariableEnd, tokens.BlockEnd:
			expr = 0
		case tokens.BlockBegin:
			expr = 0
			if i+1 >= len(toks) || toks[i+1].Type != tokens.Name {
				continue
			}
			name := toks[i+1].Val
			switch {
			case strings.HasPrefix(name, "end"):
				block = max(block-1, 0)
			case blockOpeners[name] && (name != "set" || !hasAssign(toks[i+1:])):
				if block++; block > maxBlockDepth {
					return fmt.Errorf("line %d: block tags nested deeper than %d", t.Line, maxBlockDepth)
				}
			}
		}
	}
	return nil
}

// hasAssign reports whether the tag starting at toks has an '=' (a set
// with a value, not a block set).
func hasAssign(toks []*tokens.Token) bool {
	for _, t := range toks {
		switch t.Type {
		case tokens.Assign:
			return true
		case tokens.BlockEnd, tokens.EOF:
			return false
		}
	}
	return false
}

// refusingLoader is the only loader the parser gets. gonja's default loader
// reads files from disk for {% extends %} while parsing; ours refuses every
// read, resolve and inherit, so no template can make the scanner read a
// file. (Our extends/include/import tags do not call the loader at all;
// this is the second line.)
type refusingLoader struct{}

var errNoLoad = errors.New("loading other templates is disabled: the template is only parsed, never rendered")

// Read implements loaders.Loader.
func (refusingLoader) Read(string) (io.Reader, error) { return nil, errNoLoad }

// Resolve implements loaders.Loader.
func (refusingLoader) Resolve(string) (string, error) { return "", errNoLoad }

// Inherit implements loaders.Loader.
func (refusingLoader) Inherit(string) (loaders.Loader, error) { return nil, errNoLoad }

// normalizeNewlines turns \r\n and \r into \n as Jinja does, so that
// template positions match the lexer's; removed lists the positions (in
// the result) where a \r was dropped, to map positions back.
func normalizeNewlines(s string) (string, []int) {
	if !strings.Contains(s, "\r") {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	var removed []int
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n':
			removed = append(removed, b.Len())
		case s[i] == '\r':
			b.WriteByte('\n')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), removed
}

// originalPos maps a position in the normalized template back to the
// template as given.
func originalPos(pos int, removed []int) int {
	if pos < 0 {
		return pos
	}
	n, _ := slices.BinarySearch(removed, pos+1)
	return pos + n
}

// mergeIssues appends extra to issues, leaving out any that repeat an
// issue already there (same severity and evidence).
func mergeIssues(issues, extra []Issue) []Issue {
	for _, e := range extra {
		dup := slices.ContainsFunc(issues, func(i Issue) bool {
			return i.Rule == e.Rule && i.Evidence == e.Evidence && (i.Severity >= e.Severity || i.Pos == e.Pos)
		})
		if !dup {
			issues = append(issues, e)
		}
	}
	return issues
}

// finishIssues maps positions back, orders by position and caps the count.
func finishIssues(issues []Issue, removed []int) []Issue {
	for i := range issues {
		issues[i].Pos = originalPos(issues[i].Pos, removed)
	}
	slices.SortStableFunc(issues, func(a, b Issue) int { return a.Pos - b.Pos })
	if len(issues) > maxIssues {
		worst := slices.MaxFunc(issues[maxIssues:], func(a, b Issue) int { return int(a.Severity - b.Severity) })
		n := len(issues) - maxIssues
		issues = append(issues[:maxIssues:maxIssues], Issue{Rule: worst.Rule, Severity: worst.Severity, Pos: -1,
			Message: fmt.Sprintf("%d more issues in this chat template not listed (the worst is %s)", n, worst.Severity)})
	}
	return issues
}

// quote returns the template text in [start, end), whitespace collapsed and
// shortened to maxEvidence bytes.
func quote(src string, start, end int) string {
	start, end = max(start, 0), min(end, len(src))
	if start >= end {
		return ""
	}
	s := strings.Join(strings.Fields(src[start:end]), " ")
	if len(s) > maxEvidence {
		cut := maxEvidence
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
