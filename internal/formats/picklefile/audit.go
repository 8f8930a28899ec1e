// Package picklefile analyses raw pickle streams (any extension, any
// protocol) and holds the audit that turns the pickle VM's events into
// findings. Container formats that carry pickles (PyTorch, joblib, NumPy)
// call Audit on their pickle members.
package picklefile

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/pickle"
)

// maxCallFindingsPerGlobal caps repeated call findings of one global: the
// first ones carry the evidence, the rest are counted.
const maxCallFindingsPerGlobal = 8

// nestedLoaders are callables that unpickle (or torch.load) a bytes
// argument. Their argument is analysed as a nested input. When the loader is
// marked safe, the call itself is not reported: what it loads is judged in
// the nested analysis instead (plain pickle.dumps of a torch tensor embeds a
// torch.save archive this way).
var nestedLoaders = map[string]bool{
	"torch.storage._load_from_bytes": true,
	"pickle.loads":                   false,
	"_pickle.loads":                  false,
	"dill._dill.loads":               false,
	"dill.loads":                     false,
	"cloudpickle.loads":              false,
	"joblib.numpy_pickle.loads":      false,
	"torch.serialization.load":       false,
	"torch.load":                     false,
}

// Audit is the outcome of auditing one pickle stream.
type Audit struct {
	Findings []finding.Finding
	Nested   []analyzer.Nested
	Result   *pickle.Result
	Imports  []string // every global imported, in first-seen order
}

// globalUse aggregates what a stream does with one global.
type globalUse struct {
	g         *pickle.Global
	verdict   knowledge.Verdict
	use       knowledge.Use
	pos       int64
	count     int
	evidence  string
	reported  int  // call/mutate findings emitted
	dropped   int  // call/mutate findings not emitted (over the cap)
	strongHit bool // a call or mutation was reported: skip the import finding
	vouched   bool // a nested loader whose argument is analysed instead
	after     bool // first strongest use happened after a loader error
}

type auditor struct {
	cat     *knowledge.Catalogue
	r       io.ReaderAt
	member  string
	out     *Audit
	uses    map[string]*globalUse
	order   []string
	persist int
	firstPI string
	render  pickle.Renderer
}

// Options configure an audit. Only Limits is required.
type Options struct {
	Limits pickle.Limits
	// Member names the stream in findings (empty for the file itself).
	Member string
	// MaxPickles, if > 0, stops after that many pickles (formats that put
	// raw data after their pickles, such as legacy PyTorch files).
	MaxPickles int
	// AfterBuild is passed to the VM (joblib's inline arrays).
	AfterBuild func(next int64, inst, state pickle.Value) (pickle.Inline, error)
	// Catalogue judges globals (nil: the built-in tables).
	Catalogue *knowledge.Catalogue
	// FrameRestart decodes frames the way CPython 3.11's C unpickler does
	// when reading a file (see pickle.Options.FrameRestart). Run uses it by
	// itself for a second reading when frames diverge.
	FrameRestart bool
	// OnEvent, if set, sees every VM event after the audit has judged it
	// (formats that need facts from the pickle, such as PyTorch's storage
	// keys).
	OnEvent func(*pickle.Event)
}

// Run audits the pickle stream in r between start and end.
func Run(r io.ReaderAt, start, end int64, opts Options) *Audit {
	a := &auditor{cat: opts.Catalogue, r: r, member: opts.Member, out: &Audit{}, uses: map[string]*globalUse{}}
	onEvent := a.event
	if opts.OnEvent != nil {
		onEvent = func(e *pickle.Event) {
			a.event(e)
			opts.OnEvent(e)
		}
	}
	res := pickle.Run(r, start, end, pickle.Options{Limits: opts.Limits, OnEvent: onEvent,
		MaxPickles: opts.MaxPickles, AfterBuild: opts.AfterBuild, FrameRestart: opts.FrameRestart})
	a.out.Result = res
	a.finish(res)
	if !opts.FrameRestart && hasFrameDivergence(res) {
		a.hiddenByFrames(r, start, end, opts)
	}
	return a.out
}

func hasFrameDivergence(res *pickle.Result) bool {
	for _, an := range res.Anomalies {
		if an.Kind == pickle.AnomalyFrameDivergence {
			return true
		}
	}
	return false
}

// hiddenByFrames reads the stream a second time the way CPython 3.11's C
// unpickler reads a file whose buffer ends at a frame's end, and adds what
// that reading runs and the first did not: calls hidden inside an argument
// that straddles a frame.
func (a *auditor) hiddenByFrames(r io.ReaderAt, start, end int64, opts Options) {
	opts.FrameRestart, opts.OnEvent = true, nil
	alt := Run(r, start, end, opts)
	seen := map[string]bool{}
	for _, f := range a.out.Findings {
		seen[f.RuleID+"\x00"+f.Evidence] = true
	}
	for _, f := range alt.Findings {
		if f.Severity < finding.High || f.RuleID == knowledge.RuleFrameDivergence || seen[f.RuleID+"\x00"+f.Evidence] {
			continue
		}
		f.Message += " (hidden by a FRAME: decoded as CPython 3.11's C unpickler reads a file whose buffer ends at the frame's end; pickle.loads and frame-transparent scanners do not see it)"
		a.out.Findings = append(a.out.Findings, f)
		seen[f.RuleID+"\x00"+f.Evidence] = true
	}
}

func (a *auditor) add(f finding.Finding) {
	f.Member = a.member
	a.out.Findings = append(a.out.Findings, f)
}

// classify judges a global by the name find_class resolves, by the name
// as written, and by its fix_imports mapping even at protocols where the
// loader does not apply it; the worst verdict wins. A scanner must not be
// the weaker reader of a name.
func classify(cat *knowledge.Catalogue, g *pickle.Global) knowledge.Verdict {
	best := cat.Classify(g.Module, g.Name)
	mm, mn := pickle.FixImports(g.RawModule, g.RawName)
	for _, alt := range [][2]string{{g.RawModule, g.RawName}, {mm, mn}} {
		if alt[0] == g.Module && alt[1] == g.Name {
			continue
		}
		v := cat.Classify(alt[0], alt[1])
		if v.Tier == knowledge.TierDangerous && (best.Tier != knowledge.TierDangerous || v.Danger.Severity > best.Danger.Severity) {
			best = v
		}
	}
	return best
}

func (a *auditor) use(g *pickle.Global) *globalUse {
	k := g.Path()
	u, ok := a.uses[k]
	if !ok {
		u = &globalUse{g: g, verdict: classify(a.cat, g), use: knowledge.Imported, pos: g.Pos}
		a.uses[k] = u
		a.order = append(a.order, k)
	}
	return u
}

// raise records a weaker use (imported, instantiated, state-set) of g.
func (a *auditor) raise(g *pickle.Global, use knowledge.Use, pos int64, evidence string, after bool) {
	u := a.use(g)
	u.count++
	if use > u.use || u.evidence == "" && use == u.use {
		u.use, u.pos, u.evidence, u.after = use, pos, evidence, after
	}
}

func (a *auditor) event(e *pickle.Event) {
	switch e.Kind {
	case pickle.EventImport:
		u := a.use(e.Global)
		if u.evidence == "" {
			u.evidence = "import " + e.Global.Path()
			u.after = e.AfterError
		}
	case pickle.EventCall:
		a.call(e)
	case pickle.EventNew:
		if g := e.Global; g != nil || persistentClass(e.Func) != nil {
			if g == nil {
				g = persistentClass(e.Func)
			}
			a.raise(g, knowledge.Instantiated, e.Pos, a.render.RenderCall(e.Result), e.AfterError)
		}
	case pickle.EventBuild:
		if e.Global != nil {
			a.raise(e.Global, knowledge.StateSet, e.Pos, a.render.Render(e.Func)+".__setstate__("+a.render.Render(e.Args)+")", e.AfterError)
		}
	case pickle.EventMutate:
		ev := a.render.Render(e.Func) + "." + mutationVerb(e.Op) + "(" + a.render.Render(e.Args) + ")"
		a.strong(e.Global, knowledge.Mutated, e, ev)
	case pickle.EventPersistentID:
		a.persist++
		if a.firstPI == "" {
			a.firstPI = a.render.Render(e.Args)
		}
	}
}

func mutationVerb(op byte) string {
	switch pickle.OpName(op) {
	case "BUILD":
		return "__setstate__"
	case "APPEND":
		return "append"
	case "APPENDS":
		return "extend"
	case "SETITEM", "SETITEMS":
		return "update"
	case "ADDITEMS":
		return "add"
	}
	return pickle.OpName(op)
}

func (a *auditor) call(e *pickle.Event) {
	evidence := a.render.RenderCall(e.Result)
	if e.Global == nil {
		msg := "load-time call of a computed value (" + describe(e.Func) + ")"
		a.add(finding.Finding{RuleID: knowledge.RuleComputedCall, Severity: finding.High,
			Message: msg + afterNote(e.AfterError), Offset: e.Pos, Evidence: evidence})
		return
	}
	path := e.Global.Path()
	if safeLoader, ok := nestedLoaders[path]; ok {
		if a.nested(e) && safeLoader {
			u := a.use(e.Global)
			u.count++
			u.vouched = true
			return
		}
	}
	v := classify(a.cat, e.Global)
	if v.Tier == knowledge.TierSafe && v.Safe.Calls {
		a.raise(e.Global, knowledge.Called, e.Pos, evidence, e.AfterError)
		a.roles(e, v.Safe)
		return
	}
	a.strong(e.Global, knowledge.Called, e, evidence)
}

// roles applies what a safe rebuild helper does with its arguments:
// copyreg._reconstructor(cls, base, state) instantiates cls and calls
// base.__init__.
func (a *auditor) roles(e *pickle.Event, s *knowledge.SafeGlobal) {
	items, _ := e.Args.TupleItems()
	ev := a.render.RenderCall(e.Result)
	for _, i := range s.Instantiates {
		if i < len(items) {
			if g := globalOfValue(items[i]); g != nil {
				a.raise(g, knowledge.Instantiated, e.Pos, ev, e.AfterError)
			}
		}
	}
	for _, i := range s.CallsArgs {
		if i < len(items) {
			if g := globalOfValue(items[i]); g != nil {
				v := classify(a.cat, g)
				if v.Tier == knowledge.TierSafe && v.Safe.Calls {
					a.raise(g, knowledge.Called, e.Pos, ev, e.AfterError)
					continue
				}
				a.strong(g, knowledge.Called, e, ev)
			}
		}
	}
}

// persistentClass returns the class a PyTorch legacy persistent id stands
// for: torch's persistent_load returns data[0] for ('module', cls, file,
// source) records, so NEWOBJ on it instantiates cls.
func persistentClass(v pickle.Value) *pickle.Global {
	if v.Kind != pickle.KindPersistent || v.Obj == nil {
		return nil
	}
	items, _ := v.Obj.Args.TupleItems()
	if len(items) < 2 {
		return nil
	}
	if kind, ok := items[0].AsString(); !ok || kind != "module" {
		return nil
	}
	return globalOfValue(items[1])
}

func globalOfValue(v pickle.Value) *pickle.Global {
	if v.Kind == pickle.KindGlobal && v.Obj != nil {
		return v.Obj.Global
	}
	return nil
}

// strong reports a call or mutation of a global that is not known safe for
// that use, one finding per occurrence up to a cap.
func (a *auditor) strong(g *pickle.Global, use knowledge.Use, e *pickle.Event, evidence string) {
	u := a.use(g)
	u.count++
	j := knowledge.Judge(u.verdict, use)
	if !j.Report {
		return
	}
	u.strongHit = true
	if u.reported >= maxCallFindingsPerGlobal {
		u.dropped++
		return
	}
	u.reported++
	a.add(finding.Finding{RuleID: j.RuleID, Severity: j.Severity,
		Message: message(u, use, pickle.OpName(e.Op)) + afterNote(e.AfterError), Offset: e.Pos, Evidence: evidence})
}

func afterNote(after bool) string {
	if after {
		return " (after a point where pickle.load raises; another loader may still reach it)"
	}
	return ""
}

func message(u *globalUse, use knowledge.Use, op string) string {
	path := u.g.Path()
	if u.g.RawModule != u.g.Module || u.g.RawName != u.g.Name {
		path += " (written as " + u.g.RawModule + "." + u.g.RawName + ")"
	}
	switch u.verdict.Tier {
	case knowledge.TierDangerous:
		verb := map[knowledge.Use]string{knowledge.Called: "load-time call of", knowledge.Mutated: "load-time change to",
			knowledge.Instantiated: "instantiation of", knowledge.StateSet: "instance state set on", knowledge.Imported: "import of"}[use]
		return fmt.Sprintf("%s %s, which is dangerous: %s", verb, path, u.verdict.Danger.Why)
	case knowledge.TierSafe:
		if use == knowledge.Mutated {
			return fmt.Sprintf("%s is changed at load time by %s", path, op)
		}
		return fmt.Sprintf("load-time call of %s, which is only known safe to rebuild, not to call", path)
	}
	switch use {
	case knowledge.Called:
		return fmt.Sprintf("load-time call of %s, which is not known to be safe", path)
	case knowledge.Mutated:
		return fmt.Sprintf("%s is changed at load time by %s", path, op)
	case knowledge.Instantiated:
		return fmt.Sprintf("%s is instantiated but is not known to be safe", path)
	case knowledge.StateSet:
		return fmt.Sprintf("%s is rebuilt with BUILD (its __setstate__ runs) but is not known to be safe", path)
	}
	return fmt.Sprintf("%s is imported but is not known to be safe", path)
}

func describe(v pickle.Value) string {
	switch v.Kind {
	case pickle.KindCall, pickle.KindNew:
		return "the result of " + pickle.Renderer{}.RenderCall(v)
	case pickle.KindUnknown:
		if v.Obj != nil && v.Obj.Detail != "" {
			return "a value the loader cannot produce: " + v.Obj.Detail
		}
		return "an unknown value"
	case pickle.KindPersistent:
		return "an object from persistent_load"
	}
	return "a value of kind " + kindName(v.Kind)
}

func kindName(k pickle.Kind) string {
	return map[pickle.Kind]string{pickle.KindStr: "str", pickle.KindBytes: "bytes", pickle.KindInt: "int",
		pickle.KindTuple: "tuple", pickle.KindList: "list", pickle.KindDict: "dict", pickle.KindNone: "None"}[k]
}

// maxTranscoded caps the bytes copied out of a protocol-2 bytes literal
// (_codecs.encode(str, 'latin1')) to analyse as a nested input.
const maxTranscoded = 256 << 20

// nested turns a nested loader's literal bytes argument into a nested input.
// Protocol 3+ writes bytes as BINBYTES: the nested input is a window on the
// stream. Protocol 2 writes them as _codecs.encode(text, 'latin1'): the text
// is read back and each character becomes one byte.
func (a *auditor) nested(e *pickle.Event) bool {
	items, _ := e.Args.TupleItems()
	if len(items) == 0 {
		return false
	}
	b := items[0]
	name := fmt.Sprintf("%s#%d", e.Global.Path(), e.Pos)
	if off := b.DataOffset(); (b.Kind == pickle.KindBytes || b.Kind == pickle.KindByteArray) && off >= 0 {
		a.out.Nested = append(a.out.Nested, analyzer.Nested{Name: name, R: io.NewSectionReader(a.r, off, b.Int), Size: b.Int})
		return true
	}
	data, ok := latin1Literal(a.r, b)
	if !ok {
		return false
	}
	a.out.Nested = append(a.out.Nested, analyzer.Nested{Name: name, R: bytes.NewReader(data), Size: int64(len(data))})
	return true
}

// latin1Literal decodes _codecs.encode(text, 'latin1') when text is a
// literal in the stream.
func latin1Literal(r io.ReaderAt, v pickle.Value) ([]byte, bool) {
	if v.Kind != pickle.KindCall || v.Obj == nil {
		return nil, false
	}
	g := globalOfValue(v.Obj.Func)
	args, all := v.Obj.Args.TupleItems()
	if g == nil || g.Path() != "_codecs.encode" || !all || len(args) != 2 {
		return nil, false
	}
	if enc, ok := args[1].AsString(); !ok || (enc != "latin1" && enc != "latin-1" && enc != "iso-8859-1") {
		return nil, false
	}
	text := args[0]
	off := text.DataOffset()
	if text.Kind != pickle.KindStr || off < 0 || text.Int > maxTranscoded {
		return nil, false
	}
	raw := make([]byte, text.Int)
	if _, err := r.ReadAt(raw, off); err != nil {
		return nil, false
	}
	out := make([]byte, 0, len(raw))
	for _, c := range string(raw) {
		if c > 0xff {
			return nil, false
		}
		out = append(out, byte(c))
	}
	return out, true
}

// finish emits the aggregated findings: weaker uses of globals that are not
// known safe, anomalies, and the summary.
func (a *auditor) finish(res *pickle.Result) {
	for _, k := range a.order {
		u := a.uses[k]
		a.out.Imports = append(a.out.Imports, k)
		if u.dropped > 0 {
			a.add(finding.Finding{RuleID: knowledge.Judge(u.verdict, knowledge.Called).RuleID, Severity: knowledge.Judge(u.verdict, knowledge.Called).Severity,
				Message: fmt.Sprintf("%d more load-time uses of %s not listed", u.dropped, k), Offset: finding.NoOffset})
		}
		if u.strongHit || u.vouched {
			continue
		}
		j := knowledge.Judge(u.verdict, u.use)
		if !j.Report {
			continue
		}
		msg := message(u, u.use, "")
		if u.count > 1 {
			msg += fmt.Sprintf(" (%d uses)", u.count)
		}
		a.add(finding.Finding{RuleID: j.RuleID, Severity: j.Severity, Message: msg + afterNote(u.after), Offset: u.pos, Evidence: u.evidence})
	}
	a.anomalies(res)
	a.summary(res)
}

var anomalyRules = map[pickle.AnomalyKind]struct {
	id  string
	sev finding.Severity
}{
	pickle.AnomalyNonStringGlobal: {knowledge.RuleNonStringGlobal, finding.Medium},
	pickle.AnomalyMemoMiss:        {knowledge.RuleMemoMiss, finding.Medium},
	pickle.AnomalyFrameDivergence: {knowledge.RuleFrameDivergence, finding.High},
	pickle.AnomalyDuplicateProto:  {knowledge.RuleDuplicateProto, finding.Low},
	pickle.AnomalyTrailingData:    {knowledge.RuleTrailingData, finding.Medium},
	pickle.AnomalyLoaderError:     {knowledge.RuleLoaderError, finding.Medium},
	pickle.AnomalyMalformed:       {knowledge.RuleMalformed, finding.Medium},
	pickle.AnomalyLimit:           {knowledge.RuleLimit, finding.Medium},
}

// anomalies reports each kind once, at its first occurrence, with a count.
func (a *auditor) anomalies(res *pickle.Result) {
	type agg struct {
		first pickle.Anomaly
		n     int
	}
	byKind := map[pickle.AnomalyKind]*agg{}
	var kinds []pickle.AnomalyKind
	for _, an := range res.Anomalies {
		if g, ok := byKind[an.Kind]; ok {
			g.n++
			continue
		}
		byKind[an.Kind] = &agg{first: an, n: 1}
		kinds = append(kinds, an.Kind)
	}
	for _, k := range kinds {
		g := byKind[k]
		r := anomalyRules[k]
		msg := g.first.Detail
		if g.n > 1 {
			msg += fmt.Sprintf(" (%d occurrences)", g.n)
		}
		a.add(finding.Finding{RuleID: r.id, Severity: r.sev, Message: msg, Offset: g.first.Pos})
	}
	if res.DroppedAnomalies > 0 {
		a.add(finding.Finding{RuleID: knowledge.RuleLimit, Severity: finding.Medium,
			Message: fmt.Sprintf("%d further anomalies not listed", res.DroppedAnomalies), Offset: finding.NoOffset})
	}
}

func (a *auditor) summary(res *pickle.Result) {
	if len(res.Pickles) == 0 {
		return
	}
	var protos []string
	oldest := pickle.HighestProtocol
	for _, p := range res.Pickles {
		protos = append(protos, fmt.Sprint(p.Protocol))
		oldest = min(oldest, p.Protocol)
	}
	protos = slices.Compact(protos)
	imports := "none"
	if len(a.out.Imports) > 0 {
		imports = strings.Join(a.out.Imports, ", ")
	}
	msg := fmt.Sprintf("pickle protocol %s, %d opcodes; imports: %s", strings.Join(protos, "/"), res.Opcodes, imports)
	a.add(finding.Finding{RuleID: knowledge.RuleSummary, Severity: finding.Info, Message: msg, Offset: res.Pickles[0].Start})
	if len(res.Pickles) > 1 {
		a.add(finding.Finding{RuleID: knowledge.RuleMultiplePickles, Severity: finding.Info,
			Message: fmt.Sprintf("%d pickles in one stream; all were analysed", len(res.Pickles)), Offset: res.Pickles[1].Start})
	}
	if oldest < 2 {
		a.add(finding.Finding{RuleID: knowledge.RuleOldProtocol, Severity: finding.Low,
			Message: fmt.Sprintf("pickle protocol %d (text-era protocol; fix_imports name mapping applies)", oldest), Offset: res.Pickles[0].Start})
	}
	if a.persist > 0 {
		a.add(finding.Finding{RuleID: knowledge.RulePersistentID, Severity: finding.Info,
			Message: fmt.Sprintf("%d persistent ids, first %s", a.persist, a.firstPI), Offset: finding.NoOffset})
	}
}
