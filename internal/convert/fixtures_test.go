package convert

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

type wantTensor struct {
	DType  string  `json:"dtype"`
	Shape  []int64 `json:"shape"`
	SHA256 string  `json:"sha256"`
}

type wantKey struct {
	Tensors map[string]wantTensor `json:"tensors"`
	Skipped [][2]string           `json:"skipped"`
}

type wantFile struct {
	Kind    string             `json:"kind"`
	Keys    map[string]wantKey `json:"keys"`
	Refusal string             `json:"refusal"`
}

func loadExpected(t *testing.T) map[string]wantFile {
	t.Helper()
	b, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]wantFile
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// gotKey reads a model the way the expectations describe it.
func gotKey(t *testing.T, m *Model) wantKey {
	t.Helper()
	got := wantKey{Tensors: map[string]wantTensor{}, Skipped: [][2]string{}}
	for _, x := range m.Tensors {
		sum, err := TensorSHA256(x)
		if err != nil {
			t.Fatalf("tensor %q: %v", x.Name, err)
		}
		got.Tensors[x.Name] = wantTensor{DType: x.DType.Name, Shape: slices.Clone(x.Shape), SHA256: sum}
		if x.Shape == nil {
			got.Tensors[x.Name] = wantTensor{DType: x.DType.Name, Shape: []int64{}, SHA256: sum}
		}
	}
	for _, s := range m.Skipped {
		got.Skipped = append(got.Skipped, [2]string{s.Name, s.Kind})
	}
	return got
}

// TestFixtures reads every benign fixture (per --key) and requires every
// tensor's dtype, shape and bytes to equal what torch.load / np.load
// returned when the fixture was made; then converts it and requires the
// safetensors output to hold the same bytes.
func TestFixtures(t *testing.T) {
	for file, want := range loadExpected(t) {
		if want.Kind != "benign" {
			continue
		}
		for key, wk := range want.Keys {
			t.Run(file+"/key="+key, func(t *testing.T) {
				path := filepath.Join("testdata", file)
				m, c, err := OpenFile(path, Options{Key: key})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if got := gotKey(t, m); !reflect.DeepEqual(wk, got) {
					t.Errorf("tensors:\n got %+v\nwant %+v", got, wk)
				}
				out := filepath.Join(t.TempDir(), "out.safetensors")
				s, err := Convert(context.Background(), path, out, ConvertOptions{Options: Options{Key: key}})
				if err != nil {
					t.Fatal(err)
				}
				if s.Tensors != len(wk.Tensors) {
					t.Errorf("summary: %d tensors, want %d", s.Tensors, len(wk.Tensors))
				}
				back, c2, err := OpenFile(out, Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer c2.Close()
				got := gotKey(t, back)
				wk.Skipped = [][2]string{}
				if !reflect.DeepEqual(wk, got) {
					t.Errorf("converted output:\n got %+v\nwant %+v", got, wk)
				}
				if back.Metadata["format"] != "pt" || back.Metadata["source_format"] != m.Format || len(back.Metadata["source_sha256"]) != 64 {
					t.Errorf("metadata %v", back.Metadata)
				}
				d, err := Verify(context.Background(), path, out, Options{Key: key})
				if err != nil {
					t.Fatal(err)
				}
				if !d.Identical() || d.Equal != len(wk.Tensors) {
					t.Errorf("verify source vs output: %+v", d)
				}
			})
		}
	}
}

// TestMaliciousRefused: every malicious fixture (each proven to run its
// payload under torch.load) is refused with a reason naming the global.
func TestMaliciousRefused(t *testing.T) {
	for file, want := range loadExpected(t) {
		if want.Kind != "malicious" {
			continue
		}
		t.Run(file, func(t *testing.T) {
			path := filepath.Join("testdata", file)
			_, _, err := OpenFile(path, Options{})
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("OpenFile: %v, want a refusal", err)
			}
			if !strings.Contains(re.Error(), want.Refusal) || re.Offset < 0 {
				t.Errorf("refusal %q does not name %q with an offset", re.Error(), want.Refusal)
			}
			out := filepath.Join(t.TempDir(), "out.safetensors")
			if _, err := Convert(context.Background(), path, out, ConvertOptions{}); !errors.As(err, &re) {
				t.Errorf("Convert: %v, want a refusal", err)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("Convert left an output file")
			}
			if _, err := Verify(context.Background(), path, path, Options{}); !errors.As(err, &re) {
				t.Errorf("Verify: %v, want a refusal", err)
			}
		})
	}
}
