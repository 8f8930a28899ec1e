package convert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Side describes one of the two files Verify compares.
type Side struct {
	Path    string    `json:"path"`
	Format  string    `json:"format"`
	Tensors int       `json:"tensors"`
	Skipped []Skipped `json:"skipped,omitempty"`
}

// Mismatch is one difference between two tensors of the same name.
type Mismatch struct {
	Name  string `json:"name"`
	Field string `json:"field"` // "dtype", "shape" or "data"
	A     string `json:"a"`
	B     string `json:"b"`
}

// Diff is the result of Verify.
type Diff struct {
	A, B     Side
	OnlyInA  []string   `json:"only_in_a,omitempty"`
	OnlyInB  []string   `json:"only_in_b,omitempty"`
	Mismatch []Mismatch `json:"mismatches,omitempty"`
	// Compared is how many tensors were in both files; Equal of them had
	// the same dtype, shape and bytes.
	Compared int `json:"compared"`
	Equal    int `json:"equal"`
}

// Identical reports whether both files hold the same tensors.
func (d *Diff) Identical() bool {
	return len(d.OnlyInA) == 0 && len(d.OnlyInB) == 0 && len(d.Mismatch) == 0
}

// Verify compares two model files tensor by tensor: names, dtypes, shapes
// and the contiguous little-endian bytes (through streaming SHA-256, never
// a whole tensor in memory). Either file may be safetensors, a torch
// checkpoint (zip or legacy) or .npy/.npz; checkpoints are read through the
// same allowlist as Convert, so a malicious one is refused, not compared.
func Verify(ctx context.Context, a, b string, opts Options) (*Diff, error) {
	ma, ca, err := OpenFile(a, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a, err)
	}
	defer ca.Close()
	mb, cb, err := OpenFile(b, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b, err)
	}
	defer cb.Close()
	d := &Diff{A: Side{Path: a, Format: ma.Format, Tensors: len(ma.Tensors), Skipped: ma.Skipped},
		B: Side{Path: b, Format: mb.Format, Tensors: len(mb.Tensors), Skipped: mb.Skipped}}
	byName := map[string]*Tensor{}
	for _, t := range mb.Tensors {
		byName[t.Name] = t
	}
	inA := map[string]bool{}
	ta := slices.Clone(ma.Tensors)
	slices.SortFunc(ta, func(x, y *Tensor) int { return strings.Compare(x.Name, y.Name) })
	for _, x := range ta {
		inA[x.Name] = true
		y := byName[x.Name]
		if y == nil {
			d.OnlyInA = append(d.OnlyInA, x.Name)
			continue
		}
		d.Compared++
		if x.DType != y.DType {
			d.Mismatch = append(d.Mismatch, Mismatch{Name: x.Name, Field: "dtype", A: x.DType.Name, B: y.DType.Name})
			continue
		}
		if !slices.Equal(x.Shape, y.Shape) {
			d.Mismatch = append(d.Mismatch, Mismatch{Name: x.Name, Field: "shape", A: fmt.Sprint(x.Shape), B: fmt.Sprint(y.Shape)})
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ha, err := tensorSHA256(x, opts.limits())
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %w", a, x.Name, err)
		}
		hb, err := tensorSHA256(y, opts.limits())
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %w", b, y.Name, err)
		}
		if ha != hb {
			d.Mismatch = append(d.Mismatch, Mismatch{Name: x.Name, Field: "data", A: "sha256:" + ha, B: "sha256:" + hb})
			continue
		}
		d.Equal++
	}
	for _, y := range mb.Tensors {
		if !inA[y.Name] {
			d.OnlyInB = append(d.OnlyInB, y.Name)
		}
	}
	slices.Sort(d.OnlyInB)
	return d, nil
}

// TensorSHA256 is the SHA-256 of a tensor's contiguous little-endian bytes.
func TensorSHA256(t *Tensor) (string, error) { return tensorSHA256(t, DefaultLimits()) }

func tensorSHA256(t *Tensor, lim Limits) (string, error) {
	h := sha256.New()
	if _, err := t.writeTo(h, lim.ViewCache); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
