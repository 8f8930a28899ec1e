package keras_test

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/formats/keras"
)

// FuzzKerasConfig runs the config walker (JSON reader, custom-object rule,
// Lambda decoding, marshal reader) on arbitrary bytes, seeded with every
// config.json of the fixtures: no panic, and a result or an error.
func FuzzKerasConfig(f *testing.F) {
	archives, _ := filepath.Glob("testdata/*/*.keras")
	for _, a := range archives {
		zr, err := zip.OpenReader(a)
		if err != nil {
			continue
		}
		for _, m := range zr.File {
			if m.Name == "config.json" {
				if rc, err := m.Open(); err == nil {
					b, _ := io.ReadAll(rc)
					f.Add(b)
				}
			}
		}
		zr.Close()
	}
	f.Add([]byte(`{"class_name": "Lambda", "config": {"function": ["YwAAAA==", null, null]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var out analyzer.Output
		if _, err := keras.CheckConfig(data, "config.json", "config.json", &out); err != nil && len(out.Findings) > 0 {
			t.Fatalf("findings with an unparsable config: %v", err)
		}
	})
}

// FuzzHDF5 runs the HDF5 analyser (superblock, object headers, attributes,
// global heap, fractal heap, v2 B-trees, then the config walker) on
// arbitrary bytes, seeded with every .h5 fixture.
func FuzzHDF5(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.h5")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil && len(b) < 1<<14 {
			f.Add(b)
		}
	}
	lim := analyzer.DefaultLimits()
	f.Fuzz(func(t *testing.T, data []byte) {
		var out analyzer.Output
		in := analyzer.Input{Name: "fuzz.h5", R: bytes.NewReader(data), Size: int64(len(data)), Budget: analyzer.NewBudget(lim)}
		err := keras.H5Analyzer{}.Analyze(context.Background(), in, lim, &out)
		if err != nil && bytes.Contains([]byte(err.Error()), []byte("HDF5 reader failed")) {
			t.Fatalf("panic in the reader: %v", err)
		}
	})
}
