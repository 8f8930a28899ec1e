package convert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// OpenFile opens a model file; close it when done with the model.
func OpenFile(path string, opts Options) (*Model, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s is not a regular file", path)
	}
	m, err := Open(f, st.Size(), opts)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return m, f, nil
}

// ConvertOptions configure Convert.
type ConvertOptions struct {
	Options
	// Force replaces an existing output file.
	Force bool
	// SourceSHA256 is the input's digest if the caller already has it (the
	// scan computes it); otherwise Convert reads the input once to hash it.
	SourceSHA256 string
}

// Summary says what Convert wrote.
type Summary struct {
	Input        string        `json:"input"`
	Output       string        `json:"output"`
	SourceFormat string        `json:"source_format"`
	SourceSHA256 string        `json:"source_sha256"`
	Tensors      int           `json:"tensors"`
	TensorBytes  int64         `json:"tensor_bytes"`
	FileBytes    int64         `json:"file_bytes"`
	Shared       []SharedGroup `json:"shared,omitempty"`
	Skipped      []Skipped     `json:"skipped,omitempty"`
}

// ErrExists is returned when the output exists and Force is not set.
var ErrExists = errors.New("output file exists")

// Convert writes the tensors of the model file in to out as safetensors.
// The output is written to a temporary file in out's directory and renamed
// into place only when complete. Every tensor is checked against its
// storage before the first byte is written.
func Convert(ctx context.Context, in, out string, opts ConvertOptions) (*Summary, error) {
	if !opts.Force {
		if _, err := os.Lstat(out); err == nil {
			return nil, fmt.Errorf("%s: %w (use --force to replace it)", out, ErrExists)
		}
	}
	if same(in, out) {
		return nil, fmt.Errorf("output %s is the input file", out)
	}
	m, closer, err := OpenFile(in, opts.Options)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	for _, t := range m.Tensors {
		if t.DType.Complex {
			return nil, refuse("", -1, "tensor %q is complex (%s): safetensors has no complex dtype that torch loads", t.Name, t.DType)
		}
	}
	sum := opts.SourceSHA256
	if sum == "" {
		if sum, err = fileSHA256(ctx, in); err != nil {
			return nil, err
		}
	}
	meta := map[string]string{"format": "pt", "source_format": m.Format, "source_sha256": sum}
	if len(m.Shared) > 0 {
		// Which outputs were one storage in the source (each is a copy now).
		groups := make([][]string, len(m.Shared))
		for i, g := range m.Shared {
			groups[i] = g.Names
		}
		b, _ := json.Marshal(groups)
		meta["shared_storage"] = string(b)
	}
	s := &Summary{Input: in, Output: out, SourceFormat: m.Format, SourceSHA256: sum, Tensors: len(m.Tensors),
		Shared: m.Shared, Skipped: m.Skipped}
	for _, t := range m.Tensors {
		s.TensorBytes += t.ByteSize()
	}
	dir := filepath.Dir(out)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	n, err := WriteSafetensors(&ctxWriter{ctx: ctx, w: tmp}, m, meta, opts.limits())
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return nil, err
	}
	if opts.Force {
		err = os.Rename(tmp.Name(), out)
	} else {
		// Link fails if out appeared meanwhile: never replace a file
		// without --force.
		err = os.Link(tmp.Name(), out)
		if errors.Is(err, fs.ErrExist) {
			err = fmt.Errorf("%s: %w (use --force to replace it)", out, ErrExists)
		}
	}
	if err != nil {
		return nil, err
	}
	s.FileBytes = n
	return s, nil
}

func same(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// ctxWriter stops a long write when the context is cancelled.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

func fileSHA256(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, chunkSize)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
