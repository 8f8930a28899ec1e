package gguf

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

var update = flag.Bool("update", false, "rewrite the GGUF fixtures in testdata/gguf")

func readTemplate(t testing.TB, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/templates", dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func analyze(t testing.TB, file []byte) (analyzer.Output, error) {
	t.Helper()
	var out analyzer.Output
	err := Analyzer{}.Analyze(context.Background(), analyzer.Input{Name: "model.gguf", R: bytes.NewReader(file), Size: int64(len(file)), Budget: analyzer.NewBudget(analyzer.DefaultLimits())},
		analyzer.DefaultLimits(), &out)
	return out, err
}

func worstFinding(fs []finding.Finding) finding.Severity {
	w, _ := finding.Max(fs)
	return w
}

func describeFindings(fs []finding.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\n  %s %s @%d %s | %s", f.Severity, f.RuleID, f.Offset, f.Message, f.Evidence)
	}
	return b.String()
}

func hasRule(fs []finding.Finding, rule string, sev finding.Severity) bool {
	return slices.ContainsFunc(fs, func(f finding.Finding) bool { return f.RuleID == rule && f.Severity == sev })
}

// fixtures are the GGUF files committed in testdata/gguf, built by this
// function (go test ./internal/formats/gguf -run TestFixtures -update).
func fixtures(t testing.TB) map[string][]byte {
	llama3 := readTemplate(t, "benign", "llama-3-8b-instruct.jinja")
	qwen2 := readTemplate(t, "benign", "qwen2-7b-instruct.jinja")
	gemma := readTemplate(t, "benign", "gemma-2-it.jinja")
	mistral := readTemplate(t, "benign", "mistral-7b-instruct-v0.3.jinja")
	hermes := readTemplate(t, "benign", "hermes-3-llama-3.1-tool-use.jinja")
	poc := readTemplate(t, "malicious", "cve-2024-34359-poc.jinja")
	cycler := readTemplate(t, "malicious", "cycler-init-globals-os-popen.jinja")
	le, be := binary.LittleEndian, binary.BigEndian

	files := map[string][]byte{
		"benign-llama3-v3.gguf":            buildGGUF(3, le, modelKVs("llama", llama3), modelTensors, modelDataSize),
		"benign-qwen2-v2.gguf":             buildGGUF(2, le, modelKVs("qwen2", qwen2, kv{"qwen2.vocab_size", typeUint64, uint64(8)}, kv{"general.file_type", typeInt64, int64(1)}, kv{"training.lr", typeFloat64, 0.5}), modelTensors, modelDataSize),
		"benign-gemma-v1.gguf":             buildGGUF(1, le, modelKVs("gemma", gemma), modelTensors, modelDataSize),
		"benign-mistral-v3-bigendian.gguf": buildGGUF(3, be, modelKVs("llama", mistral), modelTensors, modelDataSize),
		"benign-named-templates.gguf": buildGGUF(3, le, modelKVs("llama", llama3,
			kv{"tokenizer.chat_templates", typeArray, stringArray("tool_use")},
			kv{"tokenizer.chat_template.tool_use", typeString, hermes}), modelTensors, modelDataSize),
		"benign-no-template.gguf":          buildGGUF(3, le, modelKVs("llama", ""), modelTensors, modelDataSize),
		"malicious-cve-2024-34359-v3.gguf": buildGGUF(3, le, modelKVs("llama", poc), modelTensors, modelDataSize),
		"malicious-named-template.gguf": buildGGUF(3, le, modelKVs("llama", llama3,
			kv{"tokenizer.chat_templates", typeArray, stringArray("tool_use")},
			kv{"tokenizer.chat_template.tool_use", typeString, cycler}), modelTensors, modelDataSize),
		"malicious-duplicate-template.gguf": buildGGUF(3, le, modelKVs("llama", llama3,
			kv{"tokenizer.chat_template", typeString, cycler}), modelTensors, modelDataSize),
		"malicious-cycler-v1-bigendian.gguf": buildGGUF(1, be, modelKVs("llama", cycler), modelTensors, modelDataSize),
		// llama.cpp finds keys with strcmp, so it renders the first template
		// below; readers comparing whole keys see only the second.
		"malicious-nul-key-template.gguf": buildGGUF(3, le, append([]kv{{"tokenizer.chat_template\x00", typeString, cycler}},
			modelKVs("llama", llama3)...), modelTensors, modelDataSize),
	}
	// The PoC template, then a metadata entry cut off by the end of the file:
	// the template is still reported.
	cut := buildGGUF(3, le, modelKVs("llama", poc, kv{"general.description", typeString, strings.Repeat("x", 200)}), nil, 0)
	files["malicious-truncated-after-template.gguf"] = cut[:len(cut)-150]

	w := newWriter(3, le)
	w.header(0, 1<<40)
	files["malformed-huge-kv-count.gguf"] = w.b.Bytes()

	w = newWriter(3, le)
	w.header(0, 1)
	w.str("tokenizer.chat_template")
	w.u32(typeString)
	w.count(1_000_000)
	w.b.WriteString("{{ messages }}")
	files["malformed-truncated-string.gguf"] = w.b.Bytes()

	// A template string longer than the file: readers that clamp strings
	// (@huggingface/gguf) read the payload that is there.
	w = newWriter(3, le)
	w.header(0, 2)
	w.kv(kv{"general.architecture", typeString, "llama"})
	w.str("tokenizer.chat_template")
	w.u32(typeString)
	w.count(100_000)
	w.b.WriteString(cycler)
	files["malicious-template-past-eof.gguf"] = w.b.Bytes()

	w = newWriter(2, le)
	w.header(0, 2)
	w.kv(kv{"general.architecture", typeString, "llama"})
	w.str("general.bad")
	w.u32(13)
	w.u64(0)
	files["malformed-bad-value-type.gguf"] = w.b.Bytes()
	return files
}

// fixtureWants is what scanning each fixture must give.
var fixtureWants = map[string]struct {
	sev   finding.Severity
	err   bool
	rules []string
}{
	"benign-llama3-v3.gguf":                   {finding.Info, false, nil},
	"benign-qwen2-v2.gguf":                    {finding.Info, false, nil},
	"benign-gemma-v1.gguf":                    {finding.Info, false, nil},
	"benign-mistral-v3-bigendian.gguf":        {finding.Info, false, nil},
	"benign-named-templates.gguf":             {finding.Info, false, nil},
	"benign-no-template.gguf":                 {finding.Info, false, nil},
	"malicious-cve-2024-34359-v3.gguf":        {finding.Critical, false, []string{knowledge.RuleGGUFTemplateInjection}},
	"malicious-named-template.gguf":           {finding.Critical, false, []string{knowledge.RuleGGUFTemplateInjection}},
	"malicious-duplicate-template.gguf":       {finding.Critical, false, []string{knowledge.RuleGGUFTemplateInjection, knowledge.RuleGGUFHeader}},
	"malicious-cycler-v1-bigendian.gguf":      {finding.Critical, false, []string{knowledge.RuleGGUFTemplateInjection}},
	"malicious-nul-key-template.gguf":         {finding.Critical, false, []string{knowledge.RuleGGUFTemplateInjection, knowledge.RuleGGUFHeader}},
	"malicious-truncated-after-template.gguf": {finding.Critical, true, []string{knowledge.RuleGGUFTemplateInjection, knowledge.RuleGGUFHeader}},
	"malicious-template-past-eof.gguf":        {finding.Critical, true, []string{knowledge.RuleGGUFTemplateInjection, knowledge.RuleGGUFHeader}},
	"malformed-huge-kv-count.gguf":            {finding.Medium, true, []string{knowledge.RuleGGUFHeader}},
	"malformed-truncated-string.gguf":         {finding.Medium, true, []string{knowledge.RuleGGUFHeader}},
	"malformed-bad-value-type.gguf":           {finding.Medium, true, []string{knowledge.RuleGGUFHeader}},
}

// TestFixtures checks that the committed fixtures are what the writer
// makes (so the README is true) and that each scans as expected.
func TestFixtures(t *testing.T) {
	files := fixtures(t)
	if *update {
		if err := os.MkdirAll("testdata/gguf", 0o755); err != nil {
			t.Fatal(err)
		}
		old, _ := filepath.Glob("testdata/gguf/*.gguf")
		for _, f := range old {
			os.Remove(f)
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join("testdata/gguf", name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	committed, _ := filepath.Glob("testdata/gguf/*.gguf")
	if len(committed) != len(files) || len(fixtureWants) != len(files) {
		t.Errorf("%d committed fixtures, %d generated, %d expectations", len(committed), len(files), len(fixtureWants))
	}
	for name, want := range fixtureWants {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata/gguf", name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, files[name]) {
				t.Error("committed file differs from the generator's output (go test -run TestFixtures -update)")
			}
			out, err := analyze(t, b)
			if (err != nil) != want.err {
				t.Errorf("error %v, want error %v", err, want.err)
			}
			if w := worstFinding(out.Findings); w != want.sev {
				t.Errorf("worst %s, want %s:%s", w, want.sev, describeFindings(out.Findings))
			}
			for _, r := range want.rules {
				if !slices.ContainsFunc(out.Findings, func(f finding.Finding) bool { return f.RuleID == r }) {
					t.Errorf("no %s finding:%s", r, describeFindings(out.Findings))
				}
			}
			if !hasRule(out.Findings, knowledge.RuleFormatSummary, finding.Info) {
				t.Error("no summary")
			}
		})
	}
}

func TestSummary(t *testing.T) {
	b, _ := os.ReadFile("testdata/gguf/benign-named-templates.gguf")
	out, err := analyze(t, b)
	if err != nil {
		t.Fatal(err)
	}
	var sum string
	for _, f := range out.Findings {
		if f.RuleID == knowledge.RuleFormatSummary {
			sum = f.Message
		}
	}
	for _, want := range []string{"GGUF v3", "2 tensors", "16 metadata entries", `architecture "llama"`, "tokenizer.chat_template (", "tokenizer.chat_template.tool_use (", "tensor data not read"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary %q lacks %q", sum, want)
		}
	}
	b, _ = os.ReadFile("testdata/gguf/malicious-cycler-v1-bigendian.gguf")
	out, _ = analyze(t, b)
	if !strings.Contains(describeFindings(out.Findings), "GGUF v1 (big-endian)") {
		t.Errorf("findings %s", describeFindings(out.Findings))
	}
}

// TestMaliciousTemplatesInGGUF embeds every malicious template in a GGUF
// file (all versions and byte orders) and expects the template's severity,
// located at the template's bytes in the file.
func TestMaliciousTemplatesInGGUF(t *testing.T) {
	layouts := []struct {
		version uint32
		order   binary.ByteOrder
	}{{3, binary.LittleEndian}, {2, binary.LittleEndian}, {1, binary.LittleEndian}, {3, binary.BigEndian}}
	for i, tc := range maliciousTemplates {
		t.Run(tc.file, func(t *testing.T) {
			src := readTemplate(t, "malicious", tc.file)
			l := layouts[i%len(layouts)]
			file := buildGGUF(l.version, l.order, modelKVs("llama", src), modelTensors, modelDataSize)
			out, err := analyze(t, file)
			if err != nil {
				t.Fatal(err)
			}
			if w := worstFinding(out.Findings); w != tc.sev {
				t.Fatalf("worst %s, want %s:%s", w, tc.sev, describeFindings(out.Findings))
			}
			start := int64(bytes.Index(file, []byte(src)))
			for _, f := range out.Findings {
				if f.RuleID != knowledge.RuleGGUFTemplateInjection {
					continue
				}
				if !strings.HasPrefix(f.Message, "tokenizer.chat_template: ") {
					t.Errorf("message %q does not name the key", f.Message)
				}
				if f.Offset < start || f.Offset >= start+int64(len(src)) {
					t.Errorf("offset %d outside the template [%d, %d)", f.Offset, start, start+int64(len(src)))
				}
				if f.Evidence != "" && !bytes.Contains(file[f.Offset:], []byte(strings.Fields(f.Evidence)[0])) {
					t.Errorf("evidence %q not at offset %d", f.Evidence, f.Offset)
				}
			}
		})
	}
}

// TestHeaderProblems covers the header checks one by one.
func TestHeaderProblems(t *testing.T) {
	le := binary.LittleEndian
	withTensors := func(ts []tensorInfo, data int, extra ...kv) []byte {
		return buildGGUF(3, le, modelKVs("llama", "", extra...), ts, data)
	}
	for _, tc := range []struct {
		name string
		file []byte
		err  string // a piece of the error; "" for none
		prob string // a piece of a GGUF-HEADER problem; "" for none
	}{
		{"benign", withTensors(modelTensors, modelDataSize), "", ""},
		{"no magic", []byte("GGUX\x03\x00\x00\x00" + strings.Repeat("\x00", 16)), "no GGUF magic", ""},
		{"short", []byte("GGUF\x03"), "too short", ""},
		{"version 0", []byte("GGUF\x00\x00\x00\x00" + strings.Repeat("\x00", 16)), "unsupported GGUF version 0", ""},
		{"version 4", []byte("GGUF\x04\x00\x00\x00" + strings.Repeat("\x00", 16)), "unsupported GGUF version 4", ""},
		{"tensor count over the cap", func() []byte { w := newWriter(3, le); w.header(MaxTensors+1, 0); return w.b.Bytes() }(), "tensor count", ""},
		{"kv count over the file", func() []byte { w := newWriter(3, le); w.header(0, 1000); return w.b.Bytes() }(), "cannot fit", ""},
		{"huge string length", func() []byte {
			w := newWriter(3, le)
			w.header(0, 1)
			w.count(1 << 62)
			w.b.WriteString("key" + strings.Repeat("\x00", 16))
			return w.b.Bytes()
		}(), "exceeds the cap", ""},
		{"array over the cap", func() []byte {
			w := newWriter(3, le)
			w.header(0, 1)
			w.str("tokenizer.ggml.tokens")
			w.u32(typeArray)
			w.u32(typeString)
			w.count(MaxArrayLen + 1)
			return w.b.Bytes()
		}(), "over the cap", ""},
		{"array of strings over the file", func() []byte {
			w := newWriter(3, le)
			w.header(0, 1)
			w.str("tokenizer.ggml.tokens")
			w.u32(typeArray)
			w.u32(typeString)
			w.count(1000)
			return w.b.Bytes()
		}(), "cannot fit", ""},
		{"array of numbers over the file", func() []byte {
			w := newWriter(3, le)
			w.header(0, 1)
			w.str("tokenizer.ggml.scores")
			w.u32(typeArray)
			w.u32(typeFloat32)
			w.count(1000)
			return w.b.Bytes()
		}(), "unexpected end of file", ""},
		{"bad array element type", func() []byte {
			w := newWriter(3, le)
			w.header(0, 1)
			w.str("a")
			w.u32(typeArray)
			w.u32(99)
			w.count(0)
			return w.b.Bytes()
		}(), "invalid element type 99", ""},
		{"nested arrays", withTensors(nil, 0, kv{"x.nested", typeArray, array{typeArray, []any{array{typeUint8, []any{uint8(1)}}, stringArray("a")}}}), "", "nested arrays"},
		{"arrays nested too deep", func() []byte {
			v := any(array{typeUint8, nil})
			for range MaxArrayDepth {
				v = array{typeArray, []any{v}}
			}
			return withTensors(nil, 0, kv{"x.deep", typeArray, v})
		}(), "nested deeper", "nested arrays"},
		{"duplicate key", withTensors(nil, 0, kv{"general.name", typeString, "again"}), "", "more than once"},
		{"key with a NUL", withTensors(nil, 0, kv{"general.name\x00x", typeString, "again"}), "", "NUL byte"},
		{"template with a NUL", withTensors(nil, 0, kv{"tokenizer.chat_template", typeString, "{{ bos_token }}\x00{{ eos_token }}"}), "", "NUL byte"},
		{"long key", withTensors(nil, 0, kv{strings.Repeat("k", 2000), typeUint8, uint8(1)}), "", "2000 bytes long"},
		{"template of the wrong type", withTensors(nil, 0, kv{"tokenizer.chat_template", typeArray, stringArray("{{ x.__class__ }}")}), "", "holds a value of type array"},
		{"alignment not a power of two", buildGGUF(3, le, []kv{{"general.alignment", typeUint32, uint32(24)}}, nil, 0), "", "not a power of two"},
		{"alignment of the wrong type", buildGGUF(3, le, []kv{{"general.alignment", typeUint64, uint64(32)}}, nil, 0), "", "not uint32"},
		{"five dimensions", withTensors([]tensorInfo{{"t", []uint64{1, 1, 1, 1, 1}, 0, 0}}, 32), "", "5 dimensions"},
		{"nine dimensions", withTensors([]tensorInfo{{"t", []uint64{1, 1, 1, 1, 1, 1, 1, 1, 1}, 0, 0}}, 32), "9 dimensions", ""},
		{"unknown tensor type", withTensors([]tensorInfo{{"t", []uint64{4}, 4, 0}}, 32), "", "unknown ggml type 4"},
		{"tensor past the end", withTensors([]tensorInfo{{"t", []uint64{1024}, 0, 0}}, 32), "", "past the end of the file"},
		{"misaligned tensor", withTensors([]tensorInfo{{"t", []uint64{1}, 0, 3}}, 32), "", "not a multiple of the alignment"},
		{"duplicate tensor", withTensors([]tensorInfo{{"t", []uint64{1}, 0, 0}, {"t", []uint64{1}, 0, 32}}, 64), "", "appears more than once"},
		{"long tensor name", withTensors([]tensorInfo{{strings.Repeat("n", 100), []uint64{1}, 0, 0}}, 32), "", "name of 100 bytes"},
		{"element count overflow", withTensors([]tensorInfo{{"t", []uint64{1 << 40, 1 << 40}, 0, 0}}, 32), "", "overflows"},
		{"negative dimension", withTensors([]tensorInfo{{"t", []uint64{1 << 63}, 0, 0}}, 32), "", "negative dimension"},
		{"quantised tensor fits", withTensors([]tensorInfo{{"t", []uint64{256, 2}, 12, 0}}, 288), "", ""},
		{"quantised tensor too big", withTensors([]tensorInfo{{"t", []uint64{256, 3}, 12, 0}}, 288), "", "past the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ReadHeader(context.Background(), bytes.NewReader(tc.file), int64(len(tc.file)))
			if h == nil {
				t.Fatal("nil header")
			}
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v, want one with %q", err, tc.err)
			}
			var probs []string
			for _, p := range h.Problems {
				probs = append(probs, p.Message)
			}
			switch {
			case tc.prob == "" && len(probs) > 0:
				t.Errorf("problems %q", probs)
			case tc.prob != "" && !slices.ContainsFunc(probs, func(p string) bool { return strings.Contains(p, tc.prob) }):
				t.Errorf("problems %q, want one with %q", probs, tc.prob)
			}
			// Analyze agrees: problems are findings, errors are errors.
			out, aerr := analyze(t, tc.file)
			if (aerr != nil) != (err != nil) {
				t.Errorf("Analyze error %v, ReadHeader error %v", aerr, err)
			}
			if (tc.prob != "" || tc.err != "") && !hasRule(out.Findings, knowledge.RuleGGUFHeader, finding.Medium) {
				t.Errorf("no GGUF-HEADER finding:%s", describeFindings(out.Findings))
			}
		})
	}
}

func TestTemplateOverTheCap(t *testing.T) {
	big := "{{ x.__class__ }}" + strings.Repeat(" ", MaxTemplate)
	file := buildGGUF(3, binary.LittleEndian, modelKVs("llama", big), nil, 0)
	out, err := analyze(t, file)
	if err != nil {
		t.Fatal(err)
	}
	if !hasRule(out.Findings, knowledge.RuleScanLimit, finding.Medium) || !hasRule(out.Findings, knowledge.RuleGGUFTemplateInjection, finding.High) {
		t.Errorf("findings:%s", describeFindings(out.Findings))
	}
}

func TestTemplateCaps(t *testing.T) {
	var extra []kv
	for i := range MaxTemplates + 3 {
		extra = append(extra, kv{fmt.Sprintf("tokenizer.chat_template.t%d", i), typeString, "{{ messages }}"})
	}
	file := buildGGUF(3, binary.LittleEndian, modelKVs("llama", "", extra...), nil, 0)
	h, err := ReadHeader(context.Background(), bytes.NewReader(file), int64(len(file)))
	if err != nil || len(h.Templates) != MaxTemplates || h.SkippedTemplates != 3 {
		t.Errorf("err %v, %d templates kept, %d skipped", err, len(h.Templates), h.SkippedTemplates)
	}
	out, _ := analyze(t, file)
	if !hasRule(out.Findings, knowledge.RuleScanLimit, finding.Medium) {
		t.Errorf("findings:%s", describeFindings(out.Findings))
	}
}

func TestElementBudget(t *testing.T) {
	defer func(old int64) { elementBudget = old }(elementBudget)
	elementBudget = 5
	file := buildGGUF(3, binary.LittleEndian, modelKVs("llama", "{{ x.__class__ }}"), nil, 0)
	out, err := analyze(t, file)
	if err == nil || !hasRule(out.Findings, knowledge.RuleScanLimit, finding.Medium) {
		t.Errorf("err %v, findings:%s", err, describeFindings(out.Findings))
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b, _ := os.ReadFile("testdata/gguf/benign-llama3-v3.gguf")
	if _, err := ReadHeader(ctx, bytes.NewReader(b), int64(len(b))); err == nil {
		t.Error("cancelled context not seen")
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// TestReadsOnlyTheHeader checks that tensor data is never read: a file
// with a large data section costs about its header.
func TestReadsOnlyTheHeader(t *testing.T) {
	const data = 64 << 20
	kvs := modelKVs("llama", readTemplate(t, "benign", "llama-3-8b-instruct.jinja"))
	head := buildGGUF(3, binary.LittleEndian, kvs, []tensorInfo{{"big", []uint64{data / 4}, 0, 0}}, 0)
	r := &countingReader{r: &sparse{head: head, size: int64(len(head)) + data}}
	var out analyzer.Output
	if err := (Analyzer{}).Analyze(context.Background(), analyzer.Input{R: r, Size: int64(len(head)) + data}, analyzer.DefaultLimits(), &out); err != nil {
		t.Fatal(err)
	}
	if got := r.n.Load(); got > window {
		t.Errorf("read %d bytes for a %d-byte header", got, len(head))
	}
	if w := worstFinding(out.Findings); w != finding.Info {
		t.Errorf("findings:%s", describeFindings(out.Findings))
	}
}

// sparse is a file of size bytes that starts with head and is zeros after.
type sparse struct {
	head []byte
	size int64
}

func (s *sparse) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && off+int64(n) < s.size {
		if i := off + int64(n); i < int64(len(s.head)) {
			p[n] = s.head[i]
		} else {
			p[n] = 0
		}
		n++
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func TestMatch(t *testing.T) {
	b, _ := os.ReadFile("testdata/gguf/benign-llama3-v3.gguf")
	if !(Analyzer{}).Match("x.bin", b[:16]) || (Analyzer{}).Match("x.gguf", []byte("\x80\x02}q")) {
		t.Error("Match")
	}
	if (Analyzer{}).Format() != "gguf" {
		t.Error("Format")
	}
}

// FuzzGGUF checks that Analyze never panics and keeps its findings
// bounded, on every fixture and on mutations of them.
func FuzzGGUF(f *testing.F) {
	files, _ := filepath.Glob("testdata/gguf/*.gguf")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var out analyzer.Output
		err := Analyzer{}.Analyze(context.Background(), analyzer.Input{Name: "f.gguf", R: bytes.NewReader(b), Size: int64(len(b))}, analyzer.DefaultLimits(), &out)
		if len(out.Findings) == 0 {
			t.Fatal("no findings, not even a summary")
		}
		if err != nil && !hasRule(out.Findings, knowledge.RuleGGUFHeader, finding.Medium) && !hasRule(out.Findings, knowledge.RuleScanLimit, finding.Medium) {
			t.Fatalf("error %v without a finding", err)
		}
		for _, f := range out.Findings {
			if f.Offset != finding.NoOffset && (f.Offset < 0 || f.Offset > int64(len(b))) {
				t.Fatalf("offset %d outside the file (%d bytes): %s", f.Offset, len(b), f.Message)
			}
			if strings.Contains(f.Message, "internal error") {
				t.Fatalf("walker panicked: %s", f.Message)
			}
		}
	})
}
