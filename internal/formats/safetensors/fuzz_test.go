package safetensors_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/formats/safetensors"
)

// FuzzSafetensors feeds arbitrary headers to the analyser: it must not
// panic, must keep every nested range inside the file, and must stay
// within its caps. Inputs that do not start with a length are given one
// (the length of what follows), so that the fuzzer spends its time in the
// JSON and layout checks rather than in Match.
func FuzzSafetensors(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*", "*.safetensors"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`))
	lim := analyzer.DefaultLimits()
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 0 && data[0] == '{' {
			n := bytes.IndexByte(data, '}') + 1
			data = append(binary.LittleEndian.AppendUint64(nil, uint64(max(n, 0))), data...)
		}
		a := safetensors.Analyzer{}
		_ = a.Match("fuzz.safetensors", data[:min(len(data), analyzer.HeadSize)])
		var out analyzer.Output
		in := analyzer.Input{Name: "fuzz.safetensors", R: bytes.NewReader(data), Size: int64(len(data)), Budget: analyzer.NewBudget(lim)}
		_ = a.Analyze(context.Background(), in, lim, &out)
		for _, n := range out.Nested {
			if n.Size < 0 || n.Size > int64(len(data)) {
				t.Fatalf("nested %q of %d bytes in a %d-byte file", n.Name, n.Size, len(data))
			}
			if _, err := io.Copy(io.Discard, io.NewSectionReader(n.R, 0, n.Size)); err != nil {
				t.Errorf("nested %q unreadable: %v", n.Name, err)
			}
		}
	})
}
