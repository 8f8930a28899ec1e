package gguf

import (
	"bytes"
	"encoding/binary"
	"math"
)

// A small GGUF writer for tests and fixtures, following gguf.md: magic,
// version, tensor count, metadata count, metadata, tensor infos, padding to
// the alignment, tensor data. Version 1 writes 32-bit counts, lengths and
// dimensions; versions 2 and 3 write 64-bit ones. Nothing here validates:
// malformed files are built with the same writer.

// kv is one metadata entry. val is a Go value of the type's natural kind
// (uint8 … float64, bool, string) or an array.
type kv struct {
	key string
	typ uint32
	val any
}

// array is a metadata array of elements of type elem.
type array struct {
	elem uint32
	vals []any
}

// tensorInfo is one tensor info; its data is zeros unless data is set.
type tensorInfo struct {
	name   string
	dims   []uint64
	typ    uint32
	offset uint64
}

type ggufWriter struct {
	version uint32
	order   binary.ByteOrder
	b       bytes.Buffer
}

func newWriter(version uint32, order binary.ByteOrder) *ggufWriter {
	return &ggufWriter{version: version, order: order}
}

func (w *ggufWriter) u8(v uint8) { w.b.WriteByte(v) }

func (w *ggufWriter) u16(v uint16) {
	var b [2]byte
	w.order.PutUint16(b[:], v)
	w.b.Write(b[:])
}

func (w *ggufWriter) u32(v uint32) {
	var b [4]byte
	w.order.PutUint32(b[:], v)
	w.b.Write(b[:])
}

func (w *ggufWriter) u64(v uint64) {
	var b [8]byte
	w.order.PutUint64(b[:], v)
	w.b.Write(b[:])
}

// count writes a count or length in the width of the version.
func (w *ggufWriter) count(v uint64) {
	if w.version == 1 {
		w.u32(uint32(v))
	} else {
		w.u64(v)
	}
}

func (w *ggufWriter) str(s string) {
	w.count(uint64(len(s)))
	w.b.WriteString(s)
}

// header writes the magic, the version and both counts.
func (w *ggufWriter) header(tensors, kvs uint64) {
	w.b.WriteString("GGUF")
	w.u32(w.version)
	w.count(tensors)
	w.count(kvs)
}

func (w *ggufWriter) kv(e kv) {
	w.str(e.key)
	w.u32(e.typ)
	w.value(e.typ, e.val)
}

func (w *ggufWriter) value(typ uint32, v any) {
	switch typ {
	case typeUint8:
		w.u8(v.(uint8))
	case typeInt8:
		w.u8(uint8(v.(int8)))
	case typeUint16:
		w.u16(v.(uint16))
	case typeInt16:
		w.u16(uint16(v.(int16)))
	case typeUint32:
		w.u32(v.(uint32))
	case typeInt32:
		w.u32(uint32(v.(int32)))
	case typeFloat32:
		w.u32(math.Float32bits(v.(float32)))
	case typeBool:
		if v.(bool) {
			w.u8(1)
		} else {
			w.u8(0)
		}
	case typeString:
		w.str(v.(string))
	case typeArray:
		a := v.(array)
		w.u32(a.elem)
		w.count(uint64(len(a.vals)))
		for _, e := range a.vals {
			w.value(a.elem, e)
		}
	case typeUint64:
		w.u64(v.(uint64))
	case typeInt64:
		w.u64(uint64(v.(int64)))
	case typeFloat64:
		w.u64(math.Float64bits(v.(float64)))
	default:
		panic("writer: unknown type")
	}
}

func (w *ggufWriter) tensor(t tensorInfo) {
	w.str(t.name)
	w.u32(uint32(len(t.dims)))
	for _, d := range t.dims {
		w.count(d)
	}
	w.u32(t.typ)
	w.u64(t.offset)
}

// pad pads to the alignment.
func (w *ggufWriter) pad(alignment int) {
	for w.b.Len()%alignment != 0 {
		w.b.WriteByte(0)
	}
}

// buildGGUF writes a whole file: the entries, the tensor infos and
// dataSize bytes of tensor data (a repeating pattern, so fixtures are
// deterministic and not all zeros).
func buildGGUF(version uint32, order binary.ByteOrder, kvs []kv, tensors []tensorInfo, dataSize int) []byte {
	w := newWriter(version, order)
	w.header(uint64(len(tensors)), uint64(len(kvs)))
	for _, e := range kvs {
		w.kv(e)
	}
	for _, t := range tensors {
		w.tensor(t)
	}
	w.pad(defaultAlignment)
	for i := range dataSize {
		w.u8(uint8(i * 7))
	}
	return w.b.Bytes()
}

// strings returns an array of strings.
func stringArray(ss ...string) array {
	vals := make([]any, len(ss))
	for i, s := range ss {
		vals[i] = s
	}
	return array{elem: typeString, vals: vals}
}

// modelKVs is the metadata of a tiny llama-like model with the given chat
// template; extra entries follow it.
func modelKVs(arch, template string, extra ...kv) []kv {
	tokens := stringArray("<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "▁the", "▁a", "\n")
	scores := array{elem: typeFloat32, vals: []any{float32(0), float32(0), float32(0), float32(-1), float32(-1), float32(-2), float32(-3), float32(-4)}}
	types := array{elem: typeInt32, vals: []any{int32(2), int32(3), int32(3), int32(3), int32(3), int32(1), int32(1), int32(6)}}
	kvs := []kv{
		{"general.architecture", typeString, arch},
		{"general.name", typeString, "modelgate test model"},
		{"general.alignment", typeUint32, uint32(32)},
		{arch + ".context_length", typeUint32, uint32(2048)},
		{arch + ".embedding_length", typeUint32, uint32(4)},
		{arch + ".rope.freq_base", typeFloat32, float32(10000)},
		{"tokenizer.ggml.model", typeString, "llama"},
		{"tokenizer.ggml.tokens", typeArray, tokens},
		{"tokenizer.ggml.scores", typeArray, scores},
		{"tokenizer.ggml.token_type", typeArray, types},
		{"tokenizer.ggml.bos_token_id", typeUint32, uint32(1)},
		{"tokenizer.ggml.eos_token_id", typeUint32, uint32(2)},
		{"tokenizer.ggml.add_bos_token", typeBool, true},
	}
	if template != "" {
		kvs = append(kvs, kv{"tokenizer.chat_template", typeString, template})
	}
	return append(kvs, extra...)
}

// modelTensors are two small F32 tensors: a 4×8 embedding and a norm of 4.
var modelTensors = []tensorInfo{
	{"token_embd.weight", []uint64{4, 8}, 0, 0},
	{"output_norm.weight", []uint64{4}, 0, 128},
}

const modelDataSize = 128 + 16
