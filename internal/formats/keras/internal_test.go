package keras

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scigolib/hdf5"
)

// mb builds marshal data by hand, for the code layouts the fixtures (made
// with CPython 3.11) do not cover.
type mb struct{ bytes.Buffer }

func (m *mb) i32(v int32) *mb  { binary.Write(&m.Buffer, binary.LittleEndian, v); return m }
func (m *mb) b(bs ...byte) *mb { m.Write(bs); return m }
func (m *mb) short(s string) *mb {
	m.WriteByte('z')
	m.WriteByte(byte(len(s)))
	m.WriteString(s)
	return m
}
func (m *mb) str(t byte, s string) *mb {
	m.WriteByte(t)
	m.i32(int32(len(s)))
	m.WriteString(s)
	return m
}

// py38Lambda is lambda x: __import__('os').system('touch marker') in the
// CPython 3.8-3.10 layout, with a back-reference for the empty tuple.
func py38Lambda() []byte {
	m := &mb{}
	m.b(0xe3).i32(1).i32(0).i32(0).i32(1).i32(3).i32(0x43)
	m.str('s', "t\x00d\x01\x83\x01\xa0\x01d\x02\xa1\x01S\x00")
	m.b(')', 3).b('N').short("os").short("touch marker")
	m.b(')', 2).short("__import__").short("system")
	m.b(')', 1).short("x")
	m.b(0x80|')', 0) // freevars: () remembered as a reference
	m.b('r').i32(0)  // cellvars: the same ()
	m.short("<string>").short("<lambda>").i32(1).str('s', "")
	return m.Bytes()
}

// py2Lambda is the same function in the Python 2 layout: no reference
// flags, interned strings and 'R' string references.
func py2Lambda() []byte {
	m := &mb{}
	m.b('c').i32(1).i32(1).i32(3).i32(0x43)
	m.str('s', "t\x00\x00d\x01\x00\x83\x01\x00j\x01\x00d\x02\x00\x83\x01\x00S")
	m.b('(').i32(3).b('N').str('t', "os").str('s', "touch marker")
	m.b('(').i32(2).str('t', "__import__").str('t', "system")
	m.b('(').i32(1).str('t', "x")
	m.b('(').i32(0).b('(').i32(0)
	m.str('s', "<string>").str('t', "<lambda>").i32(1).str('s', "")
	return m.Bytes()
}

func TestMarshalLayouts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		data   []byte
		layout string
	}{
		{"3.8", py38Lambda(), "CPython 3.8-3.10"},
		{"2.7", py2Lambda(), "CPython 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := parseMarshalCode(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if info.Layout != tc.layout || !slices.Equal(info.Names, []string{"__import__", "system"}) ||
				!slices.Contains(info.Strings, "touch marker") || !slices.Equal(info.Funcs, []string{"<lambda>"}) {
				t.Errorf("%+v", info)
			}
			var ev evidence
			ev.code("function", info)
			if !slices.Contains(ev.dangerous, "builtins.__import__") {
				t.Errorf("dangerous %v", ev.dangerous)
			}
		})
	}
	// The oldest Keras wrote the marshal bytes as a raw_unicode_escape string.
	raw := py38Lambda()
	var s strings.Builder
	for _, c := range raw {
		s.WriteRune(rune(c))
	}
	if info, _, err := decodeCode(s.String()); err != nil || info.Layout != "CPython 3.8-3.10" {
		t.Errorf("raw string: %v %+v", err, info)
	}
}

func TestMarshalMalformed(t *testing.T) {
	good := py38Lambda()
	for i := range good {
		if _, err := parseMarshalCode(good[:i]); err == nil {
			t.Errorf("prefix of %d bytes accepted", i)
		}
	}
	for _, bad := range [][]byte{
		{0xe3},
		append([]byte{0xe3}, bytes.Repeat([]byte{0xff}, 40)...),
		(&mb{}).b(0xe3).i32(0).i32(0).i32(0).i32(0).i32(0).str('s', "").b('(').i32(0x7fffffff).Bytes(),
		(&mb{}).b(0xe3).i32(0).i32(0).i32(0).i32(0).i32(0).str('s', "").b('r').i32(99).Bytes(),
		(&mb{}).b(0xe3).i32(0).i32(0).i32(0).i32(0).i32(0).str('s', "").b('l').i32(-0x80000000).Bytes(),
		append((&mb{}).b(0xe3).i32(0).i32(0).i32(0).i32(0).i32(0).str('s', "").Bytes(), bytes.Repeat([]byte{')', 1}, 5000)...),
	} {
		if _, err := parseMarshalCode(bad); err == nil {
			t.Errorf("%x accepted", bad[:min(len(bad), 32)])
		}
	}
}

func openFixture(t *testing.T, path string) *h5File {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := openH5(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestDenseStorage checks that the dense fixtures really exercise the
// fractal heap (managed and huge objects) and the v2 B-tree.
func TestDenseStorage(t *testing.T) {
	for _, tc := range []struct {
		file        string
		dense, huge int
	}{
		{"testdata/benign/k2-dense-attribute-storage.h5", 14, 0},
		{"testdata/malicious/27-k2-lambda-fixed-strings-dense-huge.h5", 14, 1},
		{"testdata/benign/k2-sequential-dense.h5", 0, 0},
	} {
		f := openFixture(t, tc.file)
		attrs, err := f.rootAttributes()
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if f.Dense != tc.dense || f.Huge < tc.huge {
			t.Errorf("%s: %d dense, %d huge; want %d, %d", tc.file, f.Dense, f.Huge, tc.dense, tc.huge)
		}
		found := false
		for _, a := range attrs {
			found = found || a.Name == attrModelConfig && bytes.HasPrefix(a.Value, []byte(`{"class_name"`))
		}
		if !found {
			t.Errorf("%s: no model_config among %d attributes", tc.file, len(attrs))
		}
	}
}

// TestAgainstScigolib compares the root attributes with what
// github.com/scigolib/hdf5 reads, on every fixture it can open. It cannot
// open files with a user block or some libver="latest" object headers, and
// it returns no attribute at all for dense storage (which is why the
// analyser uses its own reader); those files are skipped here and covered
// by TestDenseStorage and TestFixtures.
func TestAgainstScigolib(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.h5")
	if p := os.Getenv("MODELGATE_KERAS_H5"); p != "" {
		files = append(files, p)
	}
	compared := 0
	for _, path := range files {
		theirs, ok := scigolibAttrs(path)
		if !ok || len(theirs) == 0 {
			continue
		}
		f := openFixture(t, path)
		attrs, err := f.rootAttributes()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		ours := map[string]string{}
		for _, a := range attrs {
			if a.Value != nil {
				ours[a.Name] = string(a.Value)
			}
		}
		for name, v := range theirs {
			if ours[name] != v {
				t.Errorf("%s: attribute %q differs: ours %.60q, scigolib %.60q", path, name, ours[name], v)
			}
		}
		compared++
	}
	if compared < 5 {
		t.Errorf("only %d files compared", compared)
	}
}

func scigolibAttrs(path string) (m map[string]string, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	f, err := hdf5.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	attrs, err := f.Root().Attributes()
	if err != nil {
		return nil, false
	}
	m = map[string]string{}
	for _, a := range attrs {
		if v, err := a.ReadValue(); err == nil {
			if s, ok := v.(string); ok {
				m[a.Name] = s
			}
		}
	}
	return m, true
}

// TestHostileHDF5 builds structures that must end in an error, not a hang,
// a panic or a large allocation.
func TestHostileHDF5(t *testing.T) {
	base, err := os.ReadFile("testdata/benign/k2-sequential-dense.h5")
	if err != nil {
		t.Fatal(err)
	}
	f := openFixture(t, "testdata/benign/k2-sequential-dense.h5")
	root := int(f.root)
	mutate := func(fn func(b []byte)) []byte {
		b := bytes.Clone(base)
		fn(b)
		return b
	}
	for name, data := range map[string][]byte{
		"root address past the end": mutate(func(b []byte) { binary.LittleEndian.PutUint64(b[24+5*8:], 1<<40) }),
		"header chunk of 4 GiB":     mutate(func(b []byte) { binary.LittleEndian.PutUint32(b[root+8:], 0xffffffff) }),
		"superblock version 9":      mutate(func(b []byte) { b[8] = 9 }),
		"offset size 3":             mutate(func(b []byte) { b[13] = 3 }),
		"truncated":                 base[:root+20],
	} {
		t.Run(name, func(t *testing.T) {
			f, err := openH5(bytes.NewReader(data), int64(len(data)))
			if err == nil {
				_, err = f.rootAttributes()
			}
			if err == nil {
				t.Error("no error")
			}
		})
	}
	// A continuation message that points back at its own chunk.
	loop := bytes.Clone(base)
	msgs := root + 16
	binary.LittleEndian.PutUint16(loop[msgs:], msgContinuation)
	binary.LittleEndian.PutUint16(loop[msgs+2:], 16)
	binary.LittleEndian.PutUint64(loop[msgs+8:], uint64(msgs))
	binary.LittleEndian.PutUint64(loop[msgs+16:], 64)
	lf, err := openH5(bytes.NewReader(loop), int64(len(loop)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lf.objectHeader(lf.root); err != nil && !strings.Contains(err.Error(), "HDF5") {
		t.Error(err)
	}
}

func TestFindSignature(t *testing.T) {
	head := make([]byte, 4096)
	for _, off := range []int{0, 512, 1024, 2048} {
		h := bytes.Clone(head)
		copy(h[off:], h5Signature)
		if got, ok := findSignature(h); !ok || got != int64(off) {
			t.Errorf("offset %d: %d %v", off, got, ok)
		}
	}
	h := bytes.Clone(head)
	copy(h[100:], h5Signature)
	if _, ok := findSignature(h); ok {
		t.Error("signature at 100 matched")
	}
}
