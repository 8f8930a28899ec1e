// Command gentorch writes a PyTorch torch.save-layout checkpoint of a given
// size for benchmarks: archive/data.pkl (a protocol-2 state dict of float32
// tensors rebuilt with torch._utils._rebuild_tensor_v2 from persistent
// storage ids, as torch 1.13 writes it), one stored member per storage, and
// archive/version. Tensor bytes are zeros; only the layout matters here.
//
//	go run ./bench/gentorch -size 2048 -tensors 64 -o /tmp/big.pt
package main

import (
	"archive/zip"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	pt "github.com/modelgate/modelgate/internal/pickle/pickletest"
)

func main() {
	sizeMB := flag.Int64("size", 2048, "total tensor data in MiB")
	tensors := flag.Int("tensors", 64, "number of tensors")
	out := flag.String("o", "checkpoint.pt", "output file")
	flag.Parse()
	per := *sizeMB << 20 / int64(*tensors) / 4 // float32 elements per tensor

	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	w := zip.NewWriter(f)
	write := func(name string, r io.Reader) {
		hw, err := w.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			log.Fatal(err)
		}
		if _, err := io.Copy(hw, r); err != nil {
			log.Fatal(err)
		}
	}
	p := pt.New().Proto(2).Global("collections", "OrderedDict").EmptyTuple().Reduce().Mark()
	for i := range *tensors {
		key := fmt.Sprint(i)
		p.Str(fmt.Sprintf("layer%d.weight", i)).
			Global("torch._utils", "_rebuild_tensor_v2").Mark().
			Mark().Str("storage").Global("torch", "FloatStorage").Str(key).Str("cpu").Int(int32(per)).Tuple().Raw('Q').
			Int(0).Int(int32(per)).Tuple1().Int(1).Tuple1().Raw(0x89).
			Global("collections", "OrderedDict").EmptyTuple().Reduce().
			Tuple().Reduce()
	}
	p.Raw('u').Stop()
	write("archive/data.pkl", bytes.NewReader(p.Bytes()))
	for i := range *tensors {
		write(fmt.Sprintf("archive/data/%d", i), io.LimitReader(zeros{}, per*4))
	}
	write("archive/version", bytes.NewReader([]byte("3\n")))
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
