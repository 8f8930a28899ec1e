package convert

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pt "github.com/modelgate/modelgate/internal/pickle/pickletest"
)

// member is one zip member of a synthetic checkpoint.
type member struct {
	name string
	data []byte
}

// torchZip writes a torch.save-layout zip: archive/data.pkl, the storages
// as archive/data/KEY and archive/version, plus extra members.
func torchZip(t testing.TB, pkl []byte, storages map[string][]byte, extra ...member) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	add := func(name string, data []byte) {
		hw, err := w.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		hw.Write(data)
	}
	add("archive/data.pkl", pkl)
	for k, v := range storages {
		add("archive/data/"+k, v)
	}
	add("archive/version", []byte("3\n"))
	for _, m := range extra {
		add(m.name, m.data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// tensorV2 appends _rebuild_tensor_v2(storage(cls, key, numel), offset,
// shape, stride, False, OrderedDict()).
func tensorV2(p *pt.Builder, cls, key string, numel, offset int32, shape, stride []int32) *pt.Builder {
	p.Global("torch._utils", "_rebuild_tensor_v2").Mark().
		Mark().Str("storage").Global("torch", cls).Str(key).Str("cpu").Int(numel).Tuple().Raw('Q').
		Int(offset)
	p.Mark()
	for _, s := range shape {
		p.Int(s)
	}
	p.Tuple().Mark()
	for _, s := range stride {
		p.Int(s)
	}
	p.Tuple().Raw(0x89).Global("collections", "OrderedDict").EmptyTuple().Reduce().Tuple().Reduce()
	return p
}

func openBytes(t testing.TB, b []byte, opts Options) (*Model, error) {
	t.Helper()
	return Open(bytes.NewReader(b), int64(len(b)), opts)
}

func contig(t *testing.T, x *Tensor) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := x.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestFloat8AndByteOrder: float8 storages (torch >= 2.1), unsigned 16-bit
// storages, and a big-endian archive (byteorder "big"), which torch.load
// byte-swaps, are converted to little-endian.
func TestFloat8AndByteOrder(t *testing.T) {
	p := pt.New().Proto(2).EmptyDict().Mark()
	p.Str("f8a")
	tensorV2(p, "Float8_e4m3fnStorage", "0", 4, 0, []int32{4}, []int32{1})
	p.Str("f8b")
	tensorV2(p, "Float8_e5m2Storage", "1", 4, 1, []int32{3}, []int32{1})
	p.Str("u16")
	tensorV2(p, "UInt16Storage", "2", 2, 0, []int32{2}, []int32{1})
	p.Raw('u').Stop()
	st := map[string][]byte{"0": {1, 2, 3, 4}, "1": {5, 6, 7, 8}, "2": {0x12, 0x34, 0x56, 0x78}}
	for _, order := range []string{"little", "big"} {
		z := torchZip(t, p.Bytes(), st, member{"archive/byteorder", []byte(order)})
		m, err := openBytes(t, z, Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, x := range m.Tensors {
			got[x.Name] = x.DType.Name + ":" + string(contig(t, x))
		}
		u16 := "\x12\x34\x56\x78"
		if order == "big" {
			u16 = "\x34\x12\x78\x56"
		}
		want := map[string]string{"f8a": "F8_E4M3:\x01\x02\x03\x04", "f8b": "F8_E5M2:\x06\x07\x08", "u16": "U16:" + u16}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s %s: got %q, want %q", order, k, got[k], v)
			}
		}
	}
}

// TestStridedCopy checks the gather of views against a direct computation,
// with a view cache small enough to evict pages.
func TestStridedCopy(t *testing.T) {
	const n = 300 * 200
	data := make([]byte, n*4)
	for i := range n {
		binary.LittleEndian.PutUint32(data[i*4:], uint32(i))
	}
	st := &storage{key: "s", r: bytes.NewReader(data), size: int64(len(data)), dtype: F32}
	cases := []struct {
		shape, stride []int64
		off           int64
	}{
		{[]int64{200, 300}, []int64{1, 200}, 0},   // transpose
		{[]int64{100, 50}, []int64{600, 2}, 7},    // stepped
		{[]int64{300}, []int64{200}, 5},           // column
		{[]int64{4, 1, 5}, []int64{0, 9, 1}, 3},   // broadcast + size-1 dim
		{[]int64{2, 3, 4}, []int64{12, 4, 1}, 11}, // contiguous with offset
		{[]int64{5, 2, 3}, []int64{1, 15, 5}, 0},  // permuted
		{[]int64{0, 3}, []int64{3, 1}, 0},         // empty
		{[]int64{}, []int64{}, 42},                // scalar
		{[]int64{2, 30000}, []int64{1, 2}, 0},     // long inner stride, pages evicted
	}
	for _, c := range cases {
		x := &Tensor{Name: "v", DType: F32, Shape: c.shape, Strides: c.stride, Offset: c.off, st: st}
		var want []byte
		idx := make([]int64, len(c.shape))
		for k := int64(0); k < x.Numel(); k++ {
			rem := k
			for i := len(c.shape) - 1; i >= 0; i-- {
				idx[i] = rem % c.shape[i]
				rem /= c.shape[i]
			}
			e := c.off
			for i := range idx {
				e += idx[i] * c.stride[i]
			}
			want = append(want, data[e*4:e*4+4]...)
		}
		var got bytes.Buffer
		if _, err := x.writeTo(&got, 2*pageSize); err != nil {
			t.Fatalf("%v/%v: %v", c.shape, c.stride, err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("shape %v stride %v offset %d: bytes differ", c.shape, c.stride, c.off)
		}
	}
}

// TestRefusals: everything outside the rebuild graph refuses the file,
// with the global or opcode named.
func TestRefusals(t *testing.T) {
	stor := map[string][]byte{"0": make([]byte, 16)}
	okTensor := func(p *pt.Builder) *pt.Builder {
		return tensorV2(p, "FloatStorage", "0", 4, 0, []int32{4}, []int32{1})
	}
	cases := []struct {
		name string
		pkl  func() *pt.Builder
		want string
	}{
		{"eval call", func() *pt.Builder {
			return pt.New().Proto(2).EmptyDict().Str("x").Call("builtins", "eval", "1").Raw('s').Stop()
		}, "global builtins.eval"},
		{"import only", func() *pt.Builder {
			return pt.New().Proto(2).EmptyDict().Str("x").Global("os", "getcwd").Raw('s').Stop()
		}, "global os.getcwd"},
		{"storage class called", func() *pt.Builder {
			return pt.New().Proto(2).EmptyDict().Str("x").Global("torch", "FloatStorage").EmptyTuple().Reduce().Raw('s').Stop()
		}, "REDUCE calls torch.FloatStorage"},
		{"load_from_bytes", func() *pt.Builder {
			return pt.New().Proto(2).Global("torch.storage", "_load_from_bytes").Mark().ShortBytes("x").Tuple().Reduce().Stop()
		}, "torch.storage._load_from_bytes"},
		{"build on tensor", func() *pt.Builder {
			p := pt.New().Proto(2).EmptyDict().Str("w")
			return okTensor(p).EmptyDict().Build().Raw('s').Stop()
		}, "BUILD sets the state of torch._utils._rebuild_tensor_v2"},
		{"newobj", func() *pt.Builder {
			return pt.New().Proto(2).Global("collections", "OrderedDict").EmptyTuple().NewObj().Stop()
		}, "NEWOBJ instantiates collections.OrderedDict"},
		{"module persistent id", func() *pt.Builder {
			return pt.New().Proto(2).EmptyDict().Str("m").Mark().Str("module").Str("x").Tuple().Raw('Q').Raw('s').Stop()
		}, "outside of a tensor rebuild"},
		{"hooks not empty", func() *pt.Builder {
			p := pt.New().Proto(2).EmptyDict().Str("w").Global("torch._utils", "_rebuild_tensor_v2").Mark().
				Mark().Str("storage").Global("torch", "FloatStorage").Str("0").Str("cpu").Int(4).Tuple().Raw('Q').
				Int(0).Mark().Int(4).Tuple().Mark().Int(1).Tuple().Raw(0x89).EmptyDict().Str("h").Int(1).Raw('s').Tuple().Reduce()
			return p.Raw('s').Stop()
		}, "backward_hooks"},
		{"view past storage", func() *pt.Builder {
			p := pt.New().Proto(2).EmptyDict().Str("w")
			return tensorV2(p, "FloatStorage", "0", 4, 2, []int32{3}, []int32{1}).Raw('s').Stop()
		}, "past the end of storage"},
		{"storage numel over member", func() *pt.Builder {
			p := pt.New().Proto(2).EmptyDict().Str("w")
			return tensorV2(p, "DoubleStorage", "0", 4, 0, []int32{4}, []int32{1}).Raw('s').Stop()
		}, "needs 32 bytes but the member has 16"},
		{"missing storage", func() *pt.Builder {
			p := pt.New().Proto(2).EmptyDict().Str("w")
			return tensorV2(p, "FloatStorage", "7", 4, 0, []int32{4}, []int32{1}).Raw('s').Stop()
		}, `storage "7" has no member`},
		{"conflicting storage types", func() *pt.Builder {
			p := pt.New().Proto(2).EmptyDict().Mark().Str("a")
			okTensor(p).Str("b")
			return tensorV2(p, "IntStorage", "0", 4, 0, []int32{4}, []int32{1}).Raw('u').Stop()
		}, "declared as F32[4] and as I32[4]"},
		{"recursive", func() *pt.Builder {
			return pt.New().Proto(2).EmptyDict().Put(0).Str("self").Get(0).Raw('s').Stop()
		}, "recursive"},
		{"memo miss", func() *pt.Builder {
			return pt.New().Proto(2).EmptyDict().Str("x").Get(9).Raw('s').Stop()
		}, "memo-miss"},
		{"name collision", func() *pt.Builder {
			p := pt.New().Proto(2).EmptyDict().Mark().Str("a.b")
			okTensor(p).Str("a").EmptyDict().Str("b")
			okTensor(p).Raw('s')
			return p.Raw('u').Stop()
		}, `two tensors are named "a.b"`},
		{"set value", func() *pt.Builder {
			return pt.New().Proto(4).EmptyDict().Str("s").Raw(0x8f).Raw('s').Stop()
		}, "unsupported value"},
		{"truncated", func() *pt.Builder {
			return pt.New().Proto(2).EmptyDict().Str("x")
		}, "pickle"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := openBytes(t, torchZip(t, c.pkl().Bytes(), stor), Options{})
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want a refusal", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("refusal %q does not contain %q", err, c.want)
			}
		})
	}
}

// TestZipStructure: archives torch would read differently, or not at all,
// are refused.
func TestZipStructure(t *testing.T) {
	p := pt.New().Proto(2).EmptyDict().Str("w")
	pkl := tensorV2(p, "FloatStorage", "0", 4, 0, []int32{4}, []int32{1}).Raw('s').Stop().Bytes()
	stor := map[string][]byte{"0": make([]byte, 16)}
	if _, err := openBytes(t, torchZip(t, pkl, stor), Options{}); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	cases := map[string][]byte{
		"outside folder": torchZip(t, pkl, stor, member{"other/x", nil}),
		"case duplicate": torchZip(t, pkl, stor, member{"archive/DATA.PKL", pkl}),
		"torchscript":    torchZip(t, pkl, stor, member{"archive/constants.pkl", pkl}),
		"not torch zip": func() []byte {
			z := torchZip(t, pkl, stor)
			return bytes.Replace(z, []byte("data.pkl"), []byte("data.txt"), -1)
		}(),
		"unknown format": []byte("hello world, this is not a model at all"),
		"bad byteorder":  torchZip(t, pkl, stor, member{"archive/byteorder", []byte("middle")}),
	}
	for name, z := range cases {
		if _, err := openBytes(t, z, Options{}); err == nil {
			t.Errorf("%s: accepted", name)
		} else if re := (*RefusedError)(nil); !errors.As(err, &re) {
			t.Errorf("%s: %v is not a refusal", name, err)
		}
	}
}

// TestKeySelection: --key picks a sub-dict, dotted keys match whole first.
func TestKeySelection(t *testing.T) {
	p := pt.New().Proto(2).EmptyDict().Mark()
	p.Str("model").EmptyDict().Mark().Str("layer.0.w")
	tensorV2(p, "FloatStorage", "0", 4, 0, []int32{4}, []int32{1})
	p.Raw('u')
	p.Str("epoch").Int(3)
	p.Raw('u').Stop()
	z := torchZip(t, p.Bytes(), map[string][]byte{"0": make([]byte, 16)})
	for key, want := range map[string]string{"": "model.layer.0.w", "model": "layer.0.w", "model.layer.0.w": "model.layer.0.w"} {
		m, err := openBytes(t, z, Options{Key: key})
		if err != nil {
			t.Fatalf("key %q: %v", key, err)
		}
		if len(m.Tensors) != 1 || m.Tensors[0].Name != want {
			t.Errorf("key %q: tensors %v, want %q", key, m.Tensors, want)
		}
	}
	if _, err := openBytes(t, z, Options{Key: "optimizer"}); err == nil || !strings.Contains(err.Error(), "top-level keys: 'model', 'epoch'") {
		t.Errorf("missing key: %v", err)
	}
}

// TestConvertOutput checks the written file byte for byte: header layout,
// alignment, metadata, padding.
func TestConvertOutput(t *testing.T) {
	p := pt.New().Proto(2).EmptyDict().Mark()
	p.Str("b")
	tensorV2(p, "HalfStorage", "1", 2, 0, []int32{2}, []int32{1})
	p.Str("a")
	tensorV2(p, "DoubleStorage", "0", 1, 0, []int32{}, []int32{})
	p.Str("tied")
	tensorV2(p, "HalfStorage", "1", 2, 1, []int32{1}, []int32{1})
	p.Raw('u').Stop()
	f64 := binary.LittleEndian.AppendUint64(nil, math.Float64bits(1.5))
	z := torchZip(t, p.Bytes(), map[string][]byte{"0": f64, "1": {1, 2, 3, 4}})
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pt")
	os.WriteFile(in, z, 0o644)
	out := filepath.Join(dir, "out.safetensors")
	s, err := Convert(context.Background(), in, out, ConvertOptions{SourceSHA256: strings.Repeat("ab", 32)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	hdr := `{"__metadata__":{"format":"pt","shared_storage":"[[\"b\",\"tied\"]]","source_format":"pytorch-zip","source_sha256":"` + strings.Repeat("ab", 32) + `"},` +
		`"a":{"dtype":"F64","shape":[],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},` +
		`"tied":{"dtype":"F16","shape":[1],"data_offsets":[12,14]}}`
	for len(hdr)%8 != 0 {
		hdr += " "
	}
	want := append(binary.LittleEndian.AppendUint64(nil, uint64(len(hdr))), hdr...)
	want = append(want, f64...)
	want = append(want, 1, 2, 3, 4, 3, 4)
	if !bytes.Equal(got, want) {
		t.Errorf("output:\n got %q\nwant %q", got, want)
	}
	if s.Tensors != 3 || s.TensorBytes != 14 || len(s.Shared) != 1 || s.FileBytes != int64(len(want)) {
		t.Errorf("summary %+v", s)
	}
	// No --force: the output is kept.
	if _, err := Convert(context.Background(), in, out, ConvertOptions{}); !errors.Is(err, ErrExists) {
		t.Errorf("second convert: %v, want ErrExists", err)
	}
	if _, err := Convert(context.Background(), in, out, ConvertOptions{Force: true}); err != nil {
		t.Errorf("--force: %v", err)
	}
	if _, err := Convert(context.Background(), in, in, ConvertOptions{Force: true}); err == nil {
		t.Error("converting a file onto itself was accepted")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// TestVerifyDiff reports names, dtypes, shapes and data that differ.
func TestVerifyDiff(t *testing.T) {
	build := func(vals []byte, cls string, extra bool) []byte {
		p := pt.New().Proto(2).EmptyDict().Mark().Str("w")
		tensorV2(p, "FloatStorage", "0", 4, 0, []int32{4}, []int32{1})
		p.Str("c")
		tensorV2(p, cls, "1", 2, 0, []int32{2}, []int32{1})
		if extra {
			p.Str("only")
			tensorV2(p, "FloatStorage", "0", 4, 0, []int32{2, 2}, []int32{2, 1})
		}
		p.Raw('u').Stop()
		return torchZip(t, p.Bytes(), map[string][]byte{"0": vals, "1": make([]byte, 8)})
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pt"), filepath.Join(dir, "b.pt")
	os.WriteFile(a, build(make([]byte, 16), "FloatStorage", true), 0o644)
	os.WriteFile(b, build(bytes.Repeat([]byte{1}, 16), "IntStorage", false), 0o644)
	d, err := Verify(context.Background(), a, b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Identical() || len(d.OnlyInA) != 1 || d.OnlyInA[0] != "only" || len(d.Mismatch) != 2 ||
		d.Mismatch[0].Field != "dtype" || d.Mismatch[1].Field != "data" || d.Compared != 2 {
		t.Errorf("diff %+v", d)
	}
	if d, err := Verify(context.Background(), a, a, Options{}); err != nil || !d.Identical() || d.Equal != 3 {
		t.Errorf("self: %+v, %v", d, err)
	}
}

// TestLimits: a container flood ends in a refusal, not in memory use.
func TestLimits(t *testing.T) {
	p := pt.New().Proto(2).EmptyList()
	for range 200 {
		p.Mark()
		for range 10 {
			p.None()
		}
		p.Appends()
	}
	p.Stop()
	lim := DefaultLimits()
	lim.MaxItems = 1000
	_, err := openBytes(t, torchZip(t, p.Bytes(), nil), Options{Limits: lim})
	if err == nil || !strings.Contains(err.Error(), "more than 1000 container items") {
		t.Errorf("got %v", err)
	}
}
