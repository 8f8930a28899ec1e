package arrow_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/formats/arrow"
)

// FuzzArrow feeds arbitrary bytes to the analyser: every length, offset,
// vtable and count comes from the input, and none may make it panic, loop
// or allocate beyond the input. Inputs are tried as a stream, a file and
// a schema message (CheckSchema, the parquet package's entry). Nested
// inputs must be readable and no larger than the input.
func FuzzArrow(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*", "*.arrow*"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add(encapsulate(schemaMessage([]tField{{name: "a", typ: typeInt, meta: [][2]string{{"ARROW:extension:name", arrow.PyExtensionName}, {"ARROW:extension:metadata", pickleP2}}}}, nil)))
	f.Add(encapsulate(sharedMessage(6, 2, [][2]string{{"k", "v"}})))
	lim := analyzer.DefaultLimits()
	f.Fuzz(func(t *testing.T, data []byte) {
		a := arrow.Analyzer{}
		_ = a.Match("x.arrow", data[:min(len(data), analyzer.HeadSize)])
		for _, d := range [][]byte{data, append([]byte("ARROW1\x00\x00"), data...)} {
			var out analyzer.Output
			in := analyzer.Input{Name: "x.arrow", R: bytes.NewReader(d), Size: int64(len(d)), Budget: analyzer.NewBudget(lim)}
			_ = a.Analyze(context.Background(), in, lim, &out)
			check(t, out, len(d))
		}
		var out analyzer.Output
		_, _ = arrow.CheckSchema(data, 0, "ARROW:schema", &out)
		check(t, out, len(data))
	})
}

func check(t *testing.T, out analyzer.Output, size int) {
	for _, n := range out.Nested {
		if n.Size < 0 || n.Size > int64(size) {
			t.Fatalf("nested %q of %d bytes from %d bytes", n.Name, n.Size, size)
		}
		if _, err := io.Copy(io.Discard, io.NewSectionReader(n.R, 0, n.Size)); err != nil {
			t.Fatalf("nested %q unreadable: %v", n.Name, err)
		}
	}
}
