package pickle

import "unsafe"

// arena turns short byte slices into strings without one allocation per
// string. Opcode-dense pickles push millions of short strings (dict keys,
// names); copying each into a shared block and viewing it as a string makes
// that one allocation per 64 KiB instead. The bytes of a block are written
// once, before the string that views them exists, and never again, which is
// what unsafe.String requires.
type arena struct {
	block []byte
}

const (
	arenaBlock    = 64 << 10
	arenaMaxSmall = 64 // longer strings are allocated on their own
)

func (a *arena) string(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > arenaMaxSmall {
		return string(b)
	}
	if cap(a.block)-len(a.block) < len(b) {
		a.block = make([]byte, 0, arenaBlock)
	}
	off := len(a.block)
	a.block = append(a.block, b...)
	return unsafe.String(&a.block[off], len(b))
}
