package analyzer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// Bounded is the outcome of ReadBounded.
type Bounded struct {
	Nested  Nested // the content read (R is nil when nothing could be kept)
	Written int64  // bytes produced
	// Capped is non-empty when a budget stopped the copy early; it says
	// which. The content holds the prefix that fit.
	Capped string
	// Err is the decompressor's own error (a corrupt stream), if any.
	Err error
}

// ReadBounded copies a decompressing reader into memory, spilling to a
// temporary file past lim.MaxInMemory, and stops at lim.MaxDecompressed
// bytes, at lim.MaxRatio times the compressed size once past
// lim.RatioFloor, or when the file-wide budget is spent. Every analyser
// that decompresses goes through here so that a bomb ends the same way
// everywhere: a prefix, a reason, and no OOM.
func ReadBounded(r io.Reader, compressed int64, lim Limits, fileBudget *Budget) Bounded {
	budget := lim.MaxDecompressed
	if lim.MaxRatio > 0 {
		budget = min(budget, max(max(compressed, 1)*lim.MaxRatio, lim.RatioFloor))
	}
	var res Bounded
	var mem bytes.Buffer
	var file *os.File
	var w io.Writer = &mem
	buf := make([]byte, 256<<10)
	for {
		k, rerr := r.Read(buf)
		if k > 0 {
			if res.Written+int64(k) > budget {
				k = int(budget - res.Written)
				res.Capped = fmt.Sprintf("decompressed size exceeds the budget of %d bytes (compressed %d bytes; possible decompression bomb)", budget, compressed)
			}
			if fileBudget != nil && !fileBudget.TakeBytes(int64(k)) {
				k = 0
				res.Capped = fmt.Sprintf("the file's total decompression budget of %d bytes is spent", lim.MaxTotalDecompressed)
			}
			if file == nil && int64(mem.Len()+k) > lim.MaxInMemory {
				f, err := spill(mem.Bytes())
				if err != nil {
					res.Err = err
					break
				}
				mem = bytes.Buffer{}
				file, w = f, f
			}
			if _, err := w.Write(buf[:k]); err != nil {
				res.Err = err
				break
			}
			res.Written += int64(k)
			if res.Capped != "" {
				break
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			res.Err = rerr
			break
		}
	}
	if file != nil {
		name := file.Name()
		res.Nested = Nested{R: file, Size: res.Written, Close: func() error {
			file.Close()
			return os.Remove(name)
		}}
		return res
	}
	res.Nested = Nested{R: bytes.NewReader(mem.Bytes()), Size: res.Written}
	return res
}

func spill(prefix []byte) (*os.File, error) {
	f, err := os.CreateTemp("", "modelgate-*.bin")
	if err != nil {
		return nil, fmt.Errorf("spill to temporary file: %w", err)
	}
	if _, err := f.Write(prefix); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("spill to temporary file: %w", err)
	}
	return f, nil
}

// Finish hands what was read to out as a nested input called name (member
// names the stream in the SCAN-LIMIT finding; what describes it in
// errors), and turns a budget stop or a decoder error into the same
// finding and error wherever they happen: what was read before is
// analysed either way.
func (b Bounded) Finish(out *Output, name, member, what string) error {
	if b.Nested.R != nil && b.Written > 0 {
		b.Nested.Name = name
		out.Nested = append(out.Nested, b.Nested)
	} else if b.Nested.Close != nil {
		b.Nested.Close()
	}
	switch {
	case b.Capped != "":
		out.Add(finding.Finding{RuleID: knowledge.RuleScanLimit, Severity: finding.Medium, Member: member, Offset: finding.NoOffset,
			Message: fmt.Sprintf("%s: %s; only the first %d bytes were analysed", what, b.Capped, b.Written)})
		return fmt.Errorf("%s: %s", what, b.Capped)
	case b.Err != nil:
		return fmt.Errorf("%s is corrupt after %d decompressed bytes (what came before was analysed): %w", what, b.Written, b.Err)
	}
	return nil
}

// ReadExact reads exactly n bytes at off; a short read is an error that
// says where. n must already be bounded by the caller.
func ReadExact(r io.ReaderAt, off, n int64) ([]byte, error) {
	b := make([]byte, n)
	k, err := r.ReadAt(b, off)
	if int64(k) < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read of %d bytes at %d: %w", n, off, err)
	}
	return b, nil
}
