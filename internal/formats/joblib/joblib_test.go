package joblib_test

import (
	"context"

	"bytes"
	"github.com/modelgate/modelgate/internal/analyzer"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/formats/joblib"
	"github.com/modelgate/modelgate/internal/formats/picklefile"
	"github.com/modelgate/modelgate/internal/pickle"
	pt "github.com/modelgate/modelgate/internal/pickle/pickletest"
)

// wrapper writes a NumpyArrayWrapper the way joblib.dump does: NEWOBJ,
// BUILD with the state dict, then the array bytes inline.
func wrapper(b *pt.Builder, code string, n int32, aligned bool) *pt.Builder {
	b.Global("joblib.numpy_pickle", "NumpyArrayWrapper").EmptyTuple().NewObj().EmptyDict().Mark()
	b.Str("subclass").Global("numpy", "ndarray")
	b.Str("shape").Int(n).Tuple1()
	b.Str("order").Str("C")
	b.Str("dtype").Global("numpy", "dtype").Str(code).Raw(0x89, 0x88).Tuple3().Reduce().
		Mark().Int(3).Str("<").None().None().None().Int(-1).Int(-1).Int(0).Tuple().Build()
	b.Str("allow_mmap").Raw(0x88)
	if aligned {
		b.Str("numpy_array_alignment_bytes").Int(16)
	}
	return b.Raw('u').Build()
}

func audit(data []byte, hook bool) (*picklefile.Audit, *joblib.Inline) {
	var in joblib.Inline
	opts := picklefile.Options{Limits: pickle.DefaultLimits()}
	if hook {
		opts.AfterBuild = in.AfterBuild
	}
	return picklefile.Run(bytes.NewReader(data), 0, int64(len(data)), opts), &in
}

func hasCall(a *picklefile.Audit) bool {
	for _, f := range a.Findings {
		if f.RuleID == "PICKLE-DANGEROUS-CALL" && strings.Contains(f.Evidence, "posix.system(") {
			return true
		}
	}
	return false
}

func TestPayloadAfterInlineArraysIsFound(t *testing.T) {
	// Array bytes chosen to be hostile to an opcode walker.
	arr := bytes.Repeat([]byte{0xff}, 10*8)
	for _, aligned := range []bool{false, true} {
		b := pt.New().Proto(4).Mark()
		wrapper(b, "f8", 10, aligned)
		if aligned {
			b.Raw(3, 0, 0, 0) // padding length, then padding
		}
		b.Raw(arr...)
		b.Call("posix", "system", "touch marker").Tuple().Stop()
		a, in := audit(b.Bytes(), true)
		if a.Result.Err != nil || !hasCall(a) || in.Arrays != 1 || in.Bytes != 80 {
			t.Errorf("aligned=%v: err %v arrays %+v findings %+v", aligned, a.Result.Err, in, a.Findings)
		}
		// Without joblib's layout the stream breaks at the array and the
		// payload after it is invisible: the reason this package exists.
		if plain, _ := audit(b.Bytes(), false); hasCall(plain) || plain.Result.Err == nil {
			t.Errorf("aligned=%v: a plain opcode walk should stop at the array", aligned)
		}
	}
}

func TestObjectArrayIsAnInlinePickle(t *testing.T) {
	inner := pt.New().Proto(2).Call("posix", "system", "inner").Stop().Bytes()
	b := pt.New().Proto(4).Mark()
	wrapper(b, "O8", 1, true)
	b.Raw(inner...).Int(7).Tuple().Stop()
	a, in := audit(b.Bytes(), true)
	if a.Result.Err != nil || !hasCall(a) || in.ObjectArray != 1 {
		t.Errorf("err %v arrays %+v findings %+v", a.Result.Err, in, a.Findings)
	}
}

func TestUnreadableWrapperStateStopsWithAnError(t *testing.T) {
	b := pt.New().Proto(4).Global("joblib.numpy_pickle", "NumpyArrayWrapper").EmptyTuple().NewObj().
		EmptyDict().Str("shape").Str("not a tuple").SetItem().Build().Stop()
	a, _ := audit(b.Bytes(), true)
	if a.Result.Err == nil {
		t.Error("a wrapper whose size cannot be known must stop the analysis with an error")
	}
}

// FuzzJoblib runs the pickle audit with joblib's inline-array layout on
// arbitrary bytes: wrapper states from the stream decide how many bytes are
// skipped, so they are hostile input too.
func FuzzJoblib(f *testing.F) {
	b := pt.New().Proto(4).Mark()
	wrapper(b, "f8", 2, true)
	f.Add(b.Raw(0).Raw(make([]byte, 16)...).Tuple().Stop().Bytes())
	seeds, _ := filepath.Glob("testdata/*/*")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil && len(data) < 1<<20 {
			f.Add(data)
		}
	}
	lim := pickle.DefaultLimits()
	lim.MaxOpcodes = 200_000
	f.Fuzz(func(t *testing.T, data []byte) {
		var in joblib.Inline
		picklefile.Run(bytes.NewReader(data), 0, int64(len(data)), picklefile.Options{Limits: lim, AfterBuild: in.AfterBuild})
	})
}

func TestSidecarPaths(t *testing.T) {
	for _, tc := range []struct {
		filename string
		escapes  bool
	}{
		{"model.pkl_01.npy", false},
		{"../../../home/user/.cache/evil.npy", true},
		{"/tmp/evil.npy", true},
		{`..\evil.npy`, true},
	} {
		b := pt.New().Proto(2).Global("joblib.numpy_pickle", "NDArrayWrapper").EmptyTuple().NewObj().
			EmptyDict().Str("filename").Str(tc.filename).SetItem().Build().Stop()
		var out analyzer.Output
		data := b.Bytes()
		if err := (picklefile.Analyzer{}).Analyze(context.Background(), analyzer.Input{R: bytes.NewReader(data), Size: int64(len(data))}, analyzer.DefaultLimits(), &out); err != nil {
			t.Fatal(err)
		}
		var hit bool
		for _, f := range out.Findings {
			hit = hit || (f.RuleID == "JOBLIB-SIDECAR-PATH" && f.Evidence == tc.filename)
		}
		if hit != tc.escapes {
			t.Errorf("%q: escape finding %v, want %v: %+v", tc.filename, hit, tc.escapes, out.Findings)
		}
	}
}
