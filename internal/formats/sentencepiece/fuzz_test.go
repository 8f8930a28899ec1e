package sentencepiece_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/formats/sentencepiece"
)

// FuzzSentencePiece feeds arbitrary bytes to the analyser: every tag,
// length and count comes from the input, and none may make it panic, loop
// or allocate from a length. Inputs get the pieces tag in front so that
// the fuzzer spends its time past Match.
func FuzzSentencePiece(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*", "*"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	lim := analyzer.DefaultLimits()
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 || data[0] != 0x0a {
			data = append([]byte{0x0a}, data...)
		}
		a := sentencepiece.Analyzer{}
		_ = a.Match("tokenizer.model", data[:min(len(data), analyzer.HeadSize)])
		var out analyzer.Output
		in := analyzer.Input{Name: "tokenizer.model", R: bytes.NewReader(data), Size: int64(len(data)), Budget: analyzer.NewBudget(lim)}
		_ = a.Analyze(context.Background(), in, lim, &out)
	})
}
