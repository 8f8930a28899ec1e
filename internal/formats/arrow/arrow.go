// Package arrow reads Apache Arrow IPC files and streams: Feather v2 files,
// the .arrow files of the datasets library's cache (a stream), and the
// schema a Parquet file keeps under ARROW:schema (see CheckSchema).
//
// The threat is CVE-2023-47248: pyarrow 0.14.0 to 14.0.0 registers the
// extension type arrow.py_extension_type (pyarrow.PyExtensionType) at
// import, and rebuilds it with pickle.loads of the field's
// ARROW:extension:metadata whenever a schema is read — opening the file is
// enough. Only the schema is read here: the first message of a stream, the
// footer (and the first message) of a file. Record batch and dictionary
// bodies are skipped by their lengths and never read. The flatbuffers are
// walked by a small bounded reader of our own (flatbuf.go).
package arrow

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// fileMagic opens and closes an IPC file; the opening one is padded to 8
// bytes.
const fileMagic = "ARROW1"

// continuation is the marker before each message's length since Arrow
// 0.15; older writers put the int32 length first (the legacy form).
const continuation = 0xFFFFFFFF

// maxMessages caps the messages walked in a stream; a stream of more
// record batches is summarised up to there.
const maxMessages = 1 << 20

// Analyzer handles Arrow IPC files and streams.
type Analyzer struct{}

// Format implements analyzer.Analyzer.
func (Analyzer) Format() string { return "arrow" }

// legacyNames are the names under which a stream in the legacy form (no
// continuation marker) is recognised: its first four bytes are only a
// small integer, too weak a signature without a name.
var legacyNames = map[string]bool{".arrow": true, ".arrows": true, ".feather": true, ".ipc": true, ".stream": true}

// Match implements analyzer.Analyzer: "ARROW1" at byte 0 (a file), or a
// stream whose first message is a Schema: the continuation marker, a
// length, and a flatbuffer Message whose root table, vtable, version and
// header type (Schema) check out in the bytes at hand. A pickle cannot
// start either way (0xff is no opcode; 'A', APPEND, needs a list on the
// stack).
func (Analyzer) Match(name string, head []byte) bool {
	if bytes.HasPrefix(head, []byte(fileMagic)) {
		return true
	}
	legacy := legacyNames[strings.ToLower(path.Ext(name))]
	return plausibleStream(head, legacy)
}

// plausibleStream checks the first message of a stream in head.
func plausibleStream(head []byte, legacyOK bool) bool {
	if len(head) < 8 {
		return false
	}
	n, start := binary.LittleEndian.Uint32(head), 4
	if n == continuation {
		n, start = binary.LittleEndian.Uint32(head[4:]), 8
	} else if !legacyOK {
		return false
	}
	if n < 12 || n > maxMetadata {
		return false
	}
	f := &fb{b: head[start:min(len(head), start+int(n))]}
	t, err := f.root()
	if err != nil {
		return false
	}
	typ, err := f.u8(t, msgHeaderType, 0)
	if err != nil || typ != headerSchema {
		return false
	}
	v, err := f.i16(t, msgVersion, 0)
	if err != nil || v < 0 || v > metadataV5 {
		return false
	}
	// The header is a reference inside the message, which may go on past
	// head: only its target is checked against the declared length.
	p, err := f.field(t, msgHeader, 4)
	return err == nil && p != 0 && int64(p)+int64(f.u32(p)) < int64(n)
}

// facts are what the walk learns for the summary.
type facts struct {
	file               bool
	schema             SchemaInfo
	haveSchema         bool
	batches, dicts     int
	bodyBytes          int64
	legacy, noEOS      bool
	footerMetadataKeys int
}

// Analyze reads the schema(s) and walks the message headers, never the
// bodies. Findings made before an error are kept.
func (Analyzer) Analyze(ctx context.Context, in analyzer.Input, _ analyzer.Limits, out *analyzer.Output) error {
	c := newChecker()
	var st facts
	var err error
	head := make([]byte, min(in.Size, 8))
	if k, _ := in.R.ReadAt(head, 0); k == len(head) && bytes.HasPrefix(head, []byte(fileMagic)) {
		st.file = true
		err = c.file(ctx, in, &st)
	} else {
		err = c.stream(ctx, in, &st)
	}
	if c.err != nil && err == nil {
		err = c.err
	}
	c.report(out)
	var le errLimit
	if errors.As(err, &le) {
		out.Add(finding.Finding{RuleID: knowledge.RuleScanLimit, Severity: finding.Medium, Offset: finding.NoOffset,
			Message: "Arrow schema not fully read: " + le.msg})
	}
	out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset, Message: st.summary(err != nil)})
	if err != nil {
		return fmt.Errorf("arrow: %w", err)
	}
	return nil
}

func (st *facts) summary(partial bool) string {
	kind := "Arrow IPC stream"
	if st.file {
		kind = "Arrow IPC file (Feather v2)"
	}
	if st.legacy {
		kind += " in the legacy (pre-0.15) message form"
	}
	msg := kind + ": "
	if st.haveSchema {
		msg += "schema of " + st.schema.String()
	} else {
		msg += "no schema read"
	}
	msg += fmt.Sprintf("; %s, %s, %d body bytes (not read)", plural(st.batches, "record batch"), plural(st.dicts, "dictionary batch"), st.bodyBytes)
	if st.footerMetadataKeys > 0 {
		msg += fmt.Sprintf("; %d footer metadata keys", st.footerMetadataKeys)
	}
	if st.noEOS {
		msg += "; no end-of-stream marker"
	}
	if partial {
		msg += " (incomplete)"
	}
	return msg
}

// ipcMessage is one encapsulated message's metadata, as read.
type ipcMessage struct {
	message
	f      *fb
	start  int64 // where the message begins (its marker or length)
	end    int64 // the end of its metadata (its body starts here)
	eos    bool  // the end-of-stream marker (length 0)
	legacy bool
}

// readIPC reads the encapsulated message at pos: [0xFFFFFFFF] int32 length,
// flatbuffer Message, body. The body is not read.
func readIPC(in analyzer.Input, pos int64) (ipcMessage, error) {
	m := ipcMessage{start: pos}
	left := in.Size - pos
	if left < 4 {
		return m, fmt.Errorf("offset %d: %d bytes where a message length should be: %w", pos, left, io.ErrUnexpectedEOF)
	}
	pre, err := analyzer.ReadExact(in.R, pos, min(left, 8))
	if err != nil {
		return m, err
	}
	n, hdr := int64(int32(binary.LittleEndian.Uint32(pre))), int64(4)
	if n == -1 {
		if len(pre) < 8 {
			return m, fmt.Errorf("offset %d: continuation marker without a length: %w", pos, io.ErrUnexpectedEOF)
		}
		n, hdr = int64(int32(binary.LittleEndian.Uint32(pre[4:]))), 8
	} else {
		m.legacy = n != 0
	}
	m.end = pos + hdr
	switch {
	case n == 0:
		m.eos = true
		return m, nil
	case n < 0:
		return m, fmt.Errorf("offset %d: message length %d", pos, n)
	case n > left-hdr:
		return m, fmt.Errorf("offset %d: message metadata of %d bytes, %d left in the file: %w", pos, n, left-hdr, io.ErrUnexpectedEOF)
	case n > maxMetadata:
		return m, errLimit{fmt.Sprintf("message metadata of %d bytes at offset %d is over the %d-byte limit: not read", n, pos, maxMetadata)}
	}
	b, err := analyzer.ReadExact(in.R, pos+hdr, n)
	if err != nil {
		return m, err
	}
	m.f = &fb{b: b, base: pos + hdr}
	if m.message, err = readMessage(m.f); err != nil {
		return m, fmt.Errorf("offset %d: Message: %w", pos, err)
	}
	m.end = pos + hdr + n
	return m, nil
}

// stream walks a stream from byte 0: the Schema message, then every
// message's metadata to the end-of-stream marker, bodies skipped.
func (c *checker) stream(ctx context.Context, in analyzer.Input, st *facts) error {
	pos := int64(0)
	for k := 0; ; k++ {
		if pos == in.Size && k > 0 {
			// pyarrow's stream reader accepts a stream that just ends.
			st.noEOS = true
			return nil
		}
		if k >= maxMessages {
			return errLimit{fmt.Sprintf("more than %d messages: the rest not walked", maxMessages)}
		}
		if k%4096 == 4095 && ctx.Err() != nil {
			return ctx.Err()
		}
		m, err := readIPC(in, pos)
		if err != nil {
			var le errLimit
			if !errors.As(err, &le) {
				c.note(pos, "%v", err)
			}
			return err
		}
		st.legacy = st.legacy || m.legacy
		if m.eos {
			if k == 0 {
				c.note(pos, "the stream ends before its schema")
				return errors.New("the stream ends before its schema")
			}
			pos = m.end
			break
		}
		if err := c.body(in, m, st); err != nil {
			return err
		}
		if k == 0 {
			if err := c.first(m, "stream schema", st); err != nil {
				return err
			}
		} else if err := c.later(m, st); err != nil {
			return err
		}
		pos = m.end + m.bodyLength
	}
	if pos < in.Size {
		// The stream reader stops at the marker; what follows is read by
		// nothing Arrow does. It is looked at as a possible payload.
		c.note(pos, "%d bytes after the end-of-stream marker", in.Size-pos)
		c.nested = append(c.nested, analyzer.Nested{Name: fmt.Sprintf("after-end-of-stream@%d", pos),
			R: io.NewSectionReader(in.R, pos, in.Size-pos), Size: in.Size - pos, Optional: true})
	}
	return nil
}

// body checks a message's body length against the file.
func (c *checker) body(in analyzer.Input, m ipcMessage, st *facts) error {
	if m.bodyLength < 0 || m.bodyLength > in.Size-m.end {
		err := fmt.Errorf("offset %d: body of %d bytes, %d left in the file: %w", m.start, m.bodyLength, in.Size-m.end, io.ErrUnexpectedEOF)
		c.note(m.start, "%v", err)
		return err
	}
	st.bodyBytes += m.bodyLength
	return nil
}

// first checks the message that must be the schema.
func (c *checker) first(m ipcMessage, where string, st *facts) error {
	if m.headerType != headerSchema || !m.hasHeader {
		err := fmt.Errorf("offset %d: the first message is of type %d, not a Schema", m.start, m.headerType)
		c.note(m.start, "%v", err)
		return err
	}
	c.version(m, where)
	info, err := c.schema(m.f, m.header, where)
	st.schema, st.haveSchema = info, true
	return err
}

func (c *checker) version(m ipcMessage, where string) {
	if m.version < metadataV4 || m.version > metadataV5 {
		c.note(m.start, "%s: metadata version V%d: pyarrow reads V4 and V5 only", where, m.version+1)
	}
}

// later counts a message after the schema. Only its header type is
// looked at: record batches and dictionaries carry no types. A second
// schema is read as well: pyarrow refuses it, a reader that takes the
// last schema would not.
func (c *checker) later(m ipcMessage, st *facts) error {
	switch m.headerType {
	case headerRecordBatch:
		st.batches++
	case headerDictionaryBatch:
		st.dicts++
	case headerSchema:
		c.note(m.start, "a second Schema message: the stream reader refuses it")
		if m.hasHeader {
			var le errLimit
			if _, err := c.schema(m.f, m.header, "second stream schema"); errors.As(err, &le) {
				return err
			}
		}
	default:
		c.note(m.start, "a message of type %d in a stream of record batches", m.headerType)
	}
	return nil
}

// blockSize is File.fbs's struct Block: offset long, metaDataLength int
// (padded to 8), bodyLength long.
const blockSize = 24

// file reads an IPC file: the footer (its schema is the one pyarrow's file
// reader uses), then the stream's first message at byte 8, which another
// reader could take as the schema. Blocks are checked against the file,
// never read.
func (c *checker) file(ctx context.Context, in analyzer.Input, st *facts) error {
	const trailer = 4 + len(fileMagic)
	if in.Size < 8+int64(trailer) {
		c.note(0, "a file of %d bytes is too short for an Arrow IPC file", in.Size)
		return fmt.Errorf("file of %d bytes: %w", in.Size, io.ErrUnexpectedEOF)
	}
	tail, err := analyzer.ReadExact(in.R, in.Size-int64(trailer), int64(trailer))
	if err != nil {
		return err
	}
	if string(tail[4:]) != fileMagic {
		// pyarrow's open_file refuses it. The stream after the magic is
		// still read, for what a more tolerant reader would see.
		c.note(in.Size-int64(trailer), "no %s at the end: the file is truncated, pyarrow refuses it", fileMagic)
		if m, err := readIPC(in, 8); err == nil && !m.eos {
			_ = c.first(m, "stream schema", st)
		}
		return fmt.Errorf("no %s at the end of the file: truncated", fileMagic)
	}
	n := int64(int32(binary.LittleEndian.Uint32(tail)))
	footerAt := in.Size - int64(trailer) - n
	switch {
	case n <= 0 || footerAt < 8:
		err := fmt.Errorf("footer length %d in a file of %d bytes", n, in.Size)
		c.note(in.Size-int64(trailer), "%v", err)
		return err
	case n > maxMetadata:
		return errLimit{fmt.Sprintf("footer of %d bytes is over the %d-byte limit: not read", n, maxMetadata)}
	}
	b, err := analyzer.ReadExact(in.R, footerAt, n)
	if err != nil {
		return err
	}
	f := &fb{b: b, base: footerAt}
	if err := c.footer(f, footerAt, st); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The schema message at byte 8: pyarrow's file reader ignores it, a
	// stream reader started there does not.
	sub := in
	sub.Size = footerAt // the stream ends where the footer begins
	m, err := readIPC(sub, 8)
	switch {
	case err != nil:
		c.note(8, "the stream inside the file: %v", err)
	case m.eos:
		c.note(8, "the stream inside the file has no schema message")
	default:
		var other facts
		if c.first(m, "stream schema", &other) == nil && st.haveSchema && other.schema.String() != st.schema.String() {
			c.note(8, "the schema at byte 8 (%s) differs from the footer's (%s): readers disagree on the types", other.schema.String(), st.schema.String())
		}
	}
	return nil
}

// footer reads File.fbs's Footer: schema, dictionary and record batch
// blocks.
func (c *checker) footer(f *fb, at int64, st *facts) error {
	c.begin(f)
	t, err := f.root()
	if err != nil {
		c.broken(at, "footer", err)
		return c.err
	}
	v, err := f.i16(t, footerVersion, 0)
	if err != nil {
		c.broken(at, "footer", err)
		return c.err
	}
	if v < metadataV4 || v > metadataV5 {
		c.note(at, "footer: metadata version V%d: pyarrow reads V4 and V5 only", v+1)
	}
	for _, b := range []struct {
		slot  int
		count *int
		what  string
	}{{footerDictionaries, &st.dicts, "dictionary"}, {footerRecordBatches, &st.batches, "record batch"}} {
		start, n, err := f.vector(t, b.slot, blockSize)
		if err != nil {
			c.broken(at, "footer "+b.what+" blocks", err)
			continue
		}
		*b.count = n
		bad := 0
		for i := range n {
			p := start + blockSize*i
			off := int64(binary.LittleEndian.Uint64(f.b[p:]))
			meta := int64(int32(binary.LittleEndian.Uint32(f.b[p+8:])))
			body := int64(binary.LittleEndian.Uint64(f.b[p+16:]))
			if off < 8 || meta <= 0 || body < 0 || off > at || meta > at-off || body > at-off-meta {
				bad++
				continue
			}
			st.bodyBytes += body
		}
		if bad > 0 {
			c.note(at, "footer: %d of %d %s blocks point outside the data before the footer", bad, n, b.what)
		}
	}
	st.footerMetadataKeys = len(c.keyValues(f, t, footerCustomMetadata, func() string { return "footer" }))
	s, ok, err := f.sub(t, footerSchema)
	switch {
	case err != nil:
		c.broken(at, "footer schema", err)
		return c.err
	case !ok:
		c.note(at, "the footer has no schema: pyarrow refuses the file")
		return errors.New("the footer has no schema")
	}
	st.schema, err = c.schema(f, s, "footer schema")
	st.haveSchema = true
	return err
}
