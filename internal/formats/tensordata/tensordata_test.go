package tensordata_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/tensordata"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/scan"
)

// ---- helpers ------------------------------------------------------------------------------------

// noRead is a data file whose bytes may not be read: the analyser judges
// it by its sibling and its size alone.
type noRead struct{}

func (noRead) ReadAt([]byte, int64) (int, error) { return 0, errors.New("the data file was read") }

// analyze runs the analyser on a data file of size bytes named name, with
// files as its siblings.
func analyze(t testing.TB, name string, size int64, files map[string][]byte) (analyzer.Output, error) {
	t.Helper()
	lim := analyzer.DefaultLimits()
	var out analyzer.Output
	in := analyzer.Input{Name: name, R: noRead{}, Size: size, Budget: analyzer.NewBudget(lim), Open: opener(files)}
	err := tensordata.Analyzer{}.Analyze(context.Background(), in, lim, &out)
	return out, err
}

func opener(files map[string][]byte) func(string) (io.ReaderAt, int64, func() error, error) {
	return func(rel string) (io.ReaderAt, int64, func() error, error) {
		b, ok := files[rel]
		if !ok {
			return nil, 0, nil, fmt.Errorf("open %s: %w", rel, fs.ErrNotExist)
		}
		return bytes.NewReader(b), int64(len(b)), func() error { return nil }, nil
	}
}

func worst(fs []finding.Finding) finding.Severity {
	s, _ := finding.Max(fs)
	return s
}

func rule(out analyzer.Output, id string) []finding.Finding {
	var fs []finding.Finding
	for _, f := range out.Findings {
		if f.RuleID == id {
			fs = append(fs, f)
		}
	}
	return fs
}

func summary(out analyzer.Output) string {
	for _, f := range out.Findings {
		if f.RuleID == knowledge.RuleFormatSummary {
			return f.Message
		}
	}
	return ""
}

func read(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A minimal ModelProto writer for crafted external_data entries (field
// numbers from onnx.proto, as in internal/formats/onnx).
type msg []byte

func (m msg) varint(n protowire.Number, v uint64) msg {
	return protowire.AppendVarint(protowire.AppendTag(m, n, protowire.VarintType), v)
}

func (m msg) bytes(n protowire.Number, b []byte) msg {
	return protowire.AppendBytes(protowire.AppendTag(m, n, protowire.BytesType), b)
}

func (m msg) str(n protowire.Number, s string) msg { return m.bytes(n, []byte(s)) }

// tensor is an initializer whose external_data entries are kv (key, value
// pairs in order); external sets data_location = EXTERNAL.
func tensor(name string, external bool, kv ...string) msg {
	t := msg{}.varint(1, 4).varint(2, 1).str(8, name)
	for i := 0; i+1 < len(kv); i += 2 {
		t = t.bytes(13, msg{}.str(1, kv[i]).str(2, kv[i+1]))
	}
	if external {
		t = t.varint(14, 1)
	}
	return t
}

// onnxModel is ir_version 8, opset 13, a graph holding the initializers.
func onnxModel(inits ...msg) []byte {
	g := msg{}.str(2, "g")
	for _, t := range inits {
		g = g.bytes(5, t)
	}
	return msg{}.varint(1, 8).str(2, "test").bytes(7, g).bytes(8, msg{}.varint(2, 13))
}

// ---- Match --------------------------------------------------------------------------------------

func TestMatch(t *testing.T) {
	for name, want := range map[string]bool{
		"model.onnx_data":            true,
		"onnx/model_q4f16.onnx_data": true,
		"model.onnx_data_1":          true,
		"model.onnx_data_12":         true,
		"MODEL.ONNX_DATA":            true,
		"model.onnx.data":            true,
		"weights.data":               true,
		"openvino_model.bin":         true,
		"group1-shard1of3.bin":       true,
		"group1-shard1of3":           true, // tensorflowjs before 1.0
		"pytorch_model.bin":          true, // content analysers come first
		".hidden.bin":                false,
		"model.onnx":                 false,
		"model.onnx_data_x":          false,
		"model.safetensors":          false,
		"weights":                    false,
		"data":                       false,
		"model.json":                 false,
		"openvino_model.xml":         false,
		"x.bin.txt":                  false,
	} {
		if got := (tensordata.Analyzer{}).Match(name, nil); got != want {
			t.Errorf("Match(%q) = %v, want %v", name, got, want)
		}
	}
}

// Registered last: every content analyser is tried first, and none of them
// claims the benign data files under their real names.
func TestRegisteredLast(t *testing.T) {
	reg := scan.Registry()
	if reg[len(reg)-1].Format() != "tensor-data" {
		t.Fatalf("the last analyser is %s, want tensor-data", reg[len(reg)-1].Format())
	}
	for _, rel := range []string{"benign/onnx/model.onnx_data", "benign/openvino/openvino_model.bin", "benign/tfjs/group1-shard1of2.bin"} {
		b := read(t, rel)
		if a := scan.New().Match(filepath.Base(rel), b[:min(len(b), analyzer.HeadSize)]); a == nil || a.Format() != "tensor-data" {
			t.Errorf("%s: matched by %v", rel, a)
		}
	}
}

// ---- through the engine -------------------------------------------------------------------------

func scanDir(t *testing.T, dir string) map[string]scan.FileResult {
	t.Helper()
	out := map[string]scan.FileResult{}
	for _, r := range scan.New().ScanPaths(context.Background(), []string{dir}) {
		rel, err := filepath.Rel(dir, r.Path)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.ToSlash(rel)] = r
	}
	return out
}

func describe(r scan.FileResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "format %q", r.Format)
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "\n  %s %s %s | %s", f.Severity, f.RuleID, f.Message, f.Evidence)
	}
	for _, e := range r.Errors {
		b.WriteString("\n  error: " + e)
	}
	return b.String()
}

// Each benign fixture folder scanned as modelgate scan does: the data files
// are tensor-data, fully analysed, with nothing at or above medium; the
// summary names the sibling that references them.
func TestBenignFolders(t *testing.T) {
	for _, tc := range []struct {
		folder string
		data   map[string]string // data file → text the summary must hold
	}{
		{"benign/onnx", map[string]string{"model.onnx_data": "raw tensor bytes for model.onnx (ONNX external data): read as raw bytes at offsets, never interpreted as code; 2 tensors, 60 of the file's 60 bytes"}},
		{"benign/onnx-dot-data", map[string]string{"model.onnx.data": "model.onnx (ONNX external data)"}},
		{"benign/onnx-shards", map[string]string{"model.onnx_data": "1 tensor, 48 of the file's 48", "model.onnx_data_1": "1 tensor, 12 of the file's 12"}},
		{"benign/onnx-custom-location", map[string]string{"weights.data": "model.onnx (ONNX external data)"}},
		{"benign/openvino", map[string]string{"openvino_model.bin": "openvino_model.xml (OpenVINO IR v11 weights): read as raw bytes at offsets, never interpreted as code; 2 Const layers, 60 of the file's 60"}},
		{"benign/tfjs", map[string]string{
			"group1-shard1of2.bin": "model.json (TF.js weights, shard 1 of 2 of weight group 1): read as raw bytes at offsets, never interpreted as code; the group's 2 weights take 60 bytes, its 2 shards hold 60",
			"group1-shard2of2.bin": "shard 2 of 2",
		}},
	} {
		res := scanDir(t, filepath.Join("testdata", tc.folder))
		for name, want := range tc.data {
			r, ok := res[name]
			if !ok {
				t.Errorf("%s/%s: no result", tc.folder, name)
				continue
			}
			if r.Format != "tensor-data" || len(r.Errors) > 0 || worst(r.Findings) >= finding.Medium {
				t.Errorf("%s/%s: %s", tc.folder, name, describe(r))
			}
			if len(r.Findings) != 1 || !strings.Contains(r.Findings[0].Message, want) {
				t.Errorf("%s/%s: summary lacks %q: %s", tc.folder, name, want, describe(r))
			}
		}
		// The folder as a whole passes: siblings too (model.onnx is
		// analysed as ONNX; .xml and .json are passed over as in any walk).
		for name, r := range res {
			if len(r.Errors) > 0 || worst(r.Findings) >= finding.Medium {
				t.Errorf("%s/%s: %s", tc.folder, name, describe(r))
			}
		}
	}
}

// Content wins over names: a pickle named model.onnx_data next to the model
// that references that name, and a torch.save payload named
// openvino_model.bin next to a real IR, are analysed as what they are.
func TestContentAnalysersWin(t *testing.T) {
	for _, tc := range []struct{ rel, format string }{
		{"malicious/pickle-onnx-data/model.onnx_data", "pickle"},
		{"malicious/torch-openvino/openvino_model.bin", "pytorch-zip"},
	} {
		r := scanDir(t, filepath.Dir(filepath.Join("testdata", tc.rel)))[filepath.Base(tc.rel)]
		if r.Format != tc.format || worst(r.Findings) != finding.Critical {
			t.Errorf("%s: want %s, critical: %s", tc.rel, tc.format, describe(r))
		}
	}
}

// Not confirmed: the result is an unrecognised file's (format unknown, an
// error, so the scan exits 2 and the gate refuses it), with the reason.
func TestUnconfirmed(t *testing.T) {
	for _, tc := range []struct{ rel, why string }{
		{"malformed/no-sibling/model.onnx_data", "model.onnx_data: no sibling ONNX model references it: model.onnx not found"},
		{"malformed/no-sibling/weights.bin", "weights.bin: no sibling OpenVINO IR or TF.js model.json references it: weights.xml not found; model.json not found"},
		{"malformed/unreferenced/model.onnx_data", `model.onnx does not reference it (its external data is in "weights.data")`},
	} {
		r := scanDir(t, filepath.Dir(filepath.Join("testdata", tc.rel)))[filepath.Base(tc.rel)]
		if r.Format != "unknown" || len(r.Errors) != 1 || len(r.Findings) != 0 {
			t.Errorf("%s: %s", tc.rel, describe(r))
			continue
		}
		if !strings.HasPrefix(r.Errors[0], "not a recognised model format: nothing was analysed") || !strings.Contains(r.Errors[0], tc.why) {
			t.Errorf("%s: error %q lacks %q", tc.rel, r.Errors[0], tc.why)
		}
	}
	// Without neighbours (standard input, an archive member) nothing can
	// vouch for the file.
	lim := analyzer.DefaultLimits()
	var out analyzer.Output
	err := tensordata.Analyzer{}.Analyze(context.Background(), analyzer.Input{Name: "model.onnx_data", R: noRead{}, Size: 8, Budget: analyzer.NewBudget(lim)}, lim, &out)
	if err == nil || out.Format != "unknown" {
		t.Errorf("no Open: err %v, format %q", err, out.Format)
	}
	// The same bytes through the engine with no neighbours at all.
	r := scan.New().ScanReaderAt(context.Background(), "model.onnx_data", bytes.NewReader(read(t, "benign/onnx/model.onnx_data")), 60, false)
	if r.Format != "unknown" || len(r.Errors) == 0 {
		t.Errorf("ScanReaderAt: %s", describe(r))
	}
}

// ONNX external data cut short, as onnx.save wrote it and then truncated:
// confirmed, with a medium TENSOR-DATA-RANGE finding at the tensor's offset.
func TestONNXRangeFixture(t *testing.T) {
	r := scanDir(t, filepath.Join("testdata", "malformed", "range"))["model.onnx_data"]
	if r.Format != "tensor-data" || len(r.Errors) > 0 {
		t.Fatalf("%s", describe(r))
	}
	var got []finding.Finding
	for _, f := range r.Findings {
		if f.RuleID == knowledge.RuleTensorDataRange {
			got = append(got, f)
		}
	}
	// Cut at 40 bytes: W (bytes 0 to 48) starts inside the file, B (48 to
	// 60) after its end.
	want := map[string]int64{
		`tensor "W" of model.onnx takes bytes 0 to 48, past the end of this 40-byte file`:  0,
		`tensor "B" of model.onnx takes bytes 48 to 60, past the end of this 40-byte file`: finding.NoOffset,
	}
	for _, f := range got {
		for msg, off := range want {
			if strings.Contains(f.Message, msg) && f.Severity == finding.Medium && f.Offset == off {
				delete(want, msg)
			}
		}
	}
	if len(got) != 2 || len(want) > 0 {
		t.Errorf("missing %v: %s", want, describe(r))
	}
}

// ---- ONNX, crafted ------------------------------------------------------------------------------

func TestONNX(t *testing.T) {
	const size = 100
	for _, tc := range []struct {
		name      string
		model     []byte
		confirmed bool
		rangeSev  finding.Severity // 0: no TENSOR-DATA-RANGE finding
		text      string           // in the summary, the finding or the error
	}{
		{"offset and length inside", onnxModel(tensor("w", true, "location", "model.onnx_data", "offset", "0", "length", "64"),
			tensor("b", true, "location", "model.onnx_data", "offset", "64", "length", "36")), true, 0, "2 tensors, 100 of the file's 100 bytes"},
		{"no length: to the end", onnxModel(tensor("w", true, "location", "model.onnx_data", "offset", "10")), true, 0, "1 tensor, 90 of the file's 100"},
		{"empty entries are absent", onnxModel(tensor("w", true, "location", "./model.onnx_data", "offset", "", "length", "")), true, 0, "100 of the file's 100"},
		{"gaps are counted", onnxModel(tensor("w", true, "location", "model.onnx_data", "offset", "0", "length", "10"),
			tensor("b", true, "location", "model.onnx_data", "offset", "90", "length", "10")), true, 0, "20 of the file's 100"},
		{"overlaps are counted once", onnxModel(tensor("w", true, "location", "model.onnx_data", "offset", "0", "length", "50"),
			tensor("b", true, "location", "model.onnx_data", "offset", "40", "length", "20")), true, 0, "60 of the file's 100"},
		{"last location wins", onnxModel(tensor("w", true, "location", "other.bin", "location", "model.onnx_data", "length", "4")), true, 0, "1 tensor"},
		{"past the end", onnxModel(tensor("w", true, "location", "model.onnx_data", "offset", "96", "length", "8")), true, finding.Medium, "takes bytes 96 to 104, past the end of this 100-byte file"},
		{"offset past the end, no length", onnxModel(tensor("w", true, "location", "model.onnx_data", "offset", "101")), true, finding.Medium, "starts at byte 101, past the end"},
		{"length overflows", onnxModel(tensor("w", true, "location", "model.onnx_data", "offset", "8", "length", "9223372036854775807")), true, finding.Medium, "past the end"},
		{"offset not a number", onnxModel(tensor("w", true, "location", "model.onnx_data", "offset", "0x10")), true, finding.Medium, `offset "0x10" is not a byte count`},
		{"negative length", onnxModel(tensor("w", true, "location", "model.onnx_data", "length", "-4")), true, finding.Medium, "length -4 is negative"},
		{"not EXTERNAL: loaders ignore it", onnxModel(tensor("w", false, "location", "model.onnx_data")), false, 0, "model.onnx does not reference it"},
		{"another file", onnxModel(tensor("w", true, "location", "weights.bin")), false, 0, `its external data is in "weights.bin"`},
		{"a sub-folder is another file", onnxModel(tensor("w", true, "location", "sub/model.onnx_data")), false, 0, "does not reference it"},
		{"no external data", onnxModel(), false, 0, "model.onnx does not reference it"},
		{"not a model", []byte("\x80\x04\x95 not onnx at all"), false, 0, "could not be read as an ONNX model"},
		{"truncated model", onnxModel(tensor("w", true, "location", "model.onnx_data"))[:30], false, 0, "could not be read as an ONNX model"},
	} {
		out, err := analyze(t, "model.onnx_data", size, map[string][]byte{"model.onnx": tc.model})
		if tc.confirmed != (err == nil) || tc.confirmed != (out.Format == "") {
			t.Errorf("%s: err %v, format %q, findings %+v", tc.name, err, out.Format, out.Findings)
			continue
		}
		var text string
		switch {
		case err != nil:
			text = err.Error()
		case tc.rangeSev != 0:
			fs := rule(out, knowledge.RuleTensorDataRange)
			if len(fs) != 1 || fs[0].Severity != tc.rangeSev {
				t.Errorf("%s: range findings %+v", tc.name, fs)
				continue
			}
			text = fs[0].Message
		default:
			if fs := rule(out, knowledge.RuleTensorDataRange); len(fs) > 0 {
				t.Errorf("%s: unexpected %+v", tc.name, fs)
			}
			text = summary(out)
		}
		if !strings.Contains(text, tc.text) {
			t.Errorf("%s: %q lacks %q", tc.name, text, tc.text)
		}
	}
}

// The other ONNX names find their model by convention, model.onnx last.
func TestONNXNames(t *testing.T) {
	ref := func(loc string) []byte {
		return onnxModel(tensor("w", true, "location", loc, "length", "4"))
	}
	for _, tc := range []struct {
		data, model string
	}{
		{"decoder_model_merged.onnx_data", "decoder_model_merged.onnx"},
		{"model_q4f16.onnx_data_3", "model_q4f16.onnx"},
		{"model.onnx.data", "model.onnx"},
		{"Model.ONNX_DATA", "Model.ONNX"},
		{"weights.data", "weights.onnx"},
		{"weights.data", "model.onnx"},
		{"encoder.onnx_data", "model.onnx"},
	} {
		out, err := analyze(t, tc.data, 4, map[string][]byte{tc.model: ref(tc.data)})
		if err != nil || !strings.Contains(summary(out), "raw tensor bytes for "+tc.model+" ") {
			t.Errorf("%s next to %s: %v %+v", tc.data, tc.model, err, out.Findings)
		}
	}
}

// More range problems than are listed: the rest are counted.
func TestManyRangeIssues(t *testing.T) {
	var ts []msg
	for i := range 30 {
		ts = append(ts, tensor(fmt.Sprint("t", i), true, "location", "model.onnx_data", "offset", "1000", "length", "1"))
	}
	out, err := analyze(t, "model.onnx_data", 10, map[string][]byte{"model.onnx": onnxModel(ts...)})
	fs := rule(out, knowledge.RuleTensorDataRange)
	if err != nil || len(fs) != 21 || !strings.Contains(fs[20].Message, "10 more tensors out of range") {
		t.Errorf("err %v, %d findings, last %+v", err, len(fs), fs[len(fs)-1])
	}
}

// ---- OpenVINO, crafted --------------------------------------------------------------------------

func irConst(id int, off, size string) string {
	return fmt.Sprintf(`<layer id="%d" name="c%d" type="Const" version="opset1"><data element_type="f32" shape="1" offset="%s" size="%s"/><output><port id="0" precision="FP32"><dim>1</dim></port></output></layer>`, id, id, off, size)
}

func ir(layers ...string) []byte {
	return []byte(`<?xml version="1.0"?>` + "\n" + `<net name="m" version="11"><layers>` + strings.Join(layers, "") + `</layers><edges/></net>`)
}

func TestOpenVINO(t *testing.T) {
	const size = 64
	deep := `<net version="11">` + strings.Repeat("<a>", 600) + strings.Repeat("</a>", 600) + `</net>`
	loop := `<layer id="9" name="loop" type="Loop" version="opset5"><body><layers>` + irConst(10, "60", "8") + `</layers></body></layer>`
	for _, tc := range []struct {
		name      string
		xml       string
		confirmed bool
		rangeSev  finding.Severity
		text      string
	}{
		{"fixture", string(read(t, "benign/openvino/openvino_model.xml")), true, 0, "OpenVINO IR v11 weights"},
		{"inside", string(ir(irConst(0, "0", "32"), irConst(1, "32", "32"))), true, 0, "2 Const layers, 64 of the file's 64 bytes"},
		{"no Const", string(ir(`<layer id="0" name="x" type="Parameter" version="opset1"><data shape="1" element_type="f32"/></layer>`)), true, 0, "0 Const layers"},
		{"spec spelling Constant", string(ir(`<layer id="0" name="k" type="Constant"><data offset="0" size="4" element_type="f32" shape="1"/></layer>`)), true, 0, "1 Const layer,"},
		{"past the end", string(ir(irConst(0, "60", "8"))), true, finding.Medium, `Const layer "c0" of openvino_model.xml takes bytes 60 to 68, past the end of this 64-byte file`},
		{"inside a Loop body", string(ir(loop)), true, finding.Medium, `"c10"`},
		{"offset beyond", string(ir(irConst(0, "1000", "0"))), true, finding.Medium, "past the end"},
		{"huge size", string(ir(irConst(0, "8", "18446744073709551615"))), true, finding.Medium, "not a byte count"},
		{"negative offset", string(ir(irConst(0, "-1", "4"))), true, finding.Medium, "not a byte count"},
		{"no size", string(ir(`<layer id="0" name="k" type="Const"><data offset="0" element_type="f32" shape="1"/></layer>`)), true, finding.Medium, "has no offset or size"},
		{"other root", `<?xml version="1.0"?><project><layer type="Const"><data offset="0" size="1"/></layer></project>`, false, 0, "root element is <project>, not <net>"},
		{"not XML", "\x00\x01binary", false, 0, "not well-formed XML"},
		{"unclosed", `<net version="11"><layers>`, false, 0, "not well-formed XML"},
		{"mismatched tags", `<net version="11"><layers></net>`, false, 0, "not well-formed XML"},
		{"empty", "", false, 0, "no root element"},
		{"too deep", deep, false, 0, "nested deeper than 512"},
		{"entity not expanded", `<!DOCTYPE net [<!ENTITY x "y">]><net version="11">&x;</net>`, false, 0, "not well-formed XML"},
	} {
		out, err := analyze(t, "openvino_model.bin", size, map[string][]byte{"openvino_model.xml": []byte(tc.xml)})
		if tc.confirmed != (err == nil) || tc.confirmed != (out.Format == "") {
			t.Errorf("%s: err %v, format %q, findings %+v", tc.name, err, out.Format, out.Findings)
			continue
		}
		var text string
		switch {
		case err != nil:
			text = err.Error()
		case tc.rangeSev != 0:
			fs := rule(out, knowledge.RuleTensorDataRange)
			if len(fs) != 1 || fs[0].Severity != tc.rangeSev {
				t.Errorf("%s: range findings %+v", tc.name, fs)
				continue
			}
			text = fs[0].Message + " | " + fs[0].Evidence
		default:
			if fs := rule(out, knowledge.RuleTensorDataRange); len(fs) > 0 {
				t.Errorf("%s: unexpected %+v", tc.name, fs)
			}
			text = summary(out)
		}
		if !strings.Contains(text, tc.text) {
			t.Errorf("%s: %q lacks %q", tc.name, text, tc.text)
		}
	}
}

// ---- TF.js, crafted -----------------------------------------------------------------------------

func modelJSON(t testing.TB, groups ...any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"format": "layers-model", "modelTopology": map[string]any{}, "weightsManifest": groups})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type w = map[string]any

func group(paths []string, weights ...w) w { return w{"paths": paths, "weights": weights} }

func TestTFJS(t *testing.T) {
	f32 := func(shape ...int) w { return w{"name": "k", "shape": shape, "dtype": "float32"} }
	two := []string{"group1-shard1of2.bin", "group1-shard2of2.bin"}
	for _, tc := range []struct {
		name      string
		json      []byte
		shard2    int    // size of group1-shard2of2.bin when listed
		file      string // the shard analysed (default the first)
		confirmed bool
		sev       finding.Severity // of the TENSOR-DATA-RANGE finding, 0 for none
		text      string
	}{
		{"fixture", read(t, "benign/tfjs/model.json"), 28, "", true, 0, "the group's 2 weights take 60 bytes, its 2 shards hold 60"},
		{"exact", modelJSON(t, group(two, f32(4, 3), f32(3))), 28, "", true, 0, "take 60 bytes, its 2 shards hold 60"},
		{"short", modelJSON(t, group(two, f32(4, 4))), 28, "", true, finding.Medium, "take 64 bytes but its 2 shards hold 60: TF.js fails to load the model"},
		{"longer", modelJSON(t, group(two, f32(4, 3))), 28, "", true, finding.Low, "hold 60 bytes, 12 more than its weights take"},
		{"quantized uint8", modelJSON(t, group(two, w{"name": "q", "shape": []int{60}, "dtype": "float32", "quantization": w{"dtype": "uint8", "min": 0, "scale": 1}})), 28, "", true, 0, "take 60 bytes"},
		{"strings are a lower bound", modelJSON(t, group(two, w{"name": "s", "shape": []int{2}, "dtype": "string"})), 28, "", true, 0, "take at least 8 bytes, its 2 shards hold 60"},
		{"strings too many", modelJSON(t, group(two, w{"name": "s", "shape": []int{100}, "dtype": "string"})), 28, "", true, finding.Medium, "take at least 400 bytes"},
		{"unknown dtype", modelJSON(t, group(two, w{"name": "x", "shape": []int{1}, "dtype": "int64"})), 28, "", true, 0, `"x" has dtype "int64", which TF.js does not decode`},
		{"odd shape", modelJSON(t, group(two, w{"name": "x", "shape": []float64{1.5}, "dtype": "float32"})), 28, "", true, 0, "weights not sized"},
		{"huge shape saturates", modelJSON(t, group(two, w{"name": "x", "shape": []float64{1 << 52, 1 << 52, 1 << 52}, "dtype": "float32"})), 28, "", true, finding.Medium, "TF.js fails"},
		{"missing shard", modelJSON(t, group([]string{"group1-shard1of2.bin", "gone.bin"}, f32(1))), 28, "", true, 0, `shard "gone.bin" could not be opened`},
		{"second shard: no size check", modelJSON(t, group(two, f32(100))), 28, "group1-shard2of2.bin", true, 0, "compared with the shards' sizes on the group's first shard"},
		{"second group", modelJSON(t, group([]string{"a.bin"}, f32(1)), group([]string{"./group1-shard1of2.bin"}, f32(8))), 28, "", true, 0, "shard 1 of 1 of weight group 2"},
		{"old names without .bin", modelJSON(t, group([]string{"group1-shard1of1"}, f32(8))), 0, "group1-shard1of1", true, 0, "take 32 bytes, its 1 shard hold 32"},
		{"not listed", modelJSON(t, group([]string{"other.bin"}, f32(1))), 28, "", false, 0, "model.json's weightsManifest does not list it"},
		{"no manifest", []byte(`{"modelTopology": {}}`), 28, "", false, 0, "has no weightsManifest"},
		{"key case matters", []byte(`{"WeightsManifest": [{"paths": ["group1-shard1of2.bin"], "weights": []}]}`), 28, "", false, 0, "has no weightsManifest"},
		{"bad manifest", []byte(`{"weightsManifest": {"paths": 1}}`), 28, "", false, 0, "is not a TF.js weights manifest"},
		{"not JSON", []byte("\x89PNG"), 28, "", false, 0, "is not a JSON object"},
	} {
		files := map[string][]byte{"model.json": tc.json, "group1-shard2of2.bin": make([]byte, tc.shard2), "a.bin": make([]byte, 4)}
		file := tc.file
		if file == "" {
			file = "group1-shard1of2.bin"
		}
		size := int64(32)
		if file == "group1-shard2of2.bin" {
			size = int64(tc.shard2)
		}
		out, err := analyze(t, file, size, files)
		if tc.confirmed != (err == nil) || tc.confirmed != (out.Format == "") {
			t.Errorf("%s: err %v, format %q, findings %+v", tc.name, err, out.Format, out.Findings)
			continue
		}
		var text string
		switch {
		case err != nil:
			text = err.Error()
		case tc.sev != 0:
			fs := rule(out, knowledge.RuleTensorDataRange)
			if len(fs) != 1 || fs[0].Severity != tc.sev {
				t.Errorf("%s: range findings %+v", tc.name, fs)
				continue
			}
			text = fs[0].Message
		default:
			if fs := rule(out, knowledge.RuleTensorDataRange); len(fs) > 0 {
				t.Errorf("%s: unexpected %+v", tc.name, fs)
			}
			text = summary(out)
		}
		if !strings.Contains(text, tc.text) {
			t.Errorf("%s: %q lacks %q", tc.name, text, tc.text)
		}
	}
}

// A .bin is an OpenVINO weights file first, a TF.js shard second.
func TestBinCandidatesInOrder(t *testing.T) {
	files := map[string][]byte{
		"weights.xml": ir(irConst(0, "0", "4")),
		"model.json":  modelJSON(t, group([]string{"weights.bin"}, w{"name": "k", "shape": []int{1}, "dtype": "float32"})),
	}
	out, err := analyze(t, "weights.bin", 4, files)
	if err != nil || !strings.Contains(summary(out), "weights.xml (OpenVINO IR") {
		t.Errorf("%v %+v", err, out.Findings)
	}
	files["weights.xml"] = []byte("<html/>")
	out, err = analyze(t, "weights.bin", 4, files)
	if err != nil || !strings.Contains(summary(out), "model.json (TF.js") {
		t.Errorf("%v %+v", err, out.Findings)
	}
	delete(files, "model.json")
	if _, err = analyze(t, "weights.bin", 4, files); err == nil ||
		!strings.Contains(err.Error(), "weights.xml is not an OpenVINO IR (root element is <html>, not <net>); model.json not found") {
		t.Errorf("%v", err)
	}
}

// An unreadable sibling is a reason, not a crash, and a cancelled scan
// stops.
func TestSiblingErrors(t *testing.T) {
	lim := analyzer.DefaultLimits()
	in := analyzer.Input{Name: "model.onnx_data", R: noRead{}, Size: 4, Budget: analyzer.NewBudget(lim),
		Open: func(string) (io.ReaderAt, int64, func() error, error) {
			return nil, 0, nil, errors.New("503 Service Unavailable")
		}}
	var out analyzer.Output
	err := tensordata.Analyzer{}.Analyze(context.Background(), in, lim, &out)
	if err == nil || !strings.Contains(err.Error(), "model.onnx could not be opened (503 Service Unavailable)") || out.Format != "unknown" {
		t.Errorf("%v %q", err, out.Format)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in.Open = opener(map[string][]byte{"model.onnx": onnxModel(tensor("w", true, "location", "model.onnx_data"))})
	out = analyzer.Output{}
	if err := (tensordata.Analyzer{}).Analyze(ctx, in, lim, &out); !errors.Is(err, context.Canceled) || out.Format != "unknown" {
		t.Errorf("cancelled: %v %q", err, out.Format)
	}
}
