package pickle_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelgate/modelgate/internal/pickle"
	pt "github.com/modelgate/modelgate/internal/pickle/pickletest"
)

// FuzzRun feeds arbitrary bytes to the VM: it must never panic, never run
// past its limits, and always stop inside the data.
func FuzzRun(f *testing.F) {
	seeds, _ := filepath.Glob("../formats/picklefile/testdata/*/*")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil && len(b) < 1<<20 {
			f.Add(b)
		}
	}
	f.Add(pt.New().Proto(4).Frame(3).Str("abcdefg").Stop().Bytes())
	f.Add(pt.New().Proto(2).Global("copyreg", "add_extension").Mark().Str("posix").Str("system").Int(1).Tuple().Reduce().Ext1(1).Stop().Bytes())
	f.Add([]byte("cos\nsystem\n(S'x'\ntR."))
	lim := pickle.DefaultLimits()
	lim.MaxOpcodes = 200_000
	lim.MaxStack, lim.MaxMemo, lim.MaxMarks = 10_000, 10_000, 1_000
	f.Fuzz(func(t *testing.T, data []byte) {
		r := pickle.Renderer{}
		res := pickle.Run(bytes.NewReader(data), 0, int64(len(data)), pickle.Options{
			Limits: lim,
			OnEvent: func(e *pickle.Event) {
				_ = r.Render(e.Func)
				_ = r.Render(e.Args)
				_ = r.Render(e.Result)
			},
			OnStep: func(pickle.Step) {},
		})
		if res.End < 0 || res.End > int64(len(data)) {
			t.Fatalf("End %d outside [0,%d]", res.End, len(data))
		}
		_ = pickle.Sniff(data[:min(len(data), pickle.SniffSize)])
	})
}
