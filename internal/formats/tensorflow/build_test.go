package tensorflow_test

// Builders for TensorFlow protobufs, written with protowire from the field
// numbers of TensorFlow's .proto files (no TensorFlow is installable here).
// The fixtures in testdata/ are made from these (TestWriteFixtures -update).

import (
	"encoding/binary"
	"hash/crc32"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	return appendBytes(b, num, []byte(s))
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// attr is one NodeDef.attr map entry; value is an encoded AttrValue.
type attr struct {
	key   string
	value []byte
}

// AttrValue{s} (attr_value.proto field 2).
func attrS(s string) []byte { return appendString(nil, 2, s) }

// AttrValue{list{s...}} (fields 1, ListValue.s 2).
func attrList(ss ...string) []byte {
	var l []byte
	for _, s := range ss {
		l = appendString(l, 2, s)
	}
	return appendBytes(nil, 1, l)
}

// AttrValue{type} (field 6).
func attrType(dt uint64) []byte { return appendVarint(nil, 6, dt) }

// AttrValue{func{name}} (field 10, NameAttrList.name 1).
func attrFunc(name string) []byte { return appendBytes(nil, 10, appendString(nil, 1, name)) }

// AttrValue{tensor{dtype: DT_STRING, string_val...}} (TensorProto dtype 1,
// tensor_shape 2, string_val 8).
func attrStringTensor(ss ...string) []byte {
	t := appendVarint(nil, 1, 7)
	if len(ss) != 1 {
		t = appendBytes(t, 2, appendBytes(nil, 2, appendVarint(nil, 1, uint64(len(ss)))))
	} else {
		t = appendBytes(t, 2, nil)
	}
	for _, s := range ss {
		t = appendString(t, 8, s)
	}
	return appendBytes(nil, 8, t)
}

// AttrValue{tensor{dtype: DT_FLOAT, shape [n], tensor_content}} (field 4).
func attrFloatTensor(n int) []byte {
	t := appendVarint(nil, 1, 1)
	t = appendBytes(t, 2, appendBytes(nil, 2, appendVarint(nil, 1, uint64(n))))
	content := make([]byte, 4*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint32(content[4*i:], math.Float32bits(float32(i%17)/16))
	}
	t = appendBytes(t, 4, content)
	return appendBytes(nil, 8, t)
}

// node encodes a NodeDef (name 1, op 2, input 3, device 4, attr 5).
func node(name, op string, inputs []string, attrs ...attr) []byte {
	b := appendString(nil, 1, name)
	b = appendString(b, 2, op)
	for _, in := range inputs {
		b = appendString(b, 3, in)
	}
	for _, a := range attrs {
		e := appendString(nil, 1, a.key)
		e = appendBytes(e, 2, a.value)
		b = appendBytes(b, 5, e)
	}
	return b
}

func constString(name string, values ...string) []byte {
	return node(name, "Const", nil, attr{"dtype", attrType(7)}, attr{"value", attrStringTensor(values...)})
}

func constFloat(name string, n int) []byte {
	return node(name, "Const", nil, attr{"dtype", attrType(1)}, attr{"value", attrFloatTensor(n)})
}

func placeholder(name string, dtype uint64) []byte {
	return node(name, "Placeholder", nil, attr{"dtype", attrType(dtype)})
}

// call is a StatefulPartitionedCall of fn.
func call(name, fn string, inputs ...string) []byte {
	return node(name, "StatefulPartitionedCall", inputs, attr{"f", attrFunc(fn)})
}

// function encodes a FunctionDef (signature 1: OpDef{name 1, input_arg 2
// {name 1}}, node_def 3).
func function(name string, args []string, nodes ...[]byte) []byte {
	sig := appendString(nil, 1, name)
	for _, a := range args {
		sig = appendBytes(sig, 2, appendString(nil, 1, a))
	}
	f := appendBytes(nil, 1, sig)
	for _, n := range nodes {
		f = appendBytes(f, 3, n)
	}
	return f
}

// graph encodes a GraphDef (node 1, library 2 {function 1}, versions 4
// {producer 1}).
func graph(nodes [][]byte, functions ...[]byte) []byte {
	var g []byte
	for _, n := range nodes {
		g = appendBytes(g, 1, n)
	}
	if len(functions) > 0 {
		var lib []byte
		for _, f := range functions {
			lib = appendBytes(lib, 1, f)
		}
		g = appendBytes(g, 2, lib)
	}
	return appendBytes(g, 4, appendVarint(nil, 1, 1645))
}

type assetDef struct{ tensor, filename string }

// metaGraph encodes a MetaGraphDef (meta_info_def 1 {tags 4,
// tensorflow_version 5}, graph_def 2, saver_def 3 {filename_tensor_name 1},
// asset_file_def 6 {tensor_info 1 {name 1}, filename 2}).
func metaGraph(graphDef []byte, saverFilename string, assets ...assetDef) []byte {
	info := appendString(nil, 4, "serve")
	info = appendString(info, 5, "2.15.0")
	m := appendBytes(nil, 1, info)
	m = appendBytes(m, 2, graphDef)
	if saverFilename != "" {
		m = appendBytes(m, 3, appendString(nil, 1, saverFilename))
	}
	for _, a := range assets {
		e := appendBytes(nil, 1, appendString(nil, 1, a.tensor))
		e = appendString(e, 2, a.filename)
		m = appendBytes(m, 6, e)
	}
	return m
}

// savedModel encodes a SavedModel (saved_model_schema_version 1,
// meta_graphs 2).
func savedModel(metas ...[]byte) []byte {
	b := appendVarint(nil, 1, 1)
	for _, m := range metas {
		b = appendBytes(b, 2, m)
	}
	return b
}

// fingerprintDef encodes a FingerprintDef (hashes 1-5, version 6).
func fingerprintDef() []byte {
	b := appendVarint(nil, 1, 14394622913826573815)
	b = appendVarint(b, 2, 8736501295283094137)
	b = appendVarint(b, 3, 1231411287483020281)
	b = appendVarint(b, 4, 11264432341843299722)
	b = appendVarint(b, 5, 3417230811112939012)
	return appendBytes(b, 6, appendVarint(nil, 1, 1))
}

type bundleEntry struct {
	name  string
	shape []uint64
	size  uint64
	off   uint64
}

// bundleIndex encodes a TensorBundle index: one data block (the header
// under the empty key, then BundleEntryProtos), an empty metaindex block, an
// index block and the footer, as tensorflow/core/lib/io/table_builder.cc
// writes them without compression.
func bundleIndex(entries []bundleEntry) []byte {
	var file []byte
	block := func(kv [][2][]byte) (off, size uint64) {
		var b []byte
		var prev []byte
		for _, e := range kv {
			shared := 0
			for shared < len(prev) && shared < len(e[0]) && prev[shared] == e[0][shared] {
				shared++
			}
			b = protowire.AppendVarint(b, uint64(shared))
			b = protowire.AppendVarint(b, uint64(len(e[0])-shared))
			b = protowire.AppendVarint(b, uint64(len(e[1])))
			b = append(b, e[0][shared:]...)
			b = append(b, e[1]...)
			prev = e[0]
		}
		b = binary.LittleEndian.AppendUint32(b, 0) // one restart point, at 0
		b = binary.LittleEndian.AppendUint32(b, 1)
		off, size = uint64(len(file)), uint64(len(b))
		crc := crc32.Update(crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)), crc32.MakeTable(crc32.Castagnoli), []byte{0})
		masked := ((crc >> 15) | (crc << 17)) + 0xa282ead8
		file = append(file, b...)
		file = append(file, 0)
		file = binary.LittleEndian.AppendUint32(file, masked)
		return off, size
	}
	// BundleHeaderProto{num_shards 1, endianness 2, version 3 {producer 1}}.
	header := appendVarint(nil, 1, 1)
	header = appendBytes(header, 3, appendVarint(nil, 1, 1))
	kv := [][2][]byte{{nil, header}}
	for _, e := range entries {
		// BundleEntryProto{dtype 1, shape 2, shard_id 3, offset 4, size 5, crc32c 6}.
		var shape []byte
		for _, d := range e.shape {
			shape = appendBytes(shape, 2, appendVarint(nil, 1, d))
		}
		v := appendVarint(nil, 1, 1)
		v = appendBytes(v, 2, shape)
		v = appendVarint(v, 4, e.off)
		v = appendVarint(v, 5, e.size)
		v = protowire.AppendTag(v, 6, protowire.Fixed32Type)
		v = protowire.AppendFixed32(v, 0x1234abcd)
		kv = append(kv, [2][]byte{[]byte(e.name), v})
	}
	dataOff, dataSize := block(kv)
	metaOff, metaSize := block(nil)
	var handle []byte
	handle = protowire.AppendVarint(handle, dataOff)
	handle = protowire.AppendVarint(handle, dataSize)
	last := []byte(entries[len(entries)-1].name)
	idxOff, idxSize := block([][2][]byte{{last, handle}})
	var footer []byte
	footer = protowire.AppendVarint(footer, metaOff)
	footer = protowire.AppendVarint(footer, metaSize)
	footer = protowire.AppendVarint(footer, idxOff)
	footer = protowire.AppendVarint(footer, idxSize)
	footer = append(footer, make([]byte, 40-len(footer))...)
	footer = binary.LittleEndian.AppendUint64(footer, 0xdb4775248b80fb57)
	return append(file, footer...)
}

func floatBytes(n int) []byte {
	b := make([]byte, 4*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(i)*0.25-1))
	}
	return b
}
