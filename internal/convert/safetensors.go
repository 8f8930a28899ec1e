package convert

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// maxHeader is the largest safetensors header read (the safetensors
// library's own limit, 100 MB).
const maxHeader = 100_000_000

func isSafetensors(head []byte) bool {
	if len(head) < 10 {
		return false
	}
	n := binary.LittleEndian.Uint64(head)
	if n < 2 || n > maxHeader {
		return false
	}
	i := 8
	for i < len(head) && (head[i] == ' ' || head[i] == '\n' || head[i] == '\r' || head[i] == '\t') {
		i++
	}
	return i < len(head) && head[i] == '{'
}

type stEntry struct {
	Dtype       string   `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// openSafetensors reads a safetensors header; each tensor's storage is its
// byte range of the data section.
func openSafetensors(r io.ReaderAt, size int64, lim Limits) (*Model, error) {
	var pre [8]byte
	if err := readFull(r, pre[:], 0); err != nil {
		return nil, refuse("", 0, "safetensors: %v", err)
	}
	n := int64(binary.LittleEndian.Uint64(pre[:]))
	if n < 2 || n > maxHeader || n > size-8 {
		return nil, refuse("", 0, "safetensors header length %d does not fit the %d-byte file", n, size)
	}
	raw := make([]byte, n)
	if err := readFull(r, raw, 8); err != nil {
		return nil, refuse("", 8, "safetensors header: %v", err)
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, refuse("", 8, "safetensors header: %v", err)
	}
	if len(entries) > lim.MaxTensors {
		return nil, refuse("", 8, "more than %d tensors", lim.MaxTensors)
	}
	m := &Model{Format: "safetensors"}
	dataStart := 8 + n
	dataLen := size - dataStart
	for name, val := range entries {
		if name == "__metadata__" {
			if err := json.Unmarshal(val, &m.Metadata); err != nil {
				return nil, refuse("", 8, "safetensors __metadata__ is not a map of strings: %v", err)
			}
			continue
		}
		var e stEntry
		if err := json.Unmarshal(val, &e); err != nil {
			return nil, refuse("", 8, "safetensors tensor %q: %v", name, err)
		}
		dt, ok := dtypeByName(e.Dtype)
		if !ok {
			return nil, refuse("", 8, "safetensors tensor %q: dtype %q is not supported", name, e.Dtype)
		}
		t := &Tensor{Name: name, DType: dt, Shape: e.Shape, Strides: make([]int64, len(e.Shape))}
		s := int64(1)
		for i := len(e.Shape) - 1; i >= 0; i-- {
			t.Strides[i] = s
			if d := e.Shape[i]; d > 0 {
				if d > maxTensorBytes/s {
					return nil, refuse("", 8, "safetensors tensor %q: shape %v is too large", name, e.Shape)
				}
				s *= d
			} else if d < 0 {
				return nil, refuse("", 8, "safetensors tensor %q: negative dimension", name)
			}
		}
		b, end := e.DataOffsets[0], e.DataOffsets[1]
		if b < 0 || end < b || end > dataLen {
			return nil, refuse("", 8, "safetensors tensor %q: data_offsets [%d, %d] outside the %d-byte data section", name, b, end, dataLen)
		}
		if want := t.Numel() * int64(dt.Size); end-b != want {
			return nil, refuse("", 8, "safetensors tensor %q: %d bytes for shape %v of %s (want %d)", name, end-b, e.Shape, dt, want)
		}
		t.st = &storage{key: name, r: io.NewSectionReader(r, dataStart+b, end-b), size: end - b, dtype: dt}
		m.Tensors = append(m.Tensors, t)
	}
	slices.SortFunc(m.Tensors, func(a, b *Tensor) int { return cmp.Compare(a.Name, b.Name) })
	return finish(m, lim)
}

// header builds the safetensors header for tensors in write order, padded
// with spaces to a multiple of 8 bytes as the safetensors library does.
func header(ts []*Tensor, meta map[string]string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	enc := func(v any) error {
		var e bytes.Buffer
		je := json.NewEncoder(&e)
		je.SetEscapeHTML(false)
		if err := je.Encode(v); err != nil {
			return err
		}
		b.Write(bytes.TrimRight(e.Bytes(), "\n"))
		return nil
	}
	first := true
	if len(meta) > 0 {
		b.WriteString(`"__metadata__":`)
		if err := enc(meta); err != nil { // map keys are sorted
			return nil, err
		}
		first = false
	}
	off := int64(0)
	for _, t := range ts {
		if t.DType.Complex {
			return nil, fmt.Errorf("tensor %q is complex (%s): safetensors has no complex type torch can load", t.Name, t.DType)
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		if err := enc(t.Name); err != nil {
			return nil, err
		}
		b.WriteString(`:{"dtype":"` + t.DType.Name + `","shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatInt(d, 10))
		}
		end := off + t.ByteSize()
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	if b.Len() > maxHeader {
		return nil, fmt.Errorf("safetensors header of %d bytes is over the %d-byte limit", b.Len(), maxHeader)
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(b.Len()))
	return append(out, b.Bytes()...), nil
}

// WriteSafetensors writes the model's tensors as safetensors: the header
// (offsets computed from shapes), then each tensor's bytes in header order.
// It returns the bytes written.
func WriteSafetensors(w io.Writer, m *Model, meta map[string]string, lim Limits) (int64, error) {
	ts := sortedForWrite(m.Tensors)
	h, err := header(ts, meta)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(w, chunkSize)
	total, err := bw.Write(h)
	written := int64(total)
	if err != nil {
		return written, err
	}
	cache := lim.ViewCache
	if cache <= 0 {
		cache = defaultViewCache
	}
	for _, t := range ts {
		n, err := t.writeTo(bw, cache)
		written += n
		if err != nil {
			return written, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if n != t.ByteSize() {
			return written, fmt.Errorf("tensor %q: wrote %d of %d bytes", t.Name, n, t.ByteSize())
		}
	}
	return written, bw.Flush()
}
