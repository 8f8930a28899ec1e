package convert

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	pt "github.com/modelgate/modelgate/internal/pickle/pickletest"
)

// writeCheckpoint writes a torch.save-layout zip of n float32 tensors of
// per elements each (the bench/gentorch layout), with every fourth tensor
// saved transposed so that the strided path is measured too.
func writeCheckpoint(b testing.TB, path string, n int, per int32) {
	p := pt.New().Proto(2).Global("collections", "OrderedDict").EmptyTuple().Reduce().Mark()
	rows := int32(256)
	for i := range n {
		p.Str(fmt.Sprintf("layer%d.weight", i))
		if i%4 == 3 {
			tensorV2(p, "FloatStorage", fmt.Sprint(i), per, 0, []int32{per / rows, rows}, []int32{1, per / rows})
		} else {
			tensorV2(p, "FloatStorage", fmt.Sprint(i), per, 0, []int32{per}, []int32{1})
		}
	}
	p.Raw('u').Stop()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := zip.NewWriter(f)
	add := func(name string, r io.Reader) {
		hw, err := w.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(hw, r)
	}
	add("archive/data.pkl", bytesReader(p.Bytes()))
	for i := range n {
		add(fmt.Sprintf("archive/data/%d", i), io.LimitReader(pattern{}, int64(per)*4))
	}
	add("archive/version", bytesReader([]byte("3\n")))
	w.Close()
	f.Close()
}

type pattern struct{}

func (pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i * 7)
	}
	return len(p), nil
}

type bytesReaderT struct {
	b []byte
	i int
}

func (r *bytesReaderT) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}

func bytesReader(b []byte) io.Reader { return &bytesReaderT{b: b} }

// BenchmarkConvert converts a 64 MiB checkpoint (16 tensors, a quarter of
// them transposed views); the bytes/s figure is tensor bytes converted.
func BenchmarkConvert(b *testing.B) {
	dir := b.TempDir()
	in := filepath.Join(dir, "in.pt")
	const n, per = 16, 1 << 20 // 16 x 4 MiB
	writeCheckpoint(b, in, n, per)
	sum := "0000000000000000000000000000000000000000000000000000000000000000"
	b.SetBytes(n * per * 4)
	b.ResetTimer()
	for i := range b.N {
		out := filepath.Join(dir, fmt.Sprintf("out%d.safetensors", i))
		if _, err := Convert(context.Background(), in, out, ConvertOptions{SourceSHA256: sum}); err != nil {
			b.Fatal(err)
		}
		os.Remove(out)
	}
}

// BenchmarkOpen measures reading the structure only (the pickle and the
// zip directory) of a checkpoint with 2000 tensors.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	in := filepath.Join(dir, "in.pt")
	writeCheckpoint(b, in, 2000, 256)
	b.ResetTimer()
	for range b.N {
		_, c, err := OpenFile(in, Options{})
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
