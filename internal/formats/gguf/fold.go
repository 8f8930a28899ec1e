package gguf

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// Constant folding: the string values an expression can have when they
// follow from the template alone ('__cla' ~ 'ss__', "%c%c"|format(95, 95),
// ['__', 'class', '__']|join, a variable set to a constant). Attribute
// names built this way are checked like literal ones. Folding is bounded:
// at most maxFolded values of at most maxFoldLen bytes each.
const (
	maxFolded  = 16
	maxFoldLen = 4096
	maxRepeat  = 64
)

// fold returns the string values e may have, or false when they do not
// follow from constants.
func (a *analysis) fold(e nodes.Node) ([]string, bool) {
	if a.depth >= maxWalkDepth {
		a.incomplete = true
		return nil, false
	}
	a.depth++
	defer func() { a.depth-- }()
	// Composite expressions are folded once per walk: a chain of a ~ b ~ c
	// is walked level by level, and without the memo each level would fold
	// everything below it again.
	switch e.(type) {
	case *nodes.BinaryExpression, *nodes.FilteredExpression, *nodes.Call:
		if r, ok := a.foldMemo[e]; ok {
			return r, r != nil
		}
		vals, ok := a.foldOnce(e)
		if !ok || len(vals) == 0 {
			vals, ok = nil, false
		}
		a.foldMemo[e] = vals
		return vals, ok
	}
	return a.foldOnce(e)
}

func (a *analysis) foldOnce(e nodes.Node) ([]string, bool) {
	switch n := e.(type) {
	case *nodes.String:
		if n == nil || n.Location == nil {
			return nil, false
		}
		return []string{a.strVal(n)}, true
	case *nodes.Name:
		if n == nil || n.Name == nil {
			return nil, false
		}
		v := a.consts[n.Name.Val]
		return v, len(v) > 0
	case *nodes.GetAttribute:
		if n == nil {
			return nil, false
		}
		if base, ok := n.Node.(*nodes.Name); ok && base != nil && base.Name != nil && n.Attribute != "" {
			v := a.consts[base.Name.Val+"."+n.Attribute]
			return v, len(v) > 0
		}
	case *nodes.BinaryExpression:
		if n == nil || n.Operator == nil || n.Operator.Token == nil {
			return nil, false
		}
		return a.foldBinary(n)
	case *nodes.FilteredExpression:
		if n == nil {
			return nil, false
		}
		return a.foldFiltered(n)
	case *nodes.Call:
		if n == nil {
			return nil, false
		}
		return a.foldMethod(n)
	}
	return nil, false
}

// foldOperand is fold for an operand of ~ or %, where numbers and booleans
// become text.
func (a *analysis) foldOperand(e nodes.Node) ([]string, bool) {
	switch n := e.(type) {
	case *nodes.Integer:
		if n != nil {
			return []string{strconv.Itoa(n.Val)}, true
		}
	case *nodes.Bool:
		if n != nil {
			return []string{map[bool]string{true: "True", false: "False"}[n.Val]}, true
		}
	}
	return a.fold(e)
}

func (a *analysis) foldBinary(n *nodes.BinaryExpression) ([]string, bool) {
	switch n.Operator.Token.Val {
	case "~":
		l, ok1 := a.foldOperand(n.Left)
		r, ok2 := a.foldOperand(n.Right)
		return product(l, r), ok1 && ok2
	case "+":
		l, ok1 := a.fold(n.Left)
		r, ok2 := a.fold(n.Right)
		return product(l, r), ok1 && ok2
	case "*":
		l, ok := a.fold(n.Left)
		k, isInt := n.Right.(*nodes.Integer)
		if !ok || !isInt || k == nil || k.Val < 0 || k.Val > maxRepeat {
			return nil, false
		}
		var out []string
		for _, s := range l {
			if len(s)*k.Val <= maxFoldLen {
				out = append(out, strings.Repeat(s, k.Val))
			}
		}
		return out, len(out) > 0
	case "%":
		format, ok := a.fold(n.Left)
		if !ok {
			return nil, false
		}
		var args []nodes.Expression
		switch r := n.Right.(type) {
		case *nodes.Tuple:
			if r != nil {
				args = r.Val
			}
		case *nodes.List:
			if r != nil {
				args = r.Val
			}
		default:
			args = []nodes.Expression{n.Right}
		}
		return a.percent(format, args)
	}
	return nil, false
}

// foldFiltered folds string filters applied to a constant, and join over a
// list of constants.
func (a *analysis) foldFiltered(n *nodes.FilteredExpression) ([]string, bool) {
	filters := n.Filters
	var vals []string
	if list := listElems(n.Expression); list != nil && len(filters) > 0 && filters[0] != nil && filters[0].Name == "join" {
		parts := make([][]string, 0, len(list))
		for _, e := range list {
			v, ok := a.foldOperand(e)
			if !ok {
				return nil, false
			}
			parts = append(parts, v)
		}
		sep := []string{""}
		if len(filters[0].Args) > 0 {
			s, ok := a.fold(filters[0].Args[0])
			if !ok {
				return nil, false
			}
			sep = s
		}
		vals = joinAll(parts, sep)
		filters = filters[1:]
	} else {
		v, ok := a.fold(n.Expression)
		if !ok {
			return nil, false
		}
		vals = v
	}
	for _, f := range filters {
		if f == nil {
			return nil, false
		}
		var ok bool
		if vals, ok = a.applyFilter(f, vals); !ok {
			return nil, false
		}
	}
	return vals, len(vals) > 0
}

// applyFilter applies one string filter to every value.
func (a *analysis) applyFilter(f *nodes.FilterCall, vals []string) ([]string, bool) {
	arg := func(i int) ([]string, bool) {
		if i >= len(f.Args) {
			return nil, false
		}
		return a.fold(f.Args[i])
	}
	switch f.Name {
	case "string", "list", "join", "safe", "e", "escape":
		// Iterating a string and joining it again gives the string.
		return vals, true
	case "lower":
		return mapStrings(vals, strings.ToLower), true
	case "upper":
		return mapStrings(vals, strings.ToUpper), true
	case "trim":
		return mapStrings(vals, strings.TrimSpace), true
	case "reverse":
		return mapStrings(vals, reverseString), true
	case "first":
		return mapStrings(vals, func(s string) string { _, n := utf8.DecodeRuneInString(s); return s[:n] }), true
	case "last":
		return mapStrings(vals, func(s string) string { _, n := utf8.DecodeLastRuneInString(s); return s[len(s)-n:] }), true
	case "replace":
		old, ok1 := arg(0)
		repl, ok2 := arg(1)
		if !ok1 || !ok2 || len(old) != 1 || len(repl) != 1 {
			return nil, false
		}
		return mapStrings(vals, func(s string) string { return strings.ReplaceAll(s, old[0], repl[0]) }), true
	case "format":
		var out []string
		for _, v := range vals {
			r, ok := a.percent([]string{v}, f.Args)
			if !ok {
				return nil, false
			}
			out = append(out, r...)
		}
		return out, true
	}
	return nil, false
}

// foldMethod folds str methods called on a constant: join, format,
// replace, lower, upper, strip.
func (a *analysis) foldMethod(n *nodes.Call) ([]string, bool) {
	m, ok := n.Func.(*nodes.GetAttribute)
	if !ok || m == nil {
		return nil, false
	}
	recv, ok := a.fold(m.Node)
	if !ok {
		return nil, false
	}
	switch m.Attribute {
	case "lower":
		return mapStrings(recv, strings.ToLower), true
	case "upper":
		return mapStrings(recv, strings.ToUpper), true
	case "strip":
		if len(n.Args) == 0 {
			return mapStrings(recv, strings.TrimSpace), true
		}
	case "join":
		if len(n.Args) != 1 {
			return nil, false
		}
		list := listElems(n.Args[0])
		if list == nil {
			return nil, false
		}
		parts := make([][]string, 0, len(list))
		for _, e := range list {
			v, ok := a.fold(e)
			if !ok {
				return nil, false
			}
			parts = append(parts, v)
		}
		return joinAll(parts, recv), true
	case "replace":
		if len(n.Args) < 2 {
			return nil, false
		}
		old, ok1 := a.fold(n.Args[0])
		repl, ok2 := a.fold(n.Args[1])
		if !ok1 || !ok2 || len(old) != 1 || len(repl) != 1 {
			return nil, false
		}
		return mapStrings(recv, func(s string) string { return strings.ReplaceAll(s, old[0], repl[0]) }), true
	case "format":
		var args [][]string
		for _, e := range n.Args {
			v, ok := a.foldOperand(e)
			if !ok {
				return nil, false
			}
			args = append(args, v)
		}
		var out []string
		for _, f := range recv {
			s, ok := braceFormat(f, args)
			if !ok {
				return nil, false
			}
			out = append(out, s...)
		}
		return capFolded(out), true
	}
	return nil, false
}

// percent folds Python %-formatting ("%c%cclass%c%c" % (95, 95, 95, 95)):
// %s, %d, %i, %c and %% with constant arguments.
func (a *analysis) percent(formats []string, args []nodes.Expression) ([]string, bool) {
	type arg struct {
		s     string
		n     int
		isInt bool
	}
	vals := make([]arg, 0, len(args))
	for _, e := range args {
		if i, ok := e.(*nodes.Integer); ok && i != nil {
			vals = append(vals, arg{s: strconv.Itoa(i.Val), n: i.Val, isInt: true})
			continue
		}
		v, ok := a.fold(e)
		if !ok || len(v) != 1 {
			return nil, false
		}
		vals = append(vals, arg{s: v[0]})
	}
	var out []string
	for _, f := range formats {
		var b strings.Builder
		next := 0
		for i := 0; i < len(f); i++ {
			if f[i] != '%' {
				b.WriteByte(f[i])
				continue
			}
			if i+1 >= len(f) {
				return nil, false
			}
			i++
			if f[i] == '%' {
				b.WriteByte('%')
				continue
			}
			if next >= len(vals) {
				return nil, false
			}
			v := vals[next]
			next++
			switch f[i] {
			case 's', 'r':
				b.WriteString(v.s)
			case 'd', 'i':
				if !v.isInt {
					return nil, false
				}
				b.WriteString(v.s)
			case 'c':
				switch {
				case v.isInt && v.n >= 0 && v.n <= utf8.MaxRune:
					b.WriteRune(rune(v.n))
				case !v.isInt && utf8.RuneCountInString(v.s) == 1:
					b.WriteString(v.s)
				default:
					return nil, false
				}
			default:
				return nil, false
			}
			if b.Len() > maxFoldLen {
				return nil, false
			}
		}
		out = append(out, b.String())
	}
	return out, true
}

// braceFormat folds str.format with positional fields ({} and {0}).
func braceFormat(f string, args [][]string) ([]string, bool) {
	out := []string{""}
	auto := 0
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c == '{' && i+1 < len(f) && f[i+1] == '{', c == '}' && i+1 < len(f) && f[i+1] == '}':
			out = product(out, []string{string(c)})
			i++
		case c == '{':
			end := strings.IndexByte(f[i:], '}')
			if end < 0 {
				return nil, false
			}
			field := f[i+1 : i+end]
			idx := auto
			if field == "" {
				auto++
			} else if n, err := strconv.Atoi(field); err == nil {
				idx = n
			} else {
				return nil, false
			}
			if idx < 0 || idx >= len(args) {
				return nil, false
			}
			out = product(out, args[idx])
			i += end
		default:
			out = product(out, []string{string(c)})
		}
		if len(out) == 0 {
			return nil, false
		}
	}
	return out, true
}

// formatFieldNames lists the attribute names a str.format template reads
// from its arguments ("{0.__class__.__base__}" reads __class__, __base__).
func formatFieldNames(f string) []string {
	var names []string
	for {
		start := strings.IndexByte(f, '{')
		if start < 0 {
			return names
		}
		end := strings.IndexByte(f[start:], '}')
		if end < 0 {
			return names
		}
		field := f[start+1 : start+end]
		f = f[start+end+1:]
		if i := strings.IndexAny(field, "!:"); i >= 0 {
			field = field[:i]
		}
		parts := strings.FieldsFunc(field, func(r rune) bool { return r == '.' || r == '[' || r == ']' })
		if len(parts) > 1 {
			names = append(names, parts[1:]...)
		}
	}
}

// strVal is the value of a string literal the way jinja2 reads it: the
// source decoded with Python's unicode-escape, so '\x5f\x5fclass\x5f\x5f'
// is '__class__' (gonja decodes fewer escapes).
func (a *analysis) strVal(n *nodes.String) string {
	if body, _, ok := rawString(a.src, n.Location.Pos); ok {
		s, _ := unescapePython(body)
		return s
	}
	return n.Val
}

// rawString returns the body of the string literal whose opening quote is
// at pos, and the position after its closing quote.
func rawString(src string, pos int) (string, int, bool) {
	if pos < 0 || pos >= len(src) || (src[pos] != '\'' && src[pos] != '"') {
		return "", 0, false
	}
	q := src[pos]
	for i := pos + 1; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case q:
			return src[pos+1 : i], i + 1, true
		}
	}
	return "", 0, false
}

// unescapePython decodes backslash escapes as Python's unicode-escape
// codec does. unknown reports \N{NAME} escapes with names it does not
// know (they are kept as written).
func unescapePython(s string) (out string, unknown bool) {
	if !strings.Contains(s, `\`) {
		return s, false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch c := s[i]; c {
		case '\n':
		case '\\', '\'', '"':
			b.WriteByte(c)
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case 'x', 'u', 'U':
			width := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
			if i+width < len(s) {
				if v, err := strconv.ParseUint(s[i+1:i+1+width], 16, 32); err == nil && v <= utf8.MaxRune {
					b.WriteRune(rune(v))
					i += width
					continue
				}
			}
			b.WriteByte('\\')
			b.WriteByte(c)
		case 'N':
			end := strings.IndexByte(s[i:], '}')
			if i+1 < len(s) && s[i+1] == '{' && end > 0 {
				name := s[i+2 : i+end]
				if r, ok := unicodeName(name); ok {
					b.WriteRune(r)
				} else {
					unknown = true
					b.WriteString(`\N{` + name + `}`)
				}
				i += end
				continue
			}
			b.WriteString(`\N`)
		default:
			if c >= '0' && c <= '7' {
				j := i
				for j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7' {
					j++
				}
				v, _ := strconv.ParseUint(s[i:j], 8, 32)
				b.WriteRune(rune(v))
				i = j - 1
				continue
			}
			b.WriteByte('\\')
			b.WriteByte(c)
		}
	}
	return b.String(), unknown
}

// unicodeName resolves the \N{...} names that spell identifiers and paths.
func unicodeName(name string) (rune, bool) {
	name = strings.ToUpper(strings.TrimSpace(name))
	switch name {
	case "LOW LINE":
		return '_', true
	case "FULL STOP":
		return '.', true
	case "SPACE":
		return ' ', true
	case "SOLIDUS":
		return '/', true
	case "HYPHEN-MINUS":
		return '-', true
	case "COLON":
		return ':', true
	case "LEFT PARENTHESIS":
		return '(', true
	case "RIGHT PARENTHESIS":
		return ')', true
	}
	for _, p := range []struct {
		prefix string
		base   rune
	}{{"LATIN SMALL LETTER ", 'a'}, {"LATIN CAPITAL LETTER ", 'A'}, {"DIGIT ", '0'}} {
		if rest, ok := strings.CutPrefix(name, p.prefix); ok {
			if p.base == '0' {
				if i := slices.Index([]string{"ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE"}, rest); i >= 0 {
					return '0' + rune(i), true
				}
			} else if len(rest) == 1 && rest[0] >= 'A' && rest[0] <= 'Z' {
				return p.base + rune(rest[0]-'A'), true
			}
		}
	}
	return 0, false
}

// tokenEnd is the position after a token in the source.
func tokenEnd(src string, t *tokens.Token) int {
	if t.Type == tokens.String {
		if _, end, ok := rawString(src, t.Pos); ok {
			return end
		}
	}
	return t.Pos + len(t.Val)
}

func listElems(e nodes.Node) []nodes.Expression {
	switch n := e.(type) {
	case *nodes.List:
		if n != nil {
			return n.Val
		}
	case *nodes.Tuple:
		if n != nil {
			return n.Val
		}
	}
	return nil
}

// product is every concatenation of a value of l with one of r.
func product(l, r []string) []string {
	var out []string
	for _, x := range l {
		for _, y := range r {
			if len(x)+len(y) <= maxFoldLen {
				out = append(out, x+y)
			}
		}
	}
	return capFolded(out)
}

func joinAll(parts [][]string, seps []string) []string {
	out := []string{""}
	for i, p := range parts {
		if i > 0 {
			out = product(out, seps)
		}
		out = product(out, p)
	}
	return out
}

func capFolded(vals []string) []string {
	slices.Sort(vals)
	vals = slices.Compact(vals)
	if len(vals) > maxFolded {
		vals = vals[:maxFolded]
	}
	return vals
}

func mapStrings(vals []string, f func(string) string) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = f(v)
	}
	return out
}

func reverseString(s string) string {
	r := []rune(s)
	slices.Reverse(r)
	return string(r)
}
