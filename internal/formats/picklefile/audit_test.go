package picklefile_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/picklefile"
	"github.com/modelgate/modelgate/internal/pickle"
	pt "github.com/modelgate/modelgate/internal/pickle/pickletest"
)

func audit(data []byte) *picklefile.Audit {
	return picklefile.Run(bytes.NewReader(data), 0, int64(len(data)), picklefile.Options{Limits: pickle.DefaultLimits()})
}

// got lists findings above info as "severity RULE evidence".
func got(a *picklefile.Audit) []string {
	var out []string
	for _, f := range a.Findings {
		if f.Severity > finding.Info {
			out = append(out, strings.TrimSpace(f.Severity.String()+" "+f.RuleID+" "+f.Evidence))
		}
	}
	return out
}

func TestAuditJudgement(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want []string
	}{
		{"dangerous call", pt.New().Proto(2).Call("posix", "system", "id").Stop().Bytes(),
			[]string{"critical PICKLE-DANGEROUS-CALL posix.system('id')"}},
		{"safe call", pt.New().Proto(2).Global("collections", "OrderedDict").EmptyTuple().Reduce().Stop().Bytes(),
			nil},
		{"unknown call", pt.New().Proto(2).Call("mylib.util", "setup", "x").Stop().Bytes(),
			[]string{"high PICKLE-UNKNOWN-CALL mylib.util.setup('x')"}},
		{"unknown class instantiated and built, reported once",
			pt.New().Proto(2).Mark().
				Global("__main__", "Net").EmptyTuple().NewObj().EmptyDict().Build().
				Global("__main__", "Net").EmptyTuple().NewObj().EmptyDict().Build().
				Tuple().Stop().Bytes(),
			[]string{"medium PICKLE-UNKNOWN-GLOBAL __main__.Net.__new__(__main__.Net).__setstate__({})"}},
		{"dangerous global passed, not called", pt.New().Proto(2).Global("collections", "OrderedDict").Global("posix", "system").Tuple1().Reduce().Stop().Bytes(),
			[]string{"critical PICKLE-DANGEROUS-GLOBAL import posix.system"}},
		{"reconstructor instantiates its class", pt.New().Proto(1).Global("copy_reg", "_reconstructor").Mark().
			Global("__main__", "Net").Global("__builtin__", "object").None().Tuple().Reduce().Stop().Bytes(),
			[]string{"medium PICKLE-UNKNOWN-GLOBAL copyreg._reconstructor(__main__.Net, builtins.object, None)",
				"low PICKLE-OLD-PROTOCOL"}},
		{"reconstructor calls an unknown base", pt.New().Proto(2).Global("copyreg", "_reconstructor").Mark().
			Global("__main__", "Net").Global("evil", "Base").None().Tuple().Reduce().Stop().Bytes(),
			[]string{"high PICKLE-UNKNOWN-CALL copyreg._reconstructor(__main__.Net, evil.Base, None)",
				"medium PICKLE-UNKNOWN-GLOBAL copyreg._reconstructor(__main__.Net, evil.Base, None)"}},
		{"computed callable", pt.New().Proto(2).Global("builtins", "getattr").Mark().Global("builtins", "object").Str("x").Tuple().Reduce().
			Str("y").Tuple1().Reduce().Stop().Bytes(),
			[]string{"critical PICKLE-DANGEROUS-CALL builtins.getattr(builtins.object, 'x')",
				"high PICKLE-COMPUTED-CALL builtins.getattr(builtins.object, 'x')('y')"}},
		{"global mutated", pt.New().Proto(2).Global("mylib", "REGISTRY").Str("x").Append().Stop().Bytes(),
			[]string{"high PICKLE-GLOBAL-MUTATION mylib.REGISTRY.append(('x',))"}},
		{"python 2 name at protocol 3 is judged by its mapping", pt.New().Proto(3).Call("__builtin__", "eval", "1").Stop().Bytes(),
			[]string{"critical PICKLE-DANGEROUS-CALL __builtin__.eval('1')"}},
		{"dotted name through a module attribute", pt.New().Proto(4).Call("pathlib", "os.system", "id").Stop().Bytes(),
			[]string{"critical PICKLE-DANGEROUS-CALL pathlib.os.system('id')"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := got(audit(tc.data))
			if strings.Join(g, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("findings:\n got: %q\nwant: %q", g, tc.want)
			}
		})
	}
}

func TestAuditCapsRepeatedCalls(t *testing.T) {
	b := pt.New().Proto(2).Mark()
	for i := range 20 {
		b.Call("posix", "system", fmt.Sprint(i))
	}
	a := audit(b.Tuple().Stop().Bytes())
	var calls, more int
	for _, f := range a.Findings {
		if f.RuleID == "PICKLE-DANGEROUS-CALL" {
			if f.Offset == finding.NoOffset {
				more++
				if !strings.Contains(f.Message, "12 more") {
					t.Errorf("summary message %q", f.Message)
				}
			} else {
				calls++
			}
		}
	}
	if calls != 8 || more != 1 {
		t.Errorf("calls %d, summaries %d; want 8 and 1", calls, more)
	}
}

func TestAuditNestedLoaders(t *testing.T) {
	inner := pt.New().Proto(2).Call("posix", "system", "inner").Stop().Bytes()

	// pickle.loads(b'...') is critical itself, and its argument is analysed.
	data := pt.New().Proto(4).Global("pickle", "loads").Raw('B').Raw(le32(len(inner))...).Raw(inner...).Tuple1().Reduce().Stop().Bytes()
	a := audit(data)
	if g := got(a); len(g) == 0 || !strings.HasPrefix(g[0], "critical PICKLE-DANGEROUS-CALL pickle.loads(") {
		t.Errorf("findings %q", g)
	}
	if len(a.Nested) != 1 || !bytes.Equal(readAll(t, a.Nested[0].R, a.Nested[0].Size), inner) {
		t.Fatalf("nested = %+v", a.Nested)
	}

	// torch.storage._load_from_bytes with a literal argument is judged by
	// what it loads: no finding for the call, one nested input.
	data = pt.New().Proto(4).Global("torch.storage", "_load_from_bytes").Raw('B').Raw(le32(len(inner))...).Raw(inner...).Tuple1().Reduce().Stop().Bytes()
	a = audit(data)
	if g := got(a); len(g) != 0 || len(a.Nested) != 1 {
		t.Errorf("findings %q nested %d", g, len(a.Nested))
	}

	// Protocol 2 writes bytes as _codecs.encode(text, 'latin1').
	var text strings.Builder
	for _, c := range inner {
		text.WriteRune(rune(c))
	}
	data = pt.New().Proto(2).Global("torch.storage", "_load_from_bytes").
		Global("_codecs", "encode").Str(text.String()).Str("latin1").Tuple2().Reduce().Tuple1().Reduce().Stop().Bytes()
	a = audit(data)
	if len(a.Nested) != 1 || !bytes.Equal(readAll(t, a.Nested[0].R, a.Nested[0].Size), inner) {
		t.Fatalf("latin1 nested = %+v", a.Nested)
	}

	// Without a literal argument the loader is an unknown call.
	data = pt.New().Proto(2).Global("torch.storage", "_load_from_bytes").None().Tuple1().Reduce().Stop().Bytes()
	if g := got(audit(data)); len(g) != 1 || !strings.HasPrefix(g[0], "high PICKLE-UNKNOWN-CALL") {
		t.Errorf("findings %q", g)
	}
}

func le32(n int) []byte { return []byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)} }

func readAll(t *testing.T, r io.ReaderAt, n int64) []byte {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(r, 0, n))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// CPython 3.11's C unpickler, reading a file whose buffer ends at a frame's
// end, restarts a read that crosses the frame at the frame's end: the
// fixture (made and proven by make_fixtures.py) hides posix.system inside a
// BINBYTES argument that straddles a 2-byte FRAME.
func TestCallHiddenByFrameIsFound(t *testing.T) {
	data, err := os.ReadFile("testdata/malicious/11-frame-straddle-hidden-call-p5.pkl")
	if err != nil {
		t.Fatal(err)
	}
	run := func(restart bool) *picklefile.Audit {
		return picklefile.Run(bytes.NewReader(data), 0, int64(len(data)), picklefile.Options{Limits: pickle.DefaultLimits(), FrameRestart: restart})
	}
	hasCall := func(a *picklefile.Audit) bool {
		for _, f := range a.Findings {
			if f.RuleID == "PICKLE-DANGEROUS-CALL" && strings.Contains(f.Evidence, "posix.system(") {
				return true
			}
		}
		return false
	}
	// Read once by itself (no second reading): frames transparent, no call.
	plain := pickle.Run(bytes.NewReader(data), 0, int64(len(data)), pickle.Options{})
	var calls int
	pickle.Run(bytes.NewReader(data), 0, int64(len(data)), pickle.Options{OnEvent: func(e *pickle.Event) {
		if e.Kind == pickle.EventCall {
			calls++
		}
	}})
	if calls != 0 || plain.Err != nil {
		t.Fatalf("transparent frames: %d calls, err %v", calls, plain.Err)
	}
	if !hasCall(run(true)) {
		t.Error("the frame-restart reading does not find the hidden call")
	}
	// The audit reads it both ways on its own when frames diverge.
	if !hasCall(run(false)) {
		t.Error("the audit did not add the hidden call")
	}
	// A benign framed pickle gets no second reading and no extra finding.
	clean := pt.New().Proto(4).Frame(4).Int(1).Int(2).Tuple2().Stop().Bytes()
	if g := got(audit(clean)); len(g) != 0 {
		t.Errorf("clean framed pickle: %q", g)
	}
}

// Every anomaly the VM reports reaches the report under its rule id, and a
// clean stream carries none of them.
func TestAnomalyRules(t *testing.T) {
	small := pickle.DefaultLimits()
	small.MaxStack = 8
	clean := pt.New().Proto(4).Frame(3).Int(1).Raw('.').Bytes()
	for _, tc := range []struct {
		rule string
		data []byte
		lim  *pickle.Limits
	}{
		{"PICKLE-NONSTRING-GLOBAL", pt.New().Proto(4).ShortBytes("os").ShortBytes("getcwd").StackGlobal().Stop().Bytes(), nil},
		{"PICKLE-MEMO-MISS", pt.New().Proto(2).Get(3).Stop().Bytes(), nil},
		{"PICKLE-FRAME-DIVERGENCE", pt.New().Proto(4).Frame(3).Str("abcdefg").Stop().Bytes(), nil},
		{"PICKLE-TRAILING-DATA", append(pt.New().Proto(2).Int(1).Stop().Bytes(), 0, 0, 0), nil},
		{"PICKLE-LOADER-ERROR", pt.New().Proto(2).Pop().Int(1).Stop().Bytes(), nil},
		{"PICKLE-MALFORMED", pt.New().Proto(2).Int(1).Raw(0xff).Bytes(), nil},
		{"PICKLE-LIMIT", append(pt.New().Int(1).Bytes(), bytes.Repeat([]byte{'2'}, 20)...), &small},
		{"PICKLE-DUPLICATE-PROTO", pt.New().Proto(2).Proto(2).Int(1).Stop().Bytes(), nil},
		{"PICKLE-PERSISTENT-ID", pt.New().Proto(2).Str("key").Raw('Q').Stop().Bytes(), nil},
		{"PICKLE-OLD-PROTOCOL", pt.New().Int(1).Stop().Bytes(), nil},
		{"PICKLE-MULTIPLE", append(pt.New().Proto(2).Int(1).Stop().Bytes(), pt.New().Proto(2).Int(2).Stop().Bytes()...), nil},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			lim := pickle.DefaultLimits()
			if tc.lim != nil {
				lim = *tc.lim
			}
			has := func(data []byte) bool {
				for _, f := range picklefile.Run(bytes.NewReader(data), 0, int64(len(data)), picklefile.Options{Limits: lim}).Findings {
					if f.RuleID == tc.rule {
						return true
					}
				}
				return false
			}
			if !has(tc.data) {
				t.Errorf("no %s finding", tc.rule)
			}
			if has(clean) {
				t.Errorf("%s on a clean stream", tc.rule)
			}
		})
	}
}
