package arrow_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/arrow"
	"github.com/modelgate/modelgate/internal/knowledge"
)

const pickleP2 = "\x80\x02cposix\nsystem\nq\x00X\x0c\x00\x00\x00touch markerq\x01\x85q\x02Rq\x03."

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func analyzeAt(name string, r io.ReaderAt, size int64) (analyzer.Output, error) {
	lim := analyzer.DefaultLimits()
	var out analyzer.Output
	in := analyzer.Input{Name: name, R: r, Size: size, Budget: analyzer.NewBudget(lim)}
	err := arrow.Analyzer{}.Analyze(context.Background(), in, lim, &out)
	return out, err
}

func analyze(data []byte) (analyzer.Output, error) {
	return analyzeAt("data.arrow", bytes.NewReader(data), int64(len(data)))
}

func severity(out analyzer.Output, rule string) (finding.Severity, bool) {
	for _, f := range out.Findings {
		if f.RuleID == rule {
			return f.Severity, true
		}
	}
	return 0, false
}

func nestedWith(out analyzer.Output, content string) bool {
	for _, n := range out.Nested {
		b := make([]byte, n.Size)
		if k, _ := n.R.ReadAt(b, 0); k == len(b) && string(b) == content {
			return true
		}
	}
	return false
}

// legacy turns a stream of messages without bodies (a schema and the
// end-of-stream marker) into the pre-0.15 form: continuation markers
// dropped, lengths kept.
func legacy(stream []byte) []byte {
	var out []byte
	for pos := 0; pos+8 <= len(stream); {
		n := int(binary.LittleEndian.Uint32(stream[pos+4:]))
		out = append(out, stream[pos+4:pos+8+n]...)
		pos += 8 + n
	}
	return out
}

func TestMatch(t *testing.T) {
	schemaOnly := read(t, "benign/schema-only.arrows")
	tests := []struct {
		name string
		file string
		data []byte
		want bool
	}{
		{"file", "x.bin", read(t, "benign/plain.arrow"), true},
		{"stream", "x.bin", read(t, "benign/nested.arrows"), true},
		{"datasets cache file", "data-00000-of-00001.arrow", read(t, "benign/data-00000-of-00001.arrow"), true},
		{"third-party stream", "x.arrows", read(t, "benign/custom_metadata_stream.arrows"), true},
		{"crafted stream", "x", encapsulate(schemaMessage([]tField{{name: "a", typ: typeInt}}, nil)), true},
		{"legacy stream named .arrow", "x.arrow", legacy(schemaOnly), true},
		{"legacy stream named .feather", "x.feather", legacy(schemaOnly), true},
		{"legacy stream without a name", "x.bin", legacy(schemaOnly), false},
		{"record batch first", "x.arrow", encapsulate(recordBatchMessage(0)), false},
		{"continuation and junk", "x.arrow", append([]byte{0xff, 0xff, 0xff, 0xff, 0x20, 0, 0, 0}, bytes.Repeat([]byte{0x41}, 40)...), false},
		{"end of stream only", "x.arrow", eos, false},
		{"pickle", "x.arrow", []byte(pickleP2), false},
		{"parquet", "x.arrow", []byte("PAR1\x00\x00\x00\x00PAR1"), false},
		{"short", "x.arrow", []byte{0xff, 0xff}, false},
	}
	for _, tt := range tests {
		head := tt.data[:min(len(tt.data), analyzer.HeadSize)]
		if got := (arrow.Analyzer{}).Match(tt.file, head); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestCrafted runs schemas written by hand through the stream reader.
func TestCrafted(t *testing.T) {
	py := [][2]string{{"ARROW:extension:name", arrow.PyExtensionName}, {"ARROW:extension:metadata", pickleP2}}
	stream := func(fields []tField, meta [][2]string) []byte {
		return append(encapsulate(schemaMessage(fields, meta)), eos...)
	}
	tests := []struct {
		name    string
		data    []byte
		rule    string
		want    finding.Severity
		absent  bool
		wantErr bool
		nested  string
	}{
		{"plain", stream([]tField{{name: "a", typ: typeInt}}, nil), knowledge.RuleArrowMalformed, 0, true, false, ""},
		{"py extension", stream([]tField{{name: "a", typ: typeInt, meta: py}}, nil), knowledge.RuleArrowPyExtension, finding.High, false, false, pickleP2},
		{"py extension three levels down", stream([]tField{{name: "s", typ: typeStruct, children: []tField{{name: "t", typ: typeStruct, children: []tField{{name: "u", typ: typeInt, meta: py}}}}}}, nil),
			knowledge.RuleArrowPyExtension, finding.High, false, false, pickleP2},
		{"py extension without metadata", stream([]tField{{name: "a", typ: typeInt, meta: [][2]string{{"ARROW:extension:name", arrow.PyExtensionName}}}}, nil),
			knowledge.RuleArrowPyExtension, finding.High, false, false, ""},
		{"other extension with a pickle", stream([]tField{{name: "a", typ: typeInt, meta: [][2]string{{"ARROW:extension:name", "arrow.uuid"}, {"ARROW:extension:metadata", pickleP2}}}}, nil),
			knowledge.RuleArrowPyExtension, 0, true, false, pickleP2},
		{"other extension", stream([]tField{{name: "a", typ: typeInt, meta: [][2]string{{"ARROW:extension:name", "arrow.json"}, {"ARROW:extension:metadata", "{}"}}}}, nil),
			knowledge.RuleArrowPyExtension, 0, true, false, ""},
		{"pickle in schema metadata", stream([]tField{{name: "a", typ: typeInt}}, [][2]string{{"dataset-toolkit.unischema.v1", pickleP2}}),
			knowledge.RuleArrowPyExtension, 0, true, false, pickleP2},
		{"duplicate extension keys", stream([]tField{{name: "a", typ: typeInt, meta: append([][2]string{{"ARROW:extension:name", "arrow.uuid"}}, py...)}}, nil),
			knowledge.RuleArrowMalformed, finding.Medium, false, false, pickleP2},
		{"unknown type id", stream([]tField{{name: "a", typ: 99}}, nil), knowledge.RuleArrowMalformed, finding.Medium, false, false, ""},
		{"no type", stream([]tField{{name: "a", typ: 0}}, nil), knowledge.RuleArrowMalformed, finding.Medium, false, false, ""},
		{"second schema", append(encapsulate(schemaMessage([]tField{{name: "a", typ: typeInt}}, nil)), stream([]tField{{name: "a", typ: typeInt}}, nil)...),
			knowledge.RuleArrowMalformed, finding.Medium, false, false, ""},
		{"second schema with a py extension", append(encapsulate(schemaMessage([]tField{{name: "a", typ: typeInt}}, nil)), stream([]tField{{name: "b", typ: typeInt, meta: py}}, nil)...),
			knowledge.RuleArrowPyExtension, finding.High, false, false, pickleP2},
		{"bytes after the end", append(stream([]tField{{name: "a", typ: typeInt}}, nil), pickleP2...), knowledge.RuleArrowMalformed, finding.Medium, false, false, pickleP2},
		{"no end-of-stream marker", encapsulate(schemaMessage([]tField{{name: "a", typ: typeInt}}, nil)), knowledge.RuleArrowMalformed, 0, true, false, ""},
		{"record batch first", append(encapsulate(recordBatchMessage(0)), eos...), knowledge.RuleArrowMalformed, finding.Medium, false, true, ""},
		{"body past the end", append(encapsulate(schemaMessage([]tField{{name: "a", typ: typeInt}}, nil)), encapsulate(recordBatchMessage(1<<40))...),
			knowledge.RuleArrowMalformed, finding.Medium, false, true, ""},
		{"negative body", append(encapsulate(schemaMessage([]tField{{name: "a", typ: typeInt}}, nil)), encapsulate(recordBatchMessage(-8))...),
			knowledge.RuleArrowMalformed, finding.Medium, false, true, ""},
		{"negative length", []byte{0xff, 0xff, 0xff, 0xff, 0xf0, 0xff, 0xff, 0xff, 0, 0, 0, 0}, knowledge.RuleArrowMalformed, finding.Medium, false, true, ""},
		{"fields shared 40 levels deep", append(encapsulate(sharedMessage(40, 1, nil)), eos...), knowledge.RuleArrowMalformed, finding.Medium, false, true, ""},
		{"shared py extension, long names, 1 MiB payload", append(encapsulate(sharedMessage(60, 120, [][2]string{{"ARROW:extension:name", arrow.PyExtensionName}, {"ARROW:extension:metadata", pickleP2 + strings.Repeat("x", 1<<20)}})), eos...),
			knowledge.RuleArrowPyExtension, finding.High, false, true, ""},
		{"fields nested 100 deep", stream(deep(100), nil), knowledge.RuleArrowMalformed, finding.Medium, false, true, ""},
	}
	for _, tt := range tests {
		start := time.Now()
		out, err := analyze(tt.data)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %v", tt.name, d)
		}
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
		if tt.nested != "" && !nestedWith(out, tt.nested) {
			t.Errorf("%s: no nested input holding %q", tt.name, tt.nested)
		}
		if _, ok := severity(out, knowledge.RuleFormatSummary); !ok {
			t.Errorf("%s: no summary", tt.name)
		}
	}
}

// deep is one field nested n levels down.
func deep(n int) []tField {
	f := tField{name: "leaf", typ: typeInt}
	for range n {
		f = tField{name: "s", typ: typeStruct, children: []tField{f}}
	}
	return []tField{f}
}

// TestCraftedFile runs IPC files written by hand: the footer's schema is
// the one pyarrow reads, the message at byte 8 is checked too.
func TestCraftedFile(t *testing.T) {
	py := [][2]string{{"ARROW:extension:name", arrow.PyExtensionName}, {"ARROW:extension:metadata", pickleP2}}
	plain := []tField{{name: "a", typ: typeInt}}
	evil := []tField{{name: "a", typ: typeInt, meta: py}}
	tests := []struct {
		name    string
		data    []byte
		rule    string
		want    finding.Severity
		absent  bool
		wantErr bool
	}{
		{"plain, footer metadata", ipcFile(plain, plain, [][2]string{{"k", "v"}, {"k2", "v2"}}), knowledge.RuleArrowMalformed, 0, true, false},
		{"py extension in the footer only", ipcFile(plain, evil, nil), knowledge.RuleArrowPyExtension, finding.High, false, false},
		{"the schemas differ", ipcFile(plain, evil, nil), knowledge.RuleArrowMalformed, finding.Medium, false, false},
		{"py extension at byte 8 only", ipcFile(evil, plain, nil), knowledge.RuleArrowPyExtension, finding.High, false, false},
		{"no footer schema", ipcFile(plain, nil, nil), knowledge.RuleArrowMalformed, finding.Medium, false, true},
	}
	for _, tt := range tests {
		out, err := analyze(tt.data)
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
	}
	out, _ := analyze(ipcFile(plain, plain, [][2]string{{"k", "v"}, {"k2", "v2"}}))
	for _, f := range out.Findings {
		if f.RuleID == knowledge.RuleFormatSummary && !strings.Contains(f.Message, "2 footer metadata keys") {
			t.Errorf("summary %q", f.Message)
		}
	}
}

func TestPyExtensionFinding(t *testing.T) {
	out, err := analyze(read(t, "malicious/py-extension-in-struct.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	var py []finding.Finding
	for _, f := range out.Findings {
		if f.RuleID == knowledge.RuleArrowPyExtension {
			py = append(py, f)
		}
	}
	// The file holds the schema twice (byte 8 and the footer): one finding.
	if len(py) != 1 {
		t.Fatalf("%d findings, want 1: %+v", len(py), out.Findings)
	}
	if !strings.Contains(py[0].Message, `"meta.extra"`) || !strings.Contains(py[0].Evidence, "touch marker") || py[0].Offset <= 0 {
		t.Errorf("finding %+v", py[0])
	}
	if len(out.Nested) != 1 || out.Nested[0].Optional {
		t.Errorf("nested %+v, want the one pickle, not optional", out.Nested)
	}
}

// TestCheckSchema is the entry point the parquet package uses.
func TestCheckSchema(t *testing.T) {
	py := [][2]string{{"ARROW:extension:name", arrow.PyExtensionName}, {"ARROW:extension:metadata", pickleP2}}
	msg := encapsulate(schemaMessage([]tField{{name: "id", typ: typeInt}, {name: "x", typ: typeInt, meta: py}}, [][2]string{{"pandas", "{}"}}))
	for name, b := range map[string][]byte{"continuation": msg, "legacy": msg[4:], "with end-of-stream": append(msg, eos...)} {
		var out analyzer.Output
		info, err := arrow.CheckSchema(b, 1234, "ARROW:schema", &out)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if info.Fields != 2 || info.Extensions[arrow.PyExtensionName] != 1 || len(info.MetadataKeys) != 1 {
			t.Errorf("%s: info %+v", name, info)
		}
		if sev, ok := severity(out, knowledge.RuleArrowPyExtension); !ok || sev != finding.High || out.Findings[0].Offset != 1234 {
			t.Errorf("%s: findings %+v", name, out.Findings)
		}
		if !nestedWith(out, pickleP2) {
			t.Errorf("%s: no nested pickle", name)
		}
	}
	for name, b := range map[string][]byte{
		"empty":           nil,
		"three bytes":     []byte("abc"),
		"length too long": append([]byte{0xff, 0xff, 0xff, 0xff, 0, 1, 0, 0}, make([]byte, 16)...),
		"record batch":    encapsulate(recordBatchMessage(0)),
		"cut":             msg[:len(msg)/2],
	} {
		var out analyzer.Output
		if _, err := arrow.CheckSchema(b, 7, "ARROW:schema", &out); err == nil {
			t.Errorf("%s: no error", name)
		}
		if sev, ok := severity(out, knowledge.RuleArrowMalformed); !ok || sev != finding.Medium {
			t.Errorf("%s: findings %+v", name, out.Findings)
		}
	}
}

// TestTruncations cuts every fixture at every length: no panic, and a cut
// inside the schema (or, for a file, anywhere: the footer is at the end)
// is an error.
func TestTruncations(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.arrow*"))
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(path, "malformed") {
			continue
		}
		schemaEnd := 0
		if !bytes.HasPrefix(data, []byte("ARROW1")) {
			schemaEnd = 8 + int(binary.LittleEndian.Uint32(data[4:]))
		}
		for i := 1; i < len(data); i++ {
			_, err := analyze(data[:i])
			if err == nil && (schemaEnd == 0 || i < schemaEnd) {
				t.Errorf("%s cut at %d: no error", path, i)
			}
		}
	}
}

// TestMutations flips every byte of the malicious fixtures' metadata: the
// walk must never panic, and every nested input stays inside the file.
func TestMutations(t *testing.T) {
	for _, name := range []string{"malicious/py-extension-in-struct.arrows", "malicious/py-extension.arrow"} {
		data := read(t, name)
		for i := range data {
			for _, x := range []byte{0xff, 0x80, 0x01} {
				m := bytes.Clone(data)
				m[i] ^= x
				out, _ := analyze(m)
				for _, n := range out.Nested {
					if n.Size < 0 || n.Size > int64(len(m)) {
						t.Fatalf("%s byte %d ^ %#x: nested of %d bytes", name, i, x, n.Size)
					}
				}
			}
		}
	}
}

// holey is a file of pre, hole zero bytes that exist only as a length,
// then post. A read that touches the hole fails; bytes read are counted.
type holey struct {
	pre, post []byte
	hole      int64
	read      atomic.Int64
}

var errHole = errors.New("read inside the record batch bodies")

func (h *holey) size() int64 { return int64(len(h.pre)) + h.hole + int64(len(h.post)) }

func (h *holey) ReadAt(p []byte, off int64) (int, error) {
	start, end := int64(len(h.pre)), int64(len(h.pre))+h.hole
	if off < end && off+int64(len(p)) > start {
		return 0, errHole
	}
	h.read.Add(int64(len(p)))
	if off < start {
		return bytes.NewReader(h.pre).ReadAt(p, off)
	}
	return bytes.NewReader(h.post).ReadAt(p, off-end)
}

// TestBodiesNotRead puts 8 GiB of record batch body, which exists only as
// a length, into a stream and a file: the analysis succeeds without
// touching it and reads a few KiB.
func TestBodiesNotRead(t *testing.T) {
	const hole = 8 << 30
	stream := &holey{
		pre:  append(encapsulate(schemaMessage([]tField{{name: "a", typ: typeInt}}, nil)), encapsulate(recordBatchMessage(hole))...),
		hole: hole, post: eos,
	}
	file := read(t, "benign/plain.arrow")
	footerAt := len(file) - 10 - int(binary.LittleEndian.Uint32(file[len(file)-10:]))
	fileHole := &holey{pre: file[:footerAt], hole: hole, post: file[footerAt:]}
	for name, h := range map[string]*holey{"stream": stream, "file": fileHole} {
		out, err := analyzeAt("x.arrow", h, h.size())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n := h.read.Load(); n > 64<<10 {
			t.Errorf("%s: %d bytes read of %d", name, n, h.size())
		}
		if _, ok := severity(out, knowledge.RuleArrowMalformed); ok {
			t.Errorf("%s: findings %+v", name, out.Findings)
		}
		t.Logf("%s: %d bytes read of %d", name, h.read.Load(), h.size())
	}
}
