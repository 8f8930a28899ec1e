package flaxmsgpack_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/flaxmsgpack"
	"github.com/modelgate/modelgate/internal/knowledge"
)

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func analyze(t *testing.T, data []byte) (analyzer.Output, error) {
	t.Helper()
	lim := analyzer.DefaultLimits()
	var out analyzer.Output
	in := analyzer.Input{Name: "flax_model.msgpack", R: bytes.NewReader(data), Size: int64(len(data)), Budget: analyzer.NewBudget(lim)}
	err := flaxmsgpack.Analyzer{}.Analyze(context.Background(), in, lim, &out)
	return out, err
}

// A minimal msgpack encoder for crafted inputs.
func fixmap(n int) []byte { return []byte{0x80 | byte(n)} }
func fixarr(n int) []byte { return []byte{0x90 | byte(n)} }
func str(s string) []byte { return append([]byte{0xa0 | byte(len(s))}, s...) }
func bin(b []byte) []byte { return append([]byte{0xc4, byte(len(b))}, b...) }
func ext(code int8, b []byte) []byte {
	return append([]byte{0xc7, byte(len(b)), byte(code)}, b...)
}
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// ndarray is flax's _ndarray_to_bytes: (shape, dtype name, bytes).
func ndarray(dtype string, data []byte, shape ...int) []byte {
	s := fixarr(len(shape))
	for _, d := range shape {
		if d < 0 {
			s = append(s, 0xd0, byte(int8(d)))
		} else {
			s = append(s, byte(d))
		}
	}
	return ext(1, cat(fixarr(3), s, str(dtype), bin(data)))
}

// params wraps one leaf as {"params": {"w": leaf}}.
func params(leaf []byte) []byte { return cat(fixmap(1), str("params"), fixmap(1), str("w"), leaf) }

func TestMatch(t *testing.T) {
	good := read(t, "benign/flax_model.msgpack")
	map16 := cat([]byte{0xde, 0, 1}, str("a"), []byte{1})
	tests := []struct {
		name string
		file string
		data []byte
		want bool
	}{
		{"flax", "flax_model.msgpack", good, true},
		{"shard", "flax_model-00001-of-00002.msgpack", good, true},
		{"map16", "x.msgpack", map16, true},
		{"empty map", "x.msgpack", []byte{0x80}, true},
		{"no name hint", "model.bin", good, false},
		{"pickle renamed", "flax_model.msgpack", read(t, "malicious/flax_model.msgpack"), false},
		{"protocol-2 pickle", "flax_model.msgpack", []byte("\x80\x02}q\x00."), false},
		{"array at byte 0", "flax_model.msgpack", cat(fixarr(1), []byte{1}), false},
		{"int key", "flax_model.msgpack", cat(fixmap(1), []byte{1, 1}), false},
	}
	for _, tt := range tests {
		head := tt.data[:min(len(tt.data), analyzer.HeadSize)]
		if got := (flaxmsgpack.Analyzer{}).Match(tt.file, head); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestBenign(t *testing.T) {
	for _, name := range []string{"benign/flax_model.msgpack", "benign/bfloat16.msgpack"} {
		out, err := analyze(t, read(t, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(out.Findings) != 1 || out.Findings[0].RuleID != knowledge.RuleFormatSummary {
			t.Fatalf("%s: findings %+v, want only the summary", name, out.Findings)
		}
	}
	out, _ := analyze(t, read(t, "benign/flax_model.msgpack"))
	for _, want := range []string{"15 arrays", "2 numpy scalars", "1 complex scalars", "1 chunked arrays", "float16 ×1"} {
		if !strings.Contains(out.Findings[0].Message, want) {
			t.Errorf("summary %q lacks %q", out.Findings[0].Message, want)
		}
	}
}

func severity(out analyzer.Output, rule string) (finding.Severity, bool) {
	for _, f := range out.Findings {
		if f.RuleID == rule {
			return f.Severity, true
		}
	}
	return 0, false
}

func TestRules(t *testing.T) {
	good := read(t, "benign/flax_model.msgpack")
	evil := read(t, "malicious/flax_model.msgpack")
	f32 := make([]byte, 12)
	binary.LittleEndian.PutUint32(f32, 0x3f800000)
	tests := []struct {
		name    string
		data    []byte
		rule    string
		want    finding.Severity
		absent  bool
		wantErr bool
		nested  string
	}{
		{"benign: no ext finding", good, knowledge.RuleFlaxExtType, 0, true, false, ""},
		{"benign: no dtype finding", good, knowledge.RuleFlaxDtype, 0, true, false, ""},
		{"benign: no anomaly", good, knowledge.RuleFlaxMalformed, 0, true, false, ""},
		{"plain float32", params(ndarray("float32", f32, 3)), knowledge.RuleFlaxMalformed, 0, true, false, ""},
		{"unknown ext code", read(t, "malicious/ext-type.msgpack"), knowledge.RuleFlaxExtType, finding.High, false, false, string(evil[:4])},
		{"timestamp ext", params(ext(-1, make([]byte, 4))), knowledge.RuleFlaxExtType, finding.High, false, false, ""},
		{"object dtype", read(t, "malicious/object-dtype.msgpack"), knowledge.RuleFlaxDtype, finding.High, false, false, ""},
		{"'O' dtype", params(ndarray("O", make([]byte, 8), 1)), knowledge.RuleFlaxDtype, finding.High, false, false, ""},
		{"string dtype", params(ndarray("str32", make([]byte, 8), 2)), knowledge.RuleFlaxDtype, finding.Medium, false, false, ""},
		{"shape vs bytes", params(ndarray("float32", f32, 4)), knowledge.RuleFlaxMalformed, finding.Medium, false, false, ""},
		{"negative dimension", params(ndarray("float32", f32, -1)), knowledge.RuleFlaxMalformed, finding.Medium, false, false, ""},
		{"two-element payload", params(ext(1, cat(fixarr(2), fixarr(0), str("float32")))), knowledge.RuleFlaxMalformed, finding.Medium, false, false, ""},
		{"bytes after the array data", params(ext(1, cat(fixarr(3), fixarr(1), []byte{1}, str("int8"), bin([]byte{1}), []byte{0}))), knowledge.RuleFlaxMalformed, finding.Medium, false, false, ""},
		{"bad complex", params(ext(2, cat(fixarr(2), str("a"), str("b")))), knowledge.RuleFlaxMalformed, finding.Medium, false, false, ""},
		{"int key", cat(fixmap(1), []byte{7}, ndarray("int8", []byte{1}, 1)), knowledge.RuleFlaxMalformed, finding.Medium, false, false, ""},
		{"non-UTF-8 key", cat(fixmap(1), str("\xff\xfe"), []byte{1}), knowledge.RuleFlaxMalformed, finding.Medium, false, false, ""},
		{"trailing bytes", read(t, "malformed/trailing.msgpack"), knowledge.RuleFlaxMalformed, finding.Medium, false, true, ""},
		{"pickle appended", cat(good, evil), knowledge.RuleFlaxMalformed, finding.Medium, false, true, string(evil[:4])},
		{"pickle in a bin leaf", params(bin(append(bytes.Repeat([]byte{0}, 0), append(evil, make([]byte, 30)...)...))), knowledge.RuleFlaxMalformed, 0, true, false, string(evil[:4])},
	}
	for _, tt := range tests {
		out, err := analyze(t, tt.data)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: error %v, want error %v", tt.name, err, tt.wantErr)
		}
		sev, ok := severity(out, tt.rule)
		switch {
		case tt.absent && ok:
			t.Errorf("%s: %s fired: %+v", tt.name, tt.rule, out.Findings)
		case !tt.absent && (!ok || sev != tt.want):
			t.Errorf("%s: %s = %v (present %v), want %v; findings %+v", tt.name, tt.rule, sev, ok, tt.want, out.Findings)
		}
		if tt.nested != "" && !nestedStartsWith(out, tt.nested) {
			t.Errorf("%s: no nested input starting with %q", tt.name, tt.nested)
		}
	}
}

func nestedStartsWith(out analyzer.Output, prefix string) bool {
	for _, n := range out.Nested {
		b := make([]byte, len(prefix))
		if k, _ := n.R.ReadAt(b, 0); k == len(b) && string(b) == prefix {
			return true
		}
	}
	return false
}

func TestBroken(t *testing.T) {
	for name, data := range map[string][]byte{
		"truncated":    read(t, "malformed/truncated.msgpack"),
		"0xc1":         cat(fixmap(1), str("a"), []byte{0xc1}),
		"huge bin":     cat(fixmap(1), str("a"), []byte{0xc6, 0xff, 0xff, 0xff, 0xff}),
		"huge map":     cat([]byte{0xdf, 0xff, 0xff, 0xff, 0xff}, str("a"), []byte{1}),
		"deep nesting": append(bytes.Repeat(cat(fixmap(1), str("a")), 100), 1),
	} {
		if _, err := analyze(t, data); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestTensorBytesNotRead checks that the walk skips array data by offset:
// a reader that fails on any byte of a 1 MiB buffer past the first read
// window still gives a clean result.
func TestTensorBytesNotRead(t *testing.T) {
	data := make([]byte, 1<<20)
	// {"w": ext32(1, (shape [1<<20], "uint8", bin32 1<<20))}
	payload := cat(fixarr(3), fixarr(1), []byte{0xce, 0, 0x10, 0, 0}, str("uint8"), []byte{0xc6, 0, 0x10, 0, 0}, data)
	file := cat(fixmap(1), str("w"), []byte{0xc9, 0, 0, 0, 0, 1}, payload)
	binary.BigEndian.PutUint32(file[3+1:], uint32(len(payload)))
	start := int64(len(file) - len(data))
	r := &guarded{b: file, from: start + 64<<10, to: int64(len(file))}
	lim := analyzer.DefaultLimits()
	var out analyzer.Output
	in := analyzer.Input{Name: "flax_model.msgpack", R: r, Size: int64(len(file)), Budget: analyzer.NewBudget(lim)}
	if err := (flaxmsgpack.Analyzer{}).Analyze(context.Background(), in, lim, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Findings) != 1 || !strings.Contains(out.Findings[0].Message, "1 arrays") {
		t.Errorf("findings %+v", out.Findings)
	}
}

// guarded fails reads that touch [from, to).
type guarded struct {
	b        []byte
	from, to int64
}

func (g *guarded) ReadAt(p []byte, off int64) (int, error) {
	end := off + int64(len(p))
	if off < g.to && end > g.from {
		return 0, os.ErrPermission
	}
	return bytes.NewReader(g.b).ReadAt(p, off)
}
