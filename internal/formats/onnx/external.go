package onnx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ExternalTensor is one tensor of a model whose bytes live in another file
// (TensorProto.external_data), with the entries a loader uses: the last
// "location", "offset" and "length" of the tensor, as onnx's
// ExternalDataInfo and onnxruntime read them.
type ExternalTensor struct {
	Name     string // tensor name, at most 1 KiB kept
	Location string // the "location" entry as written, at most 64 KiB kept
	// At is the offset of the location value in the model file.
	At int64
	// Offset is where the tensor's bytes start in the external file (0
	// when the entry is absent or empty). Length is how many bytes it
	// takes; -1 when absent or empty: loaders then read to the end of the
	// file.
	Offset, Length int64
	// Bad says why an offset or length entry cannot be used ("" when both
	// are fine): onnx.load raises on it, onnxruntime refuses the model.
	Bad string
	// External says data_location is EXTERNAL. Loaders ignore external_data
	// entries otherwise (onnx's uses_external_data, onnxruntime's
	// utils::HasExternalData), so such a tensor references no file.
	External bool
	// Truncated says the location was longer than what is kept: it names
	// no file that can be opened.
	Truncated bool
}

// maxExternalTensors caps the tensors ExternalTensors returns. The largest
// published models have a few thousand.
const maxExternalTensors = 1 << 20

// ExternalTensors walks a model the way Analyze does (bounded, tensor
// payloads skipped by offset) and returns every tensor that names external
// data, in file order. On a walk that stops early (a malformed model, a
// budget) it returns what was found with the error; a model that does not
// parse to its end is one no loader accepts.
func ExternalTensors(ctx context.Context, r io.ReaderAt, size int64) ([]ExternalTensor, error) {
	w := &walker{ctx: ctx, src: newSource(r, size)}
	m := newModel(w)
	m.collect = true
	if err := m.walkModel(0, size); err != nil {
		if errors.Is(err, errLimit) {
			return m.tensors, fmt.Errorf("ONNX model not read to the end: %w", err)
		}
		return m.tensors, fmt.Errorf("malformed ONNX protobuf: %w", err)
	}
	return m.tensors, nil
}

// extEntry is one external_data value as read.
type extEntry struct {
	value     string
	truncated bool
	set       bool
}

// collectTensor records one external tensor for ExternalTensors.
func (m *model) collectTensor(name, location string, truncated bool, at int64, external bool, offset, length extEntry) error {
	if len(m.tensors) >= maxExternalTensors {
		return fmt.Errorf("more than %d tensors with external data: %w", maxExternalTensors, errLimit)
	}
	t := ExternalTensor{Name: name, Location: location, At: at, Length: -1, External: external, Truncated: truncated}
	var bad []string
	if v, ok, why := entryInt(offset); why != "" {
		bad = append(bad, "offset "+why)
	} else if ok {
		t.Offset = v
	}
	if v, ok, why := entryInt(length); why != "" {
		bad = append(bad, "length "+why)
	} else if ok {
		t.Length = v
	}
	t.Bad = strings.Join(bad, ", ")
	m.tensors = append(m.tensors, t)
	return m.keep(name, location)
}

// entryInt reads an offset or length entry. onnx converts a non-empty
// value with int() and raises on anything else; onnxruntime parses it as an
// unsigned integer. ok is false for an absent or empty entry.
func entryInt(e extEntry) (v int64, ok bool, why string) {
	if !e.set || e.value == "" {
		return 0, false, ""
	}
	if e.truncated {
		return 0, false, "is longer than any number"
	}
	v, err := strconv.ParseInt(strings.TrimSpace(e.value), 10, 64)
	switch {
	case err != nil:
		return 0, false, fmt.Sprintf("%q is not a byte count", clip(e.value))
	case v < 0:
		return 0, false, fmt.Sprintf("%d is negative", v)
	}
	return v, true, ""
}
