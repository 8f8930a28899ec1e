package pickle

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is the type of a symbolic value.
type Kind uint8

// Value kinds. Containers keep only their first items (Limits.KeepItems) plus
// a count: every call has already been recorded as an event when it happened,
// so a container's contents only matter as evidence.
const (
	KindUnknown   Kind = iota // not known: memo miss, error recovery, unregistered extension
	KindNone                  // None
	KindBool                  // True/False in Int
	KindInt                   // fits int64, in Int
	KindBigInt                // larger integer; Str holds its decimal form (possibly cut)
	KindFloat                 // float64 bits in Int
	KindStr                   // str; Str holds a prefix, Int the full length in bytes
	KindBytes                 // bytes; as KindStr
	KindByteArray             // bytearray; as KindStr
	KindTuple
	KindList
	KindDict
	KindSet
	KindFrozenSet
	KindGlobal     // a global from find_class
	KindCall       // the result of calling a value (REDUCE, INST, OBJ)
	KindNew        // the result of cls.__new__ (NEWOBJ, NEWOBJ_EX)
	KindPersistent // the result of persistent_load(pid)
	KindBuffer     // an out-of-band buffer (NEXT_BUFFER)
)

// Value is one symbolic Python value. It is small and passed by value; the
// heavier parts live in Obj.
type Value struct {
	Kind Kind
	Op   byte  // the opcode that produced the value
	Pos  int64 // offset of that opcode in the stream
	Int  int64 // see Kind
	Str  string
	Obj  *Object
}

// Object holds what a container, global or call result needs.
type Object struct {
	Items []Value // kept items; dicts store key, value, key, value...
	Count int64   // total number of items (dict: pairs)

	Global *Global // KindGlobal

	Func   Value // KindCall/KindNew: the callable or class
	Args   Value // KindCall/KindNew: argument tuple
	Kwargs Value // KindNew from NEWOBJ_EX
	Var    int   // sequence number, for pseudo-Python rendering
	State  Value // last BUILD state applied to this object
	Built  bool  // whether State is set
	Detail string
}

// Global is a global reference as find_class resolves it.
type Global struct {
	Module, Name       string // after fix_imports mapping
	RawModule, RawName string // as written in the stream
	Pos                int64  // offset of the opcode that loaded it
	Op                 byte   // GLOBAL, STACK_GLOBAL, INST, OBJ's class, EXT1/2/4
}

// Path is "module.name".
func (g *Global) Path() string { return g.Module + "." + g.Name }

// Truncated reports whether a string-like value holds only a prefix.
func (v Value) Truncated() bool {
	switch v.Kind {
	case KindStr, KindBytes, KindByteArray:
		return int64(len(v.Str)) < v.Int
	}
	return false
}

// Float returns a KindFloat value.
func (v Value) Float() float64 { return math.Float64frombits(uint64(v.Int)) }

// DataOffset is the offset of the payload of a string-like value (after the
// opcode and its length field), or -1 if it has no raw payload.
func (v Value) DataOffset() int64 {
	switch v.Op {
	case opShortBinstring, opShortBinbytes, opShortBinunicode:
		return v.Pos + 2
	case opBinstring, opBinbytes, opBinunicode:
		return v.Pos + 5
	case opBinbytes8, opBinunicode8, opBytearray8:
		return v.Pos + 9
	}
	return -1
}

// AsString returns the full content of a str value when it is known.
func (v Value) AsString() (string, bool) {
	if v.Kind != KindStr || v.Truncated() {
		return "", false
	}
	return v.Str, true
}

// TupleItems returns the kept items of a tuple and whether all were kept.
func (v Value) TupleItems() ([]Value, bool) {
	if v.Kind != KindTuple || v.Obj == nil {
		return nil, false
	}
	return v.Obj.Items, int64(len(v.Obj.Items)) == v.Obj.Count
}

// Render limits. Evidence is for humans; it must stay short.
const (
	renderMaxDepth = 6
	renderMaxStr   = 160
	renderMaxLen   = 600
)

// Renderer turns values into Python-like source text.
type Renderer struct {
	// VarNames renders call results as _varN instead of inline calls
	// (pseudo-Python listings); inline is used for evidence.
	VarNames bool
}

// Render renders v like Python would print the expression that built it.
func (r Renderer) Render(v Value) string {
	var b strings.Builder
	r.render(&b, v, 0)
	s := b.String()
	if len(s) > renderMaxLen {
		s = cutUTF8(s, renderMaxLen) + "…"
	}
	return s
}

func (r Renderer) render(b *strings.Builder, v Value, depth int) {
	if depth > renderMaxDepth || b.Len() > renderMaxLen {
		b.WriteString("…")
		return
	}
	switch v.Kind {
	case KindNone:
		b.WriteString("None")
	case KindBool:
		if v.Int != 0 {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case KindInt:
		b.WriteString(strconv.FormatInt(v.Int, 10))
	case KindBigInt:
		b.WriteString(v.Str)
	case KindFloat:
		b.WriteString(pyFloat(v.Float()))
	case KindStr:
		b.WriteString(pyStr(v.Str, v.Truncated(), strCap(depth)))
	case KindBytes:
		b.WriteString(pyBytes(v.Str, v.Truncated(), strCap(depth)))
	case KindByteArray:
		b.WriteString("bytearray(" + pyBytes(v.Str, v.Truncated(), strCap(depth)) + ")")
	case KindTuple:
		r.renderSeq(b, v, "(", ")", depth)
	case KindList:
		r.renderSeq(b, v, "[", "]", depth)
	case KindSet:
		if v.Obj == nil || v.Obj.Count == 0 {
			b.WriteString("set()")
			return
		}
		r.renderSeq(b, v, "{", "}", depth)
	case KindFrozenSet:
		b.WriteString("frozenset(")
		r.renderSeq(b, v, "{", "}", depth)
		b.WriteString(")")
	case KindDict:
		r.renderDict(b, v, depth)
	case KindGlobal:
		b.WriteString(v.Obj.Global.Path())
	case KindCall:
		if r.VarNames {
			fmt.Fprintf(b, "_var%d", v.Obj.Var)
			return
		}
		r.renderCall(b, v, depth)
	case KindNew:
		if r.VarNames {
			fmt.Fprintf(b, "_var%d", v.Obj.Var)
			return
		}
		r.renderCall(b, v, depth)
	case KindPersistent:
		b.WriteString("persistent_load(")
		r.render(b, v.Obj.Args, depth+1)
		b.WriteString(")")
	case KindBuffer:
		b.WriteString("<out-of-band buffer>")
	default:
		if v.Obj != nil && v.Obj.Detail != "" {
			b.WriteString("<" + v.Obj.Detail + ">")
		} else {
			b.WriteString("<unknown>")
		}
	}
}

// RenderCall renders a call or instantiation expression without using a
// variable name for the outermost value.
func (r Renderer) RenderCall(v Value) string {
	var b strings.Builder
	r.renderCall(&b, v, 0)
	s := b.String()
	if len(s) > renderMaxLen {
		s = cutUTF8(s, renderMaxLen) + "…"
	}
	return s
}

func (r Renderer) renderCall(b *strings.Builder, v Value, depth int) {
	o := v.Obj
	if o == nil {
		b.WriteString("<unknown>")
		return
	}
	r.render(b, o.Func, depth+1)
	if v.Kind == KindNew {
		b.WriteString(".__new__(")
		if o.Func.Kind == KindGlobal {
			r.render(b, o.Func, depth+1)
		} else {
			b.WriteString("cls")
		}
		if items, _ := o.Args.TupleItems(); len(items) > 0 || o.Args.Kind != KindTuple {
			b.WriteString(", *")
			r.render(b, o.Args, depth+1)
		}
		if o.Kwargs.Kind == KindDict && o.Kwargs.Obj.Count > 0 {
			b.WriteString(", **")
			r.render(b, o.Kwargs, depth+1)
		}
		b.WriteString(")")
		return
	}
	b.WriteString("(")
	if o.Args.Kind == KindTuple {
		r.renderItems(b, o.Args, depth)
	} else {
		b.WriteString("*")
		r.render(b, o.Args, depth+1)
	}
	b.WriteString(")")
}

func (r Renderer) renderSeq(b *strings.Builder, v Value, open, close string, depth int) {
	b.WriteString(open)
	r.renderItems(b, v, depth)
	if v.Kind == KindTuple && v.Obj != nil && v.Obj.Count == 1 {
		b.WriteString(",")
	}
	b.WriteString(close)
}

func (r Renderer) renderItems(b *strings.Builder, v Value, depth int) {
	if v.Obj == nil {
		return
	}
	for i, it := range v.Obj.Items {
		if i > 0 {
			b.WriteString(", ")
		}
		r.render(b, it, depth+1)
	}
	if extra := v.Obj.Count - int64(len(v.Obj.Items)); extra > 0 {
		fmt.Fprintf(b, ", … (%d more)", extra)
	}
}

func (r Renderer) renderDict(b *strings.Builder, v Value, depth int) {
	b.WriteString("{")
	if v.Obj != nil {
		for i := 0; i+1 < len(v.Obj.Items); i += 2 {
			if i > 0 {
				b.WriteString(", ")
			}
			r.render(b, v.Obj.Items[i], depth+1)
			b.WriteString(": ")
			r.render(b, v.Obj.Items[i+1], depth+1)
		}
		if extra := v.Obj.Count - int64(len(v.Obj.Items)/2); extra > 0 {
			fmt.Fprintf(b, ", … (%d more)", extra)
		}
	}
	b.WriteString("}")
}

// pyStr renders a str the way Python's repr does (quotes chosen the same
// way), cut to renderMaxStr characters.
// strCap is how many characters of a string are shown: the arguments of
// the outermost call in full (up to renderMaxStr), nested ones shorter.
func strCap(depth int) int {
	if depth <= 2 {
		return renderMaxStr
	}
	return 48
}

func pyStr(s string, truncated bool, limit int) string {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	n := 0
	for i := 0; i < len(s); {
		if n >= limit {
			truncated = true
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, "\\udc%02x", s[i-1]) // surrogateescape-like
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(quote):
			b.WriteByte('\\')
			b.WriteByte(quote)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r < 0xa0:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(quote)
	if truncated {
		b.WriteString("…")
	}
	return b.String()
}

// pyBytes renders bytes the way Python's repr does.
func pyBytes(s string, truncated bool, limit int) string {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	var b strings.Builder
	b.WriteString("b")
	b.WriteByte(quote)
	for i := 0; i < len(s); i++ {
		if i >= limit {
			truncated = true
			break
		}
		c := s[i]
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case c == quote:
			b.WriteByte('\\')
			b.WriteByte(quote)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte(quote)
	if truncated {
		b.WriteString("…")
	}
	return b.String()
}

// pyFloat renders a float like Python's repr.
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e16 {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	// Go writes 1e+20 and 1e-07; Python writes 1e+20 and 1e-07 too, but
	// Python keeps at least two exponent digits, as does Go. Nothing to do.
	return s
}

func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
