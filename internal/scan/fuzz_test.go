package scan_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelgate/modelgate/internal/scan"
)

// FuzzScan runs the whole engine (sniffing, decompression, nested inputs,
// the pickle audit) on arbitrary bytes: no panic, no runaway memory, and a
// result for the file every time.
func FuzzScan(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(fixtureDir, "*", "*"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil && len(b) < 1<<20 {
			f.Add(b)
		}
	}
	e := scan.New()
	e.Limits.MaxDecompressed = 8 << 20
	e.Limits.RatioFloor = 1 << 20
	e.Limits.Pickle.MaxOpcodes = 200_000
	f.Fuzz(func(t *testing.T, data []byte) {
		r := e.ScanReaderAt(context.Background(), "fuzz.bin", bytes.NewReader(data), int64(len(data)), false)
		if r.Format == "" || r.SHA256 == "" {
			t.Fatalf("incomplete result %+v", r)
		}
	})
}
