package ziparchive_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelgate/modelgate/internal/finding"
	pt "github.com/modelgate/modelgate/internal/pickle/pickletest"
	"github.com/modelgate/modelgate/internal/scan"
)

type member struct {
	name   string
	data   []byte
	method uint16
}

func build(t *testing.T, ms ...member) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, m := range ms {
		f, err := w.CreateHeader(&zip.FileHeader{Name: m.name, Method: m.method})
		if err != nil {
			t.Fatal(err)
		}
		f.Write(m.data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var (
	evil   = pt.New().Proto(2).Call("posix", "system", "touch marker").Stop().Bytes()
	benign = pt.New().Proto(2).Global("collections", "OrderedDict").EmptyTuple().Reduce().Stop().Bytes()
)

// countingReader counts the bytes analysers read.
type countingReader struct {
	r *bytes.Reader
	n atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

func scanBytes(t *testing.T, data []byte) scan.FileResult {
	t.Helper()
	return scan.New().ScanReaderAt(context.Background(), "model.pt", bytes.NewReader(data), int64(len(data)), false)
}

func rules(r scan.FileResult) map[string]finding.Finding {
	m := map[string]finding.Finding{}
	for _, f := range r.Findings {
		if _, ok := m[f.RuleID]; !ok {
			m[f.RuleID] = f
		}
	}
	return m
}

func TestTorchZipLayouts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		members   []member
		format    string
		want      []string // rule ids that must be present
		wantClean bool
	}{
		{"state dict", []member{{"archive/data.pkl", benign, zip.Store}, {"archive/data/0", make([]byte, 4096), zip.Store}, {"archive/version", []byte("3\n"), zip.Store}},
			"pytorch-zip", nil, true},
		{"payload in data.pkl", []member{{"archive/data.pkl", evil, zip.Store}, {"archive/version", []byte("3\n"), zip.Store}},
			"pytorch-zip", []string{"PICKLE-DANGEROUS-CALL"}, false},
		{"renamed top folder", []member{{"innocent_name/data.pkl", evil, zip.Store}, {"innocent_name/version", []byte("3\n"), zip.Store}},
			"pytorch-zip", []string{"PICKLE-DANGEROUS-CALL"}, false},
		{"deflated data.pkl", []member{{"archive/data.pkl", evil, zip.Deflate}},
			"pytorch-zip", []string{"PICKLE-DANGEROUS-CALL"}, false},
		{"pickle hidden in a storage", []member{{"archive/data.pkl", benign, zip.Store}, {"archive/data/0", evil, zip.Store}},
			"pytorch-zip", []string{"TORCH-PICKLE-IN-STORAGE", "PICKLE-DANGEROUS-CALL"}, false},
		{"pickle outside the folder torch reads", []member{{"archive/data.pkl", benign, zip.Store}, {"other/weights.data", evil, zip.Store}},
			"pytorch-zip", []string{"TORCH-MEMBER-OUTSIDE", "PICKLE-DANGEROUS-CALL"}, false},
		{"duplicate data.pkl, payload in the second", []member{{"archive/data.pkl", benign, zip.Store}, {"archive/data.pkl", evil, zip.Store}},
			"pytorch-zip", []string{"ZIP-DUPLICATE-NAME", "PICKLE-DANGEROUS-CALL"}, false},
		{"torchscript", []member{{"archive/data.pkl", benign, zip.Store}, {"archive/constants.pkl", evil, zip.Store}, {"archive/code/__torch__/m.py", []byte("def f(): pass"), zip.Store}},
			"torchscript", []string{"TORCH-TORCHSCRIPT-CODE", "PICKLE-DANGEROUS-CALL"}, false},
		{"protocol-0 data.pkl", []member{{"archive/data.pkl", []byte("cposix\nsystem\n(S'id'\ntR."), zip.Store}},
			"pytorch-zip", []string{"PICKLE-DANGEROUS-CALL"}, false},
		{"npz with an object array", []member{{"arr_0.npy", npyObject(evil), zip.Store}},
			"npz", []string{"PICKLE-DANGEROUS-CALL"}, false},
		{"generic zip: docs skipped, pickle found", []member{{"README.md", []byte("# hi"), zip.Deflate}, {"payload.txt", evil, zip.Deflate}},
			"zip", []string{"PICKLE-DANGEROUS-CALL"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := scanBytes(t, build(t, tc.members...))
			if r.Format != tc.format {
				t.Errorf("format %q, want %q", r.Format, tc.format)
			}
			got := rules(r)
			for _, id := range tc.want {
				if _, ok := got[id]; !ok {
					t.Errorf("no %s finding; findings %+v errors %v", id, r.Findings, r.Errors)
				}
			}
			worst, _ := finding.Max(r.Findings)
			if tc.wantClean && (worst >= finding.Medium || len(r.Errors) > 0) {
				t.Errorf("benign archive: worst %s, errors %v, findings %+v", worst, r.Errors, r.Findings)
			}
			if f, ok := got["PICKLE-DANGEROUS-CALL"]; ok && !strings.Contains(f.Evidence, "posix.system(") {
				t.Errorf("evidence %q", f.Evidence)
			}
		})
	}
}

// npyObject wraps a pickle as the data of a .npy object array.
func npyObject(p []byte) []byte {
	hdr := "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
	for (10+len(hdr)+1)%64 != 0 {
		hdr += " "
	}
	hdr += "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), byte(len(hdr)>>8))
	return append(append(b, hdr...), p...)
}

func TestStoragesAreNotRead(t *testing.T) {
	const tensor = 32 << 20
	data := build(t, member{"archive/data.pkl", benign, zip.Store},
		member{"archive/data/0", make([]byte, tensor), zip.Store},
		member{"archive/data/1", make([]byte, tensor), zip.Store})
	cr := &countingReader{r: bytes.NewReader(data)}
	e := scan.New()
	// Analysis alone: the digest (which reads everything) is measured apart.
	res := e.ScanReaderAt(context.Background(), "big.pt", cr, int64(len(data)), false)
	if res.Format != "pytorch-zip" || len(res.Errors) > 0 {
		t.Fatalf("%+v", res)
	}
	if read := cr.n.Load() - int64(len(data)); read > 1<<20 {
		t.Errorf("analysis read %d bytes of a %d-byte checkpoint beyond the digest", read, len(data))
	}
}

func TestDeflateBombIsCapped(t *testing.T) {
	data := build(t, member{"archive/data.pkl", evil, zip.Store}, member{"archive/extra/blob", bytes.Repeat([]byte{0}, 200<<20), zip.Deflate})
	e := scan.New()
	e.Limits.MaxRatio, e.Limits.RatioFloor = 100, 1<<20
	r := e.ScanReaderAt(context.Background(), "bomb.pt", bytes.NewReader(data), int64(len(data)), false)
	got := rules(r)
	if _, ok := got["SCAN-LIMIT"]; !ok {
		t.Errorf("no SCAN-LIMIT: %+v", r.Findings)
	}
	if _, ok := got["PICKLE-DANGEROUS-CALL"]; !ok {
		t.Errorf("payload lost: %+v", r.Findings)
	}
}

// offsets of every header signature, for damaging archives.
func sigs(data []byte, sig uint32) []int {
	var out []int
	for i := 0; i+4 <= len(data); i++ {
		if binary.LittleEndian.Uint32(data[i:]) == sig {
			out = append(out, i)
		}
	}
	return out
}

// Every zip anomaly reaches the report under its rule id, and a clean
// PyTorch archive carries none of them.
func TestZipAnomalyRules(t *testing.T) {
	clean := func() []byte {
		return build(t, member{"archive/data.pkl", benign, zip.Store}, member{"archive/version", []byte("3\n"), zip.Store})
	}
	for _, tc := range []struct {
		rule   string
		damage func(d []byte) []byte
	}{
		{"ZIP-DUPLICATE-NAME", func([]byte) []byte {
			return build(t, member{"archive/data.pkl", benign, zip.Store}, member{"archive/DATA.PKL", benign, zip.Store})
		}},
		{"ZIP-NAME-MISMATCH", func(d []byte) []byte { d[sigs(d, 0x04034b50)[0]+30+8] = 'X'; return d }},
		{"ZIP-HEADER-MISMATCH", func(d []byte) []byte {
			l := sigs(d, 0x04034b50)[0]
			binary.LittleEndian.PutUint16(d[l+6:], 0) // drop the data-descriptor flag: local sizes (0) now count
			return d
		}},
		{"ZIP-FLAGS", func(d []byte) []byte { binary.LittleEndian.PutUint16(d[sigs(d, 0x02014b50)[0]+8:], 0x41); return d }},
		{"ZIP-OVERLAP", func(d []byte) []byte {
			c := sigs(d, 0x02014b50)
			binary.LittleEndian.PutUint32(d[c[1]+42:], binary.LittleEndian.Uint32(d[c[0]+42:]))
			return d
		}},
		{"ZIP-PREFIX-DATA", func(d []byte) []byte {
			// The end record's directory offset disagrees with where the
			// directory is: data was prepended, or the offsets lie.
			e := sigs(d, 0x06054b50)[0]
			binary.LittleEndian.PutUint32(d[e+16:], binary.LittleEndian.Uint32(d[e+16:])-10)
			return d
		}},
		{"ZIP-NO-CENTRAL-DIRECTORY", func(d []byte) []byte { return d[:sigs(d, 0x02014b50)[0]] }},
		{"ZIP-BAD-LOCAL-HEADER", func(d []byte) []byte {
			binary.LittleEndian.PutUint32(d[sigs(d, 0x02014b50)[1]+42:], 3)
			return d
		}},
		{"ZIP-METHOD", func(d []byte) []byte { binary.LittleEndian.PutUint16(d[sigs(d, 0x02014b50)[1]+10:], 93); return d }},
		{"ZIP-CRC-MISMATCH", func(d []byte) []byte {
			binary.LittleEndian.PutUint32(d[sigs(d, 0x02014b50)[0]+16:], 0xdeadbeef)
			return d
		}},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			if _, ok := rules(scanBytes(t, tc.damage(clean())))[tc.rule]; !ok {
				t.Errorf("no %s finding", tc.rule)
			}
			if _, ok := rules(scanBytes(t, clean()))[tc.rule]; ok {
				t.Errorf("%s on a clean archive", tc.rule)
			}
		})
	}
}

func TestTorchScriptSetstate(t *testing.T) {
	code := func(src string) scan.FileResult {
		return scanBytes(t, build(t, member{"archive/data.pkl", benign, zip.Store}, member{"archive/constants.pkl", benign, zip.Store},
			member{"archive/code/__torch__/m.py", []byte(src), zip.Store}))
	}
	f, ok := rules(code("class M(Module):\n  def __setstate__(self, state):\n    _0 = torch.from_file(\"marker\", True, 1)\n"))["TORCH-TORCHSCRIPT-SETSTATE"]
	if !ok || f.Severity != finding.High || !strings.Contains(f.Evidence, "torch.from_file") {
		t.Errorf("finding %+v", f)
	}
	if _, ok := rules(code("class M(Module):\n  def forward(self, x):\n    return x\n"))["TORCH-TORCHSCRIPT-SETSTATE"]; ok {
		t.Error("forward-only TorchScript reported")
	}
}

// A zip appended to a harmless pickle: pickle.load sees the pickle, zipfile
// (Keras and many tools) sees the archive. Both are analysed.
func TestZipBehindAPickle(t *testing.T) {
	data := append(append([]byte{}, benign...), build(t, member{"config.json", []byte("{}"), zip.Store}, member{"payload.pkl", evil, zip.Store})...)
	r := scanBytes(t, data)
	got := rules(r)
	if _, ok := got["PICKLE-MALFORMED"]; !ok { // "PK" reads as PERSID: a broken further pickle
		t.Errorf("no finding about the bytes after the pickle: %+v", r.Findings)
	}
	if f, ok := got["PICKLE-DANGEROUS-CALL"]; !ok || !strings.Contains(f.Member, "payload.pkl") {
		t.Errorf("the appended archive was not analysed: %+v", r.Findings)
	}
}
