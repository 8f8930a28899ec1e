package tflite_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/formats/tflite"
)

// FuzzTFLite feeds arbitrary flatbuffers to the analyser: every offset,
// vtable and count comes from the input, and none may make it panic, loop
// or allocate from a count. Inputs without the identifier get one, so that
// the fuzzer spends its time past Match.
func FuzzTFLite(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*", "*.tflite"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	lim := analyzer.DefaultLimits()
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) >= 8 && !bytes.Equal(data[4:8], tflite.Identifier) {
			data = append(append(bytes.Clone(data[:4]), tflite.Identifier...), data[4:]...)
		}
		a := tflite.Analyzer{}
		_ = a.Match("fuzz.tflite", data[:min(len(data), analyzer.HeadSize)])
		var out analyzer.Output
		in := analyzer.Input{Name: "fuzz.tflite", R: bytes.NewReader(data), Size: int64(len(data)), Budget: analyzer.NewBudget(lim)}
		_ = a.Analyze(context.Background(), in, lim, &out)
	})
}
