package coreml_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/formats/coreml"
)

// seeds are the committed fixtures (the package's model and weight file
// included).
func seeds(f *testing.F) {
	err := filepath.WalkDir("testdata", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(p) != ".json" && filepath.Ext(p) != ".md" {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
}

// FuzzCoreML feeds arbitrary bytes to the model analyser: every tag,
// length and count comes from the input, and none may make it panic, loop
// or allocate from a length. Inputs get a specificationVersion field in
// front so that the fuzzer spends its time past Match; the weight file
// of the fixtures is the sibling, so weight references are checked too.
func FuzzCoreML(f *testing.F) {
	seeds(f)
	lim := analyzer.DefaultLimits()
	siblings := opener(map[string][]byte{"weights/weight.bin": weights()})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 || data[0] != 0x08 {
			data = append([]byte{0x08, 0x04}, data...)
		}
		a := coreml.Analyzer{}
		_ = a.Match("model.mlmodel", data[:min(len(data), analyzer.HeadSize)])
		var out analyzer.Output
		in := analyzer.Input{Name: "model.mlmodel", R: bytes.NewReader(data), Size: int64(len(data)), Budget: analyzer.NewBudget(lim), Open: siblings}
		_ = a.Analyze(context.Background(), in, lim, &out)
		if len(out.Findings) == 0 {
			t.Fatal("no summary")
		}
	})
}

// FuzzMILBlob does the same for the weight-file analyser; inputs get a
// storage header in front.
func FuzzMILBlob(f *testing.F) {
	seeds(f)
	lim := analyzer.DefaultLimits()
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) >= 8 {
			data = append([]byte{data[0], 0, 0, 0, 2, 0, 0, 0}, append(make([]byte, 56), data[8:]...)...)
		}
		a := coreml.WeightsAnalyzer{}
		_ = a.Match("weight.bin", data[:min(len(data), analyzer.HeadSize)])
		var out analyzer.Output
		in := analyzer.Input{Name: "weight.bin", R: bytes.NewReader(data), Size: int64(len(data)), Budget: analyzer.NewBudget(lim)}
		_ = a.Analyze(context.Background(), in, lim, &out)
	})
}
