package tarfile_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"github.com/modelgate/modelgate/internal/knowledge"
	"io"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/formats/tarfile"
	"github.com/modelgate/modelgate/internal/scan"
)

// evilPickle is a protocol-2 pickle that calls os.system("id") on load.
const evilPickle = "\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."

type entry struct {
	name string
	typ  byte
	body string
	link string
}

func makeTar(t testing.TB, format tar.Format, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Mode: 0o644, Size: int64(len(e.body)), Linkname: e.link, Format: format}
		if typ != tar.TypeReg {
			h.Size = 0
		}
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := w.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// v7 turns a ustar archive of one member into a pre-POSIX one: no magic,
// nothing past the v7 fields, checksum recomputed.
func v7(t *testing.T, ustar []byte) []byte {
	t.Helper()
	b := bytes.Clone(ustar)
	clear(b[257:512])
	fixChecksum(b[:512])
	return b
}

func fixChecksum(h []byte) {
	copy(h[148:156], "        ")
	var sum int
	for _, c := range h {
		sum += int(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
}

func analyze(t testing.TB, data []byte, lim analyzer.Limits) (analyzer.Output, error) {
	t.Helper()
	var out analyzer.Output
	in := analyzer.Input{Name: "a.tar", R: bytes.NewReader(data), Size: int64(len(data)), Budget: analyzer.NewBudget(lim)}
	err := tarfile.Analyzer{}.Analyze(context.Background(), in, lim, &out)
	t.Cleanup(func() {
		for _, n := range out.Nested {
			if n.Close != nil {
				n.Close()
			}
		}
	})
	return out, err
}

func content(t *testing.T, n analyzer.Nested) string {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(n.R, 0, n.Size))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSniff(t *testing.T) {
	one := entry{name: "model.pkl", body: "hello"}
	badSum := makeTar(t, tar.FormatUSTAR, one)
	badSum[0] ^= 1
	for _, tc := range []struct {
		name string
		head []byte
		want bool
	}{
		{"ustar", makeTar(t, tar.FormatUSTAR, one), true},
		{"gnu", makeTar(t, tar.FormatGNU, one), true},
		{"pax", makeTar(t, tar.FormatPAX, entry{name: "mödel.pkl", body: "x"}), true},
		{"v7", v7(t, makeTar(t, tar.FormatUSTAR, one)), true},
		{"ustar magic, bad checksum", badSum, false},
		{"end-of-archive block", make([]byte, 1024), false},
		{"short", makeTar(t, tar.FormatUSTAR, one)[:511], false},
		{"pickle", []byte(evilPickle + strings.Repeat("\x00", 600)), false},
		{"text", bytes.Repeat([]byte("hello world "), 100), false},
	} {
		if got := tarfile.Sniff(tc.head); got != tc.want {
			t.Errorf("%s: Sniff = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A v7-looking block with a valid checksum but a name that is not text, or
// data past the v7 fields, is not taken for tar.
func TestSniffV7IsConservative(t *testing.T) {
	base := v7(t, makeTar(t, tar.FormatUSTAR, entry{name: "m.pkl", body: "x"}))[:512]
	binName := bytes.Clone(base)
	binName[0] = 0x80
	fixChecksum(binName)
	tail := bytes.Clone(base)
	tail[300] = 'x'
	fixChecksum(tail)
	badType := bytes.Clone(base)
	badType[156] = 'Z'
	fixChecksum(badType)
	for name, h := range map[string][]byte{"binary name": binName, "data past v7 fields": tail, "type Z": badType} {
		if tarfile.Sniff(h) {
			t.Errorf("%s: sniffed as tar", name)
		}
	}
}

func TestMembersAreWindowsOntoTheArchive(t *testing.T) {
	data := makeTar(t, tar.FormatPAX,
		entry{name: "bundle/", typ: tar.TypeDir},
		entry{name: "bundle/model.pkl", body: evilPickle},
		entry{name: "bundle/link", typ: tar.TypeSymlink, link: "model.pkl"},
		entry{name: "bundle/hard", typ: tar.TypeLink, link: "bundle/model.pkl"},
		entry{name: "bundle/empty", body: ""},
		entry{name: "bundle/" + strings.Repeat("long/", 40) + "weights.bin", body: strings.Repeat("w", 3000)},
		entry{name: "fifo", typ: tar.TypeFifo},
	)
	out, err := analyze(t, data, analyzer.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Nested) != 2 {
		t.Fatalf("nested %+v", out.Nested)
	}
	if n := out.Nested[0]; n.Name != "bundle/model.pkl" || content(t, n) != evilPickle || n.Close != nil {
		t.Errorf("first member %+v", n)
	}
	if n := out.Nested[1]; !strings.HasSuffix(n.Name, "/weights.bin") || len(n.Name) < 200 || content(t, n) != strings.Repeat("w", 3000) {
		t.Errorf("second member %q", n.Name)
	}
	for _, n := range out.Nested {
		if _, ok := n.R.(*io.SectionReader); !ok {
			t.Errorf("%s: member was copied (%T)", n.Name, n.R)
		}
	}
	if len(out.Findings) != 1 || out.Findings[0].RuleID != knowledge.RuleFormatSummary ||
		out.Findings[0].Message != "tar archive: 2 files handed on for analysis, 1 empty files, 1 directories, 2 links (not followed), 1 devices, FIFOs and other entries without data" {
		t.Errorf("findings %+v", out.Findings)
	}
}

// Data is never read for member content: the analyser seeks over it.
func TestMemberDataIsNotRead(t *testing.T) {
	big := strings.Repeat("t", 1<<20)
	data := makeTar(t, tar.FormatUSTAR, entry{name: "a.bin", body: big}, entry{name: "b.pkl", body: "x"})
	rec := &recordingReaderAt{r: bytes.NewReader(data)}
	var out analyzer.Output
	lim := analyzer.DefaultLimits()
	err := tarfile.Analyzer{}.Analyze(context.Background(), analyzer.Input{Name: "a.tar", R: rec, Size: int64(len(data)), Budget: analyzer.NewBudget(lim)}, lim, &out)
	if err != nil || len(out.Nested) != 2 {
		t.Fatalf("err %v nested %d", err, len(out.Nested))
	}
	if rec.n > 64<<10 {
		t.Errorf("read %d bytes of a %d-byte archive", rec.n, len(data))
	}
}

type recordingReaderAt struct {
	r io.ReaderAt
	n int64
}

func (r *recordingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.r.ReadAt(p, off)
	r.n += int64(n)
	return n, err
}

func TestMemberBudget(t *testing.T) {
	lim := analyzer.DefaultLimits()
	lim.MaxMembers = 2
	data := makeTar(t, tar.FormatUSTAR, entry{name: "a", body: "1"}, entry{name: "b", body: "2"}, entry{name: "c", body: "3"})
	out, err := analyze(t, data, lim)
	if err == nil || !strings.Contains(err.Error(), `"c"`) {
		t.Fatalf("err = %v", err)
	}
	if len(out.Nested) != 2 {
		t.Errorf("kept %d members", len(out.Nested))
	}
	var limit bool
	for _, f := range out.Findings {
		limit = limit || f.RuleID == "SCAN-LIMIT" && f.Severity.String() == "medium"
	}
	if !limit {
		t.Errorf("no SCAN-LIMIT finding: %+v", out.Findings)
	}
}

func TestCorruptKeepsEarlierMembers(t *testing.T) {
	data := makeTar(t, tar.FormatUSTAR, entry{name: "a.pkl", body: evilPickle}, entry{name: "b.pkl", body: "second"})
	second := 512 + 512   // header + padded body of the first member
	data[second+148] ^= 1 // break the second header's checksum
	out, err := analyze(t, data, analyzer.DefaultLimits())
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("err = %v", err)
	}
	if len(out.Nested) != 1 || out.Nested[0].Name != "a.pkl" {
		t.Errorf("nested %+v", out.Nested)
	}
}

func TestTruncatedMemberIsClamped(t *testing.T) {
	data := makeTar(t, tar.FormatUSTAR, entry{name: "a.pkl", body: strings.Repeat("p", 2000)})
	cut := data[:512+1000]
	out, err := analyze(t, cut, analyzer.DefaultLimits())
	if err == nil {
		t.Error("truncated archive reported no error")
	}
	if len(out.Nested) != 1 || out.Nested[0].Size != 1000 {
		t.Errorf("nested %+v", out.Nested)
	}
}

// sparseTar writes a PAX (GNU 1.0) sparse member by hand: archive/tar reads
// sparse files but no longer writes them, and drops GNU.sparse records.
func sparseTar(t testing.TB, realSize int64, payload string) []byte {
	t.Helper()
	var records string
	for _, kv := range [][2]string{{"GNU.sparse.major", "1"}, {"GNU.sparse.minor", "0"}, {"GNU.sparse.name", "model.pkl"},
		{"GNU.sparse.realsize", fmt.Sprint(realSize)}} {
		rec := " " + kv[0] + "=" + kv[1] + "\n"
		n := len(rec) + 2
		if len(fmt.Sprint(n)+rec) != n {
			n++
		}
		records += fmt.Sprint(n) + rec
	}
	sparseMap := fmt.Sprintf("1\n%d\n%d\n", realSize-int64(len(payload)), len(payload))
	body := sparseMap + strings.Repeat("\x00", 512-len(sparseMap)) + payload
	data := makeTar(t, tar.FormatUSTAR, entry{name: "PaxHeaders/model.pkl", body: records}, entry{name: "GNUSparseFile.0/model.pkl", body: body})
	data[156] = tar.TypeXHeader
	fixChecksum(data[:512])
	return data
}

func TestSparseMemberIsExpanded(t *testing.T) {
	out, err := analyze(t, sparseTar(t, 4096, "tail"), analyzer.DefaultLimits())
	if err != nil || len(out.Nested) != 1 {
		t.Fatalf("err %v nested %+v", err, out.Nested)
	}
	got := content(t, out.Nested[0])
	if out.Nested[0].Name != "model.pkl" || len(got) != 4096 || !strings.HasSuffix(got, "tail") || strings.Trim(got[:4092], "\x00") != "" {
		t.Errorf("sparse member %q: %d bytes", out.Nested[0].Name, len(got))
	}
	// Holes are a bomb as easily as compression is.
	lim := analyzer.DefaultLimits()
	lim.MaxRatio, lim.RatioFloor = 10, 1<<16
	out, err = analyze(t, sparseTar(t, 1<<40, "tail"), lim)
	if err == nil || !strings.Contains(err.Error(), "budget") || len(out.Nested) != 1 || out.Nested[0].Size != 1<<16 {
		t.Errorf("sparse bomb: err %v nested %+v", err, out.Nested)
	}
}

// A tar whose first header is also a pickle is audited as both.
func TestTarPicklePolyglot(t *testing.T) {
	data := makeTar(t, tar.FormatUSTAR, entry{name: "cposix\nsystem\n(S'id'\ntR.", body: "x"})
	if !tarfile.Sniff(data) {
		t.Fatal("polyglot not sniffed as tar")
	}
	out, _ := analyze(t, data, analyzer.DefaultLimits())
	var call bool
	for _, f := range out.Findings {
		call = call || f.RuleID == "PICKLE-DANGEROUS-CALL"
	}
	if !call {
		t.Errorf("pickle in the tar header not reported: %+v", out.Findings)
	}
}

func TestTarGzThroughEngine(t *testing.T) {
	data := makeTar(t, tar.FormatUSTAR, entry{name: "bundle/", typ: tar.TypeDir}, entry{name: "bundle/model.pkl", body: evilPickle},
		entry{name: "bundle/README", body: "benign"})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	res := scan.New().ScanReaderAt(context.Background(), "model.tar.gz", bytes.NewReader(gz.Bytes()), int64(gz.Len()), false)
	if res.Format != "gzip" {
		t.Errorf("format %q", res.Format)
	}
	var hit bool
	for _, f := range res.Findings {
		if f.RuleID == "PICKLE-DANGEROUS-CALL" && f.Member == "model.tar!bundle/model.pkl" && f.Severity.String() == "critical" {
			hit = true
		}
	}
	if !hit {
		t.Errorf("no dangerous call in model.tar!bundle/model.pkl: %+v", res.Findings)
	}
	// The README is not a model: an error says so, nothing is hidden.
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "bundle/README") {
		t.Errorf("errors %q", res.Errors)
	}
}
