// Package numpy reads NumPy .npy files: the header (bounded, parsed as a
// literal, never evaluated) and, for arrays with Python objects, the pickle
// that follows it. .npz archives are zips of .npy members and reach this
// package through the zip analyser.
package numpy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/picklefile"
	"github.com/modelgate/modelgate/internal/knowledge"
)

var magic = []byte("\x93NUMPY")

const (
	// numpyMaxHeader is NumPy's default max_header_size (1.24+): np.load
	// refuses larger headers unless told otherwise.
	numpyMaxHeader = 10000
	// maxHeader is our own cap: headers are read whole.
	maxHeader = 1 << 20
)

// Header is a parsed .npy header.
type Header struct {
	Major, Minor int
	Descr        string // the descr as written, for messages
	HasObject    bool
	ItemSize     int64 // 0 when unknown (unusual structured dtypes)
	Count        int64 // number of elements
	Fortran      bool
	DataOffset   int64 // where the array data (or the pickle) starts
}

// ReadHeader parses the header of the .npy data in r.
func ReadHeader(r interface {
	ReadAt([]byte, int64) (int, error)
}, size int64) (Header, error) {
	var h Header
	pre := make([]byte, 12)
	if n, _ := r.ReadAt(pre, 0); n < 10 || !bytes.Equal(pre[:6], magic) {
		return h, errors.New("not an .npy file")
	}
	h.Major, h.Minor = int(pre[6]), int(pre[7])
	var hlen int64
	switch h.Major {
	case 1:
		hlen = int64(binary.LittleEndian.Uint16(pre[8:]))
		h.DataOffset = 10 + hlen
	case 2, 3:
		hlen = int64(binary.LittleEndian.Uint32(pre[8:]))
		h.DataOffset = 12 + hlen
	default:
		return h, fmt.Errorf("unsupported .npy format version %d.%d", h.Major, h.Minor)
	}
	if hlen > maxHeader || h.DataOffset > size {
		return h, fmt.Errorf(".npy header of %d bytes does not fit (file %d bytes, cap %d)", hlen, size, maxHeader)
	}
	text := make([]byte, hlen)
	if _, err := r.ReadAt(text, h.DataOffset-hlen); err != nil {
		return h, fmt.Errorf("read .npy header: %w", err)
	}
	lit, err := parseLiteral(string(bytes.TrimRight(text, " \n\x00")))
	if err != nil {
		return h, fmt.Errorf(".npy header: %w", err)
	}
	m, ok := lit.(map[string]pyValue)
	if !ok {
		return h, errors.New(".npy header is not a dict")
	}
	info, err := describeDtype(m["descr"], 0)
	if err != nil {
		return h, fmt.Errorf(".npy header: %w", err)
	}
	h.Descr = fmt.Sprint(m["descr"])
	h.HasObject, h.ItemSize = info.hasObject, info.itemSize
	count, ok := toShape(m["shape"])
	if !ok {
		return h, fmt.Errorf(".npy header: bad shape %v", m["shape"])
	}
	h.Count = count
	h.Fortran, _ = m["fortran_order"].(bool)
	return h, nil
}

// Analyzer handles .npy files.
type Analyzer struct{}

// Format implements analyzer.Analyzer.
func (Analyzer) Format() string { return "npy" }

// Match implements analyzer.Analyzer.
func (Analyzer) Match(_ string, head []byte) bool { return bytes.HasPrefix(head, magic) }

// Analyze reads the header; object arrays have their pickle audited, other
// arrays are checked for size and never read.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input, lim analyzer.Limits, out *analyzer.Output) error {
	h, err := ReadHeader(in.R, in.Size)
	if err != nil {
		return err
	}
	if h.DataOffset-10 > numpyMaxHeader {
		out.Add(finding.Finding{RuleID: knowledge.RuleNpyHeader, Severity: finding.Medium, Offset: 8,
			Message: fmt.Sprintf("header of %d bytes: larger than NumPy's default max_header_size (%d)", h.DataOffset, numpyMaxHeader)})
	}
	if h.HasObject {
		au := picklefile.Run(in.R, h.DataOffset, in.Size, picklefile.Options{Limits: lim.Pickle, Catalogue: lim.Catalogue})
		out.Findings = append(out.Findings, au.Findings...)
		out.Nested = append(out.Nested, au.Nested...)
		out.Imports = append(out.Imports, au.Imports...)
		out.Imports = append(out.Imports, au.Imports...)
		out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset,
			Message: fmt.Sprintf(".npy %d.%d, dtype %s with Python objects: np.load(allow_pickle=True) unpickles the data after the header", h.Major, h.Minor, h.Descr)})
		return au.Result.Err
	}
	out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset,
		Message: fmt.Sprintf(".npy %d.%d, dtype %s, %d elements (data not read)", h.Major, h.Minor, h.Descr, h.Count)})
	if h.ItemSize > 0 && h.Count <= (1<<62)/h.ItemSize {
		want := h.DataOffset + h.Count*h.ItemSize
		switch {
		case in.Size > want:
			out.Add(finding.Finding{RuleID: knowledge.RuleNpyTrailing, Severity: finding.Medium, Offset: want,
				Message: fmt.Sprintf("%d bytes after the array data, never read by np.load", in.Size-want)})
		case in.Size < want:
			return fmt.Errorf(".npy array data truncated: %d bytes, the header needs %d", in.Size-h.DataOffset, want-h.DataOffset)
		}
	}
	return nil
}
