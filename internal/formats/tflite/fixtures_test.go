package tflite_test

import (
	"bytes"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// This file is the generator of testdata/: a minimal flatbuffer builder and
// the TFLite models made with it. TestFixturesUpToDate fails when a
// committed file differs from what the generator makes; `go test
// ./internal/formats/tflite -run TestFixturesUpToDate -update` rewrites
// them.

var update = flag.Bool("update", false, "rewrite testdata/ from the generator")

// Field values of a table under construction, by field id (nil: absent).
type (
	tbl    []any  // a table
	u32    uint32 // scalar fields, 4-byte slots
	i32    int32
	i8     int8
	str    string // a string, written after the table
	tables []tbl  // a vector of tables
	// rawRef is an offset field holding a raw (possibly bogus) value.
	rawRef uint32
	// fakeVec is a vector whose count is written but whose elements are not.
	fakeVec uint32
)

// builder lays a flatbuffer out front to back: a table, then what it
// refers to (uoffsets only point forward), each vtable just before its
// table.
type builder struct{ buf []byte }

func (b *builder) align() {
	for len(b.buf)%4 != 0 {
		b.buf = append(b.buf, 0)
	}
}

func (b *builder) u32At(pos int, v uint32) { binary.LittleEndian.PutUint32(b.buf[pos:], v) }

func (b *builder) add32(v uint32) int {
	pos := len(b.buf)
	b.buf = binary.LittleEndian.AppendUint32(b.buf, v)
	return pos
}

// table writes t and everything it refers to, returning the table's
// position.
func (b *builder) table(t tbl) int {
	b.align()
	// vtable: its size, the table's size, one uint16 per field; padded so
	// that the table after it stays aligned.
	vt := len(b.buf)
	vsize := 4 + 2*len(t)
	tsize := 4 + 4*len(t)
	b.buf = binary.LittleEndian.AppendUint16(b.buf, uint16(vsize))
	b.buf = binary.LittleEndian.AppendUint16(b.buf, uint16(tsize))
	for i, f := range t {
		off := uint16(0)
		if f != nil {
			off = uint16(4 + 4*i)
		}
		b.buf = binary.LittleEndian.AppendUint16(b.buf, off)
	}
	b.align()
	pos := len(b.buf)
	b.add32(uint32(pos - vt))
	type pending struct {
		slot int
		val  any
	}
	var later []pending
	for _, f := range t {
		slot := len(b.buf)
		switch v := f.(type) {
		case nil:
			b.add32(0)
		case u32:
			b.add32(uint32(v))
		case i32:
			b.add32(uint32(v))
		case i8:
			b.add32(uint32(uint8(v)))
		case rawRef:
			b.add32(uint32(v))
		default:
			b.add32(0)
			later = append(later, pending{slot, v})
		}
	}
	for _, p := range later {
		b.u32At(p.slot, uint32(b.child(p.val)-p.slot))
	}
	return pos
}

// child writes a referenced object and returns its position.
func (b *builder) child(v any) int {
	b.align()
	switch v := v.(type) {
	case str:
		pos := b.add32(uint32(len(v)))
		b.buf = append(append(b.buf, v...), 0)
		return pos
	case tbl:
		return b.table(v)
	case tables:
		pos := b.add32(uint32(len(v)))
		slots := make([]int, len(v))
		for i := range v {
			slots[i] = b.add32(0)
		}
		for i, t := range v {
			b.u32At(slots[i], uint32(b.table(t)-slots[i]))
		}
		return pos
	case fakeVec:
		return b.add32(uint32(v))
	}
	panic("unknown field type")
}

// model builds a TFLite file: root offset, "TFL3", the Model table.
func model(m tbl) []byte {
	b := &builder{buf: make([]byte, 8)}
	copy(b.buf[4:], "TFL3")
	b.u32At(0, uint32(b.table(m)))
	return b.buf
}

// opcode is an OperatorCode table: deprecated_builtin_code, custom_code,
// version, builtin_code.
func opcode(builtin int32, custom string) tbl {
	dep := i8(min(builtin, 127))
	t := tbl{dep, nil, i32(1), i32(builtin)}
	if custom != "" {
		t[1] = str(custom)
	}
	return t
}

// oldOpcode is an OperatorCode written before builtin_code existed
// (schema < 2.4): only deprecated_builtin_code.
func oldOpcode(builtin int8) tbl { return tbl{i8(builtin)} }

func subgraph(ops ...uint32) tbl {
	var operators tables
	for _, o := range ops {
		operators = append(operators, tbl{u32(o)})
	}
	return tbl{nil, nil, nil, operators, str("main")}
}

// tfliteModel is a Model table: version, operator_codes, subgraphs,
// description, buffers, metadata_buffer, metadata.
func tfliteModel(codes tables, subgraphs tables, meta ...string) tbl {
	var md tables
	for i, n := range meta {
		md = append(md, tbl{str(n), u32(i + 1)})
	}
	m := tbl{u32(3), codes, subgraphs, str("MLIR Converted."), tables{tbl{}, tbl{}}, nil, nil}
	if md != nil {
		m[6] = md
	}
	return m
}

func builtinModel() []byte {
	return model(tfliteModel(
		tables{opcode(3, ""), opcode(0, ""), oldOpcode(9), opcode(150, "")},
		tables{subgraph(0, 1, 2, 3, 0), subgraph(1)},
		"min_runtime_version"))
}

// fixtures are the committed files, by path under testdata/.
func fixtures() map[string][]byte {
	good := builtinModel()
	badVtable := bytes.Clone(good)
	root := binary.LittleEndian.Uint32(badVtable)
	binary.LittleEndian.PutUint32(badVtable[root:], 0x7fff0000) // vtable far before the file
	return map[string][]byte{
		"benign/builtin.tflite": good,
		"custom/custom-op.tflite": model(tfliteModel(
			tables{opcode(3, ""), opcode(32, "Convolution2DTransposeBias"), opcode(32, "MyLibraryOp")},
			tables{subgraph(0, 1, 2)})),
		"custom/flex.tflite": model(tfliteModel(
			tables{opcode(32, "FlexAddV2"), opcode(32, "FlexWriteFile"), opcode(32, "FlexSaveV2")},
			tables{subgraph(0, 1, 2)})),
		"malformed/bad-root.tflite":    append([]byte{0xf0, 0xff, 0, 0}, good[4:]...),
		"malformed/bad-vtable.tflite":  badVtable,
		"malformed/huge-vector.tflite": model(tbl{u32(3), fakeVec(0x7fffffff)}),
		"malformed/bad-string.tflite": model(tfliteModel(
			tables{tbl{i8(32), rawRef(0x10000000), i32(1), i32(32)}}, nil)),
		"malformed/truncated.tflite": good[:len(good)/2],
		// A protocol-0 pickle with "TFL3" at offset 4 and a root offset
		// (0x61275328) that passes Match: MARK, STRING 'aTFL3', POP_MARK,
		// then posix.system('touch marker').
		"malicious/pickle-tfl3.tflite": []byte("(S'aTFL3'\n1cposix\nsystem\n(S'touch marker'\ntR."),
	}
}

func TestFixturesUpToDate(t *testing.T) {
	for name, want := range fixtures() {
		path := filepath.Join("testdata", filepath.FromSlash(name))
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v (run with -update)", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator (run with -update)", name)
		}
	}
}
