package convert

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	pt "github.com/modelgate/modelgate/internal/pickle/pickletest"
)

// fuzzLimits keep one fuzz input cheap.
func fuzzLimits() Limits {
	return Limits{MaxOpcodes: 100_000, MaxItems: 10_000, MaxTensors: 1000, MaxMembers: 1000, ViewCache: 4 * pageSize}
}

// drain reads every tensor of a model the fuzzer produced, as Convert and
// Verify would, skipping tensors too large to be worth the time.
func drain(m *Model) {
	for _, t := range m.Tensors {
		if t.ByteSize() <= 1<<20 {
			t.writeTo(io.Discard, 4*pageSize)
		}
	}
	h, err := header(sortedForWrite(m.Tensors), map[string]string{"format": "pt"})
	if err == nil && len(h) < 8 {
		panic("short header")
	}
}

// FuzzOpen feeds whole files (seeded with every fixture): hostile input
// must end in a model or a refusal, never a panic or a runaway allocation.
func FuzzOpen(f *testing.F) {
	for _, dir := range []string{"testdata/benign", "testdata/malicious"} {
		files, _ := os.ReadDir(dir)
		for _, e := range files {
			if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Open(bytes.NewReader(b), int64(len(b)), Options{Limits: fuzzLimits()})
		if err == nil {
			drain(m)
		}
	})
}

// FuzzDataPkl fuzzes the pickle of a torch zip whose storages exist, so
// that mutations reach the rebuild interpreter and the view arithmetic.
func FuzzDataPkl(f *testing.F) {
	p := pt.New().Proto(2).EmptyDict().Mark().Str("w")
	tensorV2(p, "FloatStorage", "0", 16, 2, []int32{2, 3}, []int32{1, 4})
	p.Str("h")
	tensorV2(p, "HalfStorage", "1", 8, 0, []int32{8}, []int32{1})
	f.Add(p.Raw('u').Stop().Bytes())
	f.Add(pt.New().Proto(2).EmptyDict().Str("x").Call("builtins", "eval", "1").Raw('s').Stop().Bytes())
	stor := map[string][]byte{"0": make([]byte, 64), "1": make([]byte, 16)}
	f.Fuzz(func(t *testing.T, pkl []byte) {
		z := torchZip(t, pkl, stor)
		m, err := Open(bytes.NewReader(z), int64(len(z)), Options{Limits: fuzzLimits()})
		if err == nil {
			drain(m)
		}
	})
}
