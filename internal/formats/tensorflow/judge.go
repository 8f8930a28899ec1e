package tensorflow

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// Bounds of the judgement.
const (
	maxResolveDepth  = 32      // ops followed back from a path input
	maxValues        = 64      // constant strings collected for one input
	maxPropagation   = 4       // rounds of argument propagation into functions
	maxResolveSteps  = 1 << 20 // ops visited by path resolution per program
	maxFindingsPerOp = 50      // findings of one dangerous op; the rest are counted
	maxEvidence      = 2048
)

// judge turns decoded programs into findings.
type judge struct {
	out     []finding.Finding
	ops     map[string]int         // op → nodes, over every program
	unknown map[string]*unknownOp  // custom ops
	routine map[string]*routineUse // TFConstPath ops whose paths are not constant
	perOp   map[string]int         // findings emitted per dangerous op
	extra   map[string]int         // findings not emitted past maxFindingsPerOp
}

type unknownOp struct {
	count int
	first string // location of the first node
	off   int64
}

type routineUse struct {
	count int
	first string
}

func newJudge() *judge {
	return &judge{ops: map[string]int{}, unknown: map[string]*unknownOp{}, routine: map[string]*routineUse{},
		perOp: map[string]int{}, extra: map[string]int{}}
}

// pathValue is a constant string that reaches a path input.
type pathValue struct {
	s       string
	leading bool // the string begins the path (not a later piece of a StringJoin)
}

// resolver follows path inputs back to constants, through forwarding ops and
// into functions through their call sites.
type resolver struct {
	prog *program
	fed  map[string]bool          // graph tensors the loader feeds ("save/Const:0")
	args map[string][][]pathValue // function → constants reaching each argument
	// steps counts ops visited; past maxResolveSteps paths are no longer
	// followed (a hostile graph of huge joins), and exhausted says so.
	steps     int
	exhausted bool
}

// program judges one program. label prefixes locations ("meta graph 1 "),
// fed lists the graph tensors the SavedModel loader feeds.
func (j *judge) program(p *program, label string, fed map[string]bool) {
	r := &resolver{prog: p, fed: fed, args: map[string][][]pathValue{}}
	r.propagate()
	j.scope(r, p.graph, label)
	for _, f := range p.functions {
		j.scope(r, f, label)
	}
	if r.exhausted {
		j.out = append(j.out, finding.Finding{RuleID: knowledge.RuleScanLimit, Severity: finding.Medium, Offset: finding.NoOffset,
			Message: fmt.Sprintf("%spath inputs were followed through %d ops and no further: later file and checkpoint ops were judged without their paths", label, maxResolveSteps)})
	}
}

func where(s *scope, label string) string {
	if s.function == "" {
		return label + "graph"
	}
	return fmt.Sprintf("%sfunction %q", label, s.function)
}

func (j *judge) scope(r *resolver, s *scope, label string) {
	for _, n := range s.nodes {
		j.ops[n.op]++
		if r.prog.funcNames[n.op] {
			continue // a call of a library function, judged on its own
		}
		risk, known := knowledge.LookupTFOp(n.op)
		switch {
		case risk != nil:
			j.risky(r, s, n, risk, label)
		case !known:
			u := j.unknown[n.op]
			if u == nil {
				u = &unknownOp{first: fmt.Sprintf("node %q in %s", n.name, where(s, label)), off: n.off}
				j.unknown[n.op] = u
			}
			u.count++
		}
	}
}

// risky judges one node of an op in the dangerous table.
func (j *judge) risky(r *resolver, s *scope, n *node, risk *knowledge.TFOpRisk, label string) {
	var paths []pathValue
	for _, i := range risk.PathInputs {
		paths = append(paths, r.values(s, nthInput(n, i))...)
	}
	loc := fmt.Sprintf("node %q in %s", n.name, where(s, label))
	var detail string
	switch risk.When {
	case knowledge.TFAlways:
		if vals := n.attrs[risk.Attr]; len(vals) == 1 {
			detail = fmt.Sprintf("%s=%s", risk.Attr, pyStr(vals[0]))
		} else if len(vals) > 1 {
			detail = fmt.Sprintf("%s=%s", risk.Attr, pyList(vals))
		}
	case knowledge.TFConstPath:
		var odd []pathValue
		for _, v := range paths {
			if unusualPath(v) {
				odd = append(odd, v)
			}
		}
		if len(odd) == 0 {
			u := j.routine[n.op]
			if u == nil {
				u = &routineUse{first: loc}
				j.routine[n.op] = u
			}
			u.count++
			return
		}
		paths = odd
	case knowledge.TFAttrURL:
		var urls []string
		for _, v := range n.attrs[risk.Attr] {
			if strings.Contains(v, "://") {
				urls = append(urls, v)
			}
		}
		if len(urls) == 0 {
			return
		}
		detail = fmt.Sprintf("%s=%s", risk.Attr, pyList(urls))
	case knowledge.TFAttrFile:
		vals := n.attrs[risk.Attr]
		if len(vals) == 0 || !namesFile(vals[0]) {
			return
		}
		detail = fmt.Sprintf("%s=%s", risk.Attr, pyStr(vals[0]))
	}
	if j.perOp[n.op] >= maxFindingsPerOp {
		j.extra[n.op]++
		return
	}
	j.perOp[n.op]++
	msg := fmt.Sprintf("%s %s: %s", n.op, loc, risk.Why)
	if risk.When == knowledge.TFConstPath {
		msg += "; the path is a constant outside the model directory"
	}
	j.out = append(j.out, finding.Finding{RuleID: knowledge.RuleTFDangerousOp, Severity: risk.Severity,
		Message: msg, Offset: n.off, Evidence: evidence(n.op, paths, detail)})
}

// finish adds the aggregated findings: custom ops, routine checkpoint ops,
// counts past the per-op cap.
func (j *judge) finish() {
	for _, op := range sortedKeys(j.unknown) {
		u := j.unknown[op]
		j.out = append(j.out, finding.Finding{RuleID: knowledge.RuleTFUnknownOp, Severity: finding.Medium, Offset: u.off,
			Message: fmt.Sprintf("op %q is not a TensorFlow op (%d %s, first %s): loading the model needs a custom-op library, which is native code",
				op, u.count, plural(u.count, "node"), u.first),
			Evidence: op})
	}
	for _, op := range sortedKeys(j.routine) {
		u := j.routine[op]
		j.out = append(j.out, finding.Finding{RuleID: knowledge.RuleTFDangerousOp, Severity: finding.Info, Offset: finding.NoOffset,
			Message: fmt.Sprintf("%s in %d %s (first %s): its path is given at run time (loader feed, placeholder or function argument) or is relative, as in every checkpoint saver and vocabulary table",
				op, u.count, plural(u.count, "node"), u.first)})
	}
	for _, op := range sortedKeys(j.extra) {
		j.out = append(j.out, finding.Finding{RuleID: knowledge.RuleTFDangerousOp, Severity: finding.Info, Offset: finding.NoOffset,
			Message: fmt.Sprintf("%d more %s nodes like the ones above are not listed", j.extra[op], op)})
	}
}

// histogram renders the op counts: "Add×2, Const×10, …".
func (j *judge) histogram() string {
	var b strings.Builder
	for i, op := range sortedKeys(j.ops) {
		if i > 0 {
			b.WriteString(", ")
		}
		if b.Len() > maxEvidence {
			fmt.Fprintf(&b, "… (%d ops in all)", len(j.ops))
			break
		}
		fmt.Fprintf(&b, "%s×%d", op, j.ops[op])
	}
	return b.String()
}

// nthInput returns the i-th data input, or "".
func nthInput(n *node, i int) string {
	if i < len(n.inputs) {
		return n.inputs[i]
	}
	return ""
}

// values returns the constant strings that reach input in scope s.
func (r *resolver) values(s *scope, input string) []pathValue {
	var out []pathValue
	r.resolve(s, input, true, 0, map[string]bool{}, &out)
	return out
}

func (r *resolver) resolve(s *scope, input string, leading bool, depth int, seen map[string]bool, out *[]pathValue) {
	if r.steps++; r.steps > maxResolveSteps {
		r.exhausted = true
	}
	if r.exhausted || input == "" || depth > maxResolveDepth || len(*out) >= maxValues {
		return
	}
	name, port, _ := strings.Cut(input, ":")
	if s.function == "" {
		if port == "" {
			port = "0"
		}
		if r.fed[name+":"+port] {
			return // the loader feeds this tensor
		}
	}
	key := name + "\x00" + port
	if seen[key] {
		return
	}
	seen[key] = true
	n := s.lookup(name)
	if n == nil {
		if i := slices.Index(s.args, name); i >= 0 && s.function != "" {
			if vals := r.args[s.function]; i < len(vals) {
				for _, v := range vals[i] {
					*out = append(*out, pathValue{s: v.s, leading: v.leading && leading})
				}
			}
		}
		return
	}
	switch n.op {
	case "Const":
		for _, v := range n.values {
			*out = append(*out, pathValue{s: v, leading: leading})
		}
	case "StringJoin":
		for i, in := range n.inputs {
			if r.exhausted || len(*out) >= maxValues {
				break
			}
			r.resolve(s, in, leading && i == 0, depth+1, seen, out)
		}
	case "Pack", "Merge":
		for _, in := range n.inputs {
			if r.exhausted || len(*out) >= maxValues {
				break
			}
			r.resolve(s, in, leading, depth+1, seen, out)
		}
	case "Select", "SelectV2":
		r.resolve(s, nthInput(n, 1), leading, depth+1, seen, out)
		r.resolve(s, nthInput(n, 2), leading, depth+1, seen, out)
	default:
		if forwardOps[n.op] {
			r.resolve(s, nthInput(n, 0), leading, depth+1, seen, out)
		}
	}
}

// propagate collects, for every function, the constants its call sites pass
// to each argument, repeating for calls nested a few levels deep.
func (r *resolver) propagate() {
	scopes := append([]*scope{r.prog.graph}, r.prog.functions...)
	for round := 0; round < maxPropagation; round++ {
		changed := false
		for _, s := range scopes {
			for _, n := range s.nodes {
				callee := n.callee
				if r.prog.funcNames[n.op] {
					callee = n.op
				} else if !callOps[n.op] {
					continue
				}
				if !r.prog.funcNames[callee] {
					continue
				}
				for i, in := range n.inputs[:min(len(n.inputs), maxArgs)] {
					if r.addArg(callee, i, r.values(s, in)) {
						changed = true
					}
				}
			}
		}
		if !changed {
			return
		}
	}
}

func (r *resolver) addArg(fn string, i int, vals []pathValue) bool {
	args := r.args[fn]
	for len(args) <= i {
		args = append(args, nil)
	}
	changed := false
	for _, v := range vals {
		if len(args[i]) < maxValues && !slices.Contains(args[i], v) {
			args[i] = append(args[i], v)
			changed = true
		}
	}
	r.args[fn] = args
	return changed
}

// unusualPath tells whether a constant reaching a path input points outside
// the model's own directory: absolute, climbing with "..", or a remote file
// system TensorFlow opens by scheme (gs://, s3://, hdfs://, http://).
func unusualPath(v pathValue) bool {
	s := v.s
	if v.leading {
		if strings.HasPrefix(s, "/") || strings.HasPrefix(s, `\`) || strings.Contains(s, "://") ||
			(len(s) >= 3 && s[1] == ':' && (s[2] == '/' || s[2] == '\\') && isLetter(s[0])) {
			return true
		}
	}
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return true
		}
	}
	return false
}

func isLetter(b byte) bool { return (b|0x20) >= 'a' && (b|0x20) <= 'z' }

// namesFile tells whether a string attribute names a file: not empty, not
// one of PrintV2's streams, not a proto descriptor_source that is inline.
func namesFile(v string) bool {
	switch v {
	case "", "stdout", "stderr", "log(info)", "log(warning)", "log(error)", "local://":
		return false
	}
	return !strings.HasPrefix(v, "bytes://")
}

// evidence renders an op with its constant path arguments and attribute:
// ReadFile('/etc/passwd').
func evidence(op string, paths []pathValue, detail string) string {
	var args []string
	for _, p := range paths {
		args = append(args, pyStr(p.s))
	}
	if detail != "" {
		args = append(args, detail)
	}
	if len(args) == 0 {
		args = []string{"…"}
	}
	s := op + "(" + strings.Join(args, ", ") + ")"
	if len(s) > maxEvidence {
		s = s[:maxEvidence] + "…"
	}
	return s
}

func pyStr(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch {
		case r == '\'' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

func pyList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = pyStr(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp.Compare[string])
	return keys
}
