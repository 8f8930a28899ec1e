// Command gen writes the Arrow IPC and Parquet fixtures of
// internal/formats/arrow/testdata and internal/formats/parquet/testdata
// with the real Arrow library for Go (github.com/apache/arrow-go/v18), and
// reads every file back with the same library to prove it is what it
// claims: the readers rebuild the extension types, the pickle bytes come
// back unchanged. It is a module of its own so that the scanner never
// depends on arrow-go.
//
//	cd internal/formats/arrow/testdata/gen
//	go run .          # rewrite the fixtures and both manifest.json files
//	go run . -check   # regenerate into a temporary folder and compare
//
// Every file is byte-for-byte reproducible except the two encrypted
// Parquet files: arrow-go draws their AES-GCM nonces and file-unique AAD
// from crypto/rand, so -check compares those by size and magic only.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// The payloads are the project's proven pickles, byte for byte (checked
// against internal/formats/picklefile/testdata at every run): posix.system
// ('touch marker') in protocol 2 and protocol 4.
const (
	pickleP2 = "\x80\x02cposix\nsystem\nq\x00X\x0c\x00\x00\x00touch markerq\x01\x85q\x02Rq\x03."
	pickleP4 = "\x80\x04\x95'\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c\x0ctouch marker\x94\x85\x94R\x94."
)

// datasetsArray2D is how datasets 2.14 and older pickled an Array2D
// feature type (pa.PyExtensionType's __reduce__: the class and its
// (shape, dtype)), protocol 4 as Python 3.8+ writes it, written by hand:
// datasets.features.features.Array2DExtensionType((2, 3), 'float32').
var datasetsArray2D = func() string {
	body := "\x8c\x1adatasets.features.features\x94\x8c\x14Array2DExtensionType\x94\x93\x94" +
		"K\x02K\x03\x86\x94\x8c\x07float32\x94\x86\x94R\x94."
	frame := binary.LittleEndian.AppendUint64(nil, uint64(len(body)))
	return "\x80\x04\x95" + string(frame) + body
}()

// pyExt is pyarrow.PyExtensionType as it appears in a file: the name
// arrow.py_extension_type and a pickle as its serialized metadata. arrow-go
// has no such type; this one only writes the bytes and reads them back.
type pyExt struct {
	arrow.ExtensionBase
	pickle string
}

func newPyExt(storage arrow.DataType, pickle string) *pyExt {
	return &pyExt{ExtensionBase: arrow.ExtensionBase{Storage: storage}, pickle: pickle}
}

func (*pyExt) ArrayType() reflect.Type { return reflect.TypeOf(pyExtArray{}) }
func (*pyExt) ExtensionName() string   { return "arrow.py_extension_type" }
func (p *pyExt) Serialize() string     { return p.pickle }
func (p *pyExt) String() string        { return "py_extension_type<" + p.Storage.String() + ">" }
func (p *pyExt) ExtensionEquals(o arrow.ExtensionType) bool {
	q, ok := o.(*pyExt)
	return ok && arrow.TypeEqual(p.Storage, q.Storage) && p.pickle == q.pickle
}
func (*pyExt) Deserialize(storage arrow.DataType, data string) (arrow.ExtensionType, error) {
	return newPyExt(storage, data), nil
}

type pyExtArray struct{ array.ExtensionArrayBase }

// tensorExt stands for an ordinary registered extension type that is not a
// pickle: a name and JSON metadata, as arrow.fixed_shape_tensor and the
// datasets library's current ArrayND types are written.
type tensorExt struct {
	arrow.ExtensionBase
	name, meta string
}

func (*tensorExt) ArrayType() reflect.Type { return reflect.TypeOf(tensorExtArray{}) }
func (t *tensorExt) ExtensionName() string { return t.name }
func (t *tensorExt) Serialize() string     { return t.meta }
func (t *tensorExt) ExtensionEquals(o arrow.ExtensionType) bool {
	q, ok := o.(*tensorExt)
	return ok && t.name == q.name && t.meta == q.meta && arrow.TypeEqual(t.Storage, q.Storage)
}
func (t *tensorExt) Deserialize(storage arrow.DataType, data string) (arrow.ExtensionType, error) {
	return &tensorExt{ExtensionBase: arrow.ExtensionBase{Storage: storage}, name: t.name, meta: data}, nil
}

type tensorExtArray struct{ array.ExtensionArrayBase }

var (
	mem        = memory.NewGoAllocator()
	fixedShape = &tensorExt{ExtensionBase: arrow.ExtensionBase{Storage: arrow.FixedSizeListOf(4, arrow.PrimitiveTypes.Float32)},
		name: "arrow.fixed_shape_tensor", meta: `{"shape":[2,2]}`}
	dsArray2D = &tensorExt{ExtensionBase: arrow.ExtensionBase{Storage: arrow.ListOf(arrow.ListOf(arrow.PrimitiveTypes.Float32))},
		name: "datasets.features.features.Array2DExtensionType", meta: `[[2,3],"float32"]`}
)

// entry is one manifest line, in the shape internal/scan's TestFixtures
// reads.
type entry struct {
	File        string `json:"file"`
	Expect      string `json:"expect"`
	Description string `json:"description"`
	Format      string `json:"format,omitempty"`
	MinSeverity string `json:"min_severity,omitempty"`
	Evidence    string `json:"evidence,omitempty"`
	// Source names a file copied from another project instead of made
	// here; SHA256 is its digest, checked at every run.
	Source string `json:"source,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// fixture is one file to write.
type fixture struct {
	pkg  string // arrow or parquet
	e    entry
	data []byte
	// random marks a file with random bytes (AES-GCM): compared by size
	// and magic only.
	random bool
}

func main() {
	check := flag.Bool("check", false, "regenerate into a temporary folder and compare with the committed files")
	root := flag.String("root", "../../..", "internal/formats")
	flag.Parse()
	log.SetFlags(0)
	for _, t := range []arrow.ExtensionType{newPyExt(arrow.PrimitiveTypes.Int64, ""), fixedShape, dsArray2D} {
		if err := arrow.RegisterExtensionType(t); err != nil {
			log.Fatal(err)
		}
	}
	for name, want := range map[string]string{"01-posix-system-p2.pkl": pickleP2, "01-posix-system-p4.pkl": pickleP4} {
		got, err := os.ReadFile(filepath.Join(*root, "picklefile", "testdata", "malicious", name))
		if err != nil || string(got) != want {
			log.Fatalf("payload differs from picklefile/testdata/malicious/%s (%v)", name, err)
		}
	}
	for pkg, es := range copied {
		for _, e := range es {
			b, err := os.ReadFile(filepath.Join(*root, pkg, "testdata", e.File))
			if err != nil || fmt.Sprintf("%x", sha256.Sum256(b)) != e.SHA256 {
				log.Fatalf("%s/testdata/%s: missing or not the copied file (%v)", pkg, e.File, err)
			}
		}
	}
	fs := fixtures()
	for _, f := range fs {
		if err := verify(f); err != nil {
			log.Fatalf("%s/%s: %v", f.pkg, f.e.File, err)
		}
	}
	out := *root
	if *check {
		tmp, err := os.MkdirTemp("", "arrowgen")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		out = tmp
	}
	if err := write(out, fs); err != nil {
		log.Fatal(err)
	}
	if !*check {
		log.Printf("wrote %d fixtures", len(fs))
		return
	}
	bad := 0
	for _, p := range append(paths(fs), "arrow/testdata/manifest.json", "parquet/testdata/manifest.json") {
		got, err1 := os.ReadFile(filepath.Join(*root, p))
		want, err2 := os.ReadFile(filepath.Join(out, p))
		switch {
		case err1 != nil || err2 != nil:
			log.Printf("%s: %v %v", p, err1, err2)
			bad++
		case isRandom(fs, p):
			if len(got) != len(want) || !bytes.Equal(got[:4], want[:4]) || !bytes.Equal(got[len(got)-4:], want[len(want)-4:]) {
				log.Printf("%s: size or magic differs (%d vs %d bytes)", p, len(got), len(want))
				bad++
			}
		case !bytes.Equal(got, want):
			log.Printf("%s differs from the generator", p)
			bad++
		}
	}
	if bad > 0 {
		log.Fatalf("%d files differ: run `go run .` to rewrite them", bad)
	}
	log.Printf("all %d fixtures and both manifests match", len(fs))
}

func paths(fs []fixture) []string {
	var ps []string
	for _, f := range fs {
		ps = append(ps, filepath.Join(f.pkg, "testdata", f.e.File))
	}
	return ps
}

func isRandom(fs []fixture, p string) bool {
	for _, f := range fs {
		if filepath.Join(f.pkg, "testdata", f.e.File) == p {
			return f.random
		}
	}
	return false
}

// write puts every fixture and both manifests under root. Entries copied
// from elsewhere (Source set) are listed in the manifest but not written:
// they are committed as they were copied.
func write(root string, fs []fixture) error {
	manifests := map[string][]entry{}
	for _, f := range fs {
		manifests[f.pkg] = append(manifests[f.pkg], f.e)
		p := filepath.Join(root, f.pkg, "testdata", f.e.File)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return err
		}
	}
	for pkg, es := range manifests {
		es = append(es, copied[pkg]...)
		sort.Slice(es, func(i, j int) bool { return es[i].File < es[j].File })
		b, err := json.MarshalIndent(es, "", " ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(root, pkg, "testdata", "manifest.json"), append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// copied are third-party files committed as they are (see the README).
var copied = map[string][]entry{
	"arrow": {
		{File: "benign/custom_metadata.arrow", Expect: "benign", Format: "arrow",
			Description: "third-party: arrow-go v18.8.0 arrow/ipc/testdata/custom_metadata.arrow, an IPC file with schema and record-batch custom metadata",
			Source:      "github.com/apache/arrow-go/v18@v18.8.0/arrow/ipc/testdata/custom_metadata.arrow",
			SHA256:      "cd368bfd2e89dfdb6349bfd3a36a816e865fd7997fb632a012dcbda7b17b717b"},
		{File: "benign/custom_metadata_stream.arrows", Expect: "benign", Format: "arrow",
			Description: "third-party: arrow-go v18.8.0 arrow/ipc/testdata/custom_metadata_stream.arrows, the same as a stream",
			Source:      "github.com/apache/arrow-go/v18@v18.8.0/arrow/ipc/testdata/custom_metadata_stream.arrows",
			SHA256:      "3f56570a534a5c643f22e688a86e7adcb610e6e8585fc7058443eee9b1bb1cc7"},
	},
	"parquet": {
		{File: "benign/pandas-simple.parquet", Expect: "benign", Format: "parquet",
			Description: "third-party: pandas' test file pandas/tests/io/data/parquet/simple.parquet (Debian python3-pandas), written by pyarrow 0.17.1 with an ARROW:schema and pandas metadata",
			Source:      "/usr/lib/python3/dist-packages/pandas/tests/io/data/parquet/simple.parquet (python3-pandas 1.5.3+dfsg-2)",
			SHA256:      "fe3c5e35a94667ab6da6076fa6db0b57ce991047108d000518d4a8251f9e5f79"},
	},
}

// fixtures builds every file.
func fixtures() []fixture {
	var fs []fixture
	add := func(pkg, file, expect, desc string, data []byte) *fixture {
		format := pkg
		fs = append(fs, fixture{pkg: pkg, e: entry{File: file, Expect: expect, Description: desc, Format: format}, data: data})
		return &fs[len(fs)-1]
	}
	evil := func(f *fixture) {
		f.e.MinSeverity, f.e.Evidence = "critical", "touch marker"
	}

	// Arrow IPC.
	plain := plainBatches()
	add("arrow", "benign/plain.arrow", "benign", "IPC file (Feather v2): int64, float64, utf8, bool columns in two record batches", ipcFile(plain))
	hf := withMeta(plain, "huggingface", `{"info": {"features": {"id": {"dtype": "int64", "_type": "Value"}, "score": {"dtype": "float64", "_type": "Value"}, "text": {"dtype": "string", "_type": "Value"}, "ok": {"dtype": "bool", "_type": "Value"}}}}`)
	add("arrow", "benign/data-00000-of-00001.arrow", "benign", "IPC stream as the datasets library caches a split (RecordBatchStreamWriter, huggingface schema metadata)", ipcStream(hf))
	nested := nestedBatches()
	add("arrow", "benign/nested.arrows", "benign", "IPC stream: list<int32>, struct<a int32, b list<utf8>>, map<utf8, int64>, a dictionary-encoded utf8 column (a dictionary batch)", ipcStream(nested))
	add("arrow", "benign/nested.arrow", "benign", "the same as an IPC file", ipcFile(nested))
	ext := extensionBatches(true)
	add("arrow", "benign/extensions.arrow", "benign", "IPC file with registered extension types that are not pickles: arrow.uuid, arrow.json, arrow.bool8, arrow.fixed_shape_tensor (JSON metadata) and a datasets ArrayND name", ipcFile(ext))
	add("arrow", "benign/extensions.arrows", "benign", "the same as a stream", ipcStream(ext))
	add("arrow", "benign/schema-only.arrows", "benign", "a stream with a schema and no record batch", ipcStream(batches{schema: plain.schema}))

	py := pyBatches(pickleP2)
	evil(add("arrow", "malicious/py-extension.arrow", "malicious", "IPC file whose column is arrow.py_extension_type with a protocol-2 posix.system('touch marker') pickle as ARROW:extension:metadata (CVE-2023-47248)", ipcFile(py)))
	evil(add("arrow", "malicious/data-00000-of-00001.arrow", "malicious", "the same as a stream named like a datasets cache file", ipcStream(withMeta(py, "huggingface", `{"info": {"features": {}}}`))))
	pyNested := pyNestedBatches(pickleP4)
	evil(add("arrow", "malicious/py-extension-in-struct.arrows", "malicious", "IPC stream whose struct column has a child field of type arrow.py_extension_type (protocol-4 posix.system pickle)", ipcStream(pyNested)))
	evil(add("arrow", "malicious/py-extension-in-struct.arrow", "malicious", "the same as an IPC file", ipcFile(pyNested)))
	ds := add("arrow", "malicious/datasets-array2d-legacy.arrow", "malicious",
		"IPC stream with an Array2D column as datasets 2.14 and older wrote it: arrow.py_extension_type with a pickle of datasets.features.features.Array2DExtensionType((2, 3), 'float32'); pyarrow < 14.0.1 imports and calls it on read",
		ipcStream(pyBatches(datasetsArray2D)))
	ds.e.MinSeverity, ds.e.Evidence = "high", "Array2DExtensionType"

	stream := ipcStream(plain)
	file := ipcFile(plain)
	add("arrow", "malformed/truncated.arrow", "malformed", "benign/plain.arrow cut in half: no footer", file[:len(file)/2])
	add("arrow", "malformed/truncated-schema.arrows", "malformed", "a stream cut inside its schema message", stream[:40])
	add("arrow", "malformed/truncated-body.arrows", "malformed", "a stream cut inside its first record batch body", stream[:len(stream)-40])
	bad := bytes.Clone(file)
	binary.LittleEndian.PutUint32(bad[len(bad)-10:], uint32(len(bad))) // the footer length now points before the file
	add("arrow", "malformed/footer-length.arrow", "malformed", "benign/plain.arrow with a footer length larger than the file", bad)

	// Parquet.
	store := pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema())
	noStore := pqarrow.NewArrowWriterProperties()
	add("parquet", "benign/plain.parquet", "benign", "pqarrow with store_schema: int64, float64, utf8, bool in three row groups", parquetFile(plain, 2, store))
	add("parquet", "benign/plain-no-arrow-schema.parquet", "benign", "the same without store_schema: no ARROW:schema key", parquetFile(plain, 2, noStore))
	add("parquet", "benign/nested.parquet", "benign", "pqarrow with store_schema: list, struct, map and a dictionary column", parquetFile(nested, 2, store))
	add("parquet", "benign/extensions.parquet", "benign", "pqarrow with store_schema: arrow.uuid, arrow.json and arrow.bool8 extension types in the ARROW:schema (pqarrow cannot write extension types stored as lists)", parquetFile(extensionBatches(false), 2, store))
	add("parquet", "benign/pandas.parquet", "benign", "pqarrow with store_schema and the pandas and huggingface metadata pyarrow and datasets write", parquetFile(withMeta(withMeta(plain, "pandas", pandasJSON), "huggingface", `{"info": {"features": {}}}`), 4, store))
	enc := add("parquet", "benign/encrypted-columns.parquet", "benign", "columns encrypted with AES-GCM, plaintext footer (PAR1): the footer and its ARROW:schema are readable", parquetEncrypted(plain, true))
	enc.random = true
	encFooter := add("parquet", "malformed/encrypted-footer.parquet", "malformed", "footer encrypted (PARE): nothing can be analysed without the key, so the file is reported as not fully analysed", parquetEncrypted(plain, false))
	encFooter.random = true

	evil(add("parquet", "malicious/py-extension.parquet", "malicious", "pqarrow with store_schema: a column of arrow.py_extension_type whose metadata is a protocol-2 posix.system pickle; pyarrow < 14.0.1 unpickles it from the ARROW:schema when the file is opened", parquetFile(py, 2, store)))
	evil(add("parquet", "malicious/py-extension-in-struct.parquet", "malicious", "the same in a struct child field (protocol-4 pickle)", parquetFile(pyNested, 2, store)))
	pySchema := ipcStream(batches{schema: py.schema})
	pyOnly := pySchema[:len(pySchema)-8] // one Schema message, no end-of-stream marker: what pyarrow stores
	evil(add("parquet", "malicious/py-extension-pyarrow-layout.parquet", "malicious", "ARROW:schema laid out as pyarrow writes it: the Schema message alone, standard base64 with padding", parquetFile(withMeta(py.storageOnly(), "ARROW:schema", base64.StdEncoding.EncodeToString(pyOnly)), 2, noStore)))
	evil(add("parquet", "malicious/py-extension-unpadded.parquet", "malicious", "ARROW:schema in base64 without padding (arrow-go and Arrow C++ accept it)", parquetFile(withMeta(py.storageOnly(), "ARROW:schema", base64.RawStdEncoding.EncodeToString(pyOnly)), 2, noStore)))
	evil(add("parquet", "malicious/py-extension-legacy-message.parquet", "malicious", "ARROW:schema in the legacy (pre-0.15) message form: int32 length, no continuation marker", parquetFile(withMeta(py.storageOnly(), "ARROW:schema", base64.StdEncoding.EncodeToString(pyOnly[4:])), 2, noStore)))

	pq := parquetFile(plain, 2, store)
	add("parquet", "malformed/truncated.parquet", "malformed", "benign/plain.parquet cut in half: no footer", pq[:len(pq)/2])
	badLen := bytes.Clone(pq)
	binary.LittleEndian.PutUint32(badLen[len(badLen)-8:], uint32(len(badLen)))
	add("parquet", "malformed/footer-length.parquet", "malformed", "benign/plain.parquet with a footer length larger than the file", badLen)
	cut := bytes.Clone(pq)
	n := int(binary.LittleEndian.Uint32(cut[len(cut)-8:]))
	footer := cut[len(cut)-8-n : len(cut)-8]
	half := append(append(bytes.Clone(cut[:len(cut)-8-n]), footer[:n/2]...), binary.LittleEndian.AppendUint32(nil, uint32(n/2))...)
	add("parquet", "malformed/footer-cut.parquet", "malformed", "benign/plain.parquet whose FileMetaData is cut in half (the length says so): the Thrift struct ends early", append(half, "PAR1"...))
	add("parquet", "malformed/bad-arrow-schema.parquet", "malformed", "an ARROW:schema that is not base64", parquetFile(withMeta(plain, "ARROW:schema", "this is not base64!"), 2, noStore))
	return fs
}

// pandasJSON is the shape of the pandas metadata pyarrow writes.
const pandasJSON = `{"index_columns": [{"kind": "range", "name": null, "start": 0, "stop": 5, "step": 1}], "column_indexes": [{"name": null, "field_name": null, "pandas_type": "unicode", "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}], "columns": [{"name": "id", "field_name": "id", "pandas_type": "int64", "numpy_type": "int64", "metadata": null}], "creator": {"library": "pyarrow", "version": "14.0.0"}, "pandas_version": "2.1.1"}`

// batches is a schema and its record batches.
type batches struct {
	schema *arrow.Schema
	recs   []arrow.RecordBatch
}

func withMeta(b batches, key, value string) batches {
	m := b.schema.Metadata()
	keys, vals := slices.Clone(m.Keys()), slices.Clone(m.Values())
	keys, vals = append(keys, key), append(vals, value)
	s := arrow.NewSchema(b.schema.Fields(), ptr(arrow.NewMetadata(keys, vals)))
	out := batches{schema: s}
	for _, r := range b.recs {
		out.recs = append(out.recs, array.NewRecordBatch(s, r.Columns(), r.NumRows()))
	}
	return out
}

// storageOnly replaces every extension column by its storage, so that the
// Parquet writer makes no ARROW:schema of its own.
func (b batches) storageOnly() batches {
	var fields []arrow.Field
	for _, f := range b.schema.Fields() {
		if e, ok := f.Type.(arrow.ExtensionType); ok {
			f.Type = e.StorageType()
		}
		fields = append(fields, f)
	}
	m := b.schema.Metadata()
	s := arrow.NewSchema(fields, &m)
	out := batches{schema: s}
	for _, r := range b.recs {
		cols := slices.Clone(r.Columns())
		for i, c := range cols {
			if e, ok := c.(array.ExtensionArray); ok {
				cols[i] = e.Storage()
			}
		}
		out.recs = append(out.recs, array.NewRecordBatch(s, cols, r.NumRows()))
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func plainBatches() batches {
	s := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "score", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "text", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean},
	}, nil)
	var recs []arrow.RecordBatch
	for k := range 2 {
		b := array.NewRecordBuilder(mem, s)
		for i := range 3 {
			n := int64(3*k + i)
			b.Field(0).(*array.Int64Builder).Append(n)
			b.Field(1).(*array.Float64Builder).Append(float64(n) / 4)
			b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("row %d", n))
			b.Field(3).(*array.BooleanBuilder).Append(n%2 == 0)
		}
		recs = append(recs, b.NewRecordBatch())
	}
	return batches{schema: s, recs: recs}
}

func nestedBatches() batches {
	dict := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String}
	s := arrow.NewSchema([]arrow.Field{
		{Name: "tokens", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
		{Name: "pair", Type: arrow.StructOf(
			arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32},
			arrow.Field{Name: "b", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
		)},
		{Name: "counts", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "label", Type: dict},
	}, nil)
	b := array.NewRecordBuilder(mem, s)
	tok := b.Field(0).(*array.ListBuilder)
	pair := b.Field(1).(*array.StructBuilder)
	counts := b.Field(2).(*array.MapBuilder)
	label := b.Field(3).(*array.BinaryDictionaryBuilder)
	for i := range 4 {
		tok.Append(true)
		for j := range i {
			tok.ValueBuilder().(*array.Int32Builder).Append(int32(j))
		}
		pair.Append(true)
		pair.FieldBuilder(0).(*array.Int32Builder).Append(int32(i))
		lb := pair.FieldBuilder(1).(*array.ListBuilder)
		lb.Append(true)
		lb.ValueBuilder().(*array.StringBuilder).Append(fmt.Sprintf("w%d", i))
		counts.Append(true)
		counts.KeyBuilder().(*array.StringBuilder).Append("k")
		counts.ItemBuilder().(*array.Int64Builder).Append(int64(i))
		if err := label.AppendString([]string{"cat", "dog"}[i%2]); err != nil {
			log.Fatal(err)
		}
	}
	return batches{schema: s, recs: []arrow.RecordBatch{b.NewRecordBatch()}}
}

// extensionBatches has every benign extension type; pqarrow cannot write
// an extension type whose storage is a list or a fixed_size_list, so the
// Parquet file goes without the tensor and image columns.
func extensionBatches(lists bool) batches {
	jsonType, err := extensions.NewJSONType(arrow.BinaryTypes.String)
	if err != nil {
		log.Fatal(err)
	}
	fields := []arrow.Field{
		{Name: "id", Type: extensions.NewUUIDType()},
		{Name: "doc", Type: jsonType},
		{Name: "flag", Type: extensions.NewBool8Type()},
	}
	if lists {
		fields = append(fields, arrow.Field{Name: "image", Type: dsArray2D}, arrow.Field{Name: "tensor", Type: fixedShape})
	}
	s := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(mem, s)
	for i := range 2 {
		b.Field(0).(*extensions.UUIDBuilder).AppendBytes([16]byte{byte(i + 1)})
		b.Field(1).(*array.ExtensionBuilder).StorageBuilder().(*array.StringBuilder).Append(fmt.Sprintf(`{"n": %d}`, i))
		b.Field(2).(*extensions.Bool8Builder).Append(i == 0)
		if !lists {
			continue
		}
		ib := b.Field(3).(*array.ExtensionBuilder).StorageBuilder().(*array.ListBuilder)
		ib.Append(true)
		for range 2 {
			rb := ib.ValueBuilder().(*array.ListBuilder)
			rb.Append(true)
			rb.ValueBuilder().(*array.Float32Builder).AppendValues([]float32{0, 0.5, 1}, nil)
		}
		tb := b.Field(4).(*array.ExtensionBuilder).StorageBuilder().(*array.FixedSizeListBuilder)
		tb.Append(true)
		tb.ValueBuilder().(*array.Float32Builder).AppendValues([]float32{1, 2, 3, 4}, nil)
	}
	return batches{schema: s, recs: []arrow.RecordBatch{b.NewRecordBatch()}}
}

// pyBatches has an id column and a column of arrow.py_extension_type.
func pyBatches(pickle string) batches {
	t := newPyExt(arrow.PrimitiveTypes.Int64, pickle)
	s := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "payload", Type: t, Nullable: true},
	}, nil)
	ids := array.NewInt64Builder(mem)
	ids.AppendValues([]int64{1, 2, 3}, nil)
	st := array.NewInt64Builder(mem)
	st.AppendValues([]int64{7, 8, 9}, nil)
	cols := []arrow.Array{ids.NewArray(), array.NewExtensionArrayWithStorage(t, st.NewArray())}
	return batches{schema: s, recs: []arrow.RecordBatch{array.NewRecordBatch(s, cols, 3)}}
}

// pyNestedBatches hides the type in a struct's child field.
func pyNestedBatches(pickle string) batches {
	t := newPyExt(arrow.PrimitiveTypes.Int64, pickle)
	ids := array.NewInt64Builder(mem)
	ids.AppendValues([]int64{1, 2}, nil)
	st := array.NewInt64Builder(mem)
	st.AppendValues([]int64{5, 6}, nil)
	names := array.NewStringBuilder(mem)
	names.AppendValues([]string{"a", "b"}, nil)
	sa, err := array.NewStructArrayWithFields([]arrow.Array{names.NewArray(), array.NewExtensionArrayWithStorage(t, st.NewArray())},
		[]arrow.Field{{Name: "name", Type: arrow.BinaryTypes.String}, {Name: "extra", Type: t, Nullable: true}})
	if err != nil {
		log.Fatal(err)
	}
	s := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "meta", Type: sa.DataType()},
	}, nil)
	return batches{schema: s, recs: []arrow.RecordBatch{array.NewRecordBatch(s, []arrow.Array{ids.NewArray(), sa}, 2)}}
}

func ipcStream(b batches) []byte {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(b.schema), ipc.WithAllocator(mem))
	for _, r := range b.recs {
		if err := w.Write(r); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	return buf.Bytes()
}

func ipcFile(b batches) []byte {
	var buf bytes.Buffer
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(b.schema), ipc.WithAllocator(mem))
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range b.recs {
		if err := w.Write(r); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	return buf.Bytes()
}

// parquetFile writes the batches with pqarrow, rows rows to a row group.
func parquetFile(b batches, rows int64, ap pqarrow.ArrowWriterProperties) []byte {
	var buf bytes.Buffer
	props := parquet.NewWriterProperties(parquet.WithAllocator(mem), parquet.WithMaxRowGroupLength(rows),
		parquet.WithCompression(compress.Codecs.Uncompressed))
	tbl := array.NewTableFromRecords(b.schema, b.recs)
	if err := pqarrow.WriteTable(tbl, &buf, rows, props, ap); err != nil {
		log.Fatalf("parquet of %s: %v", b.schema, err)
	}
	return buf.Bytes()
}

// footerKey is the 16-byte AES key of the encrypted fixtures.
const footerKey = "0123456789012345"

func parquetEncrypted(b batches, plaintextFooter bool) []byte {
	var opts []parquet.EncryptOption
	if plaintextFooter {
		opts = append(opts, parquet.WithPlaintextFooter())
	}
	var buf bytes.Buffer
	props := parquet.NewWriterProperties(parquet.WithAllocator(mem), parquet.WithMaxRowGroupLength(3),
		parquet.WithEncryptionProperties(parquet.NewFileEncryptionProperties(footerKey, opts...)))
	tbl := array.NewTableFromRecords(b.schema, b.recs)
	if err := pqarrow.WriteTable(tbl, &buf, 3, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema())); err != nil {
		log.Fatal(err)
	}
	return buf.Bytes()
}

// verify reads a fixture back with arrow-go. Benign and malicious files
// must read; for the malicious ones the extension type must come back as
// arrow.py_extension_type with the pickle unchanged. Malformed files must
// fail to read (except the encrypted one, which reads with its key).
func verify(f fixture) error {
	var schema *arrow.Schema
	var err error
	switch {
	case f.pkg == "arrow" && strings.HasPrefix(string(f.data), "ARROW1"):
		schema, err = readIPCFile(f.data)
	case f.pkg == "arrow":
		schema, err = readIPCStream(f.data)
	default:
		schema, err = readParquet(f.data, f.random)
	}
	if f.e.Expect == "malformed" {
		if f.random && err == nil {
			return nil
		}
		if err == nil {
			return fmt.Errorf("a malformed fixture reads")
		}
		return nil
	}
	if err != nil {
		return err
	}
	want := map[string]bool{pickleP2: true, pickleP4: true, datasetsArray2D: true}
	found := 0
	var walk func(fs []arrow.Field)
	walk = func(fs []arrow.Field) {
		for _, fl := range fs {
			if e, ok := fl.Type.(*pyExt); ok {
				if !want[e.pickle] {
					err = fmt.Errorf("field %s: pickle %q came back changed", fl.Name, e.pickle)
				}
				found++
			}
			if n, ok := fl.Type.(arrow.NestedType); ok {
				walk(n.Fields())
			}
		}
	}
	walk(schema.Fields())
	if err != nil {
		return err
	}
	if (f.e.Expect == "malicious") != (found > 0) {
		return fmt.Errorf("%d arrow.py_extension_type fields read back, expectation %s", found, f.e.Expect)
	}
	return nil
}

func readIPCFile(b []byte) (*arrow.Schema, error) {
	r, err := ipc.NewFileReader(bytes.NewReader(b), ipc.WithAllocator(mem))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	for i := range r.NumRecords() {
		if _, err := r.RecordBatch(i); err != nil {
			return nil, err
		}
	}
	return r.Schema(), nil
}

func readIPCStream(b []byte) (*arrow.Schema, error) {
	r, err := ipc.NewReader(bytes.NewReader(b), ipc.WithAllocator(mem))
	if err != nil {
		return nil, err
	}
	defer r.Release()
	for r.Next() {
	}
	if err := r.Err(); err != nil && err != io.EOF {
		return nil, err
	}
	return r.Schema(), nil
}

// readParquet reads the whole table, then returns the schema decoded from
// the ARROW:schema (the one pyarrow applies) when there is one. arrow-go
// keeps the extension type only in that decoded schema when the storage
// type needs no change, so the check looks there.
func readParquet(b []byte, encrypted bool) (*arrow.Schema, error) {
	props := parquet.NewReaderProperties(mem)
	if encrypted {
		props.FileDecryptProps = parquet.NewFileDecryptionProperties(parquet.WithFooterKey(footerKey))
	}
	tbl, err := pqarrow.ReadTable(context.Background(), bytes.NewReader(b), props, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		return nil, err
	}
	defer tbl.Release()
	if encrypted {
		props.FileDecryptProps = parquet.NewFileDecryptionProperties(parquet.WithFooterKey(footerKey))
	}
	rdr, err := file.NewParquetReader(bytes.NewReader(b), file.WithReadProps(props))
	if err != nil {
		return nil, err
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		return nil, err
	}
	if s := fr.Manifest.OriginSchema; s != nil {
		return s, nil
	}
	return tbl.Schema(), nil
}
