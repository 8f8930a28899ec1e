// Package native recognises native executables and shared libraries (ELF,
// PE, Mach-O) wherever they appear: as files of a model repository or as
// members of an archive.
//
// A native binary is never a model. It runs machine code when a program
// loads it — tf.load_op_library and torch.ops.load_library for custom ops,
// ctypes, a Python extension module on sys.path — or when it is executed,
// and nothing in it can be judged the way a pickle or a graph is. So it is
// reported (high) with what its header says it is, instead of as an
// unknown format. Only the fixed headers are read, by hand, with every
// offset checked: debug/elf and friends parse section and symbol tables
// whose sizes come from the file.
package native

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// Analyzer handles ELF, PE and Mach-O files.
type Analyzer struct{}

// Format implements analyzer.Analyzer.
func (Analyzer) Format() string { return "native-code" }

// Match implements analyzer.Analyzer: a complete, plausible header of one
// of the three formats in the first bytes.
func (Analyzer) Match(_ string, head []byte) bool {
	_, ok := describe(head)
	return ok
}

// headerBytes is how much of a file describe needs: a PE header sits at
// e_lfanew, which linkers put within the first few hundred bytes.
const headerBytes = 4096

// Analyze implements analyzer.Analyzer.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input, _ analyzer.Limits, out *analyzer.Output) error {
	head := make([]byte, min(in.Size, headerBytes))
	if n, err := in.R.ReadAt(head, 0); n < len(head) {
		return fmt.Errorf("read header: %w", err)
	}
	what, ok := describe(head)
	if !ok {
		return fmt.Errorf("not a complete native executable header")
	}
	out.Add(finding.Finding{RuleID: knowledge.RuleNativeCode, Severity: finding.High, Offset: 0,
		Message:  fmt.Sprintf("%s: native machine code, never a model; it runs when a program loads it (tf.load_op_library, torch.ops.load_library, ctypes, a Python extension module) or executes it, and its code cannot be analysed", what),
		Evidence: fmt.Sprintf("%q", head[:min(len(head), 16)])})
	out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset,
		Message: fmt.Sprintf("%s, %d bytes (only the header was read)", what, in.Size)})
	return nil
}

// describe names the binary whose header starts head, if it is one.
func describe(head []byte) (string, bool) {
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		return describeELF(head)
	case bytes.HasPrefix(head, []byte("MZ")):
		return describePE(head)
	case len(head) >= 8 && bytes.HasPrefix(head, []byte{0xca, 0xfe, 0xba, 0xbe}):
		// Java class files share the magic; their next four bytes are the
		// minor and major version (major ≥ 45), a fat Mach-O's the number
		// of architectures (a handful).
		if n := binary.BigEndian.Uint32(head[4:8]); n >= 1 && n < 45 {
			return fmt.Sprintf("Mach-O universal binary (%d architectures)", n), true
		}
		return "", false
	default:
		return describeMachO(head)
	}
}

var elfTypes = map[uint16]string{1: "relocatable object", 2: "executable", 3: "shared object", 4: "core dump"}

var elfMachines = map[uint16]string{3: "x86", 8: "MIPS", 20: "PowerPC", 21: "PowerPC 64", 22: "s390", 40: "ARM",
	62: "x86-64", 183: "AArch64", 243: "RISC-V", 258: "LoongArch"}

func describeELF(h []byte) (string, bool) {
	// e_ident: class, data encoding, version 1; then e_type and e_machine.
	if len(h) < 20 || h[4] < 1 || h[4] > 2 || h[5] < 1 || h[5] > 2 || h[6] != 1 {
		return "", false
	}
	var order binary.ByteOrder = binary.LittleEndian
	if h[5] == 2 {
		order = binary.BigEndian
	}
	typ, ok := elfTypes[order.Uint16(h[16:])]
	if !ok {
		return "", false
	}
	bits := map[byte]string{1: "32-bit", 2: "64-bit"}[h[4]]
	machine := elfMachines[order.Uint16(h[18:])]
	if machine == "" {
		machine = fmt.Sprintf("machine %d", order.Uint16(h[18:]))
	}
	if typ == "shared object" && hasInterpreter(h, order) {
		typ = "executable shared object (PIE)"
	}
	return fmt.Sprintf("ELF %s %s %s", bits, machine, typ), true
}

// hasInterpreter reports whether the program headers, when they lie in h,
// name a program interpreter (PT_INTERP): an ET_DYN file with one can be
// run — a position-independent executable such as /bin/true, or a library
// that also runs, such as glibc's libc.so.6 — one without is only loaded.
func hasInterpreter(h []byte, order binary.ByteOrder) bool {
	var off uint64
	var entSize, num int
	if h[4] == 2 { // 64-bit
		if len(h) < 64 {
			return false
		}
		off, entSize, num = order.Uint64(h[32:]), int(order.Uint16(h[54:])), int(order.Uint16(h[56:]))
	} else {
		if len(h) < 52 {
			return false
		}
		off, entSize, num = uint64(order.Uint32(h[28:])), int(order.Uint16(h[42:])), int(order.Uint16(h[44:]))
	}
	if entSize < 4 || off >= uint64(len(h)) {
		return false
	}
	for i := range num {
		at := int(off) + i*entSize
		if at+4 > len(h) {
			return false
		}
		if order.Uint32(h[at:]) == 3 { // PT_INTERP
			return true
		}
	}
	return false
}

var peMachines = map[uint16]string{0x14c: "x86", 0x8664: "x86-64", 0x1c0: "ARM", 0x1c4: "ARM Thumb-2", 0xaa64: "ARM64"}

func describePE(h []byte) (string, bool) {
	if len(h) < 0x40 {
		return "", false
	}
	off := int(binary.LittleEndian.Uint32(h[0x3c:]))
	// The PE signature, the COFF header (20 bytes) and the optional
	// header's magic must all be in the bytes we have.
	if off < 0x40 || off > len(h)-26 || !bytes.Equal(h[off:off+4], []byte("PE\x00\x00")) {
		return "", false
	}
	machine := peMachines[binary.LittleEndian.Uint16(h[off+4:])]
	if machine == "" {
		machine = fmt.Sprintf("machine %#x", binary.LittleEndian.Uint16(h[off+4:]))
	}
	kind := "executable"
	if binary.LittleEndian.Uint16(h[off+22:])&0x2000 != 0 {
		kind = "DLL"
	}
	var bits string
	switch binary.LittleEndian.Uint16(h[off+24:]) {
	case 0x10b:
		bits = "PE32"
	case 0x20b:
		bits = "PE32+"
	default:
		return "", false
	}
	return fmt.Sprintf("Windows %s %s %s", bits, machine, kind), true
}

var machoTypes = map[uint32]string{1: "object", 2: "executable", 6: "dynamic library", 8: "bundle"}

func describeMachO(h []byte) (string, bool) {
	if len(h) < 16 {
		return "", false
	}
	var order binary.ByteOrder
	var bits string
	switch binary.LittleEndian.Uint32(h) {
	case 0xfeedface:
		order, bits = binary.LittleEndian, "32-bit"
	case 0xfeedfacf:
		order, bits = binary.LittleEndian, "64-bit"
	case 0xcefaedfe:
		order, bits = binary.BigEndian, "32-bit"
	case 0xcffaedfe:
		order, bits = binary.BigEndian, "64-bit"
	default:
		return "", false
	}
	typ, ok := machoTypes[order.Uint32(h[12:])]
	if !ok {
		return "", false
	}
	return fmt.Sprintf("Mach-O %s %s", bits, typ), true
}
