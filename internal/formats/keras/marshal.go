package keras

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A Lambda layer's function is saved by Keras' func_dump as
// base64(marshal.dumps(fn.__code__)). This file reads just enough of
// CPython's marshal format to list what the code refers to (co_names, the
// string constants, nested functions) as evidence. It never builds or runs
// anything, and every count and length is checked against the bytes left.

// codeInfo is what a marshalled code object refers to.
type codeInfo struct {
	Layout  string   // the CPython versions whose code object layout matched
	Names   []string // co_names of every code object, in order, without repeats
	Strings []string // string constants of every code object
	Funcs   []string // co_name of every code object ("<lambda>", nested defs)
	Files   []string // co_filename
}

// Marshal type codes (CPython Python/marshal.c).
const (
	flagRef = 0x80

	mNull        = '0'
	mNone        = 'N'
	mFalse       = 'F'
	mTrue        = 'T'
	mStopIter    = 'S'
	mEllipsis    = '.'
	mInt         = 'i'
	mInt64       = 'I' // Python 2 on 64-bit, marshal version 0-1
	mFloat       = 'f'
	mBinFloat    = 'g'
	mComplex     = 'x'
	mBinComplex  = 'y'
	mLong        = 'l'
	mString      = 's'
	mInterned    = 't'
	mStringRef   = 'R' // Python 2: index into the interned strings
	mRef         = 'r'
	mTuple       = '('
	mSmallTuple  = ')'
	mList        = '['
	mDict        = '{'
	mCode        = 'c'
	mUnicode     = 'u'
	mSet         = '<'
	mFrozenSet   = '>'
	mASCII       = 'a'
	mASCIIIntern = 'A'
	mShortASCII  = 'z'
	mShortIntern = 'Z'
	mSlice       = ':' // marshal version 5 (Python 3.14)
)

// Bounds: CPython refuses nesting deeper than 2000 (MAX_MARSHAL_STACK_DEPTH);
// the object count keeps hostile input from costing more than its size.
const (
	maxMarshalDepth   = 2000
	maxMarshalObjects = 1 << 20
	maxEvidenceItems  = 256
)

// codeLayout is the shape of a code object in one family of CPython versions.
type codeLayout struct {
	name string
	ints int // int32 fields before co_code
	// objects before co_firstlineno, and after it
	before, after int
	// the index (among the objects before co_firstlineno) of co_names, of
	// co_consts, of co_filename and of co_name
	names, consts, filename, fname int
	// kindsBytes marks 3.11+: localspluskinds (object 4) is bytes, where
	// 3.0-3.7 has the freevars tuple at the same place.
	kindsBytes bool
}

var layouts = []codeLayout{
	// argcount, posonlyargcount, kwonlyargcount, stacksize, flags; code,
	// consts, names, localsplusnames, localspluskinds, filename, name,
	// qualname; firstlineno; linetable, exceptiontable.
	{name: "CPython 3.11+", ints: 5, before: 8, after: 2, names: 2, consts: 1, filename: 5, fname: 6, kindsBytes: true},
	// argcount, posonlyargcount, kwonlyargcount, nlocals, stacksize, flags;
	// code, consts, names, varnames, freevars, cellvars, filename, name;
	// firstlineno; lnotab.
	{name: "CPython 3.8-3.10", ints: 6, before: 8, after: 1, names: 2, consts: 1, filename: 6, fname: 7},
	// argcount, kwonlyargcount, nlocals, stacksize, flags; then as 3.8.
	{name: "CPython 3.0-3.7", ints: 5, before: 8, after: 1, names: 2, consts: 1, filename: 6, fname: 7},
	// argcount, nlocals, stacksize, flags; then as 3.8.
	{name: "CPython 2", ints: 4, before: 8, after: 1, names: 2, consts: 1, filename: 6, fname: 7},
}

// parseMarshalCode decodes a marshalled code object. The CPython version is
// not recorded in the data, so each known code layout is tried; the one that
// reads the whole input exactly wins.
func parseMarshalCode(data []byte) (*codeInfo, error) {
	if len(data) == 0 || data[0]&^flagRef != mCode {
		return nil, errors.New("not a marshalled code object")
	}
	var firstErr error
	for _, l := range layouts {
		m := &marshalReader{data: data, layout: l}
		info, err := m.top()
		if err == nil {
			info.Layout = l.name
			return info, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// mval is a decoded marshal value: string, *mcode, []mval, or nil for
// everything whose value does not matter here.
type mval any

type mcode struct {
	names, consts  []mval
	filename, name string
}

type marshalReader struct {
	data     []byte
	pos      int
	layout   codeLayout
	refs     []mval
	interned []mval // Python 2's 't' strings, for 'R'
	objects  int
	depth    int
	codes    []*mcode
}

func (m *marshalReader) top() (*codeInfo, error) {
	if _, err := m.object(); err != nil {
		return nil, err
	}
	if m.pos != len(m.data) {
		return nil, fmt.Errorf("%d bytes after the code object", len(m.data)-m.pos)
	}
	info := &codeInfo{}
	seen := map[string]bool{}
	add := func(list *[]string, s string) {
		if len(*list) < maxEvidenceItems && !seen[s] {
			seen[s] = true
			*list = append(*list, s)
		}
	}
	for _, c := range m.codes {
		for _, n := range c.names {
			if s, ok := n.(string); ok {
				add(&info.Names, s)
			}
		}
		for _, k := range c.consts {
			if s, ok := k.(string); ok {
				add(&info.Strings, s)
			}
		}
		add(&info.Funcs, c.name)
		add(&info.Files, c.filename)
	}
	return info, nil
}

var errShort = errors.New("marshal data truncated")

func (m *marshalReader) byte1() (byte, error) {
	if m.pos >= len(m.data) {
		return 0, errShort
	}
	m.pos++
	return m.data[m.pos-1], nil
}

func (m *marshalReader) int32() (int32, error) {
	if len(m.data)-m.pos < 4 {
		return 0, errShort
	}
	v := int32(binary.LittleEndian.Uint32(m.data[m.pos:]))
	m.pos += 4
	return v, nil
}

// count reads an int32 count of items that take at least unit bytes each,
// and checks it against the bytes left.
func (m *marshalReader) count(unit int) (int, error) {
	n, err := m.int32()
	if err != nil {
		return 0, err
	}
	if n < 0 || int64(n)*int64(unit) > int64(len(m.data)-m.pos) {
		return 0, fmt.Errorf("marshal count %d larger than the data", n)
	}
	return int(n), nil
}

func (m *marshalReader) bytesN(n int) ([]byte, error) {
	if n < 0 || n > len(m.data)-m.pos {
		return nil, errShort
	}
	b := m.data[m.pos : m.pos+n]
	m.pos += n
	return b, nil
}

// reserve registers a container in the reference table before its items
// are read, as CPython does, so that indices match.
func (m *marshalReader) reserve(flag bool) int {
	if !flag {
		return -1
	}
	m.refs = append(m.refs, nil)
	return len(m.refs) - 1
}

func (m *marshalReader) set(idx int, v mval) {
	if idx >= 0 {
		m.refs[idx] = v
	}
}

func (m *marshalReader) ref(flag bool, v mval) mval {
	if flag {
		m.refs = append(m.refs, v)
	}
	return v
}

func (m *marshalReader) object() (mval, error) {
	m.objects++
	if m.objects > maxMarshalObjects {
		return nil, errors.New("too many marshal objects")
	}
	m.depth++
	defer func() { m.depth-- }()
	if m.depth > maxMarshalDepth {
		return nil, errors.New("marshal data nested too deeply")
	}
	code, err := m.byte1()
	if err != nil {
		return nil, err
	}
	flag := code&flagRef != 0
	switch code &^ flagRef {
	case mNull, mNone, mFalse, mTrue, mStopIter, mEllipsis:
		return nil, nil
	case mInt:
		_, err := m.bytesN(4)
		return m.ref(flag, nil), err
	case mInt64, mBinFloat:
		_, err := m.bytesN(8)
		return m.ref(flag, nil), err
	case mBinComplex:
		_, err := m.bytesN(16)
		return m.ref(flag, nil), err
	case mFloat:
		n, err := m.byte1()
		if err == nil {
			_, err = m.bytesN(int(n))
		}
		return m.ref(flag, nil), err
	case mComplex:
		for range 2 {
			n, err := m.byte1()
			if err == nil {
				_, err = m.bytesN(int(n))
			}
			if err != nil {
				return nil, err
			}
		}
		return m.ref(flag, nil), nil
	case mLong:
		n, err := m.int32()
		if err != nil {
			return nil, err
		}
		if n < 0 {
			n = -n
		}
		if n < 0 || int64(n)*2 > int64(len(m.data)-m.pos) {
			return nil, fmt.Errorf("marshal long of %d digits larger than the data", n)
		}
		m.pos += int(n) * 2
		return m.ref(flag, nil), nil
	case mString, mInterned, mUnicode, mASCII, mASCIIIntern:
		n, err := m.count(1)
		if err != nil {
			return nil, err
		}
		b, _ := m.bytesN(n)
		s := string(b)
		if code&^flagRef == mInterned {
			m.interned = append(m.interned, s)
		}
		return m.ref(flag, s), nil
	case mShortASCII, mShortIntern:
		n, err := m.byte1()
		if err != nil {
			return nil, err
		}
		b, err := m.bytesN(int(n))
		if err != nil {
			return nil, err
		}
		return m.ref(flag, string(b)), nil
	case mStringRef:
		i, err := m.int32()
		if err != nil {
			return nil, err
		}
		if i < 0 || int(i) >= len(m.interned) {
			return nil, fmt.Errorf("marshal string reference %d out of range", i)
		}
		return m.interned[i], nil
	case mRef:
		i, err := m.int32()
		if err != nil {
			return nil, err
		}
		if i < 0 || int(i) >= len(m.refs) {
			return nil, fmt.Errorf("marshal reference %d out of range", i)
		}
		return m.refs[i], nil
	case mTuple, mList, mSet, mFrozenSet:
		n, err := m.count(1)
		if err != nil {
			return nil, err
		}
		return m.items(flag, n)
	case mSmallTuple:
		n, err := m.byte1()
		if err != nil {
			return nil, err
		}
		return m.items(flag, int(n))
	case mDict:
		idx := m.reserve(flag)
		for {
			if m.pos < len(m.data) && m.data[m.pos] == mNull {
				m.pos++
				break
			}
			if _, err := m.object(); err != nil {
				return nil, err
			}
			if _, err := m.object(); err != nil {
				return nil, err
			}
		}
		m.set(idx, nil)
		return nil, nil
	case mSlice:
		idx := m.reserve(flag)
		for range 3 {
			if _, err := m.object(); err != nil {
				return nil, err
			}
		}
		m.set(idx, nil)
		return nil, nil
	case mCode:
		return m.code(flag)
	}
	return nil, fmt.Errorf("unknown marshal type %q at byte %d", code&^flagRef, m.pos-1)
}

func (m *marshalReader) items(flag bool, n int) (mval, error) {
	idx := m.reserve(flag)
	if n > len(m.data)-m.pos {
		return nil, fmt.Errorf("marshal sequence of %d items larger than the data", n)
	}
	out := make([]mval, 0, min(n, 64))
	for range n {
		v, err := m.object()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	m.set(idx, out)
	return out, nil
}

func (m *marshalReader) code(flag bool) (mval, error) {
	idx := m.reserve(flag)
	l := m.layout
	if _, err := m.bytesN(4 * l.ints); err != nil {
		return nil, err
	}
	// co_code is always bytes: a cheap check that the layout is right.
	if m.pos >= len(m.data) || m.data[m.pos]&^flagRef != mString {
		return nil, errors.New("code object layout does not match")
	}
	c := &mcode{}
	for i := range l.before {
		v, err := m.object()
		if err != nil {
			return nil, err
		}
		// Object 4 is localspluskinds (bytes) in 3.11+, a tuple before.
		if _, isBytes := v.(string); i == 4 && l.kindsBytes != isBytes {
			return nil, errors.New("code object layout does not match")
		}
		switch i {
		case l.names:
			c.names, _ = v.([]mval)
		case l.consts:
			c.consts, _ = v.([]mval)
		case l.filename:
			c.filename, _ = v.(string)
		case l.fname:
			c.name, _ = v.(string)
		}
	}
	if _, err := m.int32(); err != nil { // co_firstlineno
		return nil, err
	}
	for range l.after {
		if _, err := m.object(); err != nil {
			return nil, err
		}
	}
	m.set(idx, c)
	m.codes = append(m.codes, c) // nested code objects in co_consts were added as they were read
	return c, nil
}
