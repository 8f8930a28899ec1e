package parquet_test

import (
	"bytes"
	"context"
	"encoding/base64"
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
	"github.com/modelgate/modelgate/internal/formats/parquet"
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

func analyzeAt(r io.ReaderAt, size int64) (analyzer.Output, error) {
	lim := analyzer.DefaultLimits()
	var out analyzer.Output
	in := analyzer.Input{Name: "train.parquet", R: r, Size: size, Budget: analyzer.NewBudget(lim)}
	err := parquet.Analyzer{}.Analyze(context.Background(), in, lim, &out)
	return out, err
}

func analyze(data []byte) (analyzer.Output, error) {
	return analyzeAt(bytes.NewReader(data), int64(len(data)))
}

func severity(out analyzer.Output, rule string) (finding.Severity, bool) {
	for _, f := range out.Findings {
		if f.RuleID == rule {
			return f.Severity, true
		}
	}
	return 0, false
}

func summary(out analyzer.Output) string {
	for _, f := range out.Findings {
		if f.RuleID == knowledge.RuleFormatSummary {
			return f.Message
		}
	}
	return ""
}

func nestedWith(out analyzer.Output, content string) (analyzer.Nested, bool) {
	for _, n := range out.Nested {
		b := make([]byte, n.Size)
		if k, _ := n.R.ReadAt(b, 0); k == len(b) && string(b) == content {
			return n, true
		}
	}
	return analyzer.Nested{}, false
}

// pySchema is the first message of the malicious Arrow stream fixture: an
// IPC Schema message whose field "payload" is arrow.py_extension_type.
func pySchema(t testing.TB) []byte {
	b, err := os.ReadFile(filepath.Join("..", "arrow", "testdata", "malicious", "data-00000-of-00001.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	return b[:8+binary.LittleEndian.Uint32(b[4:])]
}

func TestMatch(t *testing.T) {
	for _, tt := range []struct {
		head string
		want bool
	}{
		{"PAR1\x15\x04", true}, {"PARE\x00", true}, {"PAR", false}, {"par1", false},
		{"ARROW1\x00\x00", false}, {pickleP2, false}, {"PK\x03\x04", false},
	} {
		if got := (parquet.Analyzer{}).Match("x.parquet", []byte(tt.head)); got != tt.want {
			t.Errorf("Match(%q) = %v, want %v", tt.head, got, tt.want)
		}
	}
}

func TestCrafted(t *testing.T) {
	evil := base64.StdEncoding.EncodeToString(pySchema(t))
	kv := func(pairs ...string) [][2][]byte {
		var out [][2][]byte
		for i := 0; i+1 < len(pairs); i += 2 {
			out = append(out, [2][]byte{[]byte(pairs[i]), []byte(pairs[i+1])})
		}
		return out
	}
	data := make([]byte, 100)
	tests := []struct {
		name    string
		data    []byte
		rule    string
		want    finding.Severity
		absent  bool
		wantErr bool
		nested  string
	}{
		{"minimal", file("PAR1", data, fileMeta(nil, nil)), knowledge.RuleParquetMalformed, 0, true, false, ""},
		{"py extension", file("PAR1", data, fileMeta(kv("ARROW:schema", evil), nil)), knowledge.RuleArrowPyExtension, finding.High, false, false, pickleP2},
		{"py extension, unpadded", file("PAR1", data, fileMeta(kv("ARROW:schema", strings.TrimRight(evil, "=")), nil)), knowledge.RuleArrowPyExtension, finding.High, false, false, pickleP2},
		{"py extension, junk after the base64", file("PAR1", data, fileMeta(kv("ARROW:schema", evil+"!!junk"), nil)), knowledge.RuleArrowPyExtension, finding.High, false, false, pickleP2},
		{"junk after the base64 is noted", file("PAR1", data, fileMeta(kv("ARROW:schema", evil+"!!junk"), nil)), knowledge.RuleParquetMalformed, finding.Medium, false, false, ""},
		{"second ARROW:schema", file("PAR1", data, fileMeta(kv("ARROW:schema", "", "ARROW:schema", evil), nil)), knowledge.RuleArrowPyExtension, finding.High, false, true, pickleP2},
		{"second ARROW:schema is noted", file("PAR1", data, fileMeta(kv("ARROW:schema", evil, "ARROW:schema", evil), nil)), knowledge.RuleParquetMalformed, finding.Medium, false, false, pickleP2},
		{"ten ARROW:schema keys", file("PAR1", data, fileMeta(kv("ARROW:schema", evil, "ARROW:schema", evil, "ARROW:schema", evil, "ARROW:schema", evil, "ARROW:schema", evil,
			"ARROW:schema", evil, "ARROW:schema", evil, "ARROW:schema", evil, "ARROW:schema", evil, "ARROW:schema", evil), nil)), knowledge.RuleArrowPyExtension, finding.High, false, true, pickleP2},
		{"pickle in key-value metadata", file("PAR1", data, fileMeta(kv("dataset-toolkit.unischema.v1", pickleP2), nil)), knowledge.RuleParquetMalformed, 0, true, false, pickleP2},
		{"pandas metadata", file("PAR1", data, fileMeta(kv("pandas", `{"columns": []}`), nil)), knowledge.RuleParquetMalformed, 0, true, false, ""},
		{"key without value", file("PAR1", data, fileMeta([][2][]byte{{[]byte("k"), nil}}, nil)), knowledge.RuleParquetMalformed, 0, true, false, ""},
		{"not base64", file("PAR1", data, fileMeta(kv("ARROW:schema", "@@@@"), nil)), knowledge.RuleArrowMalformed, finding.Medium, false, true, ""},
		{"unknown fields of every type", file("PAR1", data, fileMeta(nil, func(w *tw) {
			w.field(20, 7)
			w.b = append(w.b, make([]byte, 8)...)
			w.field(21, 13)
			w.b = append(w.b, make([]byte, 16)...)
			w.field(22, 11) // map<binary, list<bool>> of one entry
			w.varint(1)
			w.b = append(w.b, 8<<4|9)
			w.varint(1)
			w.b = append(w.b, 'k')
			w.listHeader(2, 1)
			w.b = append(w.b, 1, 2)
			w.field(23, 10) // set<i16>
			w.listHeader(20, 4)
			for range 20 {
				w.zigzag(-3)
			}
			w.field(24, 1)
			w.field(25, 3)
			w.b = append(w.b, 0x7f)
		})), knowledge.RuleParquetMalformed, 0, true, false, ""},
		{"missing num_rows and row_groups", file("PAR1", data, func() []byte {
			w := &tw{}
			w.begin()
			w.i32(1, 1)
			w.list(2, 0, 12)
			w.end()
			return w.b
		}()), knowledge.RuleParquetMalformed, finding.Medium, false, false, ""},
		{"num_rows of the wrong type", file("PAR1", data, fileMeta(nil, func(w *tw) { w.bin(3, []byte("x")) })), knowledge.RuleParquetMalformed, finding.Medium, false, false, ""},
		{"bytes after the FileMetaData", file("PAR1", data, append(fileMeta(nil, nil), pickleP2...)), knowledge.RuleParquetMalformed, finding.Medium, false, false, pickleP2},
		{"nested 100 structs deep", file("PAR1", data, fileMeta(nil, func(w *tw) {
			for range 100 {
				w.strct(30)
			}
			for range 100 {
				w.end()
			}
		})), knowledge.RuleParquetMalformed, finding.Medium, false, true, ""},
		{"list of 2^40 elements", file("PAR1", data, fileMeta(nil, func(w *tw) { w.list(30, 1<<40, 5) })), knowledge.RuleParquetMalformed, finding.Medium, false, true, ""},
		{"map of 2^40 entries", file("PAR1", data, fileMeta(nil, func(w *tw) { w.field(30, 11); w.varint(1 << 40); w.b = append(w.b, 0x55) })), knowledge.RuleParquetMalformed, finding.Medium, false, true, ""},
		{"string of 2^40 bytes", file("PAR1", data, fileMeta(nil, func(w *tw) { w.field(30, 8); w.varint(1 << 40) })), knowledge.RuleParquetMalformed, finding.Medium, false, true, ""},
		{"varint of 11 bytes", file("PAR1", data, fileMeta(nil, func(w *tw) { w.field(30, 6); w.b = append(w.b, bytes.Repeat([]byte{0xff}, 11)...) })), knowledge.RuleParquetMalformed, finding.Medium, false, true, ""},
		{"field of type 14", file("PAR1", data, fileMeta(nil, func(w *tw) { w.field(30, 14) })), knowledge.RuleParquetMalformed, finding.Medium, false, true, ""},
		{"no stop byte", file("PAR1", data, fileMeta(nil, nil)[:20]), knowledge.RuleParquetMalformed, finding.Medium, false, true, ""},
		{"footer length 0", file("PAR1", data, nil), knowledge.RuleParquetMalformed, finding.Medium, false, true, ""},
		{"different magic at the end", append(file("PAR1", data, fileMeta(nil, nil))[:120], "PARX"...), knowledge.RuleParquetMalformed, finding.Medium, false, true, ""},
		{"too short", []byte("PAR1PAR1"), knowledge.RuleParquetMalformed, finding.Medium, false, true, ""},
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
		if tt.nested != "" {
			if _, ok := nestedWith(out, tt.nested); !ok {
				t.Errorf("%s: no nested input holding %q", tt.name, tt.nested)
			}
		}
		if summary(out) == "" {
			t.Errorf("%s: no summary", tt.name)
		}
	}
}

// TestEncryptedFooter: the FileCryptoMetaData is read for the summary and
// the file is not analysed (an error, never a pass).
func TestEncryptedFooter(t *testing.T) {
	w := &tw{}
	w.begin()
	w.strct(1)
	w.strct(2)
	w.end()
	w.end()
	w.bin(2, []byte("key-id"))
	w.end()
	out, err := analyze(file("PARE", make([]byte, 64), append(w.b, make([]byte, 200)...)))
	if err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Errorf("error %v", err)
	}
	if s := summary(out); !strings.Contains(s, "AES_GCM_CTR_V1") || !strings.Contains(s, "nothing was analysed") {
		t.Errorf("summary %q", s)
	}
}

func TestSummary(t *testing.T) {
	out, err := analyze(read(t, "benign/pandas.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"6 rows in 2 row groups", "4 columns", `written by "parquet-go version 18.8.0"`, "ARROW:schema of 4 fields", "pandas metadata", "huggingface metadata"} {
		if !strings.Contains(summary(out), want) {
			t.Errorf("summary %q lacks %q", summary(out), want)
		}
	}
	out, _ = analyze(read(t, "benign/encrypted-columns.parquet"))
	if !strings.Contains(summary(out), "columns encrypted (AES_GCM_V1), footer in plaintext") {
		t.Errorf("summary %q", summary(out))
	}
}

// TestTruncations cuts every fixture at every length: never a panic, and
// always an error (the footer is at the end).
func TestTruncations(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.parquet"))
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(data); i++ {
			if _, err := analyze(data[:i]); err == nil {
				t.Errorf("%s cut at %d: no error", path, i)
			}
		}
	}
}

// TestMutations flips every byte of a malicious footer: no panic, nested
// inputs inside the file.
func TestMutations(t *testing.T) {
	data := read(t, "malicious/py-extension-in-struct.parquet")
	n := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	for i := len(data) - 8 - n; i < len(data); i++ {
		for _, x := range []byte{0xff, 0x80, 0x01, 0x10} {
			m := bytes.Clone(data)
			m[i] ^= x
			out, _ := analyze(m)
			for _, nd := range out.Nested {
				if nd.Size < 0 || nd.Size > int64(len(m)) {
					t.Fatalf("byte %d ^ %#x: nested of %d bytes", i, x, nd.Size)
				}
			}
		}
	}
}

// holey is a file of pre, hole bytes that exist only as a length, then
// post. A read that touches the hole fails; bytes read are counted.
type holey struct {
	pre, post []byte
	hole      int64
	read      atomic.Int64
}

var errHole = errors.New("read inside the column chunks")

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

// withHole puts hole bytes of column data in front of a fixture's footer.
func withHole(data []byte, hole int64) *holey {
	n := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	at := len(data) - 8 - n
	return &holey{pre: data[:at], hole: hole, post: data[at:]}
}

// TestColumnDataNotRead: 8 GiB of column data that exists only as a length;
// the analysis finds the payload in the footer and reads a few KiB.
func TestColumnDataNotRead(t *testing.T) {
	for _, name := range []string{"benign/nested.parquet", "malicious/py-extension.parquet"} {
		h := withHole(read(t, name), 8<<30)
		out, err := analyzeAt(h, h.size())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n := h.read.Load(); n > 64<<10 {
			t.Errorf("%s: %d bytes read of %d", name, n, h.size())
		}
		_, py := severity(out, knowledge.RuleArrowPyExtension)
		if py != strings.HasPrefix(name, "malicious") {
			t.Errorf("%s: findings %+v", name, out.Findings)
		}
		t.Logf("%s: %d bytes read of %d", name, h.read.Load(), h.size())
	}
}

// TestFooterLimit: a footer over the limit is not read: a scan-limit
// finding and an error, and no 64 MiB allocation.
func TestFooterLimit(t *testing.T) {
	h := &holey{pre: []byte("PAR1"), hole: 128 << 20, post: binary.LittleEndian.AppendUint32(nil, 100<<20)}
	h.post = append(h.post, "PAR1"...)
	out, err := analyzeAt(h, h.size())
	if err == nil {
		t.Error("no error")
	}
	if sev, ok := severity(out, knowledge.RuleScanLimit); !ok || sev != finding.Medium {
		t.Errorf("findings %+v", out.Findings)
	}
}

// TestRealFiles scans Parquet files other projects ship, when installed
// (pandas' test data, written by pyarrow): no finding at medium or above.
func TestRealFiles(t *testing.T) {
	paths, _ := filepath.Glob("/usr/lib/python3/dist-packages/pandas/tests/io/data/parquet/*.parquet")
	if len(paths) == 0 {
		t.Skip("python3-pandas is not installed")
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out, err := analyze(data)
		if err != nil {
			t.Errorf("%s: %v", p, err)
		}
		if worst, _ := finding.Max(out.Findings); worst >= finding.Medium {
			t.Errorf("%s: %+v", p, out.Findings)
		}
	}
}
