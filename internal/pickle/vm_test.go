package pickle_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelgate/modelgate/internal/pickle"
	pt "github.com/modelgate/modelgate/internal/pickle/pickletest"
)

type run struct {
	events []pickle.Event
	res    *pickle.Result
	steps  []pickle.Step
}

func runBytes(t *testing.T, data []byte, lim ...pickle.Limits) run {
	t.Helper()
	var r run
	opts := pickle.Options{
		OnEvent: func(e *pickle.Event) { r.events = append(r.events, *e) },
		OnStep:  func(s pickle.Step) { r.steps = append(r.steps, s) },
	}
	if len(lim) > 0 {
		opts.Limits = lim[0]
	}
	r.res = pickle.Run(bytes.NewReader(data), 0, int64(len(data)), opts)
	return r
}

func (r run) calls() []string {
	var out []string
	for _, e := range r.events {
		if e.Kind == pickle.EventCall {
			out = append(out, pickle.Renderer{}.RenderCall(e.Result))
		}
	}
	return out
}

func (r run) globals(kind pickle.EventKind) []string {
	var out []string
	for _, e := range r.events {
		if e.Kind == kind && e.Global != nil {
			out = append(out, e.Global.Path())
		}
	}
	return out
}

func (r run) anomalies(kind pickle.AnomalyKind) []pickle.Anomaly {
	var out []pickle.Anomaly
	for _, a := range r.res.Anomalies {
		if a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}

// lastValue returns what the last STOP returned, rendered.
func (r run) lastValue() string {
	for i := len(r.steps) - 1; i >= 0; i-- {
		if r.steps[i].Op == '.' {
			return r.steps[i].Arg
		}
	}
	return ""
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if g, w := strings.TrimSpace(strings.Join(toStrings(got), "\n")), strings.TrimSpace(strings.Join(toStrings(want), "\n")); g != w {
		t.Errorf("%s:\n got: %s\nwant: %s", what, g, w)
	}
}

func toStrings(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case string:
		return []string{x}
	}
	panic("unsupported")
}

func TestCallEvents(t *testing.T) {
	data := pt.New().Proto(2).Call("os", "system", "touch x").Stop().Bytes()
	r := runBytes(t, data)
	equal(t, "calls", r.calls(), []string{"os.system('touch x')"})
	equal(t, "imports", r.globals(pickle.EventImport), []string{"os.system"})
	if r.res.Err != nil || len(r.res.Anomalies) != 0 {
		t.Fatalf("unexpected err %v anomalies %v", r.res.Err, r.res.Anomalies)
	}
	if len(r.res.Pickles) != 1 || !r.res.Pickles[0].Complete || r.res.Pickles[0].Protocol != 2 {
		t.Errorf("pickles = %+v", r.res.Pickles)
	}
}

func TestFixImports(t *testing.T) {
	for _, tc := range []struct {
		name  string
		proto int // -1: no PROTO opcode
		want  string
	}{
		{"protocol 0 maps", -1, "builtins.eval"},
		{"protocol 2 maps", 2, "builtins.eval"},
		{"protocol 3 keeps", 3, "__builtin__.eval"},
		{"protocol 4 keeps", 4, "__builtin__.eval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := pt.New()
			if tc.proto >= 0 {
				b.Proto(byte(tc.proto))
			}
			r := runBytes(t, b.Call("__builtin__", "eval", "1").Stop().Bytes())
			equal(t, "import", r.globals(pickle.EventImport), []string{tc.want})
		})
	}
	// A pair mapping beats the module mapping.
	r := runBytes(t, pt.New().Proto(2).Call("__builtin__", "reduce").Stop().Bytes())
	equal(t, "pair mapping", r.globals(pickle.EventCall), []string{"functools.reduce"})
	r = runBytes(t, pt.New().Proto(1).Call("commands", "getoutput", "id").Stop().Bytes())
	equal(t, "commands → subprocess", r.globals(pickle.EventCall), []string{"subprocess.getoutput"})
}

func TestStackGlobalOperandsFromMemoAndDup(t *testing.T) {
	// Operands stored in the memo, popped, and fetched back with GET: a
	// scanner that tracks only the last string literal sees nothing.
	data := pt.New().Proto(4).
		Str("posix").Memoize().Pop().
		Str("system").Memoize().Pop().
		Get(0).Get(1).StackGlobal().
		Str("id").Tuple1().Reduce().Stop().Bytes()
	r := runBytes(t, data)
	equal(t, "calls", r.calls(), []string{"posix.system('id')"})

	data = pt.New().Proto(4).Str("builtins").Dup().Pop().Str("eval").StackGlobal().Str("1").Tuple1().Reduce().Stop().Bytes()
	equal(t, "dup", runBytes(t, data).calls(), []string{"builtins.eval('1')"})
}

func TestMixedPutAndMemoize(t *testing.T) {
	// PUT 5 makes len(memo) 1, so the next MEMOIZE stores at index 1, not 6.
	data := pt.New().Proto(4).
		Str("ignored").Put(5).Pop().
		Str("posix").Memoize().Pop().
		Str("system").Put(0).Pop().
		Get(1).Get(0).StackGlobal().Str("x").Tuple1().Reduce().Stop().Bytes()
	r := runBytes(t, data)
	equal(t, "calls", r.calls(), []string{"posix.system('x')"})
	if n := len(r.anomalies(pickle.AnomalyMemoMiss)); n != 0 {
		t.Errorf("memo misses = %d", n)
	}
}

func TestMemoMiss(t *testing.T) {
	data := pt.New().Proto(2).Get(7).EmptyTuple().Reduce().Stop().Bytes()
	r := runBytes(t, data)
	if len(r.anomalies(pickle.AnomalyMemoMiss)) != 1 {
		t.Fatalf("anomalies = %+v", r.res.Anomalies)
	}
	var computed int
	for _, e := range r.events {
		if e.Kind == pickle.EventCall && e.Global == nil && e.AfterError {
			computed++
		}
	}
	if computed != 1 {
		t.Errorf("want one call of an unresolved value marked AfterError, events %+v", r.events)
	}
}

func TestNonStringStackGlobal(t *testing.T) {
	data := pt.New().Proto(4).ShortBytes("posix").ShortBytes("system").StackGlobal().Str("x").Tuple1().Reduce().Stop().Bytes()
	r := runBytes(t, data)
	if len(r.anomalies(pickle.AnomalyNonStringGlobal)) != 1 {
		t.Errorf("anomalies = %+v", r.res.Anomalies)
	}
	equal(t, "still resolved", r.globals(pickle.EventCall), []string{"posix.system"})
}

func TestDottedNameKeptWhole(t *testing.T) {
	r := runBytes(t, pt.New().Proto(4).Call("pathlib", "os.system", "x").Stop().Bytes())
	equal(t, "dotted", r.globals(pickle.EventCall), []string{"pathlib.os.system"})
}

func TestExtensionRegisteredInStream(t *testing.T) {
	data := pt.New().Proto(2).
		Global("copyreg", "add_extension").Mark().Str("posix").Str("system").Int(0x42).Tuple().Reduce().Pop().
		Ext1(0x42).Str("id").Tuple1().Reduce().Stop().Bytes()
	r := runBytes(t, data)
	equal(t, "calls", r.calls(), []string{"copyreg.add_extension('posix', 'system', 66)", "posix.system('id')"})

	// The registry is process-wide: a later pickle of the same stream sees it.
	second := pt.New().Proto(2).Ext1(0x42).Str("id").Tuple1().Reduce().Stop().Bytes()
	r = runBytes(t, append(append([]byte{}, data...), second...))
	equal(t, "second pickle", r.globals(pickle.EventCall), []string{"copyreg.add_extension", "posix.system", "posix.system"})

	// Unregistered: the loader raises; the call is of an unknown value.
	r = runBytes(t, pt.New().Proto(2).Ext1(9).EmptyTuple().Reduce().Stop().Bytes())
	if len(r.anomalies(pickle.AnomalyLoaderError)) == 0 {
		t.Errorf("want a loader error, got %+v", r.res.Anomalies)
	}
}

func TestDiscardedCallsStillCount(t *testing.T) {
	data := pt.New().Proto(2).Call("os", "system", "a").Pop().
		Mark().Call("os", "system", "b").PopMark().
		None().Stop().Bytes()
	r := runBytes(t, data)
	equal(t, "calls", r.calls(), []string{"os.system('a')", "os.system('b')"})
	if r.res.Err != nil || len(r.res.Anomalies) != 0 {
		t.Errorf("err %v anomalies %+v", r.res.Err, r.res.Anomalies)
	}
}

func TestPopPopsMarkLikeCPython(t *testing.T) {
	// MARK then POP: CPython's POP removes the mark when it is on top.
	data := pt.New().Proto(2).Int(1).Mark().Pop().Stop().Bytes()
	r := runBytes(t, data)
	if len(r.res.Anomalies) != 0 {
		t.Errorf("anomalies = %+v", r.res.Anomalies)
	}
	equal(t, "value", r.lastValue(), "1")
}

func TestPayloadThenBrokenStream(t *testing.T) {
	data := pt.New().Proto(2).Call("os", "system", "x").Raw(0xff, 0xfe).Bytes()
	r := runBytes(t, data)
	equal(t, "calls", r.calls(), []string{"os.system('x')"})
	if r.res.Err == nil || len(r.anomalies(pickle.AnomalyMalformed)) != 1 {
		t.Errorf("err %v anomalies %+v", r.res.Err, r.res.Anomalies)
	}
}

func TestSeveralPickles(t *testing.T) {
	first := pt.New().Proto(2).Int(1).Stop().Bytes()
	second := pt.New().Proto(2).Call("os", "system", "x").Stop().Bytes()
	r := runBytes(t, append(first, second...))
	if len(r.res.Pickles) != 2 || r.res.Err != nil {
		t.Fatalf("pickles %+v err %v", r.res.Pickles, r.res.Err)
	}
	if len(r.events) == 0 || r.events[len(r.events)-1].Pickle != 1 {
		t.Errorf("events %+v", r.events)
	}

	// Data after the last STOP that is not a pickle is reported, not fatal.
	r = runBytes(t, append(append([]byte{}, first...), 0, 0, 'x'))
	if len(r.anomalies(pickle.AnomalyTrailingData)) != 1 || r.res.Err != nil {
		t.Errorf("trailing: err %v anomalies %+v", r.res.Err, r.res.Anomalies)
	}

	// A second pickle that breaks: what it did before the break is kept.
	broken := pt.New().Proto(2).Call("os", "system", "y").Raw(0xff).Bytes()
	r = runBytes(t, append(append([]byte{}, first...), broken...))
	equal(t, "calls", r.calls(), []string{"os.system('y')"})
	if len(r.anomalies(pickle.AnomalyMalformed)) != 1 || r.res.Err != nil {
		t.Errorf("broken second: err %v anomalies %+v", r.res.Err, r.res.Anomalies)
	}
}

func TestFrameDivergence(t *testing.T) {
	// FRAME of 3 bytes followed by a 9-byte opcode: it crosses the frame end.
	data := pt.New().Proto(4).Frame(3).Str("abcdefg").Stop().Bytes()
	r := runBytes(t, data)
	if len(r.anomalies(pickle.AnomalyFrameDivergence)) != 1 {
		t.Errorf("anomalies = %+v", r.res.Anomalies)
	}
	// A well-formed frame is fine.
	s := pt.New().Str("abc").Stop().Bytes()
	data = pt.New().Proto(4).Frame(uint64(len(s))).Raw(s...).Bytes()
	if r := runBytes(t, data); len(r.res.Anomalies) != 0 {
		t.Errorf("clean frame: anomalies = %+v", r.res.Anomalies)
	}
	// A frame longer than the data: the C loader fails at the FRAME.
	data = pt.New().Proto(4).Frame(1 << 62).Int(1).Stop().Bytes()
	r = runBytes(t, data)
	if len(r.anomalies(pickle.AnomalyFrameDivergence)) != 1 || len(r.anomalies(pickle.AnomalyLoaderError)) != 1 {
		t.Errorf("anomalies = %+v", r.res.Anomalies)
	}
}

func TestDuplicateProto(t *testing.T) {
	r := runBytes(t, pt.New().Proto(2).Proto(4).Int(1).Stop().Bytes())
	if len(r.anomalies(pickle.AnomalyDuplicateProto)) != 1 {
		t.Errorf("anomalies = %+v", r.res.Anomalies)
	}
	r = runBytes(t, pt.New().Proto(9).Int(1).Stop().Bytes())
	if len(r.anomalies(pickle.AnomalyLoaderError)) != 1 {
		t.Errorf("unsupported protocol: anomalies = %+v", r.res.Anomalies)
	}
}

func TestInstAndObjCall(t *testing.T) {
	data := pt.New().Mark().Str("touch x").Inst("os", "system").Stop().Bytes()
	equal(t, "INST", runBytes(t, data).calls(), []string{"os.system('touch x')"})
	data = pt.New().Mark().Global("os", "system").Str("touch y").Obj().Stop().Bytes()
	equal(t, "OBJ", runBytes(t, data).calls(), []string{"os.system('touch y')"})
}

func TestNewObjBuildAndMutation(t *testing.T) {
	data := pt.New().Proto(2).Global("__main__", "Net").EmptyTuple().NewObj().EmptyDict().Build().Stop().Bytes()
	r := runBytes(t, data)
	equal(t, "new", r.globals(pickle.EventNew), []string{"__main__.Net"})
	equal(t, "build", r.globals(pickle.EventBuild), []string{"__main__.Net"})

	data = pt.New().Proto(2).Global("sys", "path").Str("/tmp/evil").Append().Stop().Bytes()
	equal(t, "append to global", runBytes(t, data).globals(pickle.EventMutate), []string{"sys.path"})
	data = pt.New().Proto(2).Global("torch", "load").EmptyDict().Build().Stop().Bytes()
	equal(t, "build on global", runBytes(t, data).globals(pickle.EventMutate), []string{"torch.load"})
}

func TestLimits(t *testing.T) {
	small := pickle.DefaultLimits()
	small.MaxMarks, small.MaxStack, small.MaxMemo, small.MaxOpcodes = 10, 10, 10, 1000
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"deep marks", bytes.Repeat([]byte{'('}, 100)},
		{"dup bomb", append(pt.New().Int(1).Bytes(), bytes.Repeat([]byte{'2'}, 100)...)},
		{"memo flood", func() []byte {
			b := pt.New().Proto(4).Int(1)
			for range 100 {
				b.Memoize()
			}
			return b.Bytes()
		}()},
		{"opcode count", append(pt.New().Int(1).Bytes(), bytes.Repeat([]byte{'2', '0'}, 1000)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runBytes(t, tc.data, small)
			if !errors.Is(r.res.Err, pickle.ErrLimit) || len(r.anomalies(pickle.AnomalyLimit)) != 1 {
				t.Errorf("err %v anomalies %+v", r.res.Err, r.res.Anomalies)
			}
		})
	}
	// A huge declared length is a truncated stream, found without allocating.
	r := runBytes(t, pt.New().Proto(4).Bytes8Header(1<<62).Stop().Bytes())
	if r.res.Err == nil || len(r.anomalies(pickle.AnomalyMalformed)) != 1 {
		t.Errorf("huge BINBYTES8: err %v anomalies %+v", r.res.Err, r.res.Anomalies)
	}
	// A sparse memo index costs nothing.
	r = runBytes(t, pt.New().Proto(2).Int(1).Raw('r', 0xff, 0xff, 0xff, 0xff).Stop().Bytes())
	if r.res.Err != nil {
		t.Errorf("sparse PUT: %v", r.res.Err)
	}
}

// virtualPayload is a ReaderAt over a pickle with one huge BINBYTES8 whose
// payload is never stored anywhere; it counts the bytes actually read.
type virtualPayload struct {
	header, trailer []byte
	n               int64
	read            atomic.Int64
}

func (v *virtualPayload) size() int64 { return int64(len(v.header)) + v.n + int64(len(v.trailer)) }

func (v *virtualPayload) ReadAt(p []byte, off int64) (int, error) {
	v.read.Add(int64(len(p)))
	for i := range p {
		o := off + int64(i)
		switch {
		case o < int64(len(v.header)):
			p[i] = v.header[o]
		case o < int64(len(v.header))+v.n:
			p[i] = 0
		case o < v.size():
			p[i] = v.trailer[o-int64(len(v.header))-v.n]
		default:
			return i, errors.New("EOF")
		}
	}
	return len(p), nil
}

func TestLargePayloadIsSkippedNotRead(t *testing.T) {
	const n = 8 << 30 // 8 GiB that exist nowhere
	v := &virtualPayload{header: pt.New().Proto(4).Bytes8Header(n).Bytes(), n: n,
		trailer: pt.New().Call("os", "system", "after").Stop().Bytes()}
	var calls []string
	res := pickle.Run(v, 0, v.size(), pickle.Options{OnEvent: func(e *pickle.Event) {
		if e.Kind == pickle.EventCall {
			calls = append(calls, pickle.Renderer{}.RenderCall(e.Result))
		}
	}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	equal(t, "call after the payload", calls, []string{"os.system('after')"})
	if got := v.read.Load(); got > 1<<20 {
		t.Errorf("read %d bytes of an 8 GiB stream; payloads must be skipped", got)
	}
}

func TestEveryOpcodeRenders(t *testing.T) {
	le32 := func(n uint32) []byte { return binary.LittleEndian.AppendUint32(nil, n) }
	le64 := func(n uint64) []byte { return binary.LittleEndian.AppendUint64(nil, n) }
	b := pt.New().Proto(5).Mark()
	b.Raw('I').Raw([]byte("01\n")...)  // True
	b.Raw('I').Raw([]byte("-42\n")...) // int
	b.Raw('L').Raw([]byte("123456789012345678901234567890L\n")...)
	b.Raw('F').Raw([]byte("1.5\n")...)
	b.String0("it's")
	b.Raw('V').Raw([]byte("caf\\u00e9\n")...)
	b.Raw('T').Raw(le32(2)...).Raw('h', 'i')                   // BINSTRING
	b.Raw('U', 2, 'y', 'o')                                    // SHORT_BINSTRING
	b.Raw('X').Raw(le32(3)...).Raw('a', 'b', 'c')              // BINUNICODE
	b.Raw(0x8d).Raw(le64(1)...).Raw('z')                       // BINUNICODE8
	b.Raw('B').Raw(le32(2)...).Raw(0, 1)                       // BINBYTES
	b.Raw(0x96).Raw(le64(1)...).Raw('q')                       // BYTEARRAY8
	b.Raw(0x8a, 2, 0xff, 0x7f)                                 // LONG1 32767
	b.Raw(0x8b).Raw(le32(9)...).Raw(0, 0, 0, 0, 0, 0, 0, 0, 1) // LONG4 2**64
	b.Raw('K', 7).Raw('M', 1, 1).Raw(0x88).Raw(0x89).None()
	b.Raw(0x8f).Mark().Int(1).Raw(0x90)                           // EMPTY_SET, ADDITEMS
	b.Mark().Int(2).Raw(0x91)                                     // FROZENSET
	b.Raw('r').Raw(le32(300)...).Raw('j').Raw(le32(300)...).Pop() // LONG_BINPUT/GET
	b.Raw('p').Raw([]byte("7\n")...).Raw('g').Raw([]byte("7\n")...).Pop()
	b.Mark().Int(1).Raw('l')          // LIST
	b.Mark().Str("k").Int(1).Raw('d') // DICT
	b.EmptyList().Int(3).Append()
	b.EmptyDict().Str("a").Int(1).SetItem()
	b.Raw('P').Raw([]byte("pid\n")...)
	b.Str("bpid").Raw('Q')
	b.Raw(0x97).Raw(0x98) // NEXT_BUFFER, READONLY_BUFFER
	b.Global("collections", "OrderedDict").EmptyTuple().Dup().Pop().Pop().EmptyTuple()
	b.Global("mod", "Cls").EmptyTuple().EmptyDict().Raw(0x92) // NEWOBJ_EX
	b.Tuple().Stop()
	lim := pickle.DefaultLimits()
	lim.KeepItems = 64
	r := runBytes(t, b.Bytes(), lim)
	if r.res.Err != nil {
		t.Fatal(r.res.Err)
	}
	for _, a := range r.res.Anomalies {
		if !strings.Contains(a.Detail, "out-of-band") {
			t.Errorf("unexpected anomaly %+v", a)
		}
	}
	want := "(True, -42, 123456789012345678901234567890, 1.5, \"it's\", 'café', 'hi', 'yo', 'abc', 'z', b'\\x00\\x01', bytearray(b'q'), " +
		"32767, 18446744073709551616, 7, 257, True, False, None, {1}, frozenset({2}), [1], {'k': 1}, [3], {'a': 1}, " +
		"persistent_load('pid'), persistent_load('bpid'), <out-of-band buffer>, collections.OrderedDict, (), _var1)"
	equal(t, "STOP value", r.lastValue(), want)
	// Every opcode name of protocols 0–5 was seen.
	seen := map[string]bool{}
	for _, s := range r.steps {
		seen[pickle.OpName(s.Op)] = true
	}
	for _, name := range []string{"MARK", "STOP", "POP", "DUP", "FLOAT", "INT", "BININT1", "LONG", "BININT2", "NONE",
		"PERSID", "BINPERSID", "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "APPEND",
		"GLOBAL", "DICT", "EMPTY_DICT", "GET", "LONG_BINGET", "LIST", "EMPTY_LIST", "PUT", "LONG_BINPUT",
		"SETITEM", "TUPLE", "EMPTY_TUPLE", "PROTO", "NEWOBJ_EX", "NEWTRUE", "NEWFALSE", "LONG1", "LONG4",
		"BINBYTES", "BINUNICODE8", "EMPTY_SET", "ADDITEMS", "FROZENSET", "BYTEARRAY8", "NEXT_BUFFER", "READONLY_BUFFER"} {
		if !seen[name] {
			t.Errorf("opcode %s not exercised", name)
		}
	}
}

func TestRenderPythonRepr(t *testing.T) {
	for _, tc := range []struct {
		data []byte
		want string
	}{
		{pt.New().Str("a'b").Stop().Bytes(), `"a'b"`},
		{pt.New().Str("a'b\"").Stop().Bytes(), `'a\'b"'`},
		{pt.New().Str("tab\tnl\n\x01").Stop().Bytes(), `'tab\tnl\n\x01'`},
		{pt.New().ShortBytes("\x00\xffA'").Stop().Bytes(), `b"\x00\xffA'"`},
		{pt.New().Float(1e20).Stop().Bytes(), "1e+20"},
		{pt.New().Float(2).Stop().Bytes(), "2.0"},
		{pt.New().Int(5).Tuple1().Stop().Bytes(), "(5,)"},
		{pt.New().Str(strings.Repeat("x", 300)).Stop().Bytes(), "'" + strings.Repeat("x", 160) + "'…"},
	} {
		if got := runBytes(t, tc.data).lastValue(); got != tc.want {
			t.Errorf("render = %s, want %s", got, tc.want)
		}
	}
}

func TestSniff(t *testing.T) {
	for _, tc := range []struct {
		name string
		head []byte
		want bool
	}{
		{"protocol 2", pt.New().Proto(2).Int(1).Stop().Bytes(), true},
		{"protocol 0 call", pt.New().Call("os", "system", "x").Stop().Bytes(), true},
		{"protocol 0 payload then junk", append(pt.New().Call("os", "system", "x").Bytes(), "\xff junk"...), true},
		{"protocol 0 list", []byte("(lp0\nI1\naI2\na."), true},
		{"markdown", []byte("# Title\n\nSome text.\n"), false},
		{"plain text", []byte("Hello, world. This is a text file.\n"), false},
		{"json", []byte(`{"architectures": ["Bert"]}`), false},
		{"empty", nil, false},
		{"zip", []byte("PK\x03\x04\x14\x00"), false},
		{"text starting with an opcode letter", []byte("I am a text file with a sentence.\n"), false},
	} {
		if got := pickle.Sniff(tc.head); got != tc.want {
			t.Errorf("%s: Sniff = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSniffStrictIgnoresChanceProtoBytes(t *testing.T) {
	// float32 storage bytes that happen to start with 0x80 0x02.
	data := []byte{0x80, 0x02, 0x3f, 0x41, 0x00, 0x00, 0x80, 0x3f, 0xcd, 0xcc, 0x4c, 0x3e, 0x00, 0x00, 0x00, 0x00}
	if !pickle.Sniff(data) {
		t.Error("Sniff: PROTO 2 should be enough for a file")
	}
	if pickle.SniffStrict(data) {
		t.Error("SniffStrict accepted random bytes behind a PROTO")
	}
	if !pickle.SniffStrict(pt.New().Proto(2).Call("posix", "system", "x").Stop().Bytes()) {
		t.Error("SniffStrict rejected a real pickle")
	}
}
