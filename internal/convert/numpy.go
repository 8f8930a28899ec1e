package convert

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/modelgate/modelgate/internal/formats/numpy"
	"github.com/modelgate/modelgate/internal/formats/zipfile"
)

// openNpy reads an .npy header and returns the array as a tensor whose
// storage is the data after the header. Object arrays (a pickle) and other
// non-numeric dtypes are refused.
func openNpy(r io.ReaderAt, size int64, name, member string) (*Tensor, error) {
	h, err := numpy.ReadHeader(r, size)
	if err != nil {
		return nil, refuse(member, 0, "%v", err)
	}
	if h.HasObject {
		return nil, refuse(member, h.DataOffset, "array of Python objects (dtype %s): its data is a pickle", h.Descr)
	}
	text, err := npyHeaderText(r, h)
	if err != nil {
		return nil, refuse(member, 8, "%v", err)
	}
	hdr, err := parseNpyHeader(text)
	if err != nil {
		return nil, refuse(member, 8, ".npy header: %v", err)
	}
	dt, swap, err := npyDType(hdr.descr)
	if err != nil {
		return nil, refuse(member, 8, "%v", err)
	}
	t := &Tensor{Name: name, DType: dt, Shape: hdr.shape, Strides: make([]int64, len(hdr.shape))}
	// Row-major strides, or column-major for fortran_order arrays.
	s := int64(1)
	for i := range hdr.shape {
		j := len(hdr.shape) - 1 - i
		if hdr.fortran {
			j = i
		}
		t.Strides[j] = s
		if hdr.shape[j] > 0 {
			if s > maxTensorBytes/hdr.shape[j] {
				return nil, refuse(member, 8, "shape %v is too large", hdr.shape)
			}
			s *= hdr.shape[j]
		}
	}
	if len(hdr.shape) > maxDims {
		return nil, refuse(member, 8, "%d dimensions", len(hdr.shape))
	}
	need := s * int64(dt.Size)
	if t.Numel() == 0 {
		need = 0
	}
	if need > size-h.DataOffset {
		return nil, refuse(member, h.DataOffset, ".npy array data truncated: %d bytes, the header needs %d", size-h.DataOffset, need)
	}
	if size-h.DataOffset > need {
		return nil, refuse(member, h.DataOffset+need, "%d bytes after the array data", size-h.DataOffset-need)
	}
	t.st = &storage{key: name, r: io.NewSectionReader(r, h.DataOffset, need), size: need, dtype: dt, swap: swap}
	return t, nil
}

func npyHeaderText(r io.ReaderAt, h numpy.Header) (string, error) {
	start := int64(10)
	if h.Major >= 2 {
		start = 12
	}
	b := make([]byte, h.DataOffset-start)
	// Versions 1 and 2 are latin-1, 3 is UTF-8; everything accepted below
	// is ASCII.
	if err := readFull(r, b, start); err != nil {
		return "", err
	}
	return string(b), nil
}

type npyHeader struct {
	descr   string
	fortran bool
	shape   []int64
}

// parseNpyHeader parses the dict NumPy writes: {'descr': '<f4',
// 'fortran_order': False, 'shape': (2, 3), }, with nothing else in it.
func parseNpyHeader(s string) (npyHeader, error) {
	var h npyHeader
	p := &lit{s: strings.TrimRight(s, " \n\x00")}
	if !p.eat('{') {
		return h, fmt.Errorf("not a dict")
	}
	seen := map[string]bool{}
	for {
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return h, err
		}
		if !p.eat(':') {
			return h, fmt.Errorf("missing ':' after %q", key)
		}
		switch key {
		case "descr":
			if h.descr, err = p.str(); err != nil {
				return h, fmt.Errorf("descr: %v (structured dtypes are not tensors)", err)
			}
		case "fortran_order":
			if h.fortran, err = p.boolean(); err != nil {
				return h, err
			}
		case "shape":
			if h.shape, err = p.tuple(); err != nil {
				return h, err
			}
		default:
			return h, fmt.Errorf("unexpected key %q", key)
		}
		seen[key] = true
		if !p.eat(',') {
			if !p.eat('}') {
				return h, fmt.Errorf("expected ',' or '}' at %d", p.i)
			}
			break
		}
	}
	if p.skip(); p.i != len(p.s) {
		return h, fmt.Errorf("text after the dict")
	}
	if !seen["descr"] || !seen["fortran_order"] || !seen["shape"] {
		return h, fmt.Errorf("needs descr, fortran_order and shape")
	}
	return h, nil
}

type lit struct {
	s string
	i int
}

func (p *lit) skip() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *lit) eat(c byte) bool {
	p.skip()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *lit) str() (string, error) {
	p.skip()
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", fmt.Errorf("expected a string at %d", p.i)
	}
	q := p.s[p.i]
	j := strings.IndexByte(p.s[p.i+1:], q)
	if j < 0 {
		return "", fmt.Errorf("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+j]
	if strings.IndexByte(v, '\\') >= 0 {
		return "", fmt.Errorf("escapes in string %q", v)
	}
	p.i += j + 2
	return v, nil
}

func (p *lit) boolean() (bool, error) {
	p.skip()
	switch {
	case strings.HasPrefix(p.s[p.i:], "True"):
		p.i += 4
		return true, nil
	case strings.HasPrefix(p.s[p.i:], "False"):
		p.i += 5
		return false, nil
	}
	return false, fmt.Errorf("expected True or False at %d", p.i)
}

func (p *lit) tuple() ([]int64, error) {
	if !p.eat('(') {
		return nil, fmt.Errorf("shape is not a tuple")
	}
	var out []int64
	for {
		if p.eat(')') {
			return out, nil
		}
		p.skip()
		j := p.i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		n, err := strconv.ParseInt(p.s[p.i:j], 10, 64)
		if err != nil || n < 0 || n > maxTensorBytes {
			return nil, fmt.Errorf("bad dimension %q", p.s[p.i:j])
		}
		p.i = j
		p.skip()
		// NumPy writes (3L,) on Python 2.
		if p.i < len(p.s) && p.s[p.i] == 'L' {
			p.i++
		}
		out = append(out, n)
		if len(out) > maxDims {
			return nil, fmt.Errorf("more than %d dimensions", maxDims)
		}
		if !p.eat(',') {
			if !p.eat(')') {
				return nil, fmt.Errorf("bad shape tuple")
			}
			return out, nil
		}
	}
}

// openNpz reads every NAME.npy member of an .npz as a tensor NAME.
func openNpz(a *zipfile.Archive, lim Limits) (*Model, error) {
	m := &Model{Format: "npz"}
	for _, e := range a.Entries {
		mem, err := openMember(a, e)
		if err != nil {
			return nil, refuse(e.Name, -1, "%v", err)
		}
		head := make([]byte, 6)
		if _, err := mem.ReadAt(head, 0); err != nil || !bytes.Equal(head, []byte("\x93NUMPY")) {
			return nil, refuse(e.Name, 0, "npz member is not an .npy array")
		}
		t, err := openNpy(mem, mem.size, strings.TrimSuffix(e.Name, ".npy"), e.Name)
		if err != nil {
			return nil, err
		}
		m.Tensors = append(m.Tensors, t)
		if len(m.Tensors) > lim.MaxTensors {
			return nil, refuse("", -1, "more than %d arrays", lim.MaxTensors)
		}
	}
	return finish(m, lim)
}
