package sevenzip_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"github.com/modelgate/modelgate/internal/knowledge"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/formats/sevenzip"
	"github.com/modelgate/modelgate/internal/scan"
)

// evilPickle is testdata's model/evil.pkl: os.system("id") at load time.
const evilPickle = "\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func analyze(t testing.TB, data []byte, lim analyzer.Limits) (analyzer.Output, error) {
	t.Helper()
	var out analyzer.Output
	in := analyzer.Input{Name: "a.7z", R: bytes.NewReader(data), Size: int64(len(data)), Budget: analyzer.NewBudget(lim)}
	err := sevenzip.Analyzer{}.Analyze(context.Background(), in, lim, &out)
	t.Cleanup(func() {
		for _, n := range out.Nested {
			if n.Close != nil {
				n.Close()
			}
		}
	})
	return out, err
}

func member(t *testing.T, out analyzer.Output, name string) string {
	t.Helper()
	for _, n := range out.Nested {
		if n.Name == name {
			b, err := io.ReadAll(io.NewSectionReader(n.R, 0, n.Size))
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
	t.Fatalf("no member %q in %+v", name, out.Nested)
	return ""
}

func hasRule(out analyzer.Output, rule string) bool {
	for _, f := range out.Findings {
		if f.RuleID == rule {
			return true
		}
	}
	return false
}

func TestMatch(t *testing.T) {
	a := sevenzip.Analyzer{}
	if !a.Match("x", fixture(t, "malicious.7z")) || a.Match("x.7z", []byte("7z\xbc\xaf\x27")) || a.Match("x", []byte(evilPickle)) {
		t.Error("Match")
	}
}

// Every coder 7-Zip offers for models decodes to the same pickle.
func TestFixturesDecode(t *testing.T) {
	for _, tc := range []struct {
		file    string
		members int
		facts   string
	}{
		{"malicious.7z", 2, "7z archive: 2 files handed on for analysis, 1 empty files, 2 directories"}, // solid LZMA2, compressed header
		{"copy.7z", 2, "7z archive: 2 files handed on for analysis"},                                    // stored, plain header
		{"lzma-nonsolid.7z", 2, "7z archive: 2 files handed on for analysis"},
		{"ppmd.7z", 1, "7z archive: 1 files handed on for analysis"},
		{"bzip2.7z", 1, "7z archive: 1 files handed on for analysis"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out, err := analyze(t, fixture(t, tc.file), analyzer.DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Nested) != tc.members || member(t, out, "model/evil.pkl") != evilPickle {
				t.Errorf("nested %+v", out.Nested)
			}
			if len(out.Findings) != 1 || out.Findings[0].RuleID != knowledge.RuleFormatSummary || out.Findings[0].Message != tc.facts {
				t.Errorf("findings %+v", out.Findings)
			}
		})
	}
}

func TestMaliciousThroughEngine(t *testing.T) {
	data := fixture(t, "malicious.7z")
	res := scan.New().ScanReaderAt(context.Background(), "malicious.7z", bytes.NewReader(data), int64(len(data)), false)
	if res.Format != "7z" {
		t.Errorf("format %q", res.Format)
	}
	var hit bool
	for _, f := range res.Findings {
		hit = hit || f.RuleID == "PICKLE-DANGEROUS-CALL" && f.Member == "model/evil.pkl" && f.Severity.String() == "critical"
	}
	if !hit {
		t.Errorf("no dangerous call in model/evil.pkl: %+v", res.Findings)
	}
}

// A 7z inside a gzip stream is found through nesting too.
func TestNestedInGzipThroughEngine(t *testing.T) {
	var gz bytes.Buffer
	zw := newGzip(&gz, "bundle.7z")
	zw.Write(fixture(t, "copy.7z"))
	zw.Close()
	res := scan.New().ScanReaderAt(context.Background(), "bundle.7z.gz", bytes.NewReader(gz.Bytes()), int64(gz.Len()), false)
	var hit bool
	for _, f := range res.Findings {
		hit = hit || f.RuleID == "PICKLE-DANGEROUS-CALL" && f.Member == "bundle.7z!model/evil.pkl"
	}
	if !hit {
		t.Errorf("findings %+v errors %q", res.Findings, res.Errors)
	}
}

func TestEncrypted(t *testing.T) {
	out, err := analyze(t, fixture(t, "encrypted.7z"), analyzer.DefaultLimits())
	if err == nil || !strings.Contains(err.Error(), `"model/evil.pkl" is encrypted`) || len(out.Nested) != 0 {
		t.Errorf("encrypted member: err %v nested %+v", err, out.Nested)
	}
	if !strings.Contains(out.Findings[0].Message, "1 encrypted files (not analysed)") {
		t.Errorf("findings %+v", out.Findings)
	}
	out, err = analyze(t, fixture(t, "encrypted-header.7z"), analyzer.DefaultLimits())
	if err == nil || !strings.Contains(err.Error(), "encrypted") || len(out.Nested) != 0 {
		t.Errorf("encrypted header: err %v nested %+v", err, out.Nested)
	}
}

func TestBombCapped(t *testing.T) {
	data := fixture(t, "zeros.7z") // 16 MiB of zeros in 2.6 KiB
	lim := analyzer.DefaultLimits()
	lim.MaxRatio, lim.RatioFloor = 100, 1<<16
	out, err := analyze(t, data, lim)
	if err == nil || !strings.Contains(err.Error(), "budget") || !hasRule(out, "SCAN-LIMIT") {
		t.Fatalf("err %v findings %+v", err, out.Findings)
	}
	if len(out.Nested) != 1 || out.Nested[0].Size != int64(len(data))*100 {
		t.Errorf("kept %+v", out.Nested)
	}
	// The file-wide budget is shared with every other stream of the file.
	lim = analyzer.DefaultLimits()
	lim.MaxTotalDecompressed = 1 << 20
	out, err = analyze(t, data, lim)
	if err == nil || !strings.Contains(err.Error(), "total decompression budget") || out.Nested[0].Size != 1<<20 {
		t.Errorf("file budget: err %v nested %+v", err, out.Nested)
	}
}

func TestSpillsToTemporaryFile(t *testing.T) {
	lim := analyzer.DefaultLimits()
	lim.MaxInMemory = 1 << 10
	out, err := analyze(t, fixture(t, "zeros.7z"), lim)
	if err != nil || len(out.Nested) != 1 || out.Nested[0].Close == nil || out.Nested[0].Size != 16<<20 {
		t.Fatalf("err %v nested %+v", err, out.Nested)
	}
}

func TestMemberBudget(t *testing.T) {
	lim := analyzer.DefaultLimits()
	lim.MaxMembers = 1
	out, err := analyze(t, fixture(t, "copy.7z"), lim)
	if err == nil || !strings.Contains(err.Error(), "member budget") || len(out.Nested) != 1 || !hasRule(out, "SCAN-LIMIT") {
		t.Errorf("err %v nested %+v", err, out.Nested)
	}
}

func TestCorrupt(t *testing.T) {
	good := fixture(t, "lzma-nonsolid.7z")
	flipped := bytes.Clone(good)
	flipped[40] ^= 0xff // inside the first packed stream
	garbage := append(bytes.Clone(good[:6]), bytes.Repeat([]byte{0xa5}, 500)...)
	for name, data := range map[string][]byte{
		"truncated":       good[:len(good)-20],
		"flipped data":    flipped,
		"garbage":         garbage,
		"signature only":  good[:6],
		"start header":    good[:32],
		"no header bytes": good[:100],
	} {
		t.Run(name, func(t *testing.T) {
			_, err := analyze(t, data, analyzer.DefaultLimits())
			t.Log(err)
			if err == nil {
				t.Error("no error")
			}
		})
	}
}

// number encodes a 7z variable-length integer.
func number(v uint64) []byte {
	if v < 0x80 {
		return []byte{byte(v)}
	}
	b := []byte{0xff, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint64(b[1:], v)
	return b
}

// archive wraps a raw header into a 7z file with valid checksums, so that
// only the header check stands between it and the library.
func archive(packed, header []byte) []byte {
	var start [20]byte
	binary.LittleEndian.PutUint64(start[0:], uint64(len(packed)))
	binary.LittleEndian.PutUint64(start[8:], uint64(len(header)))
	binary.LittleEndian.PutUint32(start[16:], crc32.ChecksumIEEE(header))
	out := append([]byte{}, sevenzip.Signature...)
	out = append(out, 0, 4)
	out = binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE(start[:]))
	out = append(out, start[:]...)
	out = append(out, packed...)
	return append(out, header...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// Headers that would make the library allocate gigabytes are refused with a
// SCAN-LIMIT finding before the library sees them.
func TestHeaderBombsRefused(t *testing.T) {
	// One folder, one coder with the given id and properties, one packed
	// stream of 1 byte, unpacked size 1 GiB.
	folder := func(id, props []byte) []byte {
		return cat([]byte{0x04, 0x06}, number(0), number(1), []byte{0x09}, number(1), []byte{0x00},
			[]byte{0x07, 0x0b}, number(1), []byte{0x00}, number(1), []byte{0x20 | byte(len(id))}, id, number(uint64(len(props))), props,
			[]byte{0x0c}, number(1<<30), []byte{0x00}, []byte{0x00})
	}
	for name, header := range map[string][]byte{
		"4 billion entries":     cat([]byte{0x01, 0x05}, number(0xffffffff), []byte{0x00, 0x00}),
		"all-defined CRC table": cat([]byte{0x01, 0x04, 0x06}, number(0), number(0xfffffff0), []byte{0x0a, 0x01}),
		"4 GiB coder props":     cat([]byte{0x01, 0x04, 0x06}, number(0), number(1), []byte{0x09, 0x01, 0x00, 0x07, 0x0b, 0x01, 0x00, 0x01, 0x21, 0x21}, number(0xfffffff0)),
		"LZMA2 4 GiB dict":      cat([]byte{0x01}, folder([]byte{0x21}, []byte{40}), []byte{0x00}),
		"LZMA 2 GiB dict":       cat([]byte{0x01}, folder([]byte{0x03, 0x01, 0x01}, []byte{0x5d, 0xff, 0xff, 0xff, 0x7f}), []byte{0x00}),
		"PPMd 4 GiB model":      cat([]byte{0x01}, folder([]byte{0x03, 0x04, 0x01}, []byte{0x06, 0xf0, 0xff, 0xff, 0xff}), []byte{0x00}),
		"billions of substreams": cat([]byte{0x01, 0x04, 0x06}, number(0), number(1), []byte{0x09, 0x01, 0x00, 0x07, 0x0b, 0x01, 0x00, 0x01, 0x00, 0x0c, 0x01, 0x00},
			[]byte{0x08, 0x0d}, number(0xfffffff0), []byte{0x00}),
	} {
		t.Run(name, func(t *testing.T) {
			out, err := analyze(t, archive([]byte{0}, header), analyzer.DefaultLimits())
			t.Log(err)
			if err == nil || !hasRule(out, "SCAN-LIMIT") {
				t.Errorf("err %v findings %+v", err, out.Findings)
			}
		})
	}
}

// Inconsistent tables that the library would index out of range are
// refused, or at worst end in an error: never a panic.
func TestInconsistentHeaders(t *testing.T) {
	for name, header := range map[string][]byte{
		"files without folders": cat([]byte{0x01, 0x05, 0x01, 0x00, 0x00}),
		"packed stream out of range": cat([]byte{0x01, 0x04, 0x06}, number(0), number(1), []byte{0x09, 0x01, 0x00, 0x07, 0x0b, 0x01, 0x00,
			0x01, 0x12, 0x03, 0x03, 0x02, 0x01, 0x00, 0x05, 0x0c, 0x01, 0x00, 0x00}),
		"more files than streams": cat([]byte{0x01, 0x04, 0x06}, number(0), number(1), []byte{0x09, 0x01, 0x00, 0x07, 0x0b, 0x01, 0x00, 0x01, 0x00, 0x0c, 0x01, 0x00, 0x00},
			[]byte{0x05, 0x03, 0x00, 0x00}),
		"no pack sizes": cat([]byte{0x01, 0x04, 0x06}, number(0), number(1), []byte{0x00, 0x07, 0x0b, 0x01, 0x00, 0x01, 0x00, 0x0c, 0x01, 0x00, 0x00},
			[]byte{0x05, 0x01, 0x00, 0x00}),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := analyze(t, archive([]byte{0}, header), analyzer.DefaultLimits())
			t.Log(err)
			if err == nil {
				t.Error("no error")
			}
		})
	}
}

func newGzip(w io.Writer, name string) *gzip.Writer {
	zw := gzip.NewWriter(w)
	zw.Name = name
	return zw
}
