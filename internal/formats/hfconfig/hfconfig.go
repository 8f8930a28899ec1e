// Package hfconfig reads the configuration files of a Hugging Face
// repository (config.json, tokenizer_config.json, preprocessor_config.json
// and friends). Their auto_map entries name Python classes in files of the
// repository that transformers imports and runs when a user passes
// trust_remote_code=True: the custom code is reported, with the obviously
// dangerous calls in it quoted as evidence.
package hfconfig

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/gguf"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// configNames are the files transformers reads auto_map from.
var configNames = map[string]bool{
	"config.json":                    true,
	"tokenizer_config.json":          true,
	"preprocessor_config.json":       true,
	"processor_config.json":          true,
	"feature_extractor_config.json":  true,
	"image_processor_config.json":    true,
	"video_preprocessor_config.json": true,
}

const (
	maxConfig = 16 << 20 // configs are small; bigger ones are not configs
	maxCode   = 4 << 20  // bytes of one custom code file searched
	maxQuotes = 4        // dangerous lines quoted per code file
)

// Analyzer handles Hugging Face configuration files.
type Analyzer struct{}

// Format implements analyzer.Analyzer.
func (Analyzer) Format() string { return "hf-config" }

// Match takes the known config names whose content is a JSON object, and
// chat_template.jinja files.
func (Analyzer) Match(name string, head []byte) bool {
	base := strings.ToLower(baseName(name))
	if base == "chat_template.jinja" {
		return true
	}
	return configNames[base] && bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n\ufeff"), []byte("{"))
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, "/\\"); i >= 0 {
		return p[i+1:]
	}
	return p
}

// Analyze reports every auto_map entry and what its code does.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input, _ analyzer.Limits, out *analyzer.Output) error {
	if in.Size > maxConfig {
		return fmt.Errorf("%s is %d bytes, more than a configuration file can be (%d)", in.Name, in.Size, maxConfig)
	}
	raw, err := io.ReadAll(io.NewSectionReader(in.R, 0, in.Size))
	if err != nil {
		return fmt.Errorf("read %s: %w", in.Name, err)
	}
	if strings.EqualFold(baseName(in.Name), "chat_template.jinja") {
		out.Format = "hf-chat-template"
		templateFindings(out, "chat_template.jinja", string(raw))
		return nil
	}
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("%s is not a JSON object: %w", in.Name, err)
	}
	// Tokenizer configs carry the chat template servers render with Jinja:
	// the same injection as in GGUF files (CVE-2024-34359).
	for name, text := range chatTemplates(cfg["chat_template"]) {
		templateFindings(out, name, text)
	}
	entries := autoMap(cfg["auto_map"])
	out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset,
		Message: summary(in.Name, cfg, len(entries))})
	// Group entries by the module file they load.
	byModule := map[string][]string{}
	for _, e := range entries {
		byModule[e.module] = append(byModule[e.module], e.auto+" → "+e.ref)
	}
	modules := make([]string, 0, len(byModule))
	for m := range byModule {
		modules = append(modules, m)
	}
	sort.Strings(modules)
	for _, mod := range modules {
		out.Add(remoteCode(in, mod, byModule[mod]))
	}
	return nil
}

type entry struct {
	auto   string // AutoModel, AutoTokenizer, ...
	ref    string // as written: "modeling_x.XModel" or "org/repo--modeling_x.XModel"
	module string // the file or remote reference it loads
}

// autoMap reads {"AutoModel": "modeling_x.X", "AutoTokenizer": ["tok.Slow", "tok.Fast"]}.
func autoMap(raw json.RawMessage) []entry {
	if len(raw) == 0 {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	var out []entry
	for auto, v := range m {
		var refs []string
		var one string
		var many []*string
		switch {
		case json.Unmarshal(v, &one) == nil:
			refs = []string{one}
		case json.Unmarshal(v, &many) == nil:
			for _, r := range many {
				if r != nil {
					refs = append(refs, *r)
				}
			}
		}
		for _, r := range refs {
			if r == "" {
				continue
			}
			out = append(out, entry{auto: auto, ref: r, module: moduleOf(r)})
		}
	}
	slices.SortFunc(out, func(a, b entry) int { return strings.Compare(a.auto+a.ref, b.auto+b.ref) })
	return out
}

// moduleOf turns "modeling_x.XModel" into "modeling_x.py" and keeps
// "org/repo--modeling_x.XModel" (code from another repository) as it is.
func moduleOf(ref string) string {
	if strings.Contains(ref, "--") {
		repo, rest, _ := strings.Cut(ref, "--")
		mod := rest
		if i := strings.LastIndexByte(rest, '.'); i >= 0 {
			mod = rest[:i]
		}
		return repo + "--" + strings.ReplaceAll(mod, ".", "/") + ".py"
	}
	mod := ref
	if i := strings.LastIndexByte(ref, '.'); i >= 0 {
		mod = ref[:i]
	}
	return strings.ReplaceAll(mod, ".", "/") + ".py"
}

func summary(name string, cfg map[string]json.RawMessage, autos int) string {
	var parts []string
	for _, k := range []string{"model_type", "architectures", "tokenizer_class", "processor_class", "transformers_version"} {
		if v, ok := cfg[k]; ok && len(v) < 200 {
			parts = append(parts, k+"="+string(v))
		}
	}
	s := "Hugging Face " + baseName(name)
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, ", ")
	}
	if autos > 0 {
		s += fmt.Sprintf("; %d auto_map entries (custom code)", autos)
	}
	return s
}

// dangerous are calls that custom model code has no business making; each
// one found is quoted as evidence.
var dangerous = regexp.MustCompile(`\b(os\.(system|popen|exec\w*|spawn\w*|remove|unlink)|subprocess\.\w+|eval\s*\(|exec\s*\(|__import__\s*\(|compile\s*\(|socket\.\w+|urllib\.request|urlopen\s*\(|requests\.(get|post|put)|httpx\.\w+|pickle\.loads?|marshal\.loads|base64\.b64decode|ctypes\.|pty\.spawn|shutil\.rmtree)`)

// remoteCode builds the finding for one module of custom code.
func remoteCode(in analyzer.Input, module string, uses []string) finding.Finding {
	f := finding.Finding{RuleID: knowledge.RuleHFRemoteCode, Severity: finding.High, Offset: finding.NoOffset}
	what := strings.Join(uses, ", ")
	if repo, file, remote := strings.Cut(module, "--"); remote {
		f.Message = fmt.Sprintf("loading requires trust_remote_code=True and fetches code from another repository: %s (%s in %s)", what, file, repo)
		return f
	}
	f.Message = fmt.Sprintf("loading requires trust_remote_code=True: %s runs %s from this repository", what, module)
	if in.Open == nil {
		f.Message += " (not available to inspect here)"
		return f
	}
	r, size, closeFn, err := in.Open(module)
	if err != nil {
		f.Message += fmt.Sprintf(" (the file could not be read: %v)", err)
		return f
	}
	defer closeFn()
	quotes, lines := scanCode(io.NewSectionReader(r, 0, min(size, maxCode)))
	f.Message += fmt.Sprintf(" (%d lines)", lines)
	if len(quotes) > 0 {
		f.Severity = finding.Critical
		f.Message += "; it calls what custom model code has no reason to call"
		f.Evidence = strings.Join(quotes, " | ")
	}
	return f
}

// scanCode quotes the first lines that match a dangerous call.
func scanCode(r io.Reader) ([]string, int) {
	var quotes []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || !dangerous.MatchString(line) {
			continue
		}
		if len(quotes) < maxQuotes {
			if len(line) > 120 {
				line = line[:120] + "…"
			}
			quotes = append(quotes, fmt.Sprintf("line %d: %s", n, line))
		}
	}
	return quotes, n
}

// chatTemplates reads "chat_template": a string, or a list of
// {"name": ..., "template": ...}.
func chatTemplates(raw json.RawMessage) map[string]string {
	out := map[string]string{}
	if len(raw) == 0 {
		return out
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		out["chat_template"] = one
		return out
	}
	var many []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if json.Unmarshal(raw, &many) == nil {
		for _, t := range many {
			out["chat_template."+t.Name] = t.Template
		}
	}
	return out
}

// templateFindings checks one chat template with the GGUF template checker.
func templateFindings(out *analyzer.Output, name, text string) {
	for _, is := range gguf.CheckTemplate(text) {
		out.Add(finding.Finding{RuleID: is.Rule, Severity: is.Severity, Offset: finding.NoOffset,
			Message: name + ": " + is.Message, Evidence: is.Evidence})
	}
}
