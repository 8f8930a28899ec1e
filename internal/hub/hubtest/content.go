package hubtest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// chunkSize is how much of a file is produced and written at a time, so a
// generated file is never held in memory.
const chunkSize = 64 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// serveContent writes a file's bytes (resolve of a non-LFS file, or the CDN):
// 200 with the whole body, or, for a single satisfiable Range, 206 with
// Content-Range; 416 with "Content-Range: bytes */size" when unsatisfiable
// or malformed. A multi-range request is answered 200 with the whole body
// (a server may ignore Range, RFC 9110 §14.2), as is every request when
// IgnoreRange is set. The caller sets ETag and any Hub headers.
func (s *Server) serveContent(w http.ResponseWriter, r *http.Request, f *file) {
	k := knobsOf(r)
	if k.hold != nil && r.Method == http.MethodGet {
		select {
		case <-k.hold:
		case <-r.Context().Done():
			return
		}
	}
	h := w.Header()
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", "application/octet-stream")
	start, n, status := int64(0), f.Size, http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" && !k.ignoreRange {
		a, b, ok, ignore := parseRange(rg, f.Size)
		switch {
		case ignore:
		case !ok:
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", f.Size))
			writeError(w, http.StatusRequestedRangeNotSatisfiable, "", "Requested Range Not Satisfiable")
			return
		default:
			start, n, status = a, b-a+1, http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, f.Size))
		}
	}
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	for n > 0 {
		c := min(n, int64(len(buf)))
		f.readAt(buf[:c], start)
		// Count before writing: a client may see the bytes, and check the
		// counter, before Write returns.
		s.bytes.Add(c)
		wrote, err := w.Write(buf[:c])
		if err != nil {
			s.bytes.Add(int64(wrote) - c)
			return // client went away
		}
		start += c
		n -= c
	}
}

// parseRange parses a single "bytes=a-b", "bytes=a-" or "bytes=-n" range
// against size and returns the inclusive interval [first, last]. ok is false
// when the range is malformed or unsatisfiable; ignore is true for what a
// server may ignore (another unit, several ranges).
func parseRange(h string, size int64) (first, last int64, ok, ignore bool) {
	unit, spec, found := strings.Cut(strings.TrimSpace(h), "=")
	if !found || strings.TrimSpace(unit) != "bytes" {
		return 0, 0, false, true
	}
	if strings.Contains(spec, ",") {
		return 0, 0, false, true
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, false
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == "" {
		n, err := parseDigits(b)
		if err != nil || n == 0 || size == 0 {
			return 0, 0, false, false
		}
		n = min(n, size)
		return size - n, size - 1, true, false
	}
	first, err := parseDigits(a)
	if err != nil || first >= size {
		return 0, 0, false, false
	}
	if b == "" {
		return first, size - 1, true, false
	}
	last, err = parseDigits(b)
	if err != nil || last < first {
		return 0, 0, false, false
	}
	return first, min(last, size-1), true, false
}

// parseDigits accepts only ASCII digits (no sign), as RFC 9110 does.
func parseDigits(s string) (int64, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("not digits: %q", s)
	}
	return strconv.ParseInt(s, 10, 64)
}
