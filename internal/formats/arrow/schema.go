package arrow

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// Extension metadata keys and the one extension name that runs code.
const (
	// PyExtensionName is pyarrow.PyExtensionType's name: pyarrow 0.14.0 to
	// 14.0.0 registers it at import and its deserializer is pickle.loads of
	// the field's ARROW:extension:metadata (CVE-2023-47248). 14.0.1 and
	// later refuse it unless pyarrow.PyExtensionType.set_auto_load(True) is
	// called; pyarrow-hotfix does the same for older versions.
	PyExtensionName = "arrow.py_extension_type"
	keyExtName      = "ARROW:extension:name"
	keyExtMeta      = "ARROW:extension:metadata"
)

// Slots of the tables read, from format/Schema.fbs, Message.fbs and
// File.fbs (a union field takes two slots: its type byte, then the
// reference). They are the field order of the .fbs files; the generated
// arrow-go code (arrow/internal/flatbuf) reads the same vtable offsets
// (slot s at vtable offset 4+2s).
const (
	msgVersion, msgHeaderType, msgHeader, msgBodyLength, msgCustomMetadata = 0, 1, 2, 3, 4

	schemaEndianness, schemaFields, schemaCustomMetadata = 0, 1, 2

	fieldName, fieldNullable, fieldTypeType, fieldType, fieldDictionary, fieldChildren, fieldCustomMetadata = 0, 1, 2, 3, 4, 5, 6

	kvKey, kvValue = 0, 1

	footerVersion, footerSchema, footerDictionaries, footerRecordBatches, footerCustomMetadata = 0, 1, 2, 3, 4
)

// MessageHeader union members (Message.fbs) and the newest Type union
// member (Schema.fbs: LargeListView = 26).
const (
	headerSchema          = 1
	headerDictionaryBatch = 2
	headerRecordBatch     = 3
	maxTypeID             = 26
	// metadataV4 is MetadataVersion V4 (enum value 3): pyarrow refuses
	// older messages ("Old metadata version not supported").
	metadataV4 = 3
	metadataV5 = 4
)

const (
	// maxMetadata caps one message's flatbuffer (a schema of a hundred
	// thousand columns is a few MiB); longer metadata is not read.
	maxMetadata = 64 << 20
	// maxDepth bounds nested types (list<struct<list<…>>>), as the
	// flatbuffers verifier Arrow runs bounds table depth.
	maxDepth = 64
	// maxFields caps the fields walked in one schema, children included.
	maxFields = 1 << 20
	// maxKeyValues caps the custom_metadata pairs read for one field.
	maxKeyValues = 1 << 16
	maxQuoted    = 8
	maxPyReports = 16
	maxNested    = 64
	maxNameLen   = 128
	maxPathLen   = 512
	maxKeysShown = 8
)

// pickleProto reports whether b starts with PROTO 2 to 5: the opening of
// every pickle Python 3 writes by default.
func pickleProto(b []byte) bool { return len(b) >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5 }

type note struct {
	off  int64
	text string
}

// pyField is one field whose type is arrow.py_extension_type.
type pyField struct {
	where, path string
	off         int64
	meta        []byte
	metas       int // ARROW:extension:metadata values (more than one is odd)
}

// SchemaInfo is what a schema holds, for summaries.
type SchemaInfo struct {
	Fields     int            // top-level fields
	Total      int            // fields with their children
	Dictionary int            // dictionary-encoded fields
	BigEndian  bool           // Schema.endianness = Big
	Extensions map[string]int // extension type names (arrow.py_extension_type included)
	// MetadataKeys are the schema's own custom_metadata keys, in order.
	MetadataKeys []string
}

// String is the summary phrase: "3 fields (7 with children), extension
// types arrow.uuid ×1, schema metadata keys pandas".
func (s SchemaInfo) String() string {
	msg := plural(s.Fields, "field")
	if s.Total != s.Fields {
		msg += fmt.Sprintf(" (%d with children)", s.Total)
	}
	if s.Dictionary > 0 {
		msg += fmt.Sprintf(", %d dictionary-encoded", s.Dictionary)
	}
	if s.BigEndian {
		msg += ", big-endian"
	}
	if len(s.Extensions) > 0 {
		var ext []string
		for _, n := range slices.Sorted(maps.Keys(s.Extensions)) {
			ext = append(ext, fmt.Sprintf("%s ×%d", n, s.Extensions[n]))
		}
		msg += ", extension types " + strings.Join(ext, ", ")
	}
	if n := len(s.MetadataKeys); n > 0 {
		keys := s.MetadataKeys[:min(n, maxKeysShown)]
		msg += ", schema metadata keys " + strings.Join(keys, ", ")
		if n > maxKeysShown {
			msg += fmt.Sprintf(" and %d more", n-maxKeysShown)
		}
	}
	return msg
}

// checker walks the schemas of one file and collects what they hold.
// Findings are made by report, once, so that the two copies of the schema
// in an IPC file (the stream's first message and the footer) give one
// finding per field, not two.
type checker struct {
	py                  []pyField
	nPy                 int
	malformed           []note
	nMalformed          int
	nested              []analyzer.Nested
	seenPy, seenPayload map[[32]byte]bool
	err                 error // the first structural error
	steps               int   // tables visited in the current buffer
	budget              int
	// digests are the SHA-256 of the strings of the current buffer, by
	// position: a string reached through many shared references is hashed
	// once.
	digests map[[2]int][32]byte
}

func newChecker() *checker {
	return &checker{seenPy: map[[32]byte]bool{}, seenPayload: map[[32]byte]bool{}}
}

// begin starts the walk of a buffer: its visit budget and its digests.
func (c *checker) begin(f *fb) {
	c.steps, c.budget, c.digests = 0, len(f.b)/16+1024, map[[2]int][32]byte{}
}

// digest hashes b, a string of f's buffer, once per position.
func (c *checker) digest(f *fb, b []byte) [32]byte {
	k := [2]int{cap(f.b) - cap(b), len(b)} // b is f.b[i:j]: cap(b) = cap(f.b) - i
	d, ok := c.digests[k]
	if !ok {
		d = sha256.Sum256(b)
		c.digests[k] = d
	}
	return d
}

func (c *checker) note(off int64, format string, args ...any) {
	c.nMalformed++
	if len(c.malformed) < maxQuoted {
		c.malformed = append(c.malformed, note{off, fmt.Sprintf(format, args...)})
	}
}

// broken records a structural error: a reference out of bounds, a table
// that does not fit. The walk goes on with the next sibling, so that one
// bad field does not hide the others, but the file is not fully analysed.
func (c *checker) broken(off int64, where string, err error) {
	c.note(off, "%s: %v", where, err)
	if c.err == nil {
		c.err = fmt.Errorf("%s: %w", where, err)
	}
}

// errLimit is a walk stopped by a cap rather than by the data.
type errLimit struct{ msg string }

func (e errLimit) Error() string { return e.msg }

// message reads the Message table at the root of f: its header type, the
// header table (when it is set) and the body length.
type message struct {
	version    int16
	headerType uint8
	header     table
	hasHeader  bool
	bodyLength int64
}

func readMessage(f *fb) (message, error) {
	var m message
	t, err := f.root()
	if err != nil {
		return m, err
	}
	if m.version, err = f.i16(t, msgVersion, 0); err != nil {
		return m, err
	}
	if m.headerType, err = f.u8(t, msgHeaderType, 0); err != nil {
		return m, err
	}
	if m.header, m.hasHeader, err = f.sub(t, msgHeader); err != nil {
		return m, err
	}
	if m.bodyLength, err = f.i64(t, msgBodyLength, 0); err != nil {
		return m, err
	}
	return m, nil
}

// schema walks one Schema table: its fields, recursively, and its
// custom_metadata. where names the copy ("stream schema", "footer
// schema", "ARROW:schema") in messages.
func (c *checker) schema(f *fb, t table, where string) (SchemaInfo, error) {
	info := SchemaInfo{Extensions: map[string]int{}}
	c.begin(f)
	end, err := f.i16(t, schemaEndianness, 0)
	if err != nil {
		c.broken(f.offset(t.pos), where, err)
		return info, c.err
	}
	info.BigEndian = end == 1
	for _, kv := range c.keyValues(f, t, schemaCustomMetadata, func() string { return where }) {
		info.MetadataKeys = append(info.MetadataKeys, strconv.Quote(clip(kv.key)))
		// No Arrow reader unpickles schema metadata, but libraries built
		// on Arrow and Parquet do: petastorm keeps a pickled Unischema in
		// a dataset's key-value metadata (which Arrow exposes as schema
		// metadata) and unpickles it when the dataset is opened. A pickle
		// there is analysed for what it would do.
		if pickleProto(kv.value) {
			c.payload(f, where+":"+clip(kv.key), kv.value, true)
		}
	}
	start, n, err := f.vector(t, schemaFields, 4)
	if err != nil {
		c.broken(f.offset(t.pos), where+" fields", err)
		return info, c.err
	}
	info.Fields = n
	for i := range n {
		ft, err := f.elem(start, i)
		if err != nil {
			c.broken(f.offset(start+4*i), fmt.Sprintf("%s field %d", where, i), err)
			continue
		}
		if err := c.field(f, ft, "", i, 0, where, &info); err != nil {
			return info, err
		}
	}
	return info, c.err
}

type keyValue struct {
	key, value []byte
	pos        int
}

// keyValues reads a [KeyValue] vector. Keys and values are flatbuffer
// strings: lengths, not NUL-terminated, so a value holds any bytes.
// where is called only to name a fault.
func (c *checker) keyValues(f *fb, t table, slot int, where func() string) []keyValue {
	start, n, err := f.vector(t, slot, 4)
	if err != nil {
		c.broken(f.offset(t.pos), where()+" custom_metadata", err)
		return nil
	}
	if n > maxKeyValues {
		c.note(f.offset(start), "%s: %d custom_metadata pairs, only the first %d read", where(), n, maxKeyValues)
		n = maxKeyValues
	}
	var out []keyValue
	for i := range n {
		if !c.step() {
			c.broken(f.offset(start), where(), c.budgetError())
			return out
		}
		e, err := f.elem(start, i)
		if err == nil {
			var k, v []byte
			if k, _, err = f.str(e, kvKey); err == nil {
				if v, _, err = f.str(e, kvValue); err == nil {
					out = append(out, keyValue{k, v, e.pos})
					continue
				}
			}
		}
		c.broken(f.offset(start+4*i), fmt.Sprintf("%s custom_metadata %d", where(), i), err)
	}
	return out
}

// step counts one visited table. A field or a key-value pair takes more
// than 16 bytes of buffer (its reference, its table, its strings), so a
// buffer of n bytes holds fewer than n/16 of them; visiting more means
// tables reached through shared references (references only point
// forward, so there are no cycles), which Arrow's writers never produce
// and which would otherwise let a small buffer cost exponential time.
func (c *checker) step() bool {
	c.steps++
	return c.steps <= c.budget
}

func (c *checker) budgetError() error {
	return errLimit{fmt.Sprintf("more than %d tables visited in a buffer of about %d bytes: shared references", c.budget, (c.budget-1024)*16)}
}

// field walks one Field and its children.
func (c *checker) field(f *fb, t table, parent string, index, depth int, where string, info *SchemaInfo) error {
	info.Total++
	off := f.offset(t.pos)
	if info.Total > maxFields {
		// A cap of ours, not a fault of the file.
		if c.err == nil {
			c.err = fmt.Errorf("%s: %w", where, errLimit{fmt.Sprintf("more than %d fields", maxFields)})
		}
		return c.err
	}
	if !c.step() {
		c.broken(off, where, c.budgetError())
		return c.err
	}
	if depth > maxDepth {
		c.broken(off, where, errLimit{fmt.Sprintf("fields nested deeper than %d levels", maxDepth)})
		return c.err
	}
	name, _, err := f.str(t, fieldName)
	path := "[" + strconv.Itoa(index) + "]"
	if err == nil && len(name) > 0 {
		path = clip(name)
	}
	if parent != "" {
		path = parent + "." + path
	}
	if len(path) > maxPathLen {
		// Deep paths are cut from the front: the leaf names the field.
		path = "…" + path[len(path)-maxPathLen:]
	}
	here := func() string { return where + " field " + strconv.Quote(path) }
	if err != nil {
		c.broken(off, here()+" name", err)
	}
	typ, err := f.u8(t, fieldTypeType, 0)
	switch {
	case err != nil:
		c.broken(off, here()+" type", err)
	case typ == 0 || typ > maxTypeID:
		// Arrow's reader refuses the field ("Type metadata cannot be none",
		// "Unrecognized type"), and the file with it.
		c.note(off, "%s: type id %d is not an Arrow type", here(), typ)
	}
	if _, ok, err := f.sub(t, fieldDictionary); err != nil {
		c.broken(off, here()+" dictionary", err)
	} else if ok {
		info.Dictionary++
	}
	c.extension(f, t, path, here, off, where, info)
	start, n, err := f.vector(t, fieldChildren, 4)
	if err != nil {
		c.broken(off, here()+" children", err)
		return nil
	}
	for i := range n {
		ct, err := f.elem(start, i)
		if err != nil {
			c.broken(f.offset(start+4*i), fmt.Sprintf("%s child %d", here(), i), err)
			continue
		}
		if err := c.field(f, ct, path, i, depth+1, where, info); err != nil {
			return err
		}
	}
	return nil
}

// extension judges a field's custom_metadata: its extension type name, and
// the metadata pyarrow would unpickle for arrow.py_extension_type.
func (c *checker) extension(f *fb, t table, path string, here func() string, off int64, where string, info *SchemaInfo) {
	var names [][]byte
	var metas [][]byte
	for _, kv := range c.keyValues(f, t, fieldCustomMetadata, here) {
		switch string(kv.key) {
		case keyExtName:
			names = append(names, kv.value)
		case keyExtMeta:
			metas = append(metas, kv.value)
		default:
			if pickleProto(kv.value) {
				c.payload(f, where+":"+path+":"+clip(kv.key), kv.value, true)
			}
		}
	}
	if len(names) > 1 || len(metas) > 1 {
		// Arrow C++ takes the first pair with a key, other readers may
		// take the last: two readers can build two different types.
		c.note(off, "%s: %d %s and %d %s keys: readers may pick different ones", here(), len(names), keyExtName, len(metas), keyExtMeta)
	}
	py := false
	for _, n := range names {
		info.Extensions[clip(n)]++
		py = py || string(n) == PyExtensionName
	}
	if !py {
		// Other extension types (arrow.uuid, arrow.json,
		// arrow.fixed_shape_tensor, the datasets library's ArrayND types)
		// are rebuilt by code registered for their name from metadata that
		// is not a pickle. A pickle in their metadata is still looked at.
		for _, m := range metas {
			if pickleProto(m) {
				c.payload(f, where+":"+path+":"+keyExtMeta, m, true)
			}
		}
		return
	}
	var meta []byte
	if len(metas) > 0 {
		meta = metas[0]
	}
	d := c.digest(f, meta)
	key := sha256.Sum256(append([]byte(path+"\x00"), d[:]...))
	if !c.seenPy[key] {
		c.seenPy[key] = true
		c.nPy++
		if len(c.py) < maxPyReports {
			c.py = append(c.py, pyField{where: where, path: path, off: off, meta: meta, metas: len(metas)})
		}
	}
	// Every value is handed over: the reader that takes the first and the
	// one that takes the last must both be covered. Not optional: pyarrow
	// unpickles it, so content nothing recognises is not analysed.
	for _, m := range metas {
		c.payload(f, where+":"+path+":"+keyExtMeta, m, false)
	}
}

// payload hands in-memory bytes to the engine as a nested input, once per
// distinct content.
func (c *checker) payload(f *fb, name string, b []byte, optional bool) {
	if len(b) == 0 || len(c.nested) >= maxNested {
		return
	}
	key := c.digest(f, b)
	if c.seenPayload[key] {
		return
	}
	c.seenPayload[key] = true
	c.nested = append(c.nested, analyzer.Nested{Name: strings.ReplaceAll(name, " ", "-"), R: bytes.NewReader(b), Size: int64(len(b)), Optional: optional})
}

// report turns what was collected into findings and nested inputs.
func (c *checker) report(out *analyzer.Output) {
	for i, p := range c.py {
		msg := fmt.Sprintf("field %q of the %s has the extension type %s: pyarrow 0.14.0 to 14.0.0 unpickles its %s (%d bytes) when the file is read, before any data (CVE-2023-47248); later versions refuse it unless PyExtensionType auto-loading is turned back on. The pickle is analysed as a nested input",
			p.path, p.where, PyExtensionName, keyExtMeta, len(p.meta))
		if p.metas == 0 {
			msg = fmt.Sprintf("field %q of the %s has the extension type %s without %s: pyarrow 0.14.0 to 14.0.0 unpickles whatever metadata the type has when the file is read (CVE-2023-47248); nothing was written here, no legitimate writer produces this",
				p.path, p.where, PyExtensionName, keyExtMeta)
		}
		if i == len(c.py)-1 && c.nPy > len(c.py) {
			msg += fmt.Sprintf(" (%d more such fields not listed)", c.nPy-len(c.py))
		}
		out.Add(finding.Finding{RuleID: knowledge.RuleArrowPyExtension, Severity: finding.High, Offset: p.off,
			Message: msg, Evidence: keyExtMeta + " = " + quote(p.meta, 64)})
	}
	if len(c.malformed) > 0 {
		s := make([]string, len(c.malformed))
		for i, n := range c.malformed {
			s[i] = n.text
		}
		if c.nMalformed > len(s) {
			s = append(s, fmt.Sprintf("… %d more", c.nMalformed-len(s)))
		}
		out.Add(finding.Finding{RuleID: knowledge.RuleArrowMalformed, Severity: finding.Medium, Offset: c.malformed[0].off,
			Message:  fmt.Sprintf("Arrow metadata that pyarrow cannot read as written (%d anomalies)", c.nMalformed),
			Evidence: strings.Join(s, "; ")})
	}
	out.Nested = append(out.Nested, c.nested...)
}

// CheckSchema decodes one encapsulated IPC Schema message held in memory
// (the base64-decoded ARROW:schema of a Parquet footer: an optional
// 0xFFFFFFFF continuation marker, an int32 length, the flatbuffer
// Message; anything after it, such as arrow-go's end-of-stream marker, is
// not looked at) and reports into out: ARROW-PY-EXTENSION-TYPE for every
// arrow.py_extension_type field, its pickle as a nested input,
// ARROW-MALFORMED for what cannot be read. Every finding carries the
// offset at (where the value sits in the file). A non-nil error means the
// schema could not be fully read; findings made before it stay in out.
func CheckSchema(msg []byte, at int64, where string, out *analyzer.Output) (SchemaInfo, error) {
	c := newChecker()
	info, err := c.schemaMessage(msg, at, where)
	c.report(out)
	return info, err
}

func (c *checker) schemaMessage(msg []byte, at int64, where string) (SchemaInfo, error) {
	fail := func(format string, args ...any) (SchemaInfo, error) {
		err := fmt.Errorf(format, args...)
		c.note(at, "%s: %v", where, err)
		return SchemaInfo{}, fmt.Errorf("%s: %w", where, err)
	}
	if len(msg) < 4 {
		return fail("%d bytes: no IPC message", len(msg))
	}
	n, hdr := int64(int32(binary.LittleEndian.Uint32(msg))), int64(4)
	if n == -1 {
		if len(msg) < 8 {
			return fail("%d bytes: no message length after the continuation marker", len(msg))
		}
		n, hdr = int64(int32(binary.LittleEndian.Uint32(msg[4:]))), 8
	}
	if n <= 0 || n > int64(len(msg))-hdr {
		return fail("message length %d with %d bytes after it: truncated or not an IPC message", n, int64(len(msg))-hdr)
	}
	f := &fb{b: msg[hdr : hdr+n], base: -1, at: at}
	m, err := readMessage(f)
	if err != nil {
		return fail("Message: %v", err)
	}
	if m.headerType != headerSchema || !m.hasHeader {
		return fail("message of type %d, not a Schema", m.headerType)
	}
	if m.version < metadataV4 || m.version > metadataV5 {
		c.note(at, "%s: metadata version V%d: pyarrow reads V4 and V5 only", where, m.version+1)
	}
	info, err := c.schema(f, m.header, where)
	return info, err
}

func clip(b []byte) string {
	if len(b) > maxNameLen {
		return string(b[:maxNameLen]) + "…"
	}
	return string(b)
}

// quote shows the first n bytes of b.
func quote(b []byte, n int) string {
	s := strconv.QuoteToASCII(string(b[:min(len(b), n)]))
	if len(b) > n {
		s += "…"
	}
	return s
}

func plural(n int, what string) string {
	switch {
	case n == 1:
		return "1 " + what
	case strings.HasSuffix(what, "ch"):
		return fmt.Sprintf("%d %ses", n, what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}
