package pickle_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelgate/modelgate/internal/pickle"
	pt "github.com/modelgate/modelgate/internal/pickle/pickletest"
)

func benchRun(b *testing.B, r interface {
	ReadAt([]byte, int64) (int, error)
}, size int64) {
	b.SetBytes(size)
	b.ReportAllocs()
	var ops int64
	for b.Loop() {
		res := pickle.Run(r, 0, size, pickle.Options{OnEvent: func(*pickle.Event) {}})
		if res.Err != nil {
			b.Fatal(res.Err)
		}
		ops = res.Opcodes
	}
	b.ReportMetric(float64(ops)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mops/s")
}

// BenchmarkPayload: 16 payloads of 16 MiB in memory. Payload bytes are
// skipped, so throughput is bounded by opcode count, not size.
func BenchmarkPayload(b *testing.B) {
	p := pt.New().Proto(4).EmptyList().Mark()
	for i := range 16 {
		p.Bytes8Header(16 << 20).Raw(bytes.Repeat([]byte{byte(i)}, 16<<20)...).Memoize()
	}
	data := p.Appends().Stop().Bytes()
	benchRun(b, bytes.NewReader(data), int64(len(data)))
}

// BenchmarkDense: one million small ints and one million short strings.
func BenchmarkDense(b *testing.B) {
	// Batches of 1000 between MARK and APPENDS, as CPython's pickler writes.
	p := pt.New().Proto(4).EmptyList().Memoize()
	for i := range 2_000_000 {
		if i%1000 == 0 {
			if i > 0 {
				p.Appends()
			}
			p.Mark()
		}
		if i < 1_000_000 {
			p.Int(int32(i))
		} else {
			p.Str("s" + string(rune('a'+i%26))).Memoize()
		}
	}
	data := p.Appends().Stop().Bytes()
	benchRun(b, bytes.NewReader(data), int64(len(data)))
}

// BenchmarkFile runs on the files written by bench/make_pickles.py when
// MODELGATE_BENCH_DIR is set (bench/run.sh), to compare with genops on the
// very same bytes.
func BenchmarkFile(b *testing.B) {
	dir := os.Getenv("MODELGATE_BENCH_DIR")
	if dir == "" {
		b.Skip("MODELGATE_BENCH_DIR not set; run bench/run.sh")
	}
	for _, name := range []string{"payload.pkl", "dense.pkl"} {
		b.Run(name, func(b *testing.B) {
			f, err := os.Open(filepath.Join(dir, name))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			benchRun(b, f, st.Size())
		})
	}
}
