package safetensors_test

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// This file is the generator of testdata/: every committed fixture is built
// here, and TestFixturesUpToDate fails when a committed file differs from
// what the generator makes. `go test ./internal/formats/safetensors -run
// TestFixturesUpToDate -update` rewrites them.

var update = flag.Bool("update", false, "rewrite testdata/ from the generator")

// spec is one tensor to write.
type spec struct {
	name, dtype string
	shape       []uint64
	data        []byte
}

// alignment orders dtypes as the safetensors crate does before writing
// (descending alignment, then name), so files look like real ones.
var alignment = map[string]int{"BOOL": 0, "F4": 1, "U8": 4, "I8": 5, "F8_E4M3": 7, "I16": 9, "F16": 11, "BF16": 12, "I32": 13, "F32": 15, "F64": 17, "I64": 18}

// write builds a file the way the safetensors crate's serialize does:
// __metadata__ first, tensors in data order, the JSON padded with spaces to
// a multiple of 8.
func write(meta map[string]string, specs ...spec) []byte {
	specs = slices.Clone(specs)
	slices.SortStableFunc(specs, func(a, b spec) int {
		return cmp.Or(cmp.Compare(alignment[b.dtype], alignment[a.dtype]), strings.Compare(a.name, b.name))
	})
	var hdr strings.Builder
	hdr.WriteByte('{')
	if meta != nil {
		hdr.WriteString(`"__metadata__":`)
		hdr.Write(mustJSON(meta))
	}
	var data []byte
	for i, s := range specs {
		if i > 0 || meta != nil {
			hdr.WriteByte(',')
		}
		begin := len(data)
		data = append(data, s.data...)
		fmt.Fprintf(&hdr, `%s:{"dtype":%q,"shape":%s,"data_offsets":[%d,%d]}`, mustJSON(s.name), s.dtype, mustJSON(s.shape), begin, len(data))
	}
	hdr.WriteByte('}')
	h := hdr.String()
	for len(h)%8 != 0 {
		h += " "
	}
	return file(h, data)
}

// file is the raw layout: length, header, data.
func file(header string, data []byte) []byte {
	return lengthThen(uint64(len(header)), header, data)
}

func lengthThen(n uint64, header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, n)
	return append(append(b, header...), data...)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	if s, ok := v.([]uint64); ok && s == nil {
		return []byte("[]")
	}
	return b
}

func f32(vals ...float32) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func zeros(n int) []byte { return make([]byte, n) }

// pad builds a header of exactly n bytes: prefix, spaces, suffix.
func pad(n int, prefix, suffix string) string {
	if len(prefix)+len(suffix) > n {
		panic(fmt.Sprintf("header of %d bytes cannot hold %d", n, len(prefix)+len(suffix)))
	}
	return prefix + strings.Repeat(" ", n-len(prefix)-len(suffix)) + suffix
}

// pickleLength builds a benign file whose 8-byte length starts with the
// given bytes, the rest zero: the header is padded with spaces to that
// length, as any writer padding to alignment could.
func pickleLength(lead ...byte) []byte {
	var le [8]byte
	copy(le[:], lead)
	n := binary.LittleEndian.Uint64(le[:])
	h := pad(int(n), `{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, "")
	return lengthThen(n, h, f32(1, 2))
}

// payload is a protocol-0 pickle calling posix.system('touch marker'): the
// same marker the project's other proven fixtures create.
const payload = "cposix\nsystem\n(S'touch marker'\ntR."

// polyglot builds a file that is a valid safetensors file for the
// safetensors loader and a pickle for pickle.load. The length's two low
// bytes are lead; the other six are zero, so N = lead[0] + 256*lead[1].
//
//   - 'S' '"': STRING reads a line: '"', six NULs, the JSON up to the first
//     newline, which must end with '"'. The JSON puts that newline right
//     after the closing quote of a __metadata__ string (JSON whitespace).
//   - 'V' b: UNICODE reads a line with no quoting rule at all.
//
// After the newline the pickle reads "}}" — two EMPTY_DICTs — and then the
// data section, whose first tensor (U8) holds the payload. pickle.load
// returns at the payload's STOP; the items left on its stack do not matter.
func polyglot(lead [2]byte, payload string) []byte {
	n := int(lead[0]) | int(lead[1])<<8
	p := len(payload)
	prefix := fmt.Sprintf(`{"model.embed":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]},"model.scale":{"dtype":"I8","shape":[8],"data_offsets":[%d,%d]},"__metadata__":{"format":"pt","pad":"`, p, p, p, p+8)
	suffix := "\"\n}}"
	fill := n - len(prefix) - len(suffix)
	if fill < 0 {
		panic("polyglot header too short")
	}
	h := prefix + strings.Repeat("x", fill) + suffix
	return lengthThen(uint64(n), h, append([]byte(payload), zeros(8)...))
}

// fixtures are the committed files, by path under testdata/.
func fixtures() map[string][]byte {
	return map[string][]byte{
		"benign/multi.safetensors": write(map[string]string{"format": "pt"},
			spec{"encoder.weight", "F32", []uint64{2, 3}, f32(1, 2, 3, 4, 5, 6)},
			spec{"encoder.bias", "F32", []uint64{3}, f32(0, 0, 0)},
			spec{"position_ids", "I64", []uint64{1, 4}, zeros(32)},
			spec{"head.weight", "BF16", []uint64{2, 2}, zeros(8)},
			spec{"mask", "BOOL", []uint64{3}, []byte{1, 0, 1}},
			spec{"scalar", "F64", nil, zeros(8)},
		),
		"benign/metadata.safetensors": write(map[string]string{"format": "pt", "model_type": "bert", "note": "line\nbreak and \"quotes\" are fine"},
			spec{"w", "F16", []uint64{4}, zeros(8)},
		),
		"benign/empty.safetensors":   write(nil),
		"benign/subbyte.safetensors": write(nil, spec{"q", "F4", []uint64{2, 2}, zeros(2)}, spec{"s", "F8_E4M3", []uint64{2}, zeros(2)}),
		// Header lengths whose low bytes are pickle opcodes (about one file
		// in a hundred): none of them is a pickle that does anything.
		"benign/length-stack-global.safetensors": pickleLength(0x93, 0x2e), // STACK_GLOBAL STOP (modelaudit PR #1612)
		"benign/length-proto.safetensors":        pickleLength(0x80, 0x02), // PROTO 2, then NUL
		"benign/length-ext1.safetensors":         pickleLength(0x82, 0x02), // EXT1 2 (modelaudit PR #1745)
		"benign/length-none-stop.safetensors":    pickleLength('N', '.'),   // NONE STOP: a complete, harmless pickle

		"malformed/overlap.safetensors": file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, zeros(12)),
		"malformed/bad-offsets.safetensors": file(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[2],"data_offsets":[10,8]}}`,
			zeros(10)),
		"malformed/gap.safetensors": file(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[8,12]}}`,
			append(zeros(12), "hidden"...)),
		"malformed/gap-pickle.safetensors": file(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`,
			append(zeros(4), "\x80\x02cposix\nsystem\nq\x00X\x0c\x00\x00\x00touch markerq\x01\x85q\x02Rq\x03."...)),
		"malformed/oversized-header.safetensors":   lengthThen(200_000_000, `{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, zeros(1)),
		"malformed/truncated-header.safetensors":   lengthThen(4096, `{"a":{"dtype":"F32","shape":[1024],"data_offs`, nil),
		"malformed/truncated-data.safetensors":     file(`{"a":{"dtype":"F32","shape":[1024],"data_offsets":[0,4096]}}`, zeros(100)),
		"malformed/metadata-nonstring.safetensors": file(`{"__metadata__":{"format":"pt","epoch":3,"cfg":{"lr":0.1}},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, zeros(1)),
		"malformed/duplicate-keys.safetensors": file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
			zeros(4)),
		"malformed/bad-entry.safetensors": file(`{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]},"b":{"dtype":"U8","shape":[-1],"data_offsets":[16,17]},"c":{"dtype":"U8","shape":[1.0],"data_offsets":[17,18]},"d":[1,2]}`,
			zeros(18)),
		"malformed/nul-padding.safetensors": file(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`+"\x00\x00\x00\x00\x00\x00\x00\x00", zeros(2)),
		"malformed/not-json.safetensors":    file(`{"a": nope}`, nil),

		"malicious/polyglot-string.safetensors":  polyglot([2]byte{'S', '"'}, payload),
		"malicious/polyglot-unicode.safetensors": polyglot([2]byte{'V', 0x01}, payload),
	}
}

func TestFixturesUpToDate(t *testing.T) {
	for name, want := range fixtures() {
		path := filepath.Join("testdata", filepath.FromSlash(name))
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v (run with -update)", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator (run with -update)", name)
		}
	}
}
