package tarfile_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/formats/tarfile"
)

// FuzzTar runs the analyser on arbitrary bytes: no panic, and every member
// handed on lies inside the archive and can be read.
func FuzzTar(f *testing.F) {
	// Small seeds, one feature each, without the end-of-archive blocks:
	// the fuzzer minimises every new input before reporting it, and that
	// costs time in proportion to the input's length.
	seeds := [][]byte{
		makeTar(f, tar.FormatUSTAR, entry{name: "m.pkl", body: evilPickle}),
		makeTar(f, tar.FormatGNU, entry{name: "d/", typ: tar.TypeDir}, entry{name: "l", typ: tar.TypeSymlink, link: "m"}),
		makeTar(f, tar.FormatPAX, entry{name: "ü.pkl", body: "x"}),
		makeTar(f, tar.FormatGNU, entry{name: strings.Repeat("n/", 60) + "x", body: "x"}),
		makeTar(f, tar.FormatUSTAR, entry{name: "cposix\nsystem\n(S'id'\ntR.", body: "x"}),
		sparseTar(f, 4096, "tail"),
	}
	for _, s := range seeds {
		f.Add(s[:len(s)-2*512])
	}
	lim := analyzer.DefaultLimits()
	lim.MaxDecompressed = 4 << 20
	lim.MaxTotalDecompressed = 8 << 20
	lim.RatioFloor = 1 << 20
	lim.MaxInMemory = 1 << 20
	lim.MaxMembers = 1000
	lim.Pickle.MaxOpcodes = 100_000
	f.Fuzz(func(t *testing.T, data []byte) {
		var out analyzer.Output
		in := analyzer.Input{Name: "fuzz.tar", R: bytes.NewReader(data), Size: int64(len(data)), Budget: analyzer.NewBudget(lim)}
		_ = tarfile.Analyzer{}.Analyze(context.Background(), in, lim, &out)
		_ = tarfile.Sniff(data)
		for _, n := range out.Nested {
			if n.Size < 0 {
				t.Fatalf("member %q has size %d", n.Name, n.Size)
			}
			if sr, ok := n.R.(*io.SectionReader); ok {
				if _, off, size := sr.Outer(); off < 0 || off+size > int64(len(data)) {
					t.Fatalf("member %q at %d+%d lies outside the %d-byte archive", n.Name, off, size, len(data))
				}
			}
			if _, err := io.Copy(io.Discard, io.NewSectionReader(n.R, 0, n.Size)); err != nil {
				t.Errorf("member %q unreadable: %v", n.Name, err)
			}
			if n.Close != nil {
				n.Close()
			}
		}
	})
}
