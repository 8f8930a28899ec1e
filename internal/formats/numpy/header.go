package numpy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// pyValue is a parsed Python literal from an .npy header: string, int64,
// bool, nil (None), []pyValue (tuple or list) or map[string]pyValue.
type pyValue any

// maxLiteralDepth bounds nesting in a header literal (structured dtypes nest).
const maxLiteralDepth = 32

// parseLiteral parses the Python literal NumPy writes as an .npy header
// (repr of a dict), without evaluating anything.
func parseLiteral(s string) (pyValue, error) {
	p := &litParser{s: s}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("unexpected %q after the literal", p.rest())
	}
	return v, nil
}

type litParser struct {
	s string
	i int
}

func (p *litParser) rest() string { return p.s[p.i:min(len(p.s), p.i+16)] }

func (p *litParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *litParser) value(depth int) (pyValue, error) {
	if depth > maxLiteralDepth {
		return nil, errors.New("literal nested too deeply")
	}
	p.space()
	if p.i >= len(p.s) {
		return nil, errors.New("literal ends early")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.dict(depth)
	case c == '(' || c == '[':
		return p.seq(depth)
	case c == '\'' || c == '"':
		return p.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.num()
	default:
		for _, w := range []struct {
			word string
			v    pyValue
		}{{"True", true}, {"False", false}, {"None", nil}} {
			if strings.HasPrefix(p.s[p.i:], w.word) {
				p.i += len(w.word)
				return w.v, nil
			}
		}
	}
	return nil, fmt.Errorf("unexpected %q in literal", p.rest())
}

func (p *litParser) dict(depth int) (pyValue, error) {
	p.i++ // {
	m := map[string]pyValue{}
	for {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return m, nil
		}
		k, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		ks, ok := k.(string)
		if !ok {
			return nil, errors.New("dict key is not a string")
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, errors.New("missing ':' in dict")
		}
		p.i++
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		m[ks] = v
		p.space()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
		}
	}
}

func (p *litParser) seq(depth int) (pyValue, error) {
	closer := byte(')')
	if p.s[p.i] == '[' {
		closer = ']'
	}
	p.i++
	var items []pyValue
	for {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == closer {
			p.i++
			if items == nil {
				items = []pyValue{}
			}
			return items, nil
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		items = append(items, v)
		p.space()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
		} else if p.i >= len(p.s) || p.s[p.i] != closer {
			return nil, errors.New("missing ',' in sequence")
		}
	}
}

func (p *litParser) str() (pyValue, error) {
	q := p.s[p.i]
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return b.String(), nil
		case c == '\\' && p.i+1 < len(p.s):
			b.WriteByte(p.s[p.i+1])
			p.i += 2
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return nil, errors.New("unterminated string")
}

func (p *litParser) num() (pyValue, error) {
	j := p.i
	if p.s[j] == '-' {
		j++
	}
	for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
		j++
	}
	if j < len(p.s) && p.s[j] == 'L' { // Python 2 longs
		n, err := strconv.ParseInt(p.s[p.i:j], 10, 64)
		p.i = j + 1
		return n, err
	}
	n, err := strconv.ParseInt(p.s[p.i:j], 10, 64)
	p.i = j
	return n, err
}

// dtypeInfo is what the scanner needs to know about a dtype descr.
type dtypeInfo struct {
	hasObject bool
	itemSize  int64 // 0 when unknown
}

// describeDtype walks a descr: a string like '<f8' or a list of fields
// (name, descr[, shape]).
func describeDtype(descr pyValue, depth int) (dtypeInfo, error) {
	if depth > maxLiteralDepth {
		return dtypeInfo{}, errors.New("dtype nested too deeply")
	}
	switch d := descr.(type) {
	case string:
		return simpleDtype(d), nil
	case []pyValue:
		var info dtypeInfo
		for _, f := range d {
			field, ok := f.([]pyValue)
			if !ok || len(field) < 2 {
				return dtypeInfo{}, fmt.Errorf("bad structured dtype field %v", f)
			}
			fi, err := describeDtype(field[1], depth+1)
			if err != nil {
				return dtypeInfo{}, err
			}
			n := int64(1)
			if len(field) > 2 {
				shape, ok := toShape(field[2])
				if !ok {
					return dtypeInfo{}, fmt.Errorf("bad subarray shape %v", field[2])
				}
				n = shape
			}
			info.hasObject = info.hasObject || fi.hasObject
			if fi.itemSize == 0 || info.itemSize < 0 {
				info.itemSize = -1
			} else {
				info.itemSize += fi.itemSize * n
			}
		}
		if info.itemSize < 0 {
			info.itemSize = 0
		}
		return info, nil
	}
	return dtypeInfo{}, fmt.Errorf("unsupported dtype descr %v", descr)
}

// simpleDtype parses '<f8', '|O', '<U10', '|S5', '|V16', '|b1'.
func simpleDtype(s string) dtypeInfo {
	t := strings.TrimLeft(s, "<>|=!")
	if t == "" {
		return dtypeInfo{}
	}
	kind, size := t[0], t[1:]
	if kind == 'O' {
		return dtypeInfo{hasObject: true}
	}
	n, err := strconv.ParseInt(size, 10, 64)
	if err != nil || n < 0 || n > 1<<32 {
		return dtypeInfo{}
	}
	if kind == 'U' {
		n *= 4
	}
	if kind == 'M' || kind == 'm' { // datetime64[unit]
		n = 8
	}
	return dtypeInfo{itemSize: n}
}

// toShape multiplies a shape tuple out; false if it is not one.
func toShape(v pyValue) (int64, bool) {
	switch s := v.(type) {
	case int64:
		return s, s >= 0
	case []pyValue:
		n := int64(1)
		for _, d := range s {
			k, ok := d.(int64)
			if !ok || k < 0 {
				return 0, false
			}
			if k != 0 && n > (1<<62)/k {
				return 0, false
			}
			n *= k
		}
		return n, true
	}
	return 0, false
}
