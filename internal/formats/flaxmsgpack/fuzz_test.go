package flaxmsgpack_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/formats/flaxmsgpack"
)

// FuzzFlaxMsgpack feeds arbitrary msgpack to the analyser: every length,
// count, ext payload and shape comes from the input, and none may make it
// panic, loop or allocate from a count.
func FuzzFlaxMsgpack(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*", "*.msgpack"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	lim := analyzer.DefaultLimits()
	f.Fuzz(func(t *testing.T, data []byte) {
		a := flaxmsgpack.Analyzer{}
		_ = a.Match("flax_model.msgpack", data[:min(len(data), analyzer.HeadSize)])
		var out analyzer.Output
		in := analyzer.Input{Name: "flax_model.msgpack", R: bytes.NewReader(data), Size: int64(len(data)), Budget: analyzer.NewBudget(lim)}
		_ = a.Analyze(context.Background(), in, lim, &out)
	})
}
