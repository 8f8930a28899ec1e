// Package parquet reads the footer of Apache Parquet files: the datasets of
// the Hugging Face Hub are mostly Parquet, and the footer is where a
// Parquet file can carry code. Layout: "PAR1", column chunks, the Thrift
// (compact protocol) FileMetaData, its 4-byte little-endian length,
// "PAR1". Only the footer is read, with a bounded Thrift reader of our own
// (thrift.go); column chunks are never read.
//
// The threat is CVE-2023-47248: a Parquet file written from Arrow keeps the
// Arrow schema, base64, under the key ARROW:schema of key_value_metadata,
// and pyarrow 0.14.0 to 14.0.0 rebuilds its extension types when the file
// is opened, unpickling the metadata of arrow.py_extension_type. That
// schema is checked by the arrow package (arrow.CheckSchema), which owns
// the extension-type rules for IPC files and Parquet alike.
package parquet

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/arrow"
	"github.com/modelgate/modelgate/internal/knowledge"
)

const (
	magic          = "PAR1"
	magicEncrypted = "PARE" // a file whose footer is encrypted
	// maxFooter caps the footer read into memory. Footers of files with
	// thousands of columns and row groups run to a few MiB.
	maxFooter = 64 << 20
	// signatureSize is the AES-GCM nonce and tag after the FileMetaData
	// of an encrypted file with a plaintext footer.
	signatureSize = 28
	maxQuoted     = 8
	maxKeysShown  = 8
	maxNested     = 64
	maxSchemas    = 8
)

// Analyzer handles Parquet files.
type Analyzer struct{}

// Format implements analyzer.Analyzer.
func (Analyzer) Format() string { return "parquet" }

// Match implements analyzer.Analyzer: "PAR1" (or "PARE", encrypted footer)
// at byte 0. A pickle starting with 'P' (PERSID) makes pickle.load raise
// without a persistent_load, so nothing else is lost to Parquet.
func (Analyzer) Match(_ string, head []byte) bool {
	return bytes.HasPrefix(head, []byte(magic)) || bytes.HasPrefix(head, []byte(magicEncrypted))
}

type note struct {
	off  int64
	text string
}

// check collects what the footer shows.
type check struct {
	in         analyzer.Input
	out        *analyzer.Output
	footerAt   int64
	malformed  []note
	nMalformed int
	nested     int

	version                       int32
	haveVersion, haveSchema       bool
	haveRows, haveRowGroups       bool
	schemaElements, columns       int
	numRows                       int64
	rowGroups                     int
	createdBy                     string
	encryption                    string // the algorithm of a plaintext-footer encrypted file
	keys                          []string
	nKeys                         int
	arrowSchemas                  int
	arrowInfo                     []string
	pandasBytes, huggingfaceBytes int
	arrowErr                      error
}

func (c *check) note(off int64, format string, args ...any) {
	c.nMalformed++
	if len(c.malformed) < maxQuoted {
		c.malformed = append(c.malformed, note{off, fmt.Sprintf(format, args...)})
	}
}

// Analyze reads the magic at both ends and the footer, then the footer's
// key-value metadata. Findings made before an error are kept.
func (Analyzer) Analyze(ctx context.Context, in analyzer.Input, _ analyzer.Limits, out *analyzer.Output) error {
	c := &check{in: in, out: out}
	summary, err := c.run(ctx)
	c.report()
	out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset, Message: summary})
	if err != nil {
		return fmt.Errorf("parquet: %w", err)
	}
	return nil
}

func (c *check) run(ctx context.Context) (string, error) {
	size := c.in.Size
	if size < 12 {
		c.note(0, "a file of %d bytes is too short for Parquet (magic, footer length, magic)", size)
		return fmt.Sprintf("Parquet: a file of %d bytes, no footer", size), fmt.Errorf("file of %d bytes: %w", size, io.ErrUnexpectedEOF)
	}
	head, err := analyzer.ReadExact(c.in.R, 0, 4)
	if err != nil {
		return "Parquet: unreadable", err
	}
	tail, err := analyzer.ReadExact(c.in.R, size-8, 8)
	if err != nil {
		return "Parquet: unreadable", err
	}
	if string(tail[4:]) != string(head) {
		// Readers look for the footer from the end: without the magic
		// there they refuse the file (a truncated download, or something
		// that only starts like Parquet).
		c.note(size-4, "the file starts with %q but ends with %q: truncated, readers refuse it", head, tail[4:])
		return "Parquet: no footer (truncated)", fmt.Errorf("no %s at the end of the file: truncated", head)
	}
	n := int64(binary.LittleEndian.Uint32(tail))
	c.footerAt = size - 8 - n
	switch {
	case n == 0 || c.footerAt < 4:
		c.note(size-8, "footer length %d in a file of %d bytes", n, size)
		return "Parquet: footer length out of bounds", fmt.Errorf("footer length %d in a file of %d bytes", n, size)
	case n > maxFooter:
		c.out.Add(finding.Finding{RuleID: knowledge.RuleScanLimit, Severity: finding.Medium, Offset: size - 8,
			Message: fmt.Sprintf("the Parquet footer is %d bytes, over the %d-byte limit: not read, so its metadata was not analysed", n, maxFooter)})
		return fmt.Sprintf("Parquet: footer of %d bytes (not read)", n), fmt.Errorf("footer of %d bytes over the %d-byte limit: not analysed", n, maxFooter)
	}
	footer, err := analyzer.ReadExact(c.in.R, c.footerAt, n)
	if err != nil {
		return "Parquet: footer unreadable", err
	}
	if string(head) == magicEncrypted {
		return c.encryptedFooter(footer)
	}
	if err := ctx.Err(); err != nil {
		return "Parquet: cancelled", err
	}
	r := &thrift{b: footer}
	err = c.fileMetaData(r)
	if err == nil {
		c.required()
		c.trailing(r)
	} else {
		c.note(c.footerAt+int64(r.pos), "FileMetaData: %v", err)
		err = fmt.Errorf("FileMetaData: %w", err)
	}
	if err == nil && c.arrowErr != nil {
		err = c.arrowErr
	}
	return c.summary(n, err != nil), err
}

// encryptedFooter reads the plaintext FileCryptoMetaData at the start of an
// encrypted footer for the summary. The FileMetaData after it, and with it
// any ARROW:schema, cannot be read without the key: the file is reported
// as not analysed.
func (c *check) encryptedFooter(footer []byte) (string, error) {
	r := &thrift{b: footer}
	alg := "an unknown algorithm"
	err := r.fields(0, func(id int16, typ byte) (bool, error) {
		if id != 1 || typ != tStruct {
			return false, nil
		}
		return true, r.fields(1, func(id int16, typ byte) (bool, error) {
			switch id {
			case 1:
				alg = "AES_GCM_V1"
			case 2:
				alg = "AES_GCM_CTR_V1"
			}
			return false, nil
		})
	})
	if err != nil {
		c.note(c.footerAt+int64(r.pos), "FileCryptoMetaData: %v", err)
	}
	msg := fmt.Sprintf("Parquet with an encrypted footer (%s, %d bytes): the schema and key-value metadata, where an ARROW:schema would be, cannot be read without the key; nothing was analysed", alg, len(footer))
	return msg, errors.New("the footer is encrypted (PARE): its metadata could not be analysed")
}

// FileMetaData field ids (parquet.thrift).
const (
	fmVersion       = 1
	fmSchema        = 2
	fmNumRows       = 3
	fmRowGroups     = 4
	fmKeyValue      = 5
	fmCreatedBy     = 6
	fmEncryptionAlg = 8
)

// fmTypes are the Thrift types of the fields read; others are skipped.
var fmTypes = map[int16]byte{fmVersion: tI32, fmSchema: tList, fmNumRows: tI64, fmRowGroups: tList, fmKeyValue: tList, fmCreatedBy: tBinary, fmEncryptionAlg: tStruct}

func (c *check) fileMetaData(r *thrift) error {
	return r.fields(0, func(id int16, typ byte) (bool, error) {
		if w, ok := fmTypes[id]; !ok || w != typ {
			if ok {
				c.note(c.footerAt+int64(r.pos), "FileMetaData field %d has type %d, not %d: readers refuse it", id, typ, w)
			}
			return false, nil
		}
		var err error
		switch id {
		case fmVersion:
			c.version, err = r.i32()
			c.haveVersion = true
		case fmSchema:
			c.haveSchema = true
			c.schemaElements, err = r.structs(1, func(int) error { return c.schemaElement(r) })
		case fmNumRows:
			c.numRows, err = r.zigzag(64)
			c.haveRows = true
		case fmRowGroups:
			c.haveRowGroups = true
			c.rowGroups, err = r.structs(1, func(int) error { return r.skipStruct(2) })
		case fmKeyValue:
			_, err = r.structs(1, func(int) error { return c.keyValue(r) })
		case fmCreatedBy:
			var b []byte
			b, err = r.binary()
			c.createdBy = clip(b)
		case fmEncryptionAlg:
			c.encryption = "an unknown algorithm"
			err = r.fields(1, func(id int16, typ byte) (bool, error) {
				switch id {
				case 1:
					c.encryption = "AES_GCM_V1"
				case 2:
					c.encryption = "AES_GCM_CTR_V1"
				}
				return false, nil
			})
		}
		return true, err
	})
}

// schemaElement counts leaf columns: the elements with a physical type
// (field 1), which group nodes never have.
func (c *check) schemaElement(r *thrift) error {
	return r.fields(2, func(id int16, typ byte) (bool, error) {
		if id == 1 && typ == tI32 {
			c.columns++
		}
		return false, nil
	})
}

// keyValue reads one KeyValue{1: key, 2: value} and acts on it at once, so
// that nothing is kept per pair.
func (c *check) keyValue(r *thrift) error {
	var key, value []byte
	var at int64
	haveKey, haveValue := false, false
	err := r.fields(2, func(id int16, typ byte) (bool, error) {
		if typ != tBinary || (id != 1 && id != 2) {
			return false, nil
		}
		b, err := r.binary()
		if id == 1 {
			key, haveKey = b, true
		} else {
			value, haveValue, at = b, true, c.footerAt+int64(r.pos-len(b))
		}
		return true, err
	})
	if err != nil {
		return err
	}
	if !haveKey {
		c.note(c.footerAt+int64(r.pos), "a KeyValue without its required key")
	}
	c.nKeys++
	if len(c.keys) < maxKeysShown {
		c.keys = append(c.keys, strconv.Quote(clip(key)))
	}
	if !haveValue {
		return nil
	}
	switch string(key) {
	case "ARROW:schema":
		c.arrowSchema(value, at)
	case "pandas":
		// pandas' JSON (index and column names, dtypes) is read with
		// json.loads: data, not code.
		c.pandasBytes = len(value)
	case "huggingface":
		// The datasets library's features, JSON as well.
		c.huggingfaceBytes = len(value)
	}
	// pyarrow never unpickles key-value metadata, but libraries built on
	// Parquet do: petastorm keeps a pickled Unischema under
	// dataset-toolkit.unischema.v1 and unpickles it when a dataset is
	// opened. A value that starts like a pickle is analysed for what it
	// would do.
	if len(value) >= 2 && value[0] == 0x80 && value[1] >= 2 && value[1] <= 5 && c.nested < maxNested {
		c.nested++
		c.out.Nested = append(c.out.Nested, analyzer.Nested{Name: "key_value_metadata:" + clip(key),
			R: bytes.NewReader(value), Size: int64(len(value)), Optional: true})
	}
	return nil
}

// arrowSchema decodes the base64 Arrow schema and has the arrow package
// check it. Arrow C++ (pyarrow) decodes base64 leniently: it stops at the
// first '=' or character outside the alphabet and decodes what came
// before; arrow-go accepts padded and unpadded text. The same prefix is
// decoded here, so what pyarrow sees is what is checked.
func (c *check) arrowSchema(value []byte, at int64) {
	c.arrowSchemas++
	if c.arrowSchemas == 2 {
		c.note(at, "more than one ARROW:schema key: readers may use different ones (every one is checked)")
	}
	if c.arrowSchemas > maxSchemas {
		// Readers take the first; the rest are not looked at, and the
		// file is not fully analysed.
		if c.arrowSchemas == maxSchemas+1 {
			c.arrowErr = fmt.Errorf("more than %d ARROW:schema keys: the rest not analysed", maxSchemas)
		}
		return
	}
	i := 0
	for i < len(value) && isBase64(value[i]) {
		i++
	}
	if rest := value[i:]; len(bytes.TrimRight(rest, "=")) > 0 || len(rest) > 2 {
		c.note(at+int64(i), "the ARROW:schema is not clean base64 (byte %d is %q): Arrow C++ decodes only what comes before, stricter readers refuse it", i, rest[:1])
	}
	p := value[:i]
	if len(p)%4 == 1 {
		p = p[:len(p)-1]
	}
	decoded, err := base64.RawStdEncoding.DecodeString(string(p))
	if err != nil {
		c.note(at, "the ARROW:schema does not decode: %v", err)
		c.arrowErr = fmt.Errorf("ARROW:schema: %w", err)
		return
	}
	info, err := arrow.CheckSchema(decoded, at, "ARROW:schema", c.out)
	if err != nil && info.Total == 0 {
		c.arrowInfo = append(c.arrowInfo, "ARROW:schema unreadable")
	} else {
		c.arrowInfo = append(c.arrowInfo, "ARROW:schema of "+info.String())
	}
	if err != nil && c.arrowErr == nil {
		c.arrowErr = err
	}
}

func isBase64(b byte) bool {
	return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '+' || b == '/'
}

// required notes the fields parquet.thrift marks required: without them
// readers refuse the file.
func (c *check) required() {
	for _, f := range []struct {
		have bool
		name string
	}{{c.haveVersion, "version"}, {c.haveSchema, "schema"}, {c.haveRows, "num_rows"}, {c.haveRowGroups, "row_groups"}} {
		if !f.have {
			c.note(c.footerAt, "FileMetaData has no %s (a required field): readers refuse the file", f.name)
		}
	}
}

// trailing looks at footer bytes after the FileMetaData: nothing reads
// them (an encrypted file's signature excepted), so they are a place to
// hide a payload and are handed to the engine.
func (c *check) trailing(r *thrift) {
	left := len(r.b) - r.pos
	if c.encryption != "" && left == signatureSize {
		return
	}
	if left == 0 {
		return
	}
	at := c.footerAt + int64(r.pos)
	c.note(at, "%d bytes after the FileMetaData inside the footer: readers ignore them", left)
	c.out.Nested = append(c.out.Nested, analyzer.Nested{Name: fmt.Sprintf("footer-trailing@%d", at),
		R: bytes.NewReader(r.b[r.pos:]), Size: int64(left), Optional: true})
}

func (c *check) report() {
	if len(c.malformed) == 0 {
		return
	}
	s := make([]string, len(c.malformed))
	for i, n := range c.malformed {
		s[i] = n.text
	}
	if c.nMalformed > len(s) {
		s = append(s, fmt.Sprintf("… %d more", c.nMalformed-len(s)))
	}
	c.out.Add(finding.Finding{RuleID: knowledge.RuleParquetMalformed, Severity: finding.Medium, Offset: c.malformed[0].off,
		Message:  fmt.Sprintf("a Parquet footer that readers cannot read as written (%d anomalies)", c.nMalformed),
		Evidence: strings.Join(s, "; ")})
}

func (c *check) summary(footer int64, partial bool) string {
	msg := fmt.Sprintf("Parquet: %s in %s, %s (%d schema elements)",
		plural64(c.numRows, "row"), plural(c.rowGroups, "row group"), plural(c.columns, "column"), c.schemaElements)
	if c.createdBy != "" {
		msg += fmt.Sprintf(", written by %q", c.createdBy)
	}
	if c.encryption != "" {
		msg += fmt.Sprintf("; columns encrypted (%s), footer in plaintext", c.encryption)
	}
	for _, s := range c.arrowInfo {
		msg += "; " + s
	}
	if c.pandasBytes > 0 {
		msg += fmt.Sprintf("; pandas metadata (%d bytes of JSON)", c.pandasBytes)
	}
	if c.huggingfaceBytes > 0 {
		msg += fmt.Sprintf("; huggingface metadata (%d bytes of JSON)", c.huggingfaceBytes)
	}
	if c.nKeys > 0 {
		msg += "; key_value_metadata keys " + strings.Join(c.keys, ", ")
		if c.nKeys > len(c.keys) {
			msg += fmt.Sprintf(" and %d more", c.nKeys-len(c.keys))
		}
	}
	msg += fmt.Sprintf("; footer %d bytes, column data %d bytes (not read)", footer, max(c.footerAt-4, 0))
	if partial {
		msg += " (incomplete)"
	}
	return msg
}

func clip(b []byte) string {
	if len(b) > 128 {
		return string(b[:128]) + "…"
	}
	return string(b)
}

func plural(n int, what string) string { return plural64(int64(n), what) }

func plural64(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
