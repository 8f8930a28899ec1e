// Package pickletest builds pickle streams opcode by opcode for tests,
// including streams no Python pickler would write (the adversarial ones).
package pickletest

import (
	"encoding/binary"
	"math"
	"strconv"
)

// Builder appends opcodes to a byte slice.
type Builder struct{ b []byte }

// New returns an empty builder.
func New() *Builder { return &Builder{} }

// Bytes returns the stream.
func (p *Builder) Bytes() []byte { return p.b }

// Raw appends bytes as they are.
func (p *Builder) Raw(b ...byte) *Builder { p.b = append(p.b, b...); return p }

// Op appends one opcode byte.
func (p *Builder) Op(op byte) *Builder { return p.Raw(op) }

// Proto appends PROTO n.
func (p *Builder) Proto(n byte) *Builder { return p.Raw(0x80, n) }

// Frame appends FRAME n.
func (p *Builder) Frame(n uint64) *Builder {
	p.b = append(p.b, 0x95)
	p.b = binary.LittleEndian.AppendUint64(p.b, n)
	return p
}

// Global appends GLOBAL module\nname\n.
func (p *Builder) Global(module, name string) *Builder {
	p.b = append(p.b, 'c')
	p.b = append(p.b, module+"\n"+name+"\n"...)
	return p
}

// Inst appends INST module\nname\n.
func (p *Builder) Inst(module, name string) *Builder {
	p.b = append(p.b, 'i')
	p.b = append(p.b, module+"\n"+name+"\n"...)
	return p
}

// Str appends SHORT_BINUNICODE or BINUNICODE.
func (p *Builder) Str(s string) *Builder {
	if len(s) < 256 {
		p.b = append(p.b, 0x8c, byte(len(s)))
	} else {
		p.b = append(p.b, 'X')
		p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(s)))
	}
	p.b = append(p.b, s...)
	return p
}

// String0 appends a protocol-0 STRING 'quoted'.
func (p *Builder) String0(s string) *Builder {
	p.b = append(p.b, 'S')
	p.b = append(p.b, strconv.Quote(s)+"\n"...)
	return p
}

// ShortBytes appends SHORT_BINBYTES.
func (p *Builder) ShortBytes(s string) *Builder {
	p.b = append(p.b, 'C', byte(len(s)))
	p.b = append(p.b, s...)
	return p
}

// Bytes8Header appends BINBYTES8 with a declared length and no payload.
func (p *Builder) Bytes8Header(n uint64) *Builder {
	p.b = append(p.b, 0x8e)
	p.b = binary.LittleEndian.AppendUint64(p.b, n)
	return p
}

// Int appends BININT1/BININT2/BININT as fits.
func (p *Builder) Int(n int32) *Builder {
	switch {
	case n >= 0 && n < 256:
		p.b = append(p.b, 'K', byte(n))
	case n >= 0 && n < 65536:
		p.b = append(p.b, 'M')
		p.b = binary.LittleEndian.AppendUint16(p.b, uint16(n))
	default:
		p.b = append(p.b, 'J')
		p.b = binary.LittleEndian.AppendUint32(p.b, uint32(n))
	}
	return p
}

// Float appends BINFLOAT.
func (p *Builder) Float(f float64) *Builder {
	p.b = append(p.b, 'G')
	p.b = binary.BigEndian.AppendUint64(p.b, math.Float64bits(f))
	return p
}

// Put appends BINPUT i.
func (p *Builder) Put(i byte) *Builder { return p.Raw('q', i) }

// Get appends BINGET i.
func (p *Builder) Get(i byte) *Builder { return p.Raw('h', i) }

// Memoize appends MEMOIZE.
func (p *Builder) Memoize() *Builder { return p.Raw(0x94) }

// Ext1 appends EXT1 code.
func (p *Builder) Ext1(code byte) *Builder { return p.Raw(0x82, code) }

// Mark, Stop, Reduce, Tuple and friends append the opcode of that name.
func (p *Builder) Mark() *Builder        { return p.Raw('(') }
func (p *Builder) Stop() *Builder        { return p.Raw('.') }
func (p *Builder) Reduce() *Builder      { return p.Raw('R') }
func (p *Builder) Tuple() *Builder       { return p.Raw('t') }
func (p *Builder) Tuple1() *Builder      { return p.Raw(0x85) }
func (p *Builder) Tuple2() *Builder      { return p.Raw(0x86) }
func (p *Builder) Tuple3() *Builder      { return p.Raw(0x87) }
func (p *Builder) EmptyTuple() *Builder  { return p.Raw(')') }
func (p *Builder) EmptyDict() *Builder   { return p.Raw('}') }
func (p *Builder) EmptyList() *Builder   { return p.Raw(']') }
func (p *Builder) StackGlobal() *Builder { return p.Raw(0x93) }
func (p *Builder) Pop() *Builder         { return p.Raw('0') }
func (p *Builder) PopMark() *Builder     { return p.Raw('1') }
func (p *Builder) Dup() *Builder         { return p.Raw('2') }
func (p *Builder) None() *Builder        { return p.Raw('N') }
func (p *Builder) Build() *Builder       { return p.Raw('b') }
func (p *Builder) NewObj() *Builder      { return p.Raw(0x81) }
func (p *Builder) Append() *Builder      { return p.Raw('a') }
func (p *Builder) Appends() *Builder     { return p.Raw('e') }
func (p *Builder) SetItem() *Builder     { return p.Raw('s') }
func (p *Builder) Obj() *Builder         { return p.Raw('o') }

// Call appends module.name(*args) for string arguments using GLOBAL,
// MARK ... TUPLE and REDUCE.
func (p *Builder) Call(module, name string, args ...string) *Builder {
	p.Global(module, name).Mark()
	for _, a := range args {
		p.Str(a)
	}
	return p.Tuple().Reduce()
}
