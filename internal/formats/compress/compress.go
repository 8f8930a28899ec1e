// Package compress unwraps single compressed streams (gzip, zlib, bzip2, xz,
// lzma-alone, zstd) recognised by their magic bytes, within the decompression
// budget, and hands the content back to the engine as a nested input.
package compress

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// Kind is one compression format.
type Kind string

// Supported kinds.
const (
	Gzip  Kind = "gzip"
	Zlib  Kind = "zlib"
	Bzip2 Kind = "bzip2"
	XZ    Kind = "xz"
	LZMA  Kind = "lzma"
	Zstd  Kind = "zstd"
)

// Sniff returns the compression format of head, or "".
func Sniff(head []byte) Kind {
	switch {
	case len(head) >= 3 && head[0] == 0x1f && head[1] == 0x8b && head[2] == 8:
		return Gzip
	case len(head) >= 6 && bytes.Equal(head[:6], []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return XZ
	case len(head) >= 4 && bytes.Equal(head[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}):
		// Only a zstd frame, not a skippable frame (0x184D2A5?): those
		// carry no compressed data of their own. 0xb5 is no pickle opcode,
		// so a MARK-led pickle cannot look like this.
		return Zstd
	case len(head) >= 10 && head[0] == 'B' && head[1] == 'Z' && head[2] == 'h' && head[3] >= '1' && head[3] <= '9' &&
		bytes.Equal(head[4:10], []byte{0x31, 0x41, 0x59, 0x26, 0x53, 0x59}):
		return Bzip2
	case len(head) >= 2 && head[0] == 0x78 && (head[1] == 0x01 || head[1] == 0x5e || head[1] == 0x9c || head[1] == 0xda):
		// Only the 32 KiB window (0x78) that zlib writes: weaker checks match
		// protocol-0 pickles ("(S'..." is a valid zlib header by checksum).
		return Zlib
	case len(head) >= 13 && isLZMAAlone(head):
		return LZMA
	}
	return ""
}

// isLZMAAlone checks the 13-byte header of the legacy .lzma format written
// by Python's lzma.FORMAT_ALONE: a properties byte, a dictionary size and an
// uncompressed size (or -1 for unknown).
//
// The properties byte of nearly every encoder is 0x5d, which is also the
// EMPTY_LIST pickle opcode, so the dictionary size must also be one that
// encoders write (2^n or 3*2^(n-1)).
func isLZMAAlone(h []byte) bool {
	if h[0] != 0x5d {
		return false
	}
	dict := binary.LittleEndian.Uint32(h[1:5])
	if dict < 1<<12 || dict > 1<<30 || !(dict&(dict-1) == 0 || (dict/3)&(dict/3-1) == 0 && dict%3 == 0) {
		return false
	}
	size := binary.LittleEndian.Uint64(h[5:13])
	return size == ^uint64(0) || size < 1<<48
}

// Analyzer unwraps compressed streams.
type Analyzer struct{}

// Format implements analyzer.Analyzer.
func (Analyzer) Format() string { return "compressed" }

// Match implements analyzer.Analyzer.
func (Analyzer) Match(_ string, head []byte) bool { return Sniff(head) != "" }

// Analyze decompresses the stream and returns it as one nested input.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input, lim analyzer.Limits, out *analyzer.Output) error {
	head := make([]byte, 16)
	n, _ := in.R.ReadAt(head, 0)
	kind := Sniff(head[:n])
	out.Format = string(kind)
	src := io.NewSectionReader(in.R, 0, in.Size)
	r, name, closeDecoder, err := open(kind, src, lim)
	if err != nil {
		return fmt.Errorf("%s: %w", kind, err)
	}
	defer closeDecoder()
	if name == "" {
		name = innerName(in.Name, kind)
	}
	bnd := analyzer.ReadBounded(r, in.Size, lim, in.Budget)
	out.Add(finding.Finding{RuleID: knowledge.RuleCompressed, Severity: finding.Info, Offset: finding.NoOffset,
		Message: fmt.Sprintf("%s stream, %d bytes decompressed to %d", kind, in.Size, bnd.Written)})
	return bnd.Finish(out, name, "", string(kind)+" stream")
}

// open returns the decompressing reader for kind, the member name stored in
// the stream (gzip only), and a function releasing the decoder.
func open(kind Kind, src io.Reader, lim analyzer.Limits) (io.Reader, string, func(), error) {
	nop := func() {}
	switch kind {
	case Gzip:
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, "", nop, err
		}
		if zr.Name == "" {
			return zr, "", nop, nil
		}
		return zr, path.Base(strings.ReplaceAll(zr.Name, "\\", "/")), nop, nil
	case Zlib:
		zr, err := zlib.NewReader(src)
		return zr, "", nop, err
	case Bzip2:
		return bzip2.NewReader(src), "", nop, nil
	case XZ:
		zr, err := xz.NewReader(src)
		return zr, "", nop, err
	case LZMA:
		// The decoder allocates the dictionary the 13-byte header asks
		// for (up to 1 GiB passes the sniff): cap it like every other
		// decoder's memory.
		br := bufio.NewReader(src)
		if hdr, err := br.Peek(5); err == nil {
			if dict := int64(binary.LittleEndian.Uint32(hdr[1:5])); dict > max(lim.MaxInMemory, 64<<20) {
				return nil, "", nop, fmt.Errorf("lzma dictionary of %d bytes is over the memory budget", dict)
			}
		}
		zr, err := lzma.NewReader(br)
		return zr, "", nop, err
	case Zstd:
		zr, err := NewZstdReader(src, lim)
		if err != nil {
			return nil, "", nop, err
		}
		return zr, "", zr.Close, nil
	}
	return nil, "", nop, fmt.Errorf("unknown compression %q", kind)
}

// minZstdWindow is the window every zstd decoder must support (RFC 8878
// recommends 8 MiB); a smaller cap would refuse ordinary files.
const minZstdWindow = 8 << 20

// NewZstdReader returns a zstd decoder whose memory is bounded: the frame
// window (the history the decoder must keep) is capped at lim.MaxInMemory
// (at least 8 MiB), and decoding runs on the calling goroutine only, so a
// frame header cannot make it allocate gigabytes or start workers. Close
// it when done.
func NewZstdReader(src io.Reader, lim analyzer.Limits) (*zstd.Decoder, error) {
	window := uint64(max(lim.MaxInMemory, minZstdWindow))
	return zstd.NewReader(src,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(window),
		zstd.WithDecoderMaxMemory(window))
}

// innerName derives the decompressed member's name from the outer name.
func innerName(outer string, kind Kind) string {
	base := path.Base(strings.ReplaceAll(outer, "\\", "/"))
	for _, ext := range []string{".gz", ".gzip", ".z", ".zlib", ".bz2", ".xz", ".lzma", ".zst", ".zstd"} {
		if strings.HasSuffix(strings.ToLower(base), ext) {
			return base[:len(base)-len(ext)]
		}
	}
	if base == "" || base == "." || base == "/" {
		return "<" + string(kind) + " content>"
	}
	return base + ":" + string(kind)
}
