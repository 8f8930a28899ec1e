package compress_test

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/formats/compress"
)

func gz(t *testing.T, data []byte, name string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Name = name
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return b.Bytes()
}

func analyze(t *testing.T, data []byte, lim analyzer.Limits) (analyzer.Output, error) {
	t.Helper()
	var out analyzer.Output
	err := compress.Analyzer{}.Analyze(context.Background(), analyzer.Input{Name: "x.pkl.gz", R: bytes.NewReader(data), Size: int64(len(data))}, lim, &out)
	t.Cleanup(func() {
		for _, n := range out.Nested {
			if n.Close != nil {
				n.Close()
			}
		}
	})
	return out, err
}

func TestSniff(t *testing.T) {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte("x"))
	zw.Close()
	for _, tc := range []struct {
		name string
		head []byte
		want compress.Kind
	}{
		{"gzip", gz(t, []byte("x"), ""), compress.Gzip},
		{"zlib", z.Bytes(), compress.Zlib},
		{"bzip2", []byte("BZh91AY&SY\x00\x00"), compress.Bzip2},
		{"xz", []byte("\xfd7zXZ\x00\x00\x04"), compress.XZ},
		{"lzma alone", []byte("\x5d\x00\x00\x80\x00\xff\xff\xff\xff\xff\xff\xff\xff"), compress.LZMA},
		// Protocol-0/1 pickles must not look compressed.
		{"pickle MARK STRING", []byte("(S'touch x'\ntR."), ""},
		{"pickle EMPTY_LIST BINPUT", []byte("]q\x00(K\x01K\x02e.\x00\x00\x00\x00"), ""},
		{"text", []byte("hello"), ""},
	} {
		if got := compress.Sniff(tc.head); got != tc.want {
			t.Errorf("%s: Sniff = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestDecompressNamesTheMember(t *testing.T) {
	out, err := analyze(t, gz(t, []byte("payload"), "model.pkl"), analyzer.DefaultLimits())
	if err != nil || len(out.Nested) != 1 || out.Nested[0].Name != "model.pkl" || out.Format != "gzip" {
		t.Fatalf("err %v out %+v", err, out)
	}
	b, _ := io.ReadAll(io.NewSectionReader(out.Nested[0].R, 0, out.Nested[0].Size))
	if string(b) != "payload" {
		t.Errorf("content %q", b)
	}
	// Without a name in the header, the outer name loses its suffix.
	out, _ = analyze(t, gz(t, []byte("payload"), ""), analyzer.DefaultLimits())
	if out.Nested[0].Name != "x.pkl" {
		t.Errorf("name %q", out.Nested[0].Name)
	}
}

func TestBombStopsAtBudgetAndKeepsPrefix(t *testing.T) {
	lim := analyzer.DefaultLimits()
	lim.MaxRatio, lim.RatioFloor = 100, 1<<20
	bomb := gz(t, bytes.Repeat([]byte{'A'}, 64<<20), "") // ~64 KiB compressed
	out, err := analyze(t, bomb, lim)
	if err == nil || !strings.Contains(err.Error(), "budget") {
		t.Fatalf("err = %v", err)
	}
	if len(out.Nested) != 1 || out.Nested[0].Size != int64(len(bomb))*100 {
		t.Errorf("kept %+v", out.Nested)
	}
	var sawLimit bool
	for _, f := range out.Findings {
		sawLimit = sawLimit || f.RuleID == "SCAN-LIMIT"
	}
	if !sawLimit {
		t.Error("no SCAN-LIMIT finding")
	}
}

func TestSpillsToTemporaryFile(t *testing.T) {
	lim := analyzer.DefaultLimits()
	lim.MaxInMemory = 1 << 10
	data := bytes.Repeat([]byte("0123456789"), 10_000)
	out, err := analyze(t, gz(t, data, ""), lim)
	if err != nil || len(out.Nested) != 1 || out.Nested[0].Close == nil {
		t.Fatalf("err %v nested %+v", err, out.Nested)
	}
	b, _ := io.ReadAll(io.NewSectionReader(out.Nested[0].R, 0, out.Nested[0].Size))
	if !bytes.Equal(b, data) {
		t.Error("spilled content differs")
	}
}

func TestCorruptStreamKeepsWhatCameBefore(t *testing.T) {
	data := gz(t, bytes.Repeat([]byte("abc"), 100_000), "")
	cut := data[:len(data)/2]
	out, err := analyze(t, cut, analyzer.DefaultLimits())
	if err == nil || len(out.Nested) != 1 || out.Nested[0].Size == 0 {
		t.Errorf("err %v nested %+v", err, out.Nested)
	}
}

func zst(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := zstd.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestZstdSniff(t *testing.T) {
	if got := compress.Sniff(zst(t, []byte("x"))); got != compress.Zstd {
		t.Errorf("zstd frame: Sniff = %q", got)
	}
	// A skippable frame and a MARK-led pickle are not zstd frames.
	for _, head := range [][]byte{[]byte("\x50\x2a\x4d\x18\x00\x00\x00\x00"), []byte("(\xb5/"), []byte("(lp0\n")} {
		if got := compress.Sniff(head); got != "" {
			t.Errorf("%q: Sniff = %q", head, got)
		}
	}
}

func TestZstdRoundTrip(t *testing.T) {
	data := bytes.Repeat([]byte("zstd round trip "), 1000)
	var in []byte
	in = append(in, zst(t, data[:5000])...)
	in = append(in, zst(t, data[5000:])...) // concatenated frames are one stream
	out, err := analyze(t, in, analyzer.DefaultLimits())
	if err != nil || len(out.Nested) != 1 || out.Format != "zstd" {
		t.Fatalf("err %v out %+v", err, out)
	}
	if out.Nested[0].Name != "x.pkl" {
		t.Errorf("name %q", out.Nested[0].Name)
	}
	b, _ := io.ReadAll(io.NewSectionReader(out.Nested[0].R, 0, out.Nested[0].Size))
	if !bytes.Equal(b, data) {
		t.Errorf("content differs: %d bytes", len(b))
	}
}

func TestZstdBombCapped(t *testing.T) {
	lim := analyzer.DefaultLimits()
	lim.MaxRatio, lim.RatioFloor = 100, 1<<20
	bomb := zst(t, make([]byte, 64<<20)) // a few KiB compressed
	out, err := analyze(t, bomb, lim)
	if err == nil || !strings.Contains(err.Error(), "budget") {
		t.Fatalf("err = %v", err)
	}
	want := max(int64(len(bomb))*100, lim.RatioFloor)
	if len(out.Nested) != 1 || out.Nested[0].Size != want {
		t.Errorf("kept %+v, want %d bytes", out.Nested, want)
	}
	// The file-wide budget stops it too, whatever the per-stream budget.
	lim = analyzer.DefaultLimits()
	lim.MaxTotalDecompressed = 1 << 20
	var o analyzer.Output
	err = compress.Analyzer{}.Analyze(context.Background(), analyzer.Input{Name: "b.zst", R: bytes.NewReader(bomb), Size: int64(len(bomb)), Budget: analyzer.NewBudget(lim)}, lim, &o)
	if err == nil || !strings.Contains(err.Error(), "total decompression budget") || o.Nested[0].Size > 1<<20 {
		t.Errorf("file budget: err %v nested %+v", err, o.Nested)
	}
}

func TestZstdWindowCapped(t *testing.T) {
	// A frame that declares a window far above the cap is refused before
	// any history is allocated.
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xf8} // no FCS, window descriptor 2^(10+31)
	frame = append(frame, 0x01, 0x00, 0x00)             // last raw block of 0 bytes
	lim := analyzer.DefaultLimits()
	lim.MaxInMemory = 1 << 20
	_, err := analyze(t, frame, lim)
	if err == nil || !strings.Contains(err.Error(), "window") {
		t.Fatalf("huge window: err = %v", err)
	}
}

func TestCompressedFinding(t *testing.T) {
	out, err := analyze(t, gz(t, []byte("payload"), "m.pkl"), analyzer.DefaultLimits())
	if err != nil || len(out.Findings) != 1 || out.Findings[0].RuleID != "FORMAT-COMPRESSED" || out.Findings[0].Severity != 0 {
		t.Errorf("err %v findings %+v", err, out.Findings)
	}
}
