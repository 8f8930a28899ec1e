package gguf

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/nikolalohinski/gonja/v2/tokens"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// The lexical scan is the fallback for templates the parser cannot take
// (syntax gonja lacks, nesting over the caps, a parser failure): it finds
// the code regions ({{ }} and {% %}, honouring string literals as Jinja's
// lexer does) and looks in each for the same things the tree walk does,
// without knowing how they combine. It errs on the side of reporting.

// region is the inside of one {{ }} or {% %}.
type region struct{ start, end int }

// codeRegions lists the code regions of a template. Comments are skipped;
// an unclosed tag runs to the end.
func codeRegions(src string) []region {
	var out []region
	for i := 0; i < len(src); {
		j := strings.IndexByte(src[i:], '{')
		if j < 0 {
			break
		}
		j += i
		if j+1 >= len(src) {
			break
		}
		var closer string
		switch src[j+1] {
		case '{':
			closer = "}}"
		case '%':
			closer = "%}"
		case '#':
			if k := strings.Index(src[j+2:], "#}"); k >= 0 {
				i = j + 2 + k + 2
			} else {
				i = len(src)
			}
			continue
		default:
			i = j + 1
			continue
		}
		end := len(src)
		for p := j + 2; p < len(src); p++ {
			if c := src[p]; c == '\'' || c == '"' {
				if _, after, ok := rawString(src, p); ok {
					p = after - 1
					continue
				}
			}
			if strings.HasPrefix(src[p:], closer) {
				end = p
				break
			}
		}
		out = append(out, region{j + 2, end})
		i = end + 2
	}
	return out
}

// lexToken is a token of the lexical scan: an identifier, a string (its
// value decoded) or one punctuation byte.
type lexToken struct {
	kind byte // 'i' identifier, 's' string, 'p' punctuation
	val  string
	pos  int
}

func lexRegion(src string, r region) (toks []lexToken, unknownEscape bool) {
	for p := r.start; p < r.end; {
		c := src[p]
		switch {
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			q := p
			for q < r.end && (src[q] == '_' || src[q] >= 'a' && src[q] <= 'z' || src[q] >= 'A' && src[q] <= 'Z' || src[q] >= '0' && src[q] <= '9') {
				q++
			}
			toks = append(toks, lexToken{'i', src[p:q], p})
			p = q
		case c == '\'' || c == '"':
			body, after, ok := rawString(src, p)
			if !ok || after > r.end {
				body, after = src[p+1:r.end], r.end
			}
			v, unknown := unescapePython(body)
			unknownEscape = unknownEscape || unknown
			toks = append(toks, lexToken{'s', v, p})
			p = after
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			p++
		default:
			toks = append(toks, lexToken{'p', string(c), p})
			p++
		}
	}
	return toks, unknownEscape
}

// lexicalScan reports what the code regions of a template contain.
func lexicalScan(src string) []Issue {
	regions := codeRegions(src)
	bound := boundNames(src, regions)
	var issues []Issue
	for _, r := range regions {
		issues = append(issues, scanRegion(src, r, bound)...)
	}
	return issues
}

// boundNames approximates the names a template binds ({% set x %},
// {% for a, b in %}, macro parameters, {% with x = %}), so that a loop
// variable called g or config is not taken for Flask's global.
func boundNames(src string, regions []region) map[string]bool {
	bound := map[string]bool{}
	for _, r := range regions {
		toks, _ := lexRegion(src, r)
		if len(toks) < 2 || toks[0].kind != 'i' {
			continue
		}
		switch toks[0].val {
		case "set", "for", "with":
			for _, t := range toks[1:] {
				if t.kind == 'p' && (t.val == "=" || t.val == "|") || t.kind == 'i' && t.val == "in" {
					break
				}
				if t.kind == 'i' {
					bound[t.val] = true
				}
			}
		case "macro":
			for i, t := range toks[2:] {
				if t.kind == 'i' && i > 0 && toks[i+1].kind == 'p' && (toks[i+1].val == "(" || toks[i+1].val == ",") {
					bound[t.val] = true
				}
			}
		}
	}
	return bound
}

func scanRegion(src string, r region, bound map[string]bool) []Issue {
	toks, unknownEscape := lexRegion(src, r)
	ev := quote(src, r.start-2, min(r.end+2, len(src)))
	issue := func(sev finding.Severity, msg string) Issue {
		return Issue{Rule: knowledge.RuleGGUFTemplateInjection, Severity: sev, Pos: r.start - 2, Evidence: ev,
			Message: msg + " (lexical scan)"}
	}
	var out []Issue
	if len(toks) > 0 && toks[0].kind == 'i' && slices.Contains([]string{"include", "extends", "import", "from"}, toks[0].val) {
		if len(toks) > 1 && toks[1].kind == 's' {
			sev := finding.Medium
			if isOutsidePath(toks[1].val) {
				sev = finding.High
			}
			out = append(out, issue(sev, fmt.Sprintf("chat template %s %q: with a filesystem loader, a file read while rendering", loadVerbs[toks[0].val], toks[1].val)))
		} else {
			out = append(out, issue(finding.High, fmt.Sprintf("chat template %s a template whose name is computed at render time", loadVerbs[toks[0].val])))
		}
	}
	var internals, gadgets, private, fragments []string
	add := func(list *[]string, s string) {
		if !slices.Contains(*list, s) {
			*list = append(*list, s)
		}
	}
	for i, t := range toks {
		prev := ""
		if i > 0 && toks[i-1].kind == 'p' {
			prev = toks[i-1].val
		}
		next := ""
		if i+1 < len(toks) && toks[i+1].kind == 'p' {
			next = toks[i+1].val
		}
		switch t.kind {
		case 'i':
			switch {
			case isDunder(t.val), prev == "." && (isMangled(t.val) || unsafeAttrs[t.val]):
				add(&internals, t.val)
			case prev == "." && strings.HasPrefix(t.val, "_") && len(t.val) > 1:
				add(&private, t.val)
			case prev == "|" && t.val == "attr" && !(i+2 < len(toks) && toks[i+2].kind == 's'):
				// A constant name is judged as a string below.
				add(&internals, "|attr() with a computed name")
			case prev != "." && gadgetGlobals[t.val] && !bound[t.val] && (next == "." || next == "[" || next == "|"):
				add(&internals, "internals of Jinja's "+t.val)
			}
			if (prev == "." || isDunder(t.val)) && isCritical(t.val) {
				add(&gadgets, t.val)
			}
		case 's':
			for _, d := range dundersIn(t.val) {
				add(&internals, d)
				if isCritical(d) {
					add(&gadgets, d)
				}
			}
			if isFragment(t.val) {
				add(&fragments, t.val)
			}
			if (prev == "[" || prev == "(") && isCritical(t.val) {
				add(&gadgets, t.val)
			}
		}
	}
	switch {
	case len(internals) > 0 && len(gadgets) > 0:
		out = append(out, issue(finding.Critical, fmt.Sprintf("chat template reaches Python internals (%s) and code execution (%s)", strings.Join(internals, ", "), strings.Join(gadgets, ", "))))
	case len(internals) > 0:
		out = append(out, issue(finding.High, fmt.Sprintf("chat template reaches Python internals (%s)", strings.Join(internals, ", "))))
	case len(private) > 0:
		out = append(out, issue(finding.Medium, fmt.Sprintf("chat template reads private attributes (%s)", strings.Join(private, ", "))))
	}
	if len(fragments) > 0 && len(internals) == 0 {
		out = append(out, issue(finding.Medium, fmt.Sprintf("chat template has a string that looks like part of a dunder name (%q)", fragments[0])))
	}
	if unknownEscape {
		out = append(out, issue(finding.Medium, "chat template has a string with a \\N{...} escape this checker cannot resolve"))
	}
	return out
}

// dataAccessRe finds Python-internal access written in template text.
var dataAccessRe = regexp.MustCompile(`(?:\.|\[\s*['"]|\|\s*attr\s*\(\s*['"])\s*__[A-Za-z][A-Za-z0-9_]*__`)

// dataScan looks at the text gonja read as plain output: expression syntax
// reaching internals there means a Jinja implementation that lexes the
// template differently from gonja might run it.
func dataScan(toks []*tokens.Token) []Issue {
	var out []Issue
	for _, t := range toks {
		if t == nil || t.Type != tokens.Data {
			continue
		}
		if loc := dataAccessRe.FindStringIndex(t.Val); loc != nil {
			out = append(out, Issue{Rule: knowledge.RuleGGUFTemplateInjection, Severity: finding.Medium, Pos: t.Pos + loc[0],
				Evidence: quote(t.Val, max(loc[0]-40, 0), min(loc[1]+40, len(t.Val))),
				Message:  "chat template text outside tags is written like an expression reaching Python internals: harmless to gonja, but a Jinja implementation that reads the tags differently could run it"})
		}
	}
	return out
}

func reversed[T any](s []T) []T {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}
