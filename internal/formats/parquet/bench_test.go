package parquet_test

import (
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/formats/parquet"
	"github.com/modelgate/modelgate/internal/scan"
)

// counting counts the bytes read through it.
type counting struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *counting) ReadAt(p []byte, off int64) (int, error) {
	k, err := c.r.ReadAt(p, off)
	c.n.Add(int64(k))
	return k, err
}

// bigParquet writes a 1 GiB Parquet file: benign/nested.parquet's column
// data and footer, with 1 GiB of zero column data before the footer as a
// hole of a sparse file (the footer's offsets no longer match the data;
// nothing here reads the data).
func bigParquet(b *testing.B) (string, int64) {
	data := read(b, "benign/nested.parquet")
	n := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	at := len(data) - 8 - n
	path := filepath.Join(b.TempDir(), "train-00000-of-00001.parquet")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data[:at], 0); err != nil {
		b.Fatal(err)
	}
	if _, err := f.WriteAt(data[at:], 1<<30); err != nil {
		b.Fatal(err)
	}
	return path, 1<<30 + int64(len(data)-at)
}

// BenchmarkScan1GiB compares the analysis of a 1 GiB Parquet file (the
// analyser alone, and the engine without the SHA-256 of the file) with
// reading the file once. bytes-read/op is what each reads.
func BenchmarkScan1GiB(b *testing.B) {
	path, size := bigParquet(b)
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.Run("analyze", func(b *testing.B) {
		lim := analyzer.DefaultLimits()
		c := &counting{r: f}
		for b.Loop() {
			var out analyzer.Output
			in := analyzer.Input{Name: "train.parquet", R: c, Size: size, Budget: analyzer.NewBudget(lim)}
			if err := (parquet.Analyzer{}).Analyze(context.Background(), in, lim, &out); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(c.n.Load())/float64(b.N), "bytes-read/op")
	})
	b.Run("engine-no-digest", func(b *testing.B) {
		e := scan.New()
		e.NoDigest = true
		for b.Loop() {
			r := e.ScanPaths(context.Background(), []string{path})
			if len(r) != 1 || len(r[0].Errors) > 0 || r[0].Format != "parquet" {
				b.Fatalf("%+v", r)
			}
		}
	})
	b.Run("read-all", func(b *testing.B) {
		c := &counting{r: f}
		b.SetBytes(size)
		for b.Loop() {
			if _, err := io.Copy(io.Discard, io.NewSectionReader(c, 0, size)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(c.n.Load())/float64(b.N), "bytes-read/op")
	})
}
