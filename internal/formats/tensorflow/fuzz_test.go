package tensorflow_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
)

// FuzzTensorFlow runs every analyser of the package on arbitrary bytes under
// every name it answers to, whether or not Match accepts them: no panic, no
// runaway memory, and Match never panics on a head.
func FuzzTensorFlow(f *testing.F) {
	// Small seeds, one feature each: the fuzzer minimises inputs in
	// proportion to their length.
	for _, fx := range fixtures() {
		if len(fx.data) < 8<<10 {
			f.Add(fx.data)
		}
	}
	f.Add(graph([][]byte{node("a", "StringJoin", []string{"a", "a"}), node("s", "SaveV2", []string{"a"})}))
	f.Add(savedModel(metaGraph(graph(nil, function("f", []string{"x"}, call("c", "f", "x"))), "x:0")))
	lim := analyzer.DefaultLimits()
	names := []string{"saved_model.pb", "frozen.pb", "variables.index", "variables.data-00000-of-00001", "fingerprint.pb", "checkpoint"}
	f.Fuzz(func(t *testing.T, data []byte) {
		head := data[:min(len(data), analyzer.HeadSize)]
		for _, a := range analyzers {
			for _, name := range names {
				a.Match(name, head)
			}
		}
		for _, a := range analyzers[:2] {
			var out analyzer.Output
			in := analyzer.Input{Name: "x.pb", R: bytes.NewReader(data), Size: int64(len(data)), Budget: analyzer.NewBudget(lim)}
			_ = a.Analyze(context.Background(), in, lim, &out)
		}
		for _, name := range names[2:] {
			var out analyzer.Output
			in := analyzer.Input{Name: name, R: bytes.NewReader(data), Size: int64(len(data)), Budget: analyzer.NewBudget(lim)}
			_ = analyzers[2].Analyze(context.Background(), in, lim, &out)
		}
	})
}
