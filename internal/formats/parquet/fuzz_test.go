package parquet_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/formats/parquet"
)

// FuzzParquet feeds arbitrary footers to the analyser: every length,
// count, field header and varint comes from the input, and none may make
// it panic, loop or allocate beyond the input. An input that does not
// start with the magic is framed as a footer ("PAR1", the input, its
// length, "PAR1") so that the fuzzer spends its time in the Thrift reader
// and the ARROW:schema check rather than in the magic test.
func FuzzParquet(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*", "*.parquet"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
			// and the footer alone, framed by the fuzz function
			if n := int(binary.LittleEndian.Uint32(b[len(b)-8:])); n <= len(b)-12 {
				f.Add(b[len(b)-8-n : len(b)-8])
			}
		}
	}
	f.Add(fileMeta(nil, nil))
	lim := analyzer.DefaultLimits()
	f.Fuzz(func(t *testing.T, data []byte) {
		if !bytes.HasPrefix(data, []byte("PAR")) {
			data = file("PAR1", nil, data)
		}
		a := parquet.Analyzer{}
		_ = a.Match("x.parquet", data[:min(len(data), analyzer.HeadSize)])
		var out analyzer.Output
		in := analyzer.Input{Name: "x.parquet", R: bytes.NewReader(data), Size: int64(len(data)), Budget: analyzer.NewBudget(lim)}
		_ = a.Analyze(context.Background(), in, lim, &out)
		for _, n := range out.Nested {
			if n.Size < 0 || n.Size > int64(len(data)) {
				t.Fatalf("nested %q of %d bytes in a %d-byte file", n.Name, n.Size, len(data))
			}
			if _, err := io.Copy(io.Discard, io.NewSectionReader(n.R, 0, n.Size)); err != nil {
				t.Fatalf("nested %q unreadable: %v", n.Name, err)
			}
		}
	})
}
