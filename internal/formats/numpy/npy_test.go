package numpy_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/formats/numpy"
	pt "github.com/modelgate/modelgate/internal/pickle/pickletest"
)

// npy builds an .npy file the way numpy.lib.format writes it.
func npy(major byte, header string, data []byte) []byte {
	pre := 10
	if major > 1 {
		pre = 12
	}
	for (pre+len(header)+1)%64 != 0 {
		header += " "
	}
	header += "\n"
	b := append([]byte("\x93NUMPY"), major, 0)
	if major == 1 {
		b = append(b, byte(len(header)), byte(len(header)>>8))
	} else {
		b = append(b, byte(len(header)), byte(len(header)>>8), byte(len(header)>>16), byte(len(header)>>24))
	}
	return append(append(b, header...), data...)
}

func TestReadHeader(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   []byte
		object bool
		size   int64
		count  int64
	}{
		{"float64 v1", npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", make([]byte, 48)), false, 8, 6},
		{"scalar", npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (), }", make([]byte, 4)), false, 4, 1},
		{"unicode v2", npy(2, "{'descr': '<U5', 'fortran_order': True, 'shape': (3,), }", make([]byte, 60)), false, 20, 3},
		{"object", npy(1, "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", nil), true, 0, 1},
		{"structured with an object field", npy(3, "{'descr': [('a', '<f8'), ('b', '|O'), ('c', [('d', '<i2', (2,))])], 'fortran_order': False, 'shape': (4,), }", nil), true, 0, 4},
		{"structured plain", npy(1, "{'descr': [('x', '<f4'), ('y', '<f4', (2, 2))], 'fortran_order': False, 'shape': (1,), }", make([]byte, 20)), false, 20, 1},
		{"python 2 long", npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2L,), }", make([]byte, 16)), false, 8, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := numpy.ReadHeader(bytes.NewReader(tc.file), int64(len(tc.file)))
			if err != nil {
				t.Fatal(err)
			}
			if h.HasObject != tc.object || h.ItemSize != tc.size || h.Count != tc.count {
				t.Errorf("header %+v", h)
			}
		})
	}
	for _, bad := range [][]byte{
		[]byte("\x93NUMPY\x09\x00\x10\x00{}"),
		npy(1, "{'descr': '<f8', 'shape': (2,", nil),
		npy(1, "{'descr': __import__('os'), 'shape': (), }", nil),
		[]byte("\x93NUMPY\x02\x00\xff\xff\xff\x7f"),
		npy(1, strings.Repeat("(", 100)+")", nil),
	} {
		if _, err := numpy.ReadHeader(bytes.NewReader(bad), int64(len(bad))); err == nil {
			t.Errorf("header %q accepted", bad[:min(len(bad), 40)])
		}
	}
}

func analyze(t *testing.T, file []byte) (analyzer.Output, error) {
	var out analyzer.Output
	err := numpy.Analyzer{}.Analyze(context.Background(), analyzer.Input{Name: "a.npy", R: bytes.NewReader(file), Size: int64(len(file))}, analyzer.DefaultLimits(), &out)
	return out, err
}

func TestObjectArrayPickleIsAudited(t *testing.T) {
	evil := pt.New().Proto(2).Call("posix", "system", "id").Stop().Bytes()
	out, err := analyze(t, npy(1, "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", evil))
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, f := range out.Findings {
		found = found || f.RuleID == "PICKLE-DANGEROUS-CALL"
	}
	if !found {
		t.Errorf("findings %+v", out.Findings)
	}
}

func TestPlainArraySizeChecks(t *testing.T) {
	out, err := analyze(t, npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", make([]byte, 16+5)))
	if err != nil || len(out.Findings) != 2 || out.Findings[1].RuleID != "NPY-TRAILING-DATA" {
		t.Errorf("trailing: err %v findings %+v", err, out.Findings)
	}
	if _, err := analyze(t, npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", make([]byte, 8))); err == nil {
		t.Error("truncated array accepted")
	}
}

func FuzzReadHeader(f *testing.F) {
	f.Add(npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", nil))
	f.Add(npy(3, "{'descr': [('a', '<f8'), ('b', '|O')], 'fortran_order': False, 'shape': (4,), }", nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		numpy.ReadHeader(bytes.NewReader(data), int64(len(data)))
	})
}

func TestOversizedHeaderIsReported(t *testing.T) {
	long := "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': '" + strings.Repeat("a", 12000) + "', }"
	has := func(file []byte) bool {
		out, err := analyze(t, file)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range out.Findings {
			if f.RuleID == "NPY-HEADER" {
				return true
			}
		}
		return false
	}
	if !has(npy(2, long, make([]byte, 8))) {
		t.Error("no NPY-HEADER for a header NumPy refuses by default")
	}
	if has(npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", make([]byte, 8))) {
		t.Error("NPY-HEADER on a normal header")
	}
}
