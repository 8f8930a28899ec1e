// Package pickle is a static, symbolic pickle virtual machine. It decodes
// every opcode of protocols 0–5 with the semantics of CPython's unpickler (a
// real stack, mark stack and memo; fix_imports; dotted names; copyreg
// extensions) but never imports or calls anything: globals, calls and
// instances become symbolic values, and what a real load would do is reported
// as a stream of events. It knows nothing about file formats or about which
// globals are dangerous; callers judge the events.
package pickle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Limits bound the work and memory of one Run. Every length and count read
// from the stream is checked against them before use.
type Limits struct {
	MaxOpcodes   int64 // opcodes decoded in all pickles together
	MaxStack     int   // values on the stack
	MaxMarks     int   // nested MARKs
	MaxMemo      int   // memo entries
	MaxPickles   int   // pickles decoded one after another
	MaxLine      int64 // bytes in one text argument (protocol 0 lines)
	MaxLongBytes int64 // LONG1/LONG4 sizes converted to decimal; larger ones are summarised
	KeepItems    int   // container items kept for evidence
	KeepBytes    int   // bytes of a str/bytes value kept for evidence
	MaxAnomalies int   // anomalies recorded (further ones are counted only)
}

// DefaultLimits are generous for real models and small enough that a hostile
// file cannot exhaust memory (the stack and memo are at most a few hundred MB
// in the worst case; typical runs use kilobytes).
func DefaultLimits() Limits {
	return Limits{
		MaxOpcodes:   500_000_000,
		MaxStack:     1 << 20,
		MaxMarks:     1 << 16,
		MaxMemo:      1 << 22,
		MaxPickles:   4096,
		MaxLine:      64 << 20,
		MaxLongBytes: 4096,
		KeepItems:    16,
		KeepBytes:    256,
		MaxAnomalies: 256,
	}
}

// EventKind says what a real load would do with a value.
type EventKind uint8

// Event kinds.
const (
	// EventImport: find_class(module, name) — the module is imported.
	EventImport EventKind = iota
	// EventCall: a value is called (REDUCE, INST, OBJ).
	EventCall
	// EventNew: cls.__new__(cls, *args) (NEWOBJ, NEWOBJ_EX).
	EventNew
	// EventBuild: BUILD on an instance (its __setstate__ runs).
	EventBuild
	// EventMutate: BUILD, APPEND(S), SETITEM(S) or ADDITEMS applied to a
	// global object itself (a module, class or function).
	EventMutate
	// EventPersistentID: persistent_load(pid) is asked for an object.
	EventPersistentID
)

var eventNames = [...]string{"import", "call", "new", "build", "mutate", "persistent-id"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "event(?)"
}

// Event is one thing a real load would do.
type Event struct {
	Kind   EventKind
	Op     byte  // the opcode
	Pos    int64 // offset of the opcode
	Pickle int   // index of the pickle in the stream, from 0
	// Global is the global involved when it is known directly: the imported
	// global, the callee or class when it is a plain global, the class of a
	// built instance, the mutated global.
	Global *Global
	Func   Value // callee, class, built instance or mutated object
	Args   Value // call arguments, BUILD state, or added items
	Kwargs Value // NEWOBJ_EX keyword arguments
	Result Value // the value produced by a call or instantiation
	// AfterError is set when an earlier opcode of the same pickle makes the
	// real loader raise: the event is in the data but a standard load stops
	// before it.
	AfterError bool
}

// AnomalyKind classifies structural oddities.
type AnomalyKind uint8

// Anomaly kinds.
const (
	AnomalyNonStringGlobal AnomalyKind = iota // STACK_GLOBAL operands are not both str
	AnomalyMemoMiss                           // GET of an index never PUT
	AnomalyFrameDivergence                    // FRAME length disagrees with opcode boundaries
	AnomalyDuplicateProto                     // PROTO twice in one pickle
	AnomalyTrailingData                       // bytes after the last STOP that are not a pickle
	AnomalyLoaderError                        // CPython's unpickler raises here
	AnomalyMalformed                          // decoding cannot continue (unknown opcode, truncated)
	AnomalyLimit                              // a Limits value was reached
)

var anomalyNames = [...]string{"non-string-global", "memo-miss", "frame-divergence",
	"duplicate-proto", "trailing-data", "loader-error", "malformed", "limit"}

func (k AnomalyKind) String() string {
	if int(k) < len(anomalyNames) {
		return anomalyNames[k]
	}
	return "anomaly(?)"
}

// Anomaly is one structural observation.
type Anomaly struct {
	Kind   AnomalyKind
	Pos    int64
	Pickle int
	Detail string
}

// PickleInfo describes one pickle of the stream.
type PickleInfo struct {
	Start, End int64 // End is just past STOP, or where decoding ended
	Protocol   int   // from PROTO; 0 when there is none
	HasProto   bool
	Opcodes    int64
	Complete   bool // ended with STOP
}

// Result is what a Run found besides the events.
type Result struct {
	Pickles   []PickleInfo
	Anomalies []Anomaly
	// DroppedAnomalies counts anomalies beyond Limits.MaxAnomalies.
	DroppedAnomalies int
	Opcodes          int64
	End              int64 // offset where decoding stopped
	// Err is set when the analysis could not cover the data: a resource
	// limit, an I/O error, or a first pickle that cannot be decoded to its
	// end. Events and anomalies found before it are kept.
	Err error
}

// Step describes one decoded opcode, for disassembly.
type Step struct {
	Pos    int64
	Op     byte
	Pickle int
	Arg    string // the opcode's argument rendered like Python, if any
}

// Options configure a Run.
type Options struct {
	Limits Limits
	// OnEvent receives every event as it happens. The pointer is only valid
	// during the call.
	OnEvent func(*Event)
	// OnStep, if set, receives every opcode after it is executed (slower:
	// arguments are rendered).
	OnStep func(Step)
	// MaxPickles, if > 0, stops after that many pickles even if data
	// remains (for formats that put raw bytes after their pickles).
	MaxPickles int
	// AfterBuild, if set, is called after every BUILD with the offset of
	// the next opcode, the built instance and its state. It says what the
	// loader reads from the file there before unpickling goes on: joblib
	// writes raw array bytes (or, for object arrays, a whole separate
	// pickle) right after the BUILD of a NumpyArrayWrapper.
	AfterBuild func(next int64, inst, state Value) (Inline, error)
	// FrameRestart decodes the stream the way CPython 3.11's C unpickler
	// does when it reads from a file and its buffer ends at a frame's end:
	// a read crossing the frame end drops the frame's remaining bytes and
	// restarts at the end. Opcodes hidden inside an argument that straddles
	// a frame run this way; the default decoding (frames transparent) is
	// what pickle.loads on bytes does.
	FrameRestart bool
	// OnStop, if set, receives the value each pickle returns (the object
	// STOP pops), so that a caller can interpret the whole object graph
	// rather than only the events. The value is the VM's symbolic one.
	OnStop func(pickle int, pos int64, v Value)
	// OnItems, if set, receives every batch of items that APPEND(S),
	// SETITEM(S) or ADDITEMS add to a value that is not a global. The VM
	// keeps added items only for plain lists, dicts and sets (up to
	// Limits.KeepItems); this hook sees them in full and for instances too
	// (the items of OrderedDict(), which torch state dicts are). The slice
	// aliases the stack: it is only valid during the call.
	OnItems func(op byte, pos int64, target Value, items []Value)
}

// Inline is data a loader reads from the middle of a pickle stream.
type Inline struct {
	// PadByte: first one byte giving a padding length, then that padding
	// (joblib's array alignment).
	PadByte bool
	Skip    int64 // then raw bytes to skip
	Pickle  bool  // then one complete pickle, unpickled on its own
}

// ErrLimit wraps every resource-limit error.
var ErrLimit = errors.New("resource limit reached")

// Run decodes the pickles in r between start and end.
func Run(r io.ReaderAt, start, end int64, opts Options) *Result {
	if opts.Limits == (Limits{}) {
		opts.Limits = DefaultLimits()
	}
	rd := newReader(r, start, end)
	rd.restartFrames, rd.frameEnd = opts.FrameRestart, -1
	m := &machine{
		rd:      rd,
		lim:     opts.Limits,
		opts:    opts,
		res:     &Result{},
		tracing: opts.OnStep != nil,
		ext:     map[int64]*Global{},
	}
	m.run(start, end)
	m.res.End = m.rd.pos
	return m.res
}

// stopError ends decoding; kind says how it is reported.
type stopError struct {
	kind AnomalyKind
	err  error
}

func (e *stopError) Error() string { return e.err.Error() }
func (e *stopError) Unwrap() error { return e.err }

type machine struct {
	rd      *reader
	lim     Limits
	opts    Options
	res     *Result
	tracing bool
	arg     string // rendered argument of the current opcode, when tracing

	// Per-pickle state, reset at each new pickle like a fresh Unpickler.
	stack     []Value
	marks     []int
	memo      memo
	proto     int
	protoSeen bool
	failed    bool // a loader error happened in this pickle
	frameEnd  int64
	frameBad  bool // divergence already reported for this pickle
	pickle    int
	ops       int64 // opcodes in this pickle

	// Process-wide state: copyreg's extension registry outlives a pickle.
	ext  map[int64]*Global
	nvar int
	ev   Event
}

func (m *machine) run(start, end int64) {
	for m.pickle = 0; ; m.pickle++ {
		if m.pickle >= m.lim.MaxPickles {
			m.stop(AnomalyLimit, fmt.Errorf("%w: more than %d pickles in one stream", ErrLimit, m.lim.MaxPickles))
			return
		}
		if m.opts.MaxPickles > 0 && m.pickle >= m.opts.MaxPickles {
			return
		}
		m.reset()
		pstart := m.rd.pos
		info := PickleInfo{Start: pstart}
		err := m.runPickle()
		info.End, info.Protocol, info.HasProto, info.Opcodes = m.rd.pos, m.proto, m.protoSeen, m.ops
		info.Complete = err == nil
		var se *stopError
		switch {
		case err == nil:
			m.res.Pickles = append(m.res.Pickles, info)
			if m.rd.pos >= end {
				return
			}
			continue
		case errors.As(err, &se) && se.kind == AnomalyMalformed && m.pickle > 0 && m.ops <= 1:
			// Not a pickle at all: data after the last STOP.
			m.rd.pos = pstart
			m.anomaly(AnomalyTrailingData, pstart, fmt.Sprintf("%d bytes after the last STOP do not start a pickle (%v)", end-pstart, se.err))
			return
		case errors.As(err, &se) && se.kind == AnomalyMalformed && m.pickle > 0:
			// A further pickle that breaks: a loader calling load() again
			// runs what comes before the break. Report it; nothing after
			// the break can run.
			m.res.Pickles = append(m.res.Pickles, info)
			m.anomaly(AnomalyMalformed, m.rd.pos, fmt.Sprintf("pickle %d breaks after %d opcodes: %v", m.pickle+1, m.ops, se.err))
			return
		default:
			m.res.Pickles = append(m.res.Pickles, info)
			kind := AnomalyMalformed
			if errors.As(err, &se) {
				kind = se.kind
			}
			m.stop(kind, err)
			return
		}
	}
}

func (m *machine) stop(kind AnomalyKind, err error) {
	m.anomaly(kind, m.rd.pos, err.Error())
	m.res.Err = err
}

func (m *machine) reset() {
	m.stack = m.stack[:0]
	m.marks = m.marks[:0]
	m.memo.reset()
	m.proto, m.protoSeen, m.failed = 0, false, false
	m.frameEnd, m.frameBad = -1, false
	m.ops = 0
}

func (m *machine) anomaly(kind AnomalyKind, pos int64, detail string) {
	if len(m.res.Anomalies) >= m.lim.MaxAnomalies {
		m.res.DroppedAnomalies++
		return
	}
	m.res.Anomalies = append(m.res.Anomalies, Anomaly{Kind: kind, Pos: pos, Pickle: m.pickle, Detail: detail})
}

// loaderErr records that CPython's unpickler would raise at pos. Decoding
// goes on: other loaders (the pure-Python one, older versions) disagree on
// some of these, and whatever follows is still worth reporting.
func (m *machine) loaderErr(pos int64, format string, args ...any) {
	m.failed = true
	m.anomaly(AnomalyLoaderError, pos, fmt.Sprintf(format, args...))
}

func malformed(format string, args ...any) error {
	return &stopError{kind: AnomalyMalformed, err: fmt.Errorf(format, args...)}
}

func limit(format string, args ...any) error {
	return &stopError{kind: AnomalyLimit, err: fmt.Errorf("%w: "+format, append([]any{ErrLimit}, args...)...)}
}

// runPickle decodes one pickle up to and including STOP.
func (m *machine) runPickle() error {
	for {
		pos := m.rd.pos
		op, err := m.rd.readByte()
		if err != nil {
			if err == io.EOF {
				return malformed("pickle exhausted before STOP at offset %d", pos)
			}
			return m.ioStop(err, pos)
		}
		m.ops++
		m.res.Opcodes++
		if m.res.Opcodes > m.lim.MaxOpcodes {
			return limit("more than %d opcodes", m.lim.MaxOpcodes)
		}
		if m.tracing {
			m.arg = ""
		}
		stop, err := m.step(op, pos)
		if err != nil {
			var se *stopError
			if errors.As(err, &se) {
				return err
			}
			return m.ioStop(err, pos)
		}
		if m.frameEnd >= 0 {
			m.checkFrame(pos)
		}
		if m.tracing {
			m.opts.OnStep(Step{Pos: pos, Op: op, Pickle: m.pickle, Arg: m.arg})
		}
		if stop {
			return nil
		}
	}
}

func (m *machine) ioStop(err error, pos int64) error {
	if errors.Is(err, errTruncated) {
		return malformed("%s at offset %d: %v", opLabel(m.rd, pos), pos, err)
	}
	return &stopError{kind: AnomalyMalformed, err: err}
}

func opLabel(rd *reader, pos int64) string {
	var b [1]byte
	if _, err := rd.r.ReadAt(b[:], pos); err == nil && opNames[b[0]] != "" {
		return opNames[b[0]]
	}
	return "opcode"
}

// checkFrame reports opcodes that straddle the end of the current frame. The
// C unpickler only uses FRAME to prefetch and ignores its boundaries; the
// pure-Python unpickler and frame-aware tools raise. Either way the stream
// means different things to different readers.
func (m *machine) checkFrame(opStart int64) {
	if opStart >= m.frameEnd {
		m.frameEnd = -1
		return
	}
	if m.rd.pos > m.frameEnd && !m.frameBad {
		m.frameBad = true
		m.anomaly(AnomalyFrameDivergence, opStart, fmt.Sprintf("opcode at offset %d crosses the frame end at %d", opStart, m.frameEnd))
	}
}

func (m *machine) newVar() int {
	m.nvar++
	return m.nvar
}

func (m *machine) emit(kind EventKind, op byte, pos int64, g *Global, fn, args, kwargs, result Value) {
	if m.opts.OnEvent == nil {
		return
	}
	m.ev = Event{Kind: kind, Op: op, Pos: pos, Pickle: m.pickle, Global: g, Func: fn, Args: args,
		Kwargs: kwargs, Result: result, AfterError: m.failed}
	m.opts.OnEvent(&m.ev)
}

// inlinePickle decodes one complete pickle at the current position with a
// machine of its own (a fresh Unpickler, as pickle.load would use) that
// shares the event stream, limits and extension registry, then resumes.
func (m *machine) inlinePickle() error {
	sub := &machine{rd: m.rd, lim: m.lim, opts: m.opts, res: m.res, tracing: m.tracing, ext: m.ext, nvar: m.nvar}
	sub.opts.MaxPickles = 1
	sub.pickle = m.pickle
	sub.reset()
	start := m.rd.pos
	err := sub.runPickle()
	m.nvar = sub.nvar
	if err != nil {
		return err
	}
	m.res.Pickles = append(m.res.Pickles, PickleInfo{Start: start, End: m.rd.pos, Protocol: sub.proto,
		HasProto: sub.protoSeen, Opcodes: sub.ops, Complete: true})
	return nil
}

// ---- stack ----

func (m *machine) fence() int {
	if n := len(m.marks); n > 0 {
		return m.marks[n-1]
	}
	return 0
}

func (m *machine) push(v Value) error {
	if len(m.stack) >= m.lim.MaxStack {
		return limit("stack deeper than %d values", m.lim.MaxStack)
	}
	m.stack = append(m.stack, v)
	return nil
}

// pop removes the top value. Popping below the current mark is a stack
// underflow in CPython; we record it and go on with an unknown value.
func (m *machine) pop(pos int64) Value {
	if len(m.stack) <= m.fence() {
		m.loaderErr(pos, "unpickling stack underflow at %s", opNames[m.curOp(pos)])
		return unknownValue(pos, "stack underflow")
	}
	v := m.stack[len(m.stack)-1]
	m.stack = m.stack[:len(m.stack)-1]
	return v
}

// top returns the top value without removing it.
func (m *machine) top(pos int64) (Value, bool) {
	if len(m.stack) <= m.fence() {
		m.loaderErr(pos, "unpickling stack underflow at %s", opNames[m.curOp(pos)])
		return unknownValue(pos, "stack underflow"), false
	}
	return m.stack[len(m.stack)-1], true
}

func (m *machine) setTop(v Value) {
	if len(m.stack) > 0 {
		m.stack[len(m.stack)-1] = v
	}
}

func (m *machine) curOp(pos int64) byte {
	var b [1]byte
	if _, err := m.rd.r.ReadAt(b[:], pos); err != nil {
		return 0
	}
	return b[0]
}

// popMark removes the items above the last mark and the mark itself. The
// returned slice aliases the stack: copy what you keep before pushing.
func (m *machine) popMark(pos int64) []Value {
	if len(m.marks) == 0 {
		m.loaderErr(pos, "could not find MARK for %s", opNames[m.curOp(pos)])
		// CPython raises; recover by taking nothing.
		return nil
	}
	k := m.marks[len(m.marks)-1]
	m.marks = m.marks[:len(m.marks)-1]
	items := m.stack[k:]
	m.stack = m.stack[:k]
	return items
}

func unknownValue(pos int64, detail string) Value {
	return Value{Kind: KindUnknown, Pos: pos, Obj: &Object{Detail: detail}}
}

// container builds a container value keeping at most KeepItems items (for
// dicts, KeepItems pairs).
func (m *machine) container(kind Kind, op byte, pos int64, items []Value) Value {
	keep := m.lim.KeepItems
	count := int64(len(items))
	if kind == KindDict {
		keep *= 2
		count = int64(len(items) / 2)
	}
	n := min(len(items), keep)
	if kind == KindDict {
		n -= n % 2
	}
	o := &Object{Count: count}
	if n > 0 {
		o.Items = append(make([]Value, 0, n), items[:n]...)
	}
	return Value{Kind: kind, Op: op, Pos: pos, Obj: o}
}

// addItems appends to a list/set/dict value, keeping the first items.
func (m *machine) addItems(target Value, items []Value) {
	o := target.Obj
	if o == nil {
		return
	}
	keep := m.lim.KeepItems
	n := int64(len(items))
	if target.Kind == KindDict {
		keep *= 2
		n /= 2
	}
	for _, it := range items {
		if len(o.Items) >= keep {
			break
		}
		o.Items = append(o.Items, it)
	}
	if target.Kind == KindDict && len(o.Items)%2 == 1 {
		o.Items = o.Items[:len(o.Items)-1]
	}
	o.Count += n
}

// mutate handles opcodes that add to or set state on the value below the
// pushed items: a container grows; a global object being changed is an
// event; an instance's own methods run (its class was already reported).
func (m *machine) mutate(op byte, pos int64, target Value, items []Value) {
	if m.opts.OnItems != nil && target.Kind != KindGlobal {
		m.opts.OnItems(op, pos, target, items)
	}
	switch target.Kind {
	case KindList, KindDict, KindSet:
		m.addItems(target, items)
	case KindGlobal:
		args := m.container(KindTuple, op, pos, items)
		m.emit(EventMutate, op, pos, target.Obj.Global, target, args, Value{}, Value{})
	}
}

// ---- memo ----

// memo is CPython's unpickler memo: a mapping from index to value whose
// length (not its largest index) is what MEMOIZE uses. Dense indices live in
// fixed-size chunks (growing never copies what is stored); sparse ones in a
// map, so a hostile PUT 4000000000 costs nothing.
type memo struct {
	chunks  [][]Value
	present []uint64 // bit i: dense index i is set
	sparse  map[uint64]Value
	n       int
}

const memoChunk = 1024

func (mm *memo) reset() {
	for _, c := range mm.chunks {
		clear(c)
	}
	mm.chunks = mm.chunks[:0]
	clear(mm.present)
	mm.present = mm.present[:0]
	mm.sparse = nil
	mm.n = 0
}

func (mm *memo) denseLen() uint64 { return uint64(len(mm.chunks)) * memoChunk }

func (mm *memo) has(i uint64) bool { return mm.present[i/64]&(1<<(i%64)) != 0 }

func (mm *memo) get(i uint64) (Value, bool) {
	if i < mm.denseLen() {
		if !mm.has(i) {
			return Value{}, false
		}
		return mm.chunks[i/memoChunk][i%memoChunk], true
	}
	v, ok := mm.sparse[i]
	return v, ok
}

func (mm *memo) put(i uint64, v Value, maxEntries int) error {
	if i < mm.denseLen() {
		if !mm.has(i) {
			if mm.n >= maxEntries {
				return limit("more than %d memo entries", maxEntries)
			}
			mm.n++
			mm.present[i/64] |= 1 << (i % 64)
		}
		mm.chunks[i/memoChunk][i%memoChunk] = v
		return nil
	}
	if _, ok := mm.sparse[i]; ok {
		mm.sparse[i] = v
		return nil
	}
	if mm.n >= maxEntries {
		return limit("more than %d memo entries", maxEntries)
	}
	mm.n++
	// Grow the dense part only for indices close to the number of entries:
	// what pickles write (0, 1, 2, ...) stays dense, a flood of far indices
	// goes to the map.
	if i < uint64(2*mm.n+memoChunk) {
		for i >= mm.denseLen() {
			if len(mm.chunks) < cap(mm.chunks) {
				mm.chunks = mm.chunks[:len(mm.chunks)+1]
				if mm.chunks[len(mm.chunks)-1] == nil {
					mm.chunks[len(mm.chunks)-1] = make([]Value, memoChunk)
				}
			} else {
				mm.chunks = append(mm.chunks, make([]Value, memoChunk))
			}
			for uint64(len(mm.present))*64 < mm.denseLen() {
				mm.present = append(mm.present, 0)
			}
		}
		mm.present[i/64] |= 1 << (i % 64)
		mm.chunks[i/memoChunk][i%memoChunk] = v
		return nil
	}
	if mm.sparse == nil {
		mm.sparse = map[uint64]Value{}
	}
	mm.sparse[i] = v
	return nil
}

func (m *machine) memoPut(pos int64, i uint64) error {
	v, ok := m.top(pos)
	if !ok {
		return nil
	}
	if m.tracing {
		m.arg = strconv.FormatUint(i, 10)
	}
	return m.memo.put(i, v, m.lim.MaxMemo)
}

func (m *machine) memoGet(pos int64, i uint64) error {
	if m.tracing {
		m.arg = strconv.FormatUint(i, 10)
	}
	v, ok := m.memo.get(i)
	if !ok {
		m.anomaly(AnomalyMemoMiss, pos, fmt.Sprintf("memo index %d was never stored", i))
		m.failed = true
		v = unknownValue(pos, fmt.Sprintf("memo[%d] missing", i))
	}
	return m.push(v)
}

// ---- globals ----

// findClass resolves module and name the way Unpickler.find_class does:
// fix_imports mapping below protocol 3. Dotted names are kept whole; the
// catalogue reads every attribute along them.
func (m *machine) findClass(op byte, pos int64, module, name string) *Global {
	g := &Global{Module: module, Name: name, RawModule: module, RawName: name, Pos: pos, Op: op}
	if m.proto < 3 {
		g.Module, g.Name = FixImports(module, name)
	}
	return g
}

func (m *machine) pushGlobal(g *Global) error {
	v := Value{Kind: KindGlobal, Op: g.Op, Pos: g.Pos, Obj: &Object{Global: g}}
	m.emit(EventImport, g.Op, g.Pos, g, v, Value{}, Value{}, Value{})
	if m.tracing {
		m.arg = g.RawModule + "." + g.RawName
		if g.RawModule != g.Module || g.RawName != g.Name {
			m.arg += " → " + g.Path()
		}
	}
	return m.push(v)
}

// globalOf returns the global a value directly is, if any.
func globalOf(v Value) *Global {
	if v.Kind == KindGlobal && v.Obj != nil {
		return v.Obj.Global
	}
	return nil
}

// classOf returns the global whose call or instantiation produced v.
func classOf(v Value) *Global {
	if (v.Kind == KindCall || v.Kind == KindNew) && v.Obj != nil {
		return globalOf(v.Obj.Func)
	}
	return nil
}

// call records fn(*args) and returns its symbolic result.
func (m *machine) call(op byte, pos int64, fn, args Value) Value {
	res := Value{Kind: KindCall, Op: op, Pos: pos, Obj: &Object{Func: fn, Args: args, Var: m.newVar()}}
	g := globalOf(fn)
	m.emit(EventCall, op, pos, g, fn, args, Value{}, res)
	if g != nil && g.Module == "copyreg" && g.Name == "add_extension" {
		m.registerExtension(args)
	}
	if m.tracing {
		m.arg = "_var" + strconv.Itoa(res.Obj.Var) + " = " + Renderer{VarNames: true}.RenderCall(res)
	}
	return res
}

// registerExtension emulates copyreg.add_extension(module, name, code) so
// that later EXT opcodes resolve to what the pickle registered.
func (m *machine) registerExtension(args Value) {
	items, all := args.TupleItems()
	if !all || len(items) != 3 || items[2].Kind != KindInt {
		return
	}
	mod, ok1 := items[0].AsString()
	name, ok2 := items[1].AsString()
	if !ok1 || !ok2 {
		return
	}
	m.ext[items[2].Int] = &Global{Module: mod, Name: name, RawModule: mod, RawName: name}
}

func (m *machine) extension(op byte, pos int64, code int64) error {
	reg, ok := m.ext[code]
	if !ok {
		m.loaderErr(pos, "unregistered extension code %d", code)
		if m.tracing {
			m.arg = strconv.FormatInt(code, 10)
		}
		return m.push(unknownValue(pos, fmt.Sprintf("extension code %d (unregistered)", code)))
	}
	return m.pushGlobal(m.findClass(op, pos, reg.Module, reg.Name))
}

// ---- the opcodes ----

// step executes one opcode. It returns stop=true after STOP.
func (m *machine) step(op byte, pos int64) (stop bool, err error) {
	rd := m.rd
	switch op {
	case opMark:
		if len(m.marks) >= m.lim.MaxMarks {
			return false, limit("more than %d nested MARKs", m.lim.MaxMarks)
		}
		m.marks = append(m.marks, len(m.stack))
	case opStop:
		v := m.pop(pos)
		if m.tracing {
			m.arg = Renderer{VarNames: true}.Render(v)
		}
		if m.opts.OnStop != nil {
			m.opts.OnStop(m.pickle, pos, v)
		}
		return true, nil
	case opPop:
		// CPython pops the mark when the last mark is at the top.
		if n := len(m.marks); n > 0 && m.marks[n-1] == len(m.stack) {
			m.marks = m.marks[:n-1]
		} else {
			m.pop(pos)
		}
	case opPopMark:
		m.popMark(pos)
	case opDup:
		v, _ := m.top(pos)
		return false, m.push(v)

	// Numbers.
	case opInt:
		return false, m.textInt(op, pos, false)
	case opLong:
		return false, m.textInt(op, pos, true)
	case opBinint:
		b, err := rd.next(4)
		if err != nil {
			return false, err
		}
		return false, m.pushInt(op, pos, int64(int32(binary.LittleEndian.Uint32(b))))
	case opBinint1:
		c, err := rd.readByte()
		if err != nil {
			return false, noEOF(err)
		}
		return false, m.pushInt(op, pos, int64(c))
	case opBinint2:
		b, err := rd.next(2)
		if err != nil {
			return false, err
		}
		return false, m.pushInt(op, pos, int64(binary.LittleEndian.Uint16(b)))
	case opLong1:
		c, err := rd.readByte()
		if err != nil {
			return false, noEOF(err)
		}
		return false, m.binLong(op, pos, int64(c))
	case opLong4:
		b, err := rd.next(4)
		if err != nil {
			return false, err
		}
		n := int64(int32(binary.LittleEndian.Uint32(b)))
		if n < 0 {
			return false, malformed("LONG pickle has negative byte count at offset %d", pos)
		}
		return false, m.binLong(op, pos, n)
	case opFloat:
		s, _, err := rd.line(64, m.lim.MaxLine)
		if err != nil {
			return false, err
		}
		f, perr := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if perr != nil {
			m.loaderErr(pos, "could not convert string to float: %q", s)
		}
		return false, m.pushFloat(op, pos, f)
	case opBinfloat:
		b, err := rd.next(8)
		if err != nil {
			return false, err
		}
		return false, m.pushFloat(op, pos, math.Float64frombits(binary.BigEndian.Uint64(b)))
	case opNone:
		return false, m.pushTraced(Value{Kind: KindNone, Op: op, Pos: pos})
	case opNewtrue, opNewfalse:
		v := int64(0)
		if op == opNewtrue {
			v = 1
		}
		return false, m.pushTraced(Value{Kind: KindBool, Op: op, Pos: pos, Int: v})

	// Strings and bytes.
	case opString:
		s, n, err := rd.line(m.lim.KeepBytes+2, m.lim.MaxLine)
		if err != nil {
			return false, err
		}
		return false, m.pushTraced(m.quotedString(op, pos, s, n))
	case opUnicode:
		s, n, err := rd.line(m.lim.KeepBytes, m.lim.MaxLine)
		if err != nil {
			return false, err
		}
		v := Value{Kind: KindStr, Op: op, Pos: pos, Str: decodeRawUnicodeEscape(s), Int: n}
		if int64(len(s)) == n {
			v.Int = int64(len(v.Str))
		}
		return false, m.pushTraced(v)
	case opBinstring:
		return false, m.lenPrefixed(op, pos, 4, true, KindStr)
	case opShortBinstring:
		return false, m.lenPrefixed(op, pos, 1, false, KindStr)
	case opBinunicode:
		return false, m.lenPrefixed(op, pos, 4, false, KindStr)
	case opShortBinunicode:
		return false, m.lenPrefixed(op, pos, 1, false, KindStr)
	case opBinunicode8:
		return false, m.lenPrefixed(op, pos, 8, false, KindStr)
	case opBinbytes:
		return false, m.lenPrefixed(op, pos, 4, false, KindBytes)
	case opShortBinbytes:
		return false, m.lenPrefixed(op, pos, 1, false, KindBytes)
	case opBinbytes8:
		return false, m.lenPrefixed(op, pos, 8, false, KindBytes)
	case opBytearray8:
		return false, m.lenPrefixed(op, pos, 8, false, KindByteArray)
	case opNextBuffer:
		m.loaderErr(pos, "pickle stream refers to out-of-band data but no buffers argument was given")
		return false, m.push(Value{Kind: KindBuffer, Op: op, Pos: pos})
	case opReadonlyBuffer:
		m.top(pos)

	// Containers.
	case opEmptyTuple:
		return false, m.push(m.container(KindTuple, op, pos, nil))
	case opTuple:
		items := m.popMark(pos)
		return false, m.push(m.container(KindTuple, op, pos, items))
	case opTuple1, opTuple2, opTuple3:
		n := int(op-opTuple1) + 1
		var items [3]Value
		for i := n - 1; i >= 0; i-- {
			items[i] = m.pop(pos)
		}
		return false, m.push(m.container(KindTuple, op, pos, items[:n]))
	case opEmptyList:
		return false, m.push(m.container(KindList, op, pos, nil))
	case opList:
		items := m.popMark(pos)
		return false, m.push(m.container(KindList, op, pos, items))
	case opEmptyDict:
		return false, m.push(m.container(KindDict, op, pos, nil))
	case opDict:
		items := m.popMark(pos)
		if len(items)%2 != 0 {
			m.loaderErr(pos, "odd number of items for DICT")
		}
		return false, m.push(m.container(KindDict, op, pos, items))
	case opEmptySet:
		return false, m.push(m.container(KindSet, op, pos, nil))
	case opFrozenset:
		items := m.popMark(pos)
		return false, m.push(m.container(KindFrozenSet, op, pos, items))
	case opAppend:
		v := m.pop(pos)
		if t, ok := m.top(pos); ok {
			m.mutate(op, pos, t, []Value{v})
		}
	case opAppends, opSetitems, opAdditems:
		items := m.popMark(pos)
		if op == opSetitems && len(items)%2 != 0 {
			m.loaderErr(pos, "odd number of items for SETITEMS")
		}
		if t, ok := m.top(pos); ok {
			m.mutate(op, pos, t, items)
		}
	case opSetitem:
		v := m.pop(pos)
		k := m.pop(pos)
		if t, ok := m.top(pos); ok {
			m.mutate(op, pos, t, []Value{k, v})
		}

	// Memo.
	case opPut:
		s, _, err := rd.line(32, m.lim.MaxLine)
		if err != nil {
			return false, err
		}
		i, perr := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if perr != nil || i < 0 {
			m.loaderErr(pos, "bad PUT argument %q", s)
			return false, nil
		}
		return false, m.memoPut(pos, uint64(i))
	case opBinput:
		c, err := rd.readByte()
		if err != nil {
			return false, noEOF(err)
		}
		return false, m.memoPut(pos, uint64(c))
	case opLongBinput:
		b, err := rd.next(4)
		if err != nil {
			return false, err
		}
		return false, m.memoPut(pos, uint64(binary.LittleEndian.Uint32(b)))
	case opMemoize:
		return false, m.memoPut(pos, uint64(m.memo.n))
	case opGet:
		s, _, err := rd.line(32, m.lim.MaxLine)
		if err != nil {
			return false, err
		}
		i, perr := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if perr != nil || i < 0 {
			m.loaderErr(pos, "bad GET argument %q", s)
			return false, m.push(unknownValue(pos, "bad GET"))
		}
		return false, m.memoGet(pos, uint64(i))
	case opBinget:
		c, err := rd.readByte()
		if err != nil {
			return false, noEOF(err)
		}
		return false, m.memoGet(pos, uint64(c))
	case opLongBinget:
		b, err := rd.next(4)
		if err != nil {
			return false, err
		}
		return false, m.memoGet(pos, uint64(binary.LittleEndian.Uint32(b)))

	// Globals and calls.
	case opGlobal:
		mod, name, err := m.twoLines()
		if err != nil {
			return false, err
		}
		return false, m.pushGlobal(m.findClass(op, pos, mod, name))
	case opStackGlobal:
		return false, m.stackGlobal(op, pos)
	case opExt1:
		c, err := rd.readByte()
		if err != nil {
			return false, noEOF(err)
		}
		return false, m.extension(op, pos, int64(c))
	case opExt2:
		b, err := rd.next(2)
		if err != nil {
			return false, err
		}
		return false, m.extension(op, pos, int64(binary.LittleEndian.Uint16(b)))
	case opExt4:
		b, err := rd.next(4)
		if err != nil {
			return false, err
		}
		return false, m.extension(op, pos, int64(int32(binary.LittleEndian.Uint32(b))))
	case opReduce:
		args := m.pop(pos)
		fn := m.pop(pos)
		if args.Kind != KindTuple && args.Kind != KindUnknown {
			m.loaderErr(pos, "REDUCE argument list is not a tuple")
		}
		return false, m.push(m.call(op, pos, fn, args))
	case opInst:
		mod, name, err := m.twoLines()
		if err != nil {
			return false, err
		}
		items := m.popMark(pos)
		args := m.container(KindTuple, op, pos, items)
		g := m.findClass(op, pos, mod, name)
		fn := Value{Kind: KindGlobal, Op: op, Pos: pos, Obj: &Object{Global: g}}
		m.emit(EventImport, op, pos, g, fn, Value{}, Value{}, Value{})
		return false, m.push(m.call(op, pos, fn, args))
	case opObj:
		items := m.popMark(pos)
		if len(items) == 0 {
			m.loaderErr(pos, "OBJ without a class")
			return false, m.push(unknownValue(pos, "OBJ without a class"))
		}
		fn := items[0]
		args := m.container(KindTuple, op, pos, items[1:])
		return false, m.push(m.call(op, pos, fn, args))
	case opNewobj, opNewobjEx:
		var kwargs Value
		if op == opNewobjEx {
			kwargs = m.pop(pos)
		}
		args := m.pop(pos)
		cls := m.pop(pos)
		res := Value{Kind: KindNew, Op: op, Pos: pos, Obj: &Object{Func: cls, Args: args, Kwargs: kwargs, Var: m.newVar()}}
		// A persistent id may stand for a class: torch's legacy loader
		// returns the class for ('module', cls, file, source) records.
		if cls.Kind != KindGlobal && cls.Kind != KindUnknown && cls.Kind != KindPersistent {
			m.loaderErr(pos, "%s class argument isn't a type object", opNames[op])
		}
		m.emit(EventNew, op, pos, globalOf(cls), cls, args, kwargs, res)
		if m.tracing {
			m.arg = "_var" + strconv.Itoa(res.Obj.Var) + " = " + Renderer{VarNames: true}.RenderCall(res)
		}
		return false, m.push(res)
	case opBuild:
		state := m.pop(pos)
		inst, ok := m.top(pos)
		if !ok {
			return false, nil
		}
		m.build(op, pos, inst, state)
		if m.opts.AfterBuild != nil {
			in, err := m.opts.AfterBuild(m.rd.pos, inst, state)
			if err != nil {
				return false, malformed("after BUILD at offset %d: %v", pos, err)
			}
			if in.PadByte {
				c, err := m.rd.readByte()
				if err != nil {
					return false, malformed("after BUILD at offset %d: padding length: %v", pos, noEOF(err))
				}
				in.Skip += int64(c)
			}
			if in.Skip < 0 || in.Skip > m.rd.end-m.rd.pos {
				return false, malformed("after BUILD at offset %d: %d inline bytes declared, %d remain: %v", pos, in.Skip, m.rd.end-m.rd.pos, errTruncated)
			}
			m.rd.pos += in.Skip
			m.frameEnd = -1
			if in.Pickle {
				if err := m.inlinePickle(); err != nil {
					return false, err
				}
			}
		}
	case opPersid:
		s, n, err := rd.line(m.lim.KeepBytes, m.lim.MaxLine)
		if err != nil {
			return false, err
		}
		pid := Value{Kind: KindStr, Op: op, Pos: pos, Str: s, Int: n}
		return false, m.persistent(op, pos, pid)
	case opBinpersid:
		return false, m.persistent(op, pos, m.pop(pos))

	// Protocol and framing.
	case opProto:
		c, err := rd.readByte()
		if err != nil {
			return false, noEOF(err)
		}
		if m.tracing {
			m.arg = strconv.Itoa(int(c))
		}
		if m.protoSeen {
			m.anomaly(AnomalyDuplicateProto, pos, fmt.Sprintf("PROTO %d after PROTO %d", c, m.proto))
		}
		m.protoSeen = true
		if int(c) > HighestProtocol {
			m.loaderErr(pos, "unsupported pickle protocol: %d", c)
		}
		m.proto = int(c)
	case opFrame:
		b, err := rd.next(8)
		if err != nil {
			return false, err
		}
		n := binary.LittleEndian.Uint64(b)
		if m.tracing {
			m.arg = strconv.FormatUint(n, 10)
		}
		m.frame(pos, n)
	default:
		return false, malformed("unknown opcode 0x%02x at offset %d", op, pos)
	}
	return false, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return errTruncated
	}
	return err
}

func (m *machine) pushTraced(v Value) error {
	if m.tracing {
		m.arg = Renderer{}.Render(v)
	}
	return m.push(v)
}

func (m *machine) pushInt(op byte, pos int64, i int64) error {
	return m.pushTraced(Value{Kind: KindInt, Op: op, Pos: pos, Int: i})
}

func (m *machine) pushFloat(op byte, pos int64, f float64) error {
	return m.pushTraced(Value{Kind: KindFloat, Op: op, Pos: pos, Int: int64(math.Float64bits(f))})
}

// textInt handles INT and LONG: decimal text, "00"/"01" for booleans.
func (m *machine) textInt(op byte, pos int64, long bool) error {
	s, n, err := m.rd.line(64, m.lim.MaxLine)
	if err != nil {
		return err
	}
	t := strings.TrimSpace(s)
	if long {
		t = strings.TrimSuffix(t, "L")
	}
	if !long && n == 2 && (t == "00" || t == "01") {
		return m.pushTraced(Value{Kind: KindBool, Op: op, Pos: pos, Int: int64(t[1] - '0')})
	}
	if i, perr := strconv.ParseInt(t, 10, 64); perr == nil {
		return m.pushInt(op, pos, i)
	}
	if isDecimal(t) {
		if n > int64(len(s)) {
			t += "…"
		}
		return m.pushTraced(Value{Kind: KindBigInt, Op: op, Pos: pos, Str: t})
	}
	m.loaderErr(pos, "invalid literal for int(): %q", s)
	return m.push(unknownValue(pos, "bad integer"))
}

func isDecimal(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// binLong decodes a little-endian two's-complement integer of n bytes.
func (m *machine) binLong(op byte, pos int64, n int64) error {
	if n <= 8 {
		b, err := m.rd.next(int(n))
		if err != nil {
			return err
		}
		var u uint64
		for i := len(b) - 1; i >= 0; i-- {
			u = u<<8 | uint64(b[i])
		}
		if n > 0 && n < 8 && b[n-1]&0x80 != 0 {
			u |= ^uint64(0) << (8 * uint(n))
		}
		return m.pushInt(op, pos, int64(u))
	}
	if n > m.lim.MaxLongBytes {
		if _, err := m.rd.payload(n, 0); err != nil {
			return err
		}
		return m.pushTraced(Value{Kind: KindBigInt, Op: op, Pos: pos, Str: fmt.Sprintf("<int of %d bytes>", n)})
	}
	b, err := m.rd.payload(n, int(n))
	if err != nil {
		return err
	}
	be := make([]byte, n)
	for i := range be {
		be[i] = b[len(b)-1-i]
	}
	x := new(big.Int).SetBytes(be)
	if be[0]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*n)))
	}
	return m.pushTraced(Value{Kind: KindBigInt, Op: op, Pos: pos, Str: x.String()})
}

// lenPrefixed handles every opcode of the form length + payload. The payload
// is skipped past its first KeepBytes bytes without being read.
func (m *machine) lenPrefixed(op byte, pos int64, width int, signed bool, kind Kind) error {
	var n int64
	switch width {
	case 1:
		c, err := m.rd.readByte()
		if err != nil {
			return noEOF(err)
		}
		n = int64(c)
	case 4:
		b, err := m.rd.next(4)
		if err != nil {
			return err
		}
		if signed {
			n = int64(int32(binary.LittleEndian.Uint32(b)))
		} else {
			n = int64(binary.LittleEndian.Uint32(b))
		}
	case 8:
		b, err := m.rd.next(8)
		if err != nil {
			return err
		}
		u := binary.LittleEndian.Uint64(b)
		if u > math.MaxInt64 {
			return malformed("%s length %d exceeds the maximum size at offset %d", opNames[op], u, pos)
		}
		n = int64(u)
	}
	if n < 0 {
		return malformed("%s has negative byte count at offset %d", opNames[op], pos)
	}
	if rem := m.rd.end - m.rd.pos; n > rem {
		return malformed("%s at offset %d declares %d bytes but only %d remain: %v", opNames[op], pos, n, rem, errTruncated)
	}
	s, err := m.rd.payload(n, m.lim.KeepBytes)
	if err != nil {
		return err
	}
	return m.pushTraced(Value{Kind: kind, Op: op, Pos: pos, Str: s, Int: n})
}

// quotedString decodes a protocol-0 STRING argument: a Python bytes literal
// in quotes, escape-decoded.
func (m *machine) quotedString(op byte, pos int64, s string, n int64) Value {
	t := strings.TrimRight(s, " \t\r")
	full := int64(len(s)) == n
	if len(t) < 2 || (full && (t[0] != t[len(t)-1])) || (t[0] != '\'' && t[0] != '"') {
		m.loaderErr(pos, "the STRING opcode argument must be quoted")
		return unknownValue(pos, "unquoted STRING")
	}
	body := t[1:]
	if full {
		body = t[1 : len(t)-1]
	}
	dec := decodeEscapes(body)
	v := Value{Kind: KindStr, Op: op, Pos: pos, Str: dec, Int: int64(len(dec))}
	if !full {
		v.Int = n // only a prefix is known
	}
	return v
}

// twoLines reads GLOBAL/INST's "module\nname\n".
func (m *machine) twoLines() (string, string, error) {
	const keep = 4096
	mod, _, err := m.rd.line(keep, m.lim.MaxLine)
	if err != nil {
		return "", "", err
	}
	name, _, err := m.rd.line(keep, m.lim.MaxLine)
	if err != nil {
		return "", "", err
	}
	return mod, name, nil
}

// stackGlobal pops name and module. CPython requires both to be str; a
// scanner must not give up when they are not (crashing genops-based tools is
// the point of such streams), so we still resolve what we can.
func (m *machine) stackGlobal(op byte, pos int64) error {
	nameV := m.pop(pos)
	modV := m.pop(pos)
	mod, ok1 := modV.AsString()
	name, ok2 := nameV.AsString()
	if ok1 && ok2 {
		return m.pushGlobal(m.findClass(op, pos, mod, name))
	}
	r := Renderer{}
	m.anomaly(AnomalyNonStringGlobal, pos, fmt.Sprintf("STACK_GLOBAL operands are %s and %s", r.Render(modV), r.Render(nameV)))
	m.failed = true
	stringish := func(v Value) (string, bool) {
		if (v.Kind == KindStr || v.Kind == KindBytes || v.Kind == KindByteArray) && !v.Truncated() {
			return v.Str, true
		}
		return "", false
	}
	if mod, ok := stringish(modV); ok {
		if name, ok := stringish(nameV); ok {
			return m.pushGlobal(m.findClass(op, pos, mod, name))
		}
	}
	return m.push(unknownValue(pos, "STACK_GLOBAL of "+r.Render(modV)+", "+r.Render(nameV)))
}

func (m *machine) build(op byte, pos int64, inst, state Value) {
	switch inst.Kind {
	case KindGlobal:
		m.emit(EventMutate, op, pos, inst.Obj.Global, inst, state, Value{}, Value{})
	case KindCall, KindNew, KindUnknown, KindPersistent:
		if inst.Obj != nil {
			inst.Obj.State, inst.Obj.Built = state, true
		}
		m.emit(EventBuild, op, pos, classOf(inst), inst, state, Value{}, inst)
	}
	if m.tracing {
		m.arg = Renderer{VarNames: true}.Render(inst) + ".__setstate__(" + Renderer{VarNames: true}.Render(state) + ")"
	}
}

func (m *machine) persistent(op byte, pos int64, pid Value) error {
	v := Value{Kind: KindPersistent, Op: op, Pos: pos, Obj: &Object{Args: pid}}
	m.emit(EventPersistentID, op, pos, nil, Value{}, pid, Value{}, v)
	if m.tracing {
		m.arg = Renderer{}.Render(pid)
	}
	return m.push(v)
}

// frame handles FRAME n. The C unpickler reads n bytes ahead and fails if
// they are not there; frame boundaries are checked per opcode (checkFrame).
func (m *machine) frame(pos int64, n uint64) {
	if m.frameEnd >= 0 && pos < m.frameEnd && !m.frameBad {
		m.frameBad = true
		m.anomaly(AnomalyFrameDivergence, pos, fmt.Sprintf("new FRAME at offset %d before the end of the current frame at %d", pos, m.frameEnd))
	}
	rem := m.rd.end - m.rd.pos
	if n > uint64(rem) {
		if !m.frameBad {
			m.frameBad = true
			m.anomaly(AnomalyFrameDivergence, pos, fmt.Sprintf("FRAME at offset %d declares %d bytes but only %d remain", pos, n, rem))
		}
		m.loaderErr(pos, "pickle data was truncated (FRAME of %d bytes)", n)
		m.frameEnd = -1
		return
	}
	m.frameEnd = m.rd.pos + int64(n)
	if m.rd.restartFrames {
		m.rd.frameEnd = m.frameEnd
	}
}

// decodeEscapes decodes a Python bytes literal body (\\, \', \n, \xNN, \NNN).
func decodeEscapes(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch e := s[i]; e {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'v':
			b.WriteByte('\v')
		case '\\', '\'', '"':
			b.WriteByte(e)
		case '\n':
		case 'x':
			if i+2 < len(s) {
				if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
					b.WriteByte(byte(v))
					i += 2
					continue
				}
			}
			b.WriteString(`\x`)
		default:
			if e >= '0' && e <= '7' {
				j := i
				v := 0
				for j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7' {
					v = v*8 + int(s[j]-'0')
					j++
				}
				b.WriteByte(byte(v))
				i = j - 1
				continue
			}
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	return b.String()
}

// decodeRawUnicodeEscape decodes protocol-0 UNICODE text: \uXXXX and
// \UXXXXXXXX escapes, other bytes as Latin-1.
func decodeRawUnicodeEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') {
			w := 4
			if s[i+1] == 'U' {
				w = 8
			}
			if i+2+w <= len(s) {
				if v, err := strconv.ParseUint(s[i+2:i+2+w], 16, 32); err == nil {
					b.WriteRune(rune(v))
					i += 1 + w
					continue
				}
			}
		}
		b.WriteRune(rune(c))
	}
	return b.String()
}
