package keras_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/keras"
	"github.com/modelgate/modelgate/internal/knowledge"
	"github.com/modelgate/modelgate/internal/scan"
)

// engine is the registry with the HDF5 analyser in place (after the other
// magic-byte formats, before the pickle-based ones), whether or not
// scan.Registry lists it yet.
func engine() *scan.Engine {
	e := scan.New()
	for _, a := range e.Analyzers {
		if a.Format() == "hdf5" {
			return e
		}
	}
	var list []analyzer.Analyzer
	for _, a := range e.Analyzers {
		list = append(list, a)
		if a.Format() == "npy" {
			list = append(list, keras.H5Analyzer{})
		}
	}
	e.Analyzers = list
	return e
}

func scanFile(t *testing.T, path string) scan.FileResult {
	t.Helper()
	res := engine().ScanPaths(context.Background(), []string{path})
	if len(res) != 1 {
		t.Fatalf("%s: %d results", path, len(res))
	}
	return res[0]
}

func scanBytes(t *testing.T, name string, data []byte) scan.FileResult {
	t.Helper()
	return engine().ScanReaderAt(context.Background(), name, bytes.NewReader(data), int64(len(data)), false)
}

func describe(r scan.FileResult) string {
	var b strings.Builder
	for _, f := range r.Findings {
		b.WriteString("\n  " + f.Severity.String() + " " + f.RuleID + " " + f.Location() + " " + f.Message + " | " + f.Evidence)
	}
	for _, e := range r.Errors {
		b.WriteString("\n  error: " + e)
	}
	return b.String()
}

func hasEvidence(r scan.FileResult, s string) bool {
	for _, f := range r.Findings {
		if strings.Contains(f.Evidence, s) {
			return true
		}
	}
	return false
}

type fixtureEntry struct {
	File        string `json:"file"`
	Expect      string `json:"expect"`
	Threat      int    `json:"threat"`
	MinSeverity string `json:"min_severity"`
	Evidence    string `json:"evidence"`
	Proven      bool   `json:"proven"`
	Description string `json:"description"`
	Format      string `json:"format"`
}

func fixtures(t *testing.T) []fixtureEntry {
	t.Helper()
	b, err := os.ReadFile("testdata/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m []fixtureEntry
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFixtures: every malicious fixture (made by make_fixtures.py; the
// "proven" ones run their payload under Keras' own func_load, np.load or
// pickle.loads) fails at its expected severity with its evidence; every
// benign one has nothing at medium or above and no error.
func TestFixtures(t *testing.T) {
	threats := map[int]int{}
	for _, e := range fixtures(t) {
		t.Run(e.File, func(t *testing.T) {
			r := scanFile(t, filepath.Join("testdata", e.File))
			if r.Format != e.Format {
				t.Errorf("format %q, want %q", r.Format, e.Format)
			}
			maxSev, _ := finding.Max(r.Findings)
			switch e.Expect {
			case "malicious":
				threats[e.Threat]++
				want, err := finding.ParseSeverity(e.MinSeverity)
				if err != nil {
					t.Fatal(err)
				}
				if maxSev < want {
					t.Fatalf("%s: max severity %s, want >= %s%s", e.Description, maxSev, want, describe(r))
				}
				if e.Evidence != "" && !hasEvidence(r, e.Evidence) {
					t.Errorf("no evidence containing %q%s", e.Evidence, describe(r))
				}
			case "benign":
				if maxSev >= finding.Medium || len(r.Errors) > 0 {
					t.Fatalf("%s: benign file reported%s", e.Description, describe(r))
				}
			default:
				t.Fatalf("unknown expectation %q", e.Expect)
			}
		})
	}
	for _, item := range []int{26, 27} {
		if threats[item] == 0 {
			t.Errorf("THREATS.md item %d has no fixture", item)
		}
	}
}

// TestRealKerasH5 is the false-positive check on a real Keras 2.2.4 model
// (Debian's invesalius ships one). It skips when the file is absent:
//
//	cd /tmp && apt-get download invesalius && dpkg-deb -x invesalius_*.deb /tmp/invesalius
//	MODELGATE_KERAS_H5=/tmp/invesalius/usr/share/invesalius/ai/brain_mri_t1/model.h5 go test ./internal/formats/keras
func TestRealKerasH5(t *testing.T) {
	path := os.Getenv("MODELGATE_KERAS_H5")
	if path == "" {
		path = "/usr/share/invesalius/ai/brain_mri_t1/model.h5"
	}
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no real Keras .h5 model at %s (set MODELGATE_KERAS_H5)", path)
	}
	r := scanFile(t, path)
	if r.Format != "keras-h5" || len(r.Errors) > 0 {
		t.Fatalf("format %q, errors %v", r.Format, r.Errors)
	}
	for _, f := range r.Findings {
		if f.Severity >= finding.Medium {
			t.Errorf("%s %s: %s | %s", f.Severity, f.RuleID, f.Message, f.Evidence)
		}
	}
	t.Log(describe(r))
}

func zipOf(t *testing.T, members ...[2]string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, m := range members {
		f, err := w.CreateHeader(&zip.FileHeader{Name: m[0], Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte(m[1]))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// evilCode is the base64 func_dump of the fixture script's os.system lambda.
func evilCode(t *testing.T) string {
	t.Helper()
	zr, err := zip.OpenReader("testdata/malicious/27-k3-lambda-os-system.keras")
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	rc, err := zr.Open("config.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Config struct {
			Layers []struct {
				ClassName string `json:"class_name"`
				Config    struct {
					Function struct {
						Config struct {
							Code string `json:"code"`
						} `json:"config"`
					} `json:"function"`
				} `json:"config"`
			} `json:"layers"`
		} `json:"config"`
	}
	if err := json.NewDecoder(rc).Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	for _, l := range cfg.Config.Layers {
		if l.ClassName == "Lambda" {
			return l.Config.Function.Config.Code
		}
	}
	t.Fatal("no Lambda in the fixture")
	return ""
}

// TestArchiveShapes: the config is checked whatever else the zip looks like.
func TestArchiveShapes(t *testing.T) {
	code, _ := json.Marshal(evilCode(t))
	lambda := `{"class_name": "Sequential", "config": {"name": "s", "layers": [{"class_name": "Lambda", "config": {"name": "l", "function": [` + string(code) + `, null, null], "function_type": "lambda"}}]}}`
	benign := `{"class_name": "Sequential", "config": {"name": "s", "layers": [{"class_name": "Dense", "config": {"name": "d", "units": 1}}]}}`
	meta := `{"keras_version": "3.3.3", "date_saved": "2024-05-02@10:11:12"}`
	for _, tc := range []struct {
		name    string
		members [][2]string
		format  string
		want    finding.Severity
	}{
		{"keras archive", [][2]string{{"metadata.json", meta}, {"config.json", lambda}}, "keras", finding.Critical},
		{"second config.json copy is the malicious one", [][2]string{{"metadata.json", meta}, {"config.json", benign}, {"config.json", lambda}}, "keras", finding.Critical},
		{"torch archive that is also a keras archive", [][2]string{{"archive/data.pkl", "\x80\x02}q\x00."}, {"config.json", lambda}, {"metadata.json", meta}}, "pytorch-zip", finding.Critical},
		{"npz-looking keras archive", [][2]string{{"metadata.json", meta}, {"config.json", lambda}, {"x.npy", "\x93NUMPY\x01\x00\x76\x00{'descr': '<f8', 'fortran_order': False, 'shape': (0,), }" + strings.Repeat(" ", 57) + "\n"}}, "keras", finding.Critical},
		{"config.json of another tool in a zip", [][2]string{{"config.json", `{"architectures": ["BertModel"]}`}}, "zip", finding.Info},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := scanBytes(t, "model.keras", zipOf(t, tc.members...))
			if r.Format != tc.format {
				t.Errorf("format %q, want %q", r.Format, tc.format)
			}
			if got, _ := finding.Max(r.Findings); got != tc.want {
				t.Errorf("max severity %s, want %s%s", got, tc.want, describe(r))
			}
		})
	}
}

type want struct {
	rule string
	sev  finding.Severity
	text string // in the message or the evidence
}

func check(t *testing.T, config string) (analyzer.Output, error) {
	t.Helper()
	var out analyzer.Output
	_, err := keras.CheckConfig([]byte(config), "config.json", "config.json", &out)
	return out, err
}

// TestConfigRules is the table of the walker's rules, each with a positive
// and a negative case.
func TestConfigRules(t *testing.T) {
	code, _ := json.Marshal(evilCode(t))
	k3 := func(module, class, config string, extra string) string {
		return `{"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [{"module": ` + module + `, "class_name": "` + class + `", "config": ` + config + `, "registered_name": null` + extra + `}]}, "registered_name": null}`
	}
	dense3 := func(activation string) string {
		return k3(`"keras.layers"`, "Dense", `{"name": "d", "units": 1, "activation": `+activation+`}`, "")
	}
	for _, tc := range []struct {
		name   string
		config string
		want   []want // nil: nothing at low or above
	}{
		{"keras 3 dense", dense3(`"relu"`), nil},
		{"keras 3 builtin function by name", dense3(`{"module": "builtins", "class_name": "function", "config": "relu", "registered_name": "function"}`), nil},
		{"keras 3 builtins.exec", dense3(`{"module": "builtins", "class_name": "function", "config": "exec", "registered_name": "function"}`),
			[]want{{knowledge.RuleKerasCustomObject, finding.Critical, "builtins.exec"}}},
		{"keras 3 unknown builtins name", dense3(`{"module": "builtins", "class_name": "function", "config": "abs", "registered_name": "function"}`),
			[]want{{knowledge.RuleKerasCustomObject, finding.Medium, "builtins.abs"}}},
		{"keras 3 subprocess.Popen class", k3(`"subprocess"`, "Popen", `{"args": ["id"]}`, ""),
			[]want{{knowledge.RuleKerasCustomObject, finding.Critical, "subprocess.Popen"}}},
		{"keras 3 custom module", k3(`"my_pkg.layers"`, "MyLayer", `{"name": "m"}`, ""),
			[]want{{knowledge.RuleKerasCustomObject, finding.Medium, "my_pkg.layers"}}},
		{"keras 3 keras_nlp module", k3(`"keras_nlp.src.models.bert.bert_backbone"`, "BertBackbone", `{"name": "m"}`, ""), nil},
		{"keras 3 registered custom object without module",
			`{"class_name": "Sequential", "config": {"layers": [{"module": null, "class_name": "MyLayer", "config": {"name": "m"}, "registered_name": "my_pkg>MyLayer"}]}}`,
			[]want{{knowledge.RuleKerasCustomObject, finding.Medium, "my_pkg>MyLayer"}}},
		{"keras 3 get_file", dense3(`{"module": "keras.utils", "class_name": "function", "config": "get_file", "registered_name": "function"}`),
			[]want{{knowledge.RuleKerasCustomObject, finding.High, "keras.utils.get_file"}}},
		{"keras 3 TFSMLayer", k3(`"keras.layers"`, "TFSMLayer", `{"name": "t", "filepath": "/tmp/sm"}`, ""),
			[]want{{knowledge.RuleKerasCustomObject, finding.Medium, "/tmp/sm"}}},
		{"keras 3 lambda as an activation", dense3(`{"class_name": "__lambda__", "config": {"value": [` + string(code) + `, null, null]}}`),
			[]want{{knowledge.RuleKerasLambda, finding.Critical, "os.system"}}},
		{"keras 3 TorchModuleWrapper that is not base64", k3(`"keras.layers"`, "TorchModuleWrapper", `{"name": "t", "module": "!!!!!"}`, ""),
			[]want{{knowledge.RuleKerasCustomObject, finding.Medium, "not base64"}}},
		{"keras 2 unknown class", `{"class_name": "Sequential", "config": {"name": "s", "layers": [{"class_name": "AttentionWithContext", "config": {"name": "a"}}]}}`,
			[]want{{knowledge.RuleKerasCustomObject, finding.Medium, "AttentionWithContext"}}},
		{"keras 2 Custom>Adam optimizer", `{"optimizer_config": {"class_name": "Custom>Adam", "config": {"name": "Adam"}}}`, nil},
		{"keras 2 tensorflow_addons optimizer", `{"optimizer_config": {"class_name": "Addons>RectifiedAdam", "config": {"name": "RAdam"}}}`,
			[]want{{knowledge.RuleKerasCustomObject, finding.Medium, "Addons>RectifiedAdam"}}},
		{"keras 2 lambda with an output_shape lambda", `{"class_name": "Lambda", "config": {"name": "l", "function": [` + string(code) + `, null, null], "function_type": "lambda", "output_shape": [` + string(code) + `, null, null], "output_shape_type": "lambda"}}`,
			[]want{{knowledge.RuleKerasLambda, finding.Critical, "output_shape (CPython"}}},
		{"lambda whose code does not decode", `{"class_name": "Lambda", "config": {"name": "l", "function": ["4wAAAAAAAAAAAAAAAAAA", null, null], "function_type": "lambda"}}`,
			[]want{{knowledge.RuleKerasLambda, finding.High, "could not be decoded"}}},
		{"lambda whose code is not even base64", `{"class_name": "Lambda", "config": {"name": "l", "function": ["<<not code>>", null, null], "function_type": "lambda"}}`,
			[]want{{knowledge.RuleKerasLambda, finding.High, "<<not code>>"}}},
		{"code in a custom layer's config", `{"class_name": "DistributionLambda", "config": {"name": "d", "make_distribution_fn": ` + string(code) + `}}`,
			[]want{{knowledge.RuleKerasLambda, finding.Critical, "make_distribution_fn"}, {knowledge.RuleKerasCustomObject, finding.Medium, "DistributionLambda"}}},
		{"duplicate keys", `{"class_name": "Sequential", "class_name": "Sequential", "config": {"layers": []}}`,
			[]want{{knowledge.RuleKerasCustomObject, finding.Medium, "duplicate keys"}}},
		{"NaN and Infinity as Python writes them", `{"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": {"name": "d", "clipvalue": NaN, "max": Infinity, "min": -Infinity}}]}}`, nil},
		{"a base64 string that is not code", `{"class_name": "Sequential", "config": {"name": "YwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", "layers": []}}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := check(t, tc.config)
			if err != nil {
				t.Fatal(err)
			}
			var got []finding.Finding
			for _, f := range out.Findings {
				if f.Severity >= finding.Low {
					got = append(got, f)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d findings, want %d:%s", len(got), len(tc.want), describe(scan.FileResult{Findings: got}))
			}
			for _, w := range tc.want {
				found := false
				for _, f := range got {
					if f.RuleID == w.rule && f.Severity == w.sev && strings.Contains(f.Message+" "+f.Evidence, w.text) {
						found = true
					}
				}
				if !found {
					t.Errorf("no %s %s finding mentioning %q:%s", w.sev, w.rule, w.text, describe(scan.FileResult{Findings: got}))
				}
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, bad := range []string{
		``, `{`, `{"a": 1,}`, `[1, 2`, `{"a": "\x01"}`, `{"a": 01}`, `nan`, "\xff\xfe",
		strings.Repeat("[", 5000) + strings.Repeat("]", 5000),
	} {
		if _, err := check(t, bad); err == nil {
			t.Errorf("%.40q: no error", bad)
		}
	}
}
