package sevenzip_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/formats/sevenzip"
)

// FuzzSevenZip feeds arbitrary bytes behind a 7z signature to the analyser:
// the header check and the library behind it must neither panic nor
// allocate beyond the caps, and every member handed on must be readable.
func FuzzSevenZip(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.7z"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	// The same archives split into packed data and header, which the
	// target reassembles with valid checksums: the fuzzer cannot forge
	// CRC-32s, and without this it would never get past them.
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil && len(b) > 32 {
			next := binary.LittleEndian.Uint64(b[12:20])
			if next < 255 && 32+next <= uint64(len(b)) {
				f.Add(cat([]byte{byte(next)}, b[32:]))
			}
		}
	}
	f.Add(cat([]byte{1, 0}, []byte{0x01, 0x05}, number(3), []byte{0x00, 0x00}))
	lim := analyzer.DefaultLimits()
	lim.MaxDecompressed = 4 << 20
	lim.MaxTotalDecompressed = 8 << 20
	lim.RatioFloor = 1 << 20
	lim.MaxInMemory = 1 << 20
	lim.MaxMembers = 1000
	f.Fuzz(func(t *testing.T, data []byte) {
		if !bytes.HasPrefix(data, sevenzip.Signature) {
			// First byte: length of the packed data; the rest is the header.
			if len(data) == 0 {
				return
			}
			n := min(int(data[0]), len(data)-1)
			data = archive(data[1:1+n], data[1+n:])
		}
		var out analyzer.Output
		in := analyzer.Input{Name: "fuzz.7z", R: bytes.NewReader(data), Size: int64(len(data)), Budget: analyzer.NewBudget(lim)}
		_ = sevenzip.Analyzer{}.Analyze(context.Background(), in, lim, &out)
		for _, n := range out.Nested {
			if _, err := io.Copy(io.Discard, io.NewSectionReader(n.R, 0, n.Size)); err != nil {
				t.Errorf("member %q unreadable: %v", n.Name, err)
			}
			if n.Close != nil {
				n.Close()
			}
		}
	})
}
