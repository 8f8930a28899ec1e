package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Block cache geometry: reads are rounded to blocks; a miss fetches the run
// of missing blocks in one Range request, growing the run while reads stay
// sequential (a pickle read front to back) so that a long sequential read
// costs a few requests, not one per block.
const (
	blockSize     = 64 << 10
	cacheBlocks   = 128     // 8 MiB per open file
	maxReadahead  = 2 << 20 // the longest run fetched ahead
	directReadMin = 4 << 20 // reads at least this long bypass the cache
)

// File is an io.ReaderAt over a remote file: every ReadAt becomes (cached)
// HTTP Range requests. When the server ignores Range and sends the whole
// file, the answer is spooled to a temporary file once and read from there.
type File struct {
	c      *Client
	ctx    context.Context
	source string // the resolve URL, to re-resolve an expired storage URL
	url    string // where bytes are read
	size   int64

	mu        sync.Mutex
	blocks    map[int64][]byte // block index → bytes (the last may be short)
	order     []int64          // LRU order, oldest first
	lastEnd   int64            // end of the previous fetch, for readahead
	readahead int64
	spool     *os.File
	requests  int
}

// Open returns a reader over a file of the given size whose bytes are at
// source (a resolve URL) — or, when meta names a storage location, there.
// ctx bounds every request the reader makes.
func (c *Client) Open(ctx context.Context, source string, meta *FileMeta) *File {
	u := source
	if meta != nil && meta.Location != "" {
		u = meta.Location
	}
	return &File{c: c, ctx: ctx, source: source, url: u, size: meta.Size, blocks: map[int64][]byte{}, readahead: blockSize}
}

// Size is the file's length.
func (f *File) Size() int64 { return f.size }

// Requests is how many HTTP requests the reader has made.
func (f *File) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// Streamed reports whether the server ignored Range and the file was
// downloaded whole.
func (f *File) Streamed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.spool != nil
}

// Close releases the cache and any spool file.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocks, f.order = nil, nil
	if f.spool != nil {
		name := f.spool.Name()
		f.spool.Close()
		f.spool = nil
		return os.Remove(name)
	}
	return nil
}

// ReadAt implements io.ReaderAt.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("hub: negative offset %d", off)
	}
	if off >= f.size {
		return 0, io.EOF
	}
	want := p
	if rem := f.size - off; int64(len(want)) > rem {
		want = want[:rem]
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blocks == nil {
		return 0, errors.New("hub: read from a closed file")
	}
	var n int
	var err error
	if f.spool != nil {
		n, err = f.spool.ReadAt(want, off)
	} else if len(want) >= directReadMin {
		n, err = f.fetchInto(want, off)
	} else {
		n, err = f.readCached(want, off)
	}
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

func (f *File) readCached(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		idx := pos / blockSize
		b, ok := f.blocks[idx]
		if !ok {
			if err := f.fill(idx, (off+int64(len(p))-1)/blockSize); err != nil {
				return n, err
			}
			if f.spool != nil {
				m, err := f.spool.ReadAt(p[n:], pos)
				return n + m, err
			}
			b = f.blocks[idx]
		}
		in := pos - idx*blockSize
		if in >= int64(len(b)) {
			return n, io.ErrUnexpectedEOF
		}
		n += copy(p[n:], b[in:])
	}
	return n, nil
}

// fill fetches block first (and the missing blocks up to last, plus
// readahead when reads are sequential) in one request.
func (f *File) fill(first, last int64) error {
	for last > first {
		if _, ok := f.blocks[last]; !ok {
			break
		}
		last--
	}
	start := first * blockSize
	if start == f.lastEnd {
		f.readahead = min(f.readahead*2, maxReadahead)
	} else {
		f.readahead = blockSize
	}
	end := max((last+1)*blockSize, start+f.readahead)
	end = min(end, f.size, start+cacheBlocks/2*blockSize)
	buf := make([]byte, end-start)
	n, err := f.fetchInto(buf, start)
	if err != nil {
		return err
	}
	if f.spool != nil {
		return nil
	}
	f.lastEnd = start + int64(n)
	for i := int64(0); i*blockSize < int64(n); i++ {
		idx := first + i
		chunk := buf[i*blockSize : min((i+1)*blockSize, int64(n))]
		if _, ok := f.blocks[idx]; !ok {
			f.order = append(f.order, idx)
		}
		f.blocks[idx] = chunk
	}
	for len(f.order) > cacheBlocks {
		delete(f.blocks, f.order[0])
		f.order = f.order[1:]
	}
	return nil
}

// fetchInto reads len(p) bytes at off with one Range request (retried by
// the client; an expired storage URL is re-resolved once).
func (f *File) fetchInto(p []byte, off int64) (int, error) {
	n, err := f.rangeRequest(p, off)
	var he *Error
	if err != nil && errors.As(err, &he) && (he.Status == http.StatusForbidden || he.Status == http.StatusGone) && f.url != f.source {
		meta, herr := f.c.Head(f.ctx, f.source)
		if herr == nil && meta.Location != "" {
			f.url = meta.Location
			return f.rangeRequest(p, off)
		}
	}
	return n, err
}

func (f *File) rangeRequest(p []byte, off int64) (int, error) {
	end := off + int64(len(p)) - 1
	f.requests++
	resp, err := f.c.do(f.ctx, request{method: http.MethodGet, url: f.url, noAuth: f.url != f.source,
		header: http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", off, end)}}})
	if err != nil {
		var he *Error
		if errors.As(err, &he) && he.Status == http.StatusRequestedRangeNotSatisfiable {
			return 0, io.EOF
		}
		return 0, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, err := contentRangeStart(resp.Header.Get("Content-Range"))
		if err != nil || start != off {
			return 0, fmt.Errorf("hub: %s answered Range %d-%d with Content-Range %q", f.url, off, end, resp.Header.Get("Content-Range"))
		}
		n, err := io.ReadFull(resp.Body, p)
		if err == io.ErrUnexpectedEOF && off+int64(n) == f.size {
			err = nil
		}
		return n, err
	case http.StatusOK:
		// The server ignored Range: take the whole file once.
		if err := f.spoolBody(resp); err != nil {
			return 0, err
		}
		return f.spool.ReadAt(p, off)
	default:
		return 0, fmt.Errorf("hub: %s: unexpected HTTP %d", f.url, resp.StatusCode)
	}
}

// maxSpool bounds the streamed fallback (temporary disk, not memory): a
// larger file from a server that ignores Range is an error, not a download.
const maxSpool = 8 << 30

func (f *File) spoolBody(resp *http.Response) error {
	if f.size > maxSpool {
		return fmt.Errorf("hub: %s ignores Range and is larger than %d bytes", f.url, int64(maxSpool))
	}
	tmp, err := os.CreateTemp("", "modelgate-remote-*")
	if err != nil {
		return fmt.Errorf("hub: spool: %w", err)
	}
	n, err := io.Copy(tmp, io.LimitReader(resp.Body, f.size+1))
	if err == nil && n != f.size {
		err = fmt.Errorf("got %d bytes, expected %d", n, f.size)
	}
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("hub: %s: streamed download: %w", f.url, err)
	}
	f.spool = tmp
	f.blocks, f.order = map[int64][]byte{}, nil
	return nil
}

// contentRangeStart parses "bytes START-END/TOTAL".
func contentRangeStart(v string) (int64, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !ok {
		return 0, fmt.Errorf("bad Content-Range %q", v)
	}
	a, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, fmt.Errorf("bad Content-Range %q", v)
	}
	return strconv.ParseInt(a, 10, 64)
}
