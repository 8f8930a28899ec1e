package gguf

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	controlStructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/tokens"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// analysis walks a parsed template. An expression such as
// ().__class__.__base__.__subclasses__() is read as a chain: a root (a
// literal, a variable) and the steps applied to it (attribute, subscript,
// call, filter). Each outermost chain is judged once; its arguments are
// chains of their own. Variables are followed: a name set to a constant
// string folds to it, and a name set from a suspicious chain taints later
// chains rooted at it. Because a variable may be used before the tag that
// sets it (loops, macros), the walk repeats until nothing new is learnt and
// only the last walk reports.
type analysis struct {
	src     string
	consts  map[string][]string // variable (or ns.attr) → constant string values
	tainted map[string]string   // variable → where its suspicious value came from
	// bound are the names the template binds itself (set, for, macro
	// parameters, with): a loop variable called g or config is not
	// Flask's global of that name.
	bound      map[string]bool
	reporting  bool
	changed    bool
	incomplete bool // a node type the walker does not know: the lexical scan runs too
	issues     []Issue
	reported   map[string]bool
	consumed   map[nodes.Node]bool // string literals already judged as attribute names
	foldMemo   map[nodes.Node][]string
	// depth is the current recursion of expr and fold; past maxWalkDepth
	// the walk gives up on the subtree (and the lexical scan runs), so a
	// template of a million chained operators cannot exhaust the stack.
	depth int
}

// maxWalkDepth bounds the recursion over one expression tree.
const maxWalkDepth = 2000

func newAnalysis(src string) *analysis {
	return &analysis{src: src, consts: map[string][]string{}, tainted: map[string]string{}, bound: map[string]bool{},
		reported: map[string]bool{}, consumed: map[nodes.Node]bool{}, foldMemo: map[nodes.Node][]string{}}
}

// maxPasses bounds the walks that learn variables before the reporting one.
const maxPasses = 4

func (a *analysis) run(tpl *nodes.Template) {
	if tpl == nil {
		return
	}
	for range maxPasses {
		a.changed = false
		clear(a.foldMemo)
		a.nodes(tpl.Nodes)
		if !a.changed {
			break
		}
	}
	a.reporting = true
	clear(a.foldMemo)
	a.nodes(tpl.Nodes)
}

func (a *analysis) nodes(ns []nodes.Node) {
	for _, n := range ns {
		a.node(n)
	}
}

func (a *analysis) node(n nodes.Node) {
	switch n := n.(type) {
	case nil, *nodes.Data, *nodes.Comment:
	case *nodes.Output:
		if n != nil {
			a.expr(n.Expression)
			a.expr(n.Condition)
			a.expr(n.Alternative)
		}
	case *nodes.Wrapper:
		a.wrapper(n)
	case nodes.Wrapper:
		a.nodes(n.Nodes)
	case *nodes.ControlStructureBlock:
		if n != nil {
			a.tag(n.ControlStructure)
		}
	case nodes.ControlStructureBlock:
		a.tag(n.ControlStructure)
	case *nodes.Template:
		if n != nil {
			a.nodes(n.Nodes)
		}
	default:
		a.incomplete = true
	}
}

func (a *analysis) wrapper(w *nodes.Wrapper) {
	if w != nil {
		a.nodes(w.Nodes)
	}
}

// tag walks a block tag: gonja's (with exported fields) and ours.
func (a *analysis) tag(cs nodes.ControlStructure) {
	switch t := cs.(type) {
	case nil:
	case *controlStructures.ForControlStructure:
		v := a.expr(t.ObjectEvaluator)
		for _, name := range []string{t.Key, t.Value} {
			if name == "" {
				continue
			}
			a.bind1(name)
			if v.suspicious {
				a.taint(name, a.describe(t.ObjectEvaluator))
			}
			// for x in ['__cla', 'ss__']: x may be any of the constants.
			for _, e := range listElems(t.ObjectEvaluator) {
				if vals, ok := a.fold(e); ok {
					a.addConsts(name, vals)
				}
			}
		}
		a.expr(t.IfCondition)
		a.wrapper(t.BodyWrapper)
		a.wrapper(t.EmptyWrapper)
	case *controlStructures.IfControlStructure:
		for _, c := range t.Conditions {
			a.expr(c)
		}
		for _, w := range t.Wrappers {
			a.wrapper(w)
		}
	case *controlStructures.MacroControlStructure:
		if t.Macro == nil {
			return
		}
		for _, p := range t.Macro.Kwargs {
			if p == nil {
				continue
			}
			a.expr(p.Value)
			if key, ok := p.Key.(*nodes.String); ok && key != nil {
				a.bind1(key.Val)
				if vals, ok := a.fold(p.Value); ok {
					a.addConsts(key.Val, vals)
				}
			}
		}
		a.wrapper(t.Macro.Wrapper)
	case *controlStructures.CallControlStructure:
		if t.Call != nil {
			a.expr(t.Call)
		}
		a.wrapper(t.Body)
	case *controlStructures.DoControlStructure:
		a.expr(t.Expression)
	case *controlStructures.AutoescapeControlStructure:
		a.wrapper(t.Wrapper)
	case *controlStructures.TransControlStructure:
		for _, k := range slices.Sorted(maps.Keys(t.Variables)) {
			a.expr(t.Variables[k])
		}
		a.wrapper(t.SingularBody)
		a.wrapper(t.PluralBody)
	case *controlStructures.BreakControlStructure, *controlStructures.ContinueControlStructure, *controlStructures.RawControlStructure:
	case *setTag:
		a.set(t)
	case *withTag:
		for i, v := range t.Values {
			a.bind(&nodes.Name{Name: &tokens.Token{Val: t.Names[i]}}, v, a.expr(v))
		}
		a.wrapper(t.Body)
	case *blockTag:
		a.wrapper(t.Body)
	case *filterTag:
		for _, f := range t.Filters {
			if f != nil {
				for _, e := range f.Args {
					a.expr(e)
				}
			}
		}
		a.wrapper(t.Body)
	case *loadTag:
		a.load(t)
	case *wrapperTag:
		a.wrapper(t.Body)
	default:
		a.incomplete = true
	}
}

// set walks {% set %} and binds its targets.
func (a *analysis) set(t *setTag) {
	verdicts := make([]verdict, len(t.Values))
	for i, v := range t.Values {
		verdicts[i] = a.expr(v)
	}
	for _, f := range t.Filters {
		if f != nil {
			for _, e := range f.Args {
				a.expr(e)
			}
		}
	}
	a.wrapper(t.Body)
	switch {
	case len(t.Targets) == 1 && len(t.Values) > 0:
		// {% set x = v %} or {% set x = v if c else alt %}: x is v or alt.
		a.bind(t.Targets[0], t.Values[0], verdicts[0])
		if len(t.Values) == 3 {
			a.bind(t.Targets[0], t.Values[2], verdicts[2])
		}
	case len(t.Targets) == len(t.Values):
		for i := range t.Targets {
			a.bind(t.Targets[i], t.Values[i], verdicts[i])
		}
	}
}

// bind records what a target may hold after target = value.
func (a *analysis) bind(target, value nodes.Node, v verdict) {
	key := varKey(target)
	if key == "" {
		return
	}
	a.bind1(key)
	if vals, ok := a.fold(value); ok {
		a.addConsts(key, vals)
	}
	if v.suspicious {
		a.taint(key, a.describe(value))
	}
	if n, ok := value.(*nodes.Name); ok && n != nil && n.Name != nil && (a.isGadget(n.Name.Val) || modelStrings[n.Name.Val]) {
		// An alias: {% set c = cycler %}.
		a.taint(key, n.Name.Val)
	}
}

// bind1 records that the template binds a name.
func (a *analysis) bind1(name string) {
	if !a.bound[name] {
		a.bound[name] = true
		a.changed = true
	}
}

// isGadget reports a Jinja global the template has not rebound.
func (a *analysis) isGadget(name string) bool { return gadgetGlobals[name] && !a.bound[name] }

// varKey names a set target: x, or ns.x for a namespace attribute.
func varKey(target nodes.Node) string {
	switch t := target.(type) {
	case *nodes.Name:
		if t != nil && t.Name != nil {
			return t.Name.Val
		}
	case *nodes.GetAttribute:
		if t == nil {
			return ""
		}
		if base, ok := t.Node.(*nodes.Name); ok && base != nil && base.Name != nil && t.Attribute != "" {
			return base.Name.Val + "." + t.Attribute
		}
	}
	return ""
}

func (a *analysis) addConsts(key string, vals []string) {
	old := a.consts[key]
	merged := capFolded(append(slices.Clone(old), vals...))
	if !slices.Equal(old, merged) {
		a.consts[key] = merged
		a.changed = true
	}
}

func (a *analysis) taint(key, from string) {
	if _, ok := a.tainted[key]; !ok {
		a.tainted[key] = from
		a.changed = true
	}
}

// expr walks an expression and returns the verdict on its value.
func (a *analysis) expr(e nodes.Node) verdict {
	if a.depth >= maxWalkDepth {
		a.incomplete = true
		return verdict{}
	}
	a.depth++
	defer func() { a.depth-- }()
	switch n := e.(type) {
	case nil:
	case *nodes.GetAttribute, *nodes.GetItem, *nodes.GetSlice, *nodes.Call, *nodes.FilteredExpression, *nodes.Name:
		return a.chain(e)
	case *nodes.String:
		if n != nil && n.Location != nil && !a.consumed[nodes.Node(n)] {
			a.constString([]string{a.strVal(n)}, n, a.rawHasUnknownEscape(n))
		}
	case *nodes.BinaryExpression:
		if n == nil {
			return verdict{}
		}
		if vals, ok := a.fold(n); ok {
			a.constString(vals, n, false)
			return verdict{}
		}
		return a.expr(n.Left).or(a.expr(n.Right))
	case *nodes.Integer, *nodes.Float, *nodes.Bool, *nodes.None, *nodes.Error:
	case *nodes.List:
		if n != nil {
			return a.exprs(n.Val)
		}
	case *nodes.Tuple:
		if n != nil {
			return a.exprs(n.Val)
		}
	case *nodes.Dict:
		if n != nil {
			var v verdict
			for _, p := range n.Pairs {
				if p != nil {
					a.expr(p.Key)
					v = v.or(a.expr(p.Value))
				}
			}
			return v
		}
	case *nodes.Pair:
		if n != nil {
			a.expr(n.Key)
			return a.expr(n.Value)
		}
	case *nodes.Negation:
		if n != nil {
			a.expr(n.Term)
		}
	case *nodes.UnaryExpression:
		if n != nil {
			a.expr(n.Term)
		}
	case *nodes.TestExpression:
		if n != nil {
			a.expr(n.Expression)
			if n.Test != nil {
				a.exprs(n.Test.Args)
				for _, k := range slices.Sorted(maps.Keys(n.Test.Kwargs)) {
					a.expr(n.Test.Kwargs[k])
				}
			}
		}
	default:
		a.incomplete = true
	}
	return verdict{}
}

func (a *analysis) exprs(es []nodes.Expression) verdict {
	var v verdict
	for _, e := range es {
		v = v.or(a.expr(e))
	}
	return v
}

// stepKind is what one step of a chain does.
type stepKind int

const (
	stepAttr   stepKind = iota // .name, ['name'], |attr('name'), map(attribute='name')
	stepItem                   // a subscript whose key is not a constant string
	stepCall                   // (...)
	stepFilter                 // any other filter
	stepSlice                  // [a:b]
)

type step struct {
	kind     stepKind
	names    []string // the attribute names this step may read
	dynamic  bool     // an attribute name computed at render time
	computed string   // why a subscript key is suspicious, if it is
	args     []string // constant string arguments of a call
}

// chain judges one outermost chain and walks what hangs off it.
func (a *analysis) chain(e nodes.Node) verdict {
	root, steps, subs := a.flatten(e)
	v := a.judge(root, steps)
	if isFormatCall(steps) {
		// The format string was judged as attribute names.
		a.consumeAll(root)
	}
	if len(steps) > 0 && v.sev > finding.Info {
		a.report(v, e)
	}
	if _, isName := root.(*nodes.Name); !isName {
		v = v.or(a.expr(root))
	}
	for _, s := range subs {
		a.expr(s)
	}
	return v
}

// flatten splits an expression into its root and its steps (in evaluation
// order), and lists the sub-expressions (arguments, keys) to walk on their
// own.
func (a *analysis) flatten(e nodes.Node) (root nodes.Node, steps []step, subs []nodes.Node) {
	for {
		switch n := e.(type) {
		case *nodes.GetAttribute:
			if n == nil {
				return e, reversed(steps), subs
			}
			name := n.Attribute
			if name == "" {
				name = strconv.Itoa(n.Index)
			}
			steps = append(steps, step{kind: stepAttr, names: []string{name}})
			e = n.Node
		case *nodes.GetItem:
			if n == nil {
				return e, reversed(steps), subs
			}
			// jinja2's getitem falls back to getattr for string keys, so
			// x['__class__'] is x.__class__.
			s := step{kind: stepItem}
			if vals, ok := a.fold(n.Arg); ok {
				s.kind, s.names = stepAttr, vals
				a.consumeAll(n.Arg)
			} else {
				s.computed = a.suspiciousKey(n.Arg)
				subs = append(subs, n.Arg)
			}
			steps = append(steps, s)
			e = n.Node
		case *nodes.GetSlice:
			if n == nil {
				return e, reversed(steps), subs
			}
			steps = append(steps, step{kind: stepSlice})
			subs = append(subs, n.Start, n.End, n.Step)
			e = n.Node
		case *nodes.Call:
			if n == nil {
				return e, reversed(steps), subs
			}
			s := step{kind: stepCall}
			for _, arg := range n.Args {
				if vals, ok := a.fold(arg); ok {
					s.args = append(s.args, vals...)
				}
				subs = append(subs, arg)
			}
			for _, k := range slices.Sorted(maps.Keys(n.Kwargs)) {
				subs = append(subs, n.Kwargs[k])
				// dict(__class__=1) turns a keyword into a string.
				a.constString([]string{k}, n, false)
			}
			steps = append(steps, s)
			e = n.Func
		case *nodes.FilteredExpression:
			if n == nil {
				return e, reversed(steps), subs
			}
			for i := len(n.Filters) - 1; i >= 0; i-- {
				fs, fsubs := a.filterSteps(n.Filters[i])
				steps = append(steps, reversed(fs)...)
				subs = append(subs, fsubs...)
			}
			e = n.Expression
		default:
			return e, reversed(steps), subs
		}
	}
}

// filterSteps turns a filter into steps. Filters that read attributes
// named by an argument (attr, map, selectattr, groupby, sum, ...) become
// attribute steps; jinja2 splits their names on dots.
func (a *analysis) filterSteps(f *nodes.FilterCall) ([]step, []nodes.Node) {
	if f == nil {
		return nil, nil
	}
	var subs []nodes.Node
	attrArg := func(e nodes.Node, dotted bool) []step {
		vals, ok := a.fold(e)
		if !ok {
			subs = append(subs, e)
			return []step{{kind: stepAttr, dynamic: true}}
		}
		a.consumeAll(e)
		var out []step
		for _, v := range vals {
			parts := []string{v}
			if dotted {
				parts = strings.Split(v, ".")
			}
			for _, p := range parts {
				out = append(out, step{kind: stepAttr, names: []string{p}})
			}
		}
		return out
	}
	var attrExpr nodes.Node
	dotted := true
	switch f.Name {
	case "attr":
		if len(f.Args) > 0 {
			attrExpr, dotted = f.Args[0], false
		} else {
			return []step{{kind: stepAttr, dynamic: true}}, nil
		}
	case "map":
		if e, ok := f.Kwargs["attribute"]; ok {
			attrExpr = e
		} else if len(f.Args) > 1 {
			if v, ok := a.fold(f.Args[0]); ok && slices.Equal(v, []string{"attr"}) {
				a.consumeAll(f.Args[0])
				attrExpr, dotted = f.Args[1], false
			}
		}
	case "selectattr", "rejectattr", "groupby", "sum":
		if len(f.Args) > 0 {
			attrExpr = f.Args[0]
		} else if e, ok := f.Kwargs["attribute"]; ok {
			attrExpr = e
		}
	case "sort", "unique", "min", "max":
		attrExpr = f.Kwargs["attribute"]
	}
	var steps []step
	if attrExpr != nil {
		steps = attrArg(attrExpr, dotted)
	} else {
		steps = []step{{kind: stepFilter}}
	}
	for _, e := range f.Args {
		if e != attrExpr && !(isPointer(e) && a.consumed[e]) {
			subs = append(subs, e)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(f.Kwargs)) {
		if e := f.Kwargs[k]; e != attrExpr {
			subs = append(subs, e)
		}
	}
	return steps, subs
}

// suspiciousKey says why a subscript key that does not fold is suspect:
// built from string pieces, or taken from the model's own special tokens.
func (a *analysis) suspiciousKey(e nodes.Node) string {
	switch n := e.(type) {
	case *nodes.Name:
		if n != nil && n.Name != nil && modelStrings[n.Name.Val] {
			return "a key taken from " + n.Name.Val + ", which the model file sets"
		}
		if n != nil && n.Name != nil {
			if from, ok := a.tainted[n.Name.Val]; ok && modelStrings[from] {
				return "a key taken from " + from + ", which the model file sets"
			}
		}
	case *nodes.GetItem:
		if n != nil {
			if base, ok := n.Node.(*nodes.Name); ok && base != nil && base.Name != nil && modelStrings[base.Name.Val] {
				return "a key taken from " + base.Name.Val + ", which the model file sets"
			}
		}
	}
	if a.buildsString(e, 0) {
		return "a key built from string pieces at render time"
	}
	return ""
}

// buildsString reports an expression that assembles a string from at
// least one literal piece ('__' ~ x, ['_', x]|join, '%c'|format(n)).
func (a *analysis) buildsString(e nodes.Node, depth int) bool {
	if depth > 16 {
		return false
	}
	switch n := e.(type) {
	case *nodes.String:
		return true
	case *nodes.BinaryExpression:
		if n == nil || n.Operator == nil || n.Operator.Token == nil {
			return false
		}
		switch n.Operator.Token.Val {
		case "~", "+", "%", "*":
			return a.buildsString(n.Left, depth+1) || a.buildsString(n.Right, depth+1)
		}
	case *nodes.FilteredExpression:
		if n == nil {
			return false
		}
		for _, f := range n.Filters {
			if f != nil && (f.Name == "join" || f.Name == "format" || f.Name == "replace") {
				return true
			}
		}
		return a.buildsString(n.Expression, depth+1)
	case *nodes.List:
		return n != nil && slices.ContainsFunc(n.Val, func(x nodes.Expression) bool { return a.buildsString(x, depth+1) })
	case *nodes.Tuple:
		return n != nil && slices.ContainsFunc(n.Val, func(x nodes.Expression) bool { return a.buildsString(x, depth+1) })
	case *nodes.Call:
		if n == nil {
			return false
		}
		if m, ok := n.Func.(*nodes.GetAttribute); ok && m != nil && (m.Attribute == "join" || m.Attribute == "format" || m.Attribute == "replace") {
			return true
		}
	}
	return false
}

// verdict is the judgement on one chain.
type verdict struct {
	sev        finding.Severity
	suspicious bool     // reaches internals (High or worse)
	internals  []string // what it reaches, for the message
	gadgets    []string // the code-execution steps, for the message
	private    []string // single-underscore attributes
}

func (v verdict) or(w verdict) verdict {
	if w.sev > v.sev || (w.suspicious && !v.suspicious) {
		return w
	}
	return v
}

// describe quotes an expression briefly, to say where a variable's value
// came from.
func (a *analysis) describe(e nodes.Node) string {
	start, end := a.span(e)
	s := quote(a.src, start, end)
	if len(s) > 60 {
		cut := 60
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// judge decides how bad a chain is.
func (a *analysis) judge(root nodes.Node, steps []step) verdict {
	var v verdict
	note := func(s string) {
		if !slices.Contains(v.internals, s) {
			v.internals = append(v.internals, s)
		}
	}
	name := ""
	if n, ok := root.(*nodes.Name); ok && n != nil && n.Name != nil {
		name = n.Name.Val
	}
	if from, ok := a.tainted[name]; ok {
		switch {
		case gadgetGlobals[from] && (len(steps) == 0 || steps[0].kind != stepCall):
			note(fmt.Sprintf("internals of Jinja's %q (via %s)", from, name))
		case !gadgetGlobals[from] && !modelStrings[from]:
			note(fmt.Sprintf("via %s = %s", name, from))
		}
	}
	if a.isGadget(name) && len(steps) > 0 && steps[0].kind != stepCall {
		note(fmt.Sprintf("internals of Jinja's %q", name))
	}
	// '{0.__class__}'.format(x) reads attributes named in the format string.
	if isFormatCall(steps) {
		if formats, ok := a.fold(root); ok {
			for _, f := range formats {
				for _, n := range formatFieldNames(f) {
					a.classify(n, &v, note)
				}
			}
		}
	}
	for _, s := range steps {
		if s.dynamic {
			note("an attribute name computed at render time")
		}
		if s.computed != "" {
			note(s.computed)
		}
		for _, n := range s.names {
			a.classify(n, &v, note)
		}
		for _, arg := range s.args {
			if isCritical(arg) && !slices.Contains(v.gadgets, arg) {
				v.gadgets = append(v.gadgets, arg)
			}
		}
	}
	switch {
	case len(v.internals) > 0 && len(v.gadgets) > 0:
		v.sev, v.suspicious = finding.Critical, true
	case len(v.internals) > 0:
		v.sev, v.suspicious = finding.High, true
	case len(v.private) > 0:
		v.sev = finding.Medium
	}
	return v
}

// isFormatCall reports a chain that starts with .format(...) or
// .format_map(...).
func isFormatCall(steps []step) bool {
	return len(steps) > 1 && steps[0].kind == stepAttr && steps[1].kind == stepCall &&
		slices.ContainsFunc(steps[0].names, func(s string) bool { return s == "format" || s == "format_map" })
}

// classify sorts one attribute name into internals, gadgets or private.
func (a *analysis) classify(name string, v *verdict, note func(string)) {
	if isCritical(name) && !slices.Contains(v.gadgets, name) {
		v.gadgets = append(v.gadgets, name)
	}
	switch {
	case isDunder(name), isMangled(name), unsafeAttrs[name]:
		note(name)
	case strings.HasPrefix(name, "_") && len(name) > 1:
		if !slices.Contains(v.private, name) {
			v.private = append(v.private, name)
		}
	}
}

// report turns a verdict into an issue quoting the expression.
func (a *analysis) report(v verdict, e nodes.Node) {
	start, end := a.span(e)
	var msg string
	switch v.sev {
	case finding.Critical:
		msg = fmt.Sprintf("chat template reaches Python internals (%s) and from there code execution (%s): rendered by jinja2 outside a sandbox it runs commands on the server (CVE-2024-34359)",
			strings.Join(v.internals, ", "), strings.Join(v.gadgets, ", "))
	case finding.High:
		msg = fmt.Sprintf("chat template reaches Python internals (%s): the first steps of a sandbox escape; no chat template needs them",
			strings.Join(v.internals, ", "))
	default:
		msg = fmt.Sprintf("chat template reads private attributes (%s), which the jinja2 sandbox refuses",
			strings.Join(v.private, ", "))
	}
	a.add(Issue{Rule: knowledge.RuleGGUFTemplateInjection, Severity: v.sev, Message: msg, Evidence: quote(a.src, start, end), Pos: start})
}

// constString checks string constants that are not used as attribute names
// where they appear: they may still reach one through a variable or a
// loop the folding does not follow.
func (a *analysis) constString(vals []string, at nodes.Node, unknownEscape bool) {
	var dunders, fragments []string
	for _, s := range vals {
		if d := dundersIn(s); len(d) > 0 {
			dunders = append(dunders, d...)
		} else if isFragment(s) {
			fragments = append(fragments, s)
		}
	}
	start, end := a.span(at)
	switch {
	case len(dunders) > 0:
		slices.Sort(dunders)
		a.add(Issue{Rule: knowledge.RuleGGUFTemplateInjection, Severity: finding.Medium, Pos: start, Evidence: quote(a.src, start, end),
			Message: fmt.Sprintf("chat template spells Python internals in a string (%s): not read as an attribute here, but no chat template needs them", strings.Join(slices.Compact(dunders), ", "))})
	case len(fragments) > 0:
		a.add(Issue{Rule: knowledge.RuleGGUFTemplateInjection, Severity: finding.Medium, Pos: start, Evidence: quote(a.src, start, end),
			Message: fmt.Sprintf("chat template has a string that looks like part of a dunder name (%q): names assembled from pieces are a known way past keyword filters", fragments[0])})
	case unknownEscape:
		a.add(Issue{Rule: knowledge.RuleGGUFTemplateInjection, Severity: finding.Medium, Pos: start, Evidence: quote(a.src, start, end),
			Message: "chat template has a string with a \\N{...} escape this checker cannot resolve: escapes are a known way to hide names"})
	}
}

func (a *analysis) rawHasUnknownEscape(n *nodes.String) bool {
	body, _, ok := rawString(a.src, n.Location.Pos)
	if !ok {
		return false
	}
	_, unknown := unescapePython(body)
	return unknown
}

// load reports {% include %}, {% extends %}, {% import %} and {% from %}.
func (a *analysis) load(t *loadTag) {
	start, end := a.span(t.Target)
	// Quote the whole tag: {% include "/etc/passwd" %}.
	if start >= 0 {
		if i := strings.LastIndex(a.src[:start], "{%"); i >= 0 {
			start = i
		}
		if i := strings.Index(a.src[end:], "%}"); i >= 0 {
			end += i + 2
		}
	}
	ev := quote(a.src, start, end)
	if vals, ok := a.fold(t.Target); ok {
		a.consumeAll(t.Target)
		for _, path := range vals {
			sev, what := finding.Medium, "the template %q: with a filesystem loader that is a file read while rendering, and chat templates never load others"
			if isOutsidePath(path) {
				sev, what = finding.High, "%q: with a filesystem loader (jinja2, gonja) rendering reads that file, outside any template directory"
			}
			a.add(Issue{Rule: knowledge.RuleGGUFTemplateInjection, Severity: sev, Pos: start, Evidence: ev,
				Message: fmt.Sprintf("chat template %s "+what, loadVerbs[t.Kind], path)})
		}
		return
	}
	a.add(Issue{Rule: knowledge.RuleGGUFTemplateInjection, Severity: finding.High, Pos: start, Evidence: ev,
		Message: fmt.Sprintf("chat template %s a template whose name is computed at render time: with a filesystem loader, any file", loadVerbs[t.Kind])})
	a.expr(t.Target)
}

var loadVerbs = map[string]string{"include": "includes", "extends": "extends", "import": "imports", "from": "imports from"}

// isOutsidePath reports an absolute path, a Windows drive or UNC path, or
// one that climbs with "..".
func isOutsidePath(p string) bool {
	p = strings.ReplaceAll(p, `\`, "/")
	return strings.HasPrefix(p, "/") || (len(p) > 1 && p[1] == ':') || slices.Contains(strings.Split(p, "/"), "..")
}

func (a *analysis) add(i Issue) {
	if !a.reporting {
		return
	}
	key := fmt.Sprintf("%d|%d|%s", i.Pos, i.Severity, i.Message)
	if a.reported[key] {
		return
	}
	a.reported[key] = true
	a.issues = append(a.issues, i)
}

// consumeAll marks the string literals of an expression that folded into
// an attribute name, so they are not reported again as loose strings.
func (a *analysis) consumeAll(e nodes.Node) {
	if a.depth >= maxWalkDepth {
		return
	}
	a.depth++
	defer func() { a.depth-- }()
	switch n := e.(type) {
	case *nodes.String:
		a.consumed[n] = true
	case *nodes.BinaryExpression:
		if n != nil {
			a.consumeAll(n.Left)
			a.consumeAll(n.Right)
		}
	case *nodes.FilteredExpression:
		if n != nil {
			a.consumeAll(n.Expression)
			for _, f := range n.Filters {
				if f != nil {
					for _, x := range f.Args {
						a.consumeAll(x)
					}
				}
			}
		}
	case *nodes.List:
		if n != nil {
			for _, x := range n.Val {
				a.consumeAll(x)
			}
		}
	case *nodes.Tuple:
		if n != nil {
			for _, x := range n.Val {
				a.consumeAll(x)
			}
		}
	case *nodes.Call:
		if n != nil {
			a.consumeAll(n.Func)
			for _, x := range n.Args {
				a.consumeAll(x)
			}
		}
	case *nodes.GetAttribute:
		if n != nil {
			a.consumeAll(n.Node)
		}
	}
	if isPointer(e) {
		a.consumed[e] = true
	}
}

// isPointer reports a node that can be a map key: every expression node
// is a pointer, but nodes.Wrapper values hold slices and would panic.
func isPointer(n nodes.Node) bool {
	return n != nil && reflect.TypeOf(n).Kind() == reflect.Pointer
}

// span is the extent of an expression in the source, extended over the
// closing quotes and brackets that follow it.
func (a *analysis) span(e nodes.Node) (int, int) {
	start, end := len(a.src), 0
	a.tokensOf(e, 0, func(pos, stop int) {
		start, end = min(start, pos), max(end, stop)
	})
	if start > end {
		return -1, -1
	}
	for trail := end; trail < len(a.src) && trail-end < 16; trail++ {
		c := a.src[trail]
		if c == ')' || c == ']' || c == '\'' || c == '"' {
			end = trail + 1
		} else if c != ' ' {
			break
		}
	}
	return start, end
}

// tokensOf calls f with the source extent of every token of an expression.
func (a *analysis) tokensOf(e nodes.Node, depth int, f func(pos, end int)) {
	if depth > 256 {
		return
	}
	tok := func(t *tokens.Token) {
		if t != nil && t.Pos >= 0 && t.Pos <= len(a.src) {
			f(t.Pos, min(tokenEnd(a.src, t), len(a.src)))
		}
	}
	sub := func(x nodes.Node) { a.tokensOf(x, depth+1, f) }
	switch n := e.(type) {
	case *nodes.Name:
		if n != nil {
			tok(n.Name)
		}
	case *nodes.String:
		if n != nil {
			tok(n.Location)
		}
	case *nodes.Integer:
		if n != nil {
			tok(n.Location)
		}
	case *nodes.Float:
		if n != nil {
			tok(n.Location)
		}
	case *nodes.Bool:
		if n != nil {
			tok(n.Location)
		}
	case *nodes.None:
		if n != nil {
			tok(n.Location)
		}
	case *nodes.List:
		if n != nil {
			tok(n.Location)
			for _, x := range n.Val {
				sub(x)
			}
		}
	case *nodes.Tuple:
		if n != nil {
			tok(n.Location)
			for _, x := range n.Val {
				sub(x)
			}
		}
	case *nodes.Dict:
		if n != nil {
			tok(n.Token)
			for _, p := range n.Pairs {
				if p != nil {
					sub(p.Key)
					sub(p.Value)
				}
			}
		}
	case *nodes.GetAttribute:
		if n != nil {
			sub(n.Node)
			if n.Location != nil {
				// The dot is kept, the name is not: find it after the dot.
				name := n.Attribute
				if name == "" {
					name = strconv.Itoa(n.Index)
				}
				from := min(n.Location.Pos+1, len(a.src))
				if i := strings.Index(a.src[from:min(from+len(name)+8, len(a.src))], name); i >= 0 {
					f(n.Location.Pos, from+i+len(name))
				} else {
					tok(n.Location)
				}
			}
		}
	case *nodes.GetItem:
		if n != nil {
			tok(n.Location)
			sub(n.Node)
			sub(n.Arg)
		}
	case *nodes.GetSlice:
		if n != nil {
			tok(n.Location)
			sub(n.Node)
			sub(n.Start)
			sub(n.End)
			sub(n.Step)
		}
	case *nodes.Call:
		if n != nil {
			tok(n.Location)
			sub(n.Func)
			for _, x := range n.Args {
				sub(x)
			}
			for _, k := range slices.Sorted(maps.Keys(n.Kwargs)) {
				sub(n.Kwargs[k])
			}
		}
	case *nodes.FilteredExpression:
		if n != nil {
			sub(n.Expression)
			for _, fc := range n.Filters {
				if fc != nil {
					tok(fc.Token)
					for _, x := range fc.Args {
						sub(x)
					}
					for _, k := range slices.Sorted(maps.Keys(fc.Kwargs)) {
						sub(fc.Kwargs[k])
					}
				}
			}
		}
	case *nodes.BinaryExpression:
		if n != nil {
			sub(n.Left)
			sub(n.Right)
		}
	case *nodes.Negation:
		if n != nil {
			tok(n.Operator)
			sub(n.Term)
		}
	case *nodes.UnaryExpression:
		if n != nil {
			tok(n.Operator)
			sub(n.Term)
		}
	case *nodes.TestExpression:
		if n != nil {
			sub(n.Expression)
			if n.Test != nil {
				tok(n.Test.Token)
				for _, x := range n.Test.Args {
					sub(x)
				}
			}
		}
	}
}
