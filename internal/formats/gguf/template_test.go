package gguf

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// worst returns the highest severity among issues, Info when none.
func worst(issues []Issue) finding.Severity {
	w := finding.Info
	for _, i := range issues {
		w = max(w, i.Severity)
	}
	return w
}

func describeIssues(issues []Issue) string {
	var b strings.Builder
	for _, i := range issues {
		b.WriteString("\n  " + i.Severity.String() + " " + i.Rule + " @" + itoa(i.Pos) + " " + i.Message + " | " + i.Evidence)
	}
	return b.String()
}

func itoa(i int) string {
	if i < 0 {
		return "-" + itoa(-i)
	}
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + itoa(i%10)
}

// TestBenignTemplates checks the real chat templates of popular models
// (testdata/templates/benign, sources in the README): none may produce an
// issue at medium or above.
func TestBenignTemplates(t *testing.T) {
	files, err := filepath.Glob("testdata/templates/benign/*.jinja")
	if err != nil || len(files) < 15 {
		t.Fatalf("benign templates: %v (%d files)", err, len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			issues := CheckTemplate(string(src))
			if w := worst(issues); w >= finding.Medium {
				t.Errorf("benign template reported at %s:%s", w, describeIssues(issues))
			}
			// The same text with Windows line endings is the same template.
			crlf := strings.ReplaceAll(string(src), "\n", "\r\n")
			if w := worst(CheckTemplate(crlf)); w >= finding.Medium {
				t.Errorf("CRLF variant reported at %s", w)
			}
		})
	}
}

// maliciousTemplates are the fixtures in testdata/templates/malicious with
// what each must produce: the worst severity and a piece of the evidence.
var maliciousTemplates = []struct {
	file     string
	sev      finding.Severity
	evidence string
}{
	{"cve-2024-34359-poc.jinja", finding.Critical, "__builtins__['__import__']('os').popen"},
	{"cycler-init-globals-os-popen.jinja", finding.Critical, "cycler.__init__.__globals__.os.popen('id')"},
	{"joiner-init-globals-os-system.jinja", finding.Critical, "joiner.__init__.__globals__.os.system"},
	{"lipsum-globals-os-popen.jinja", finding.Critical, "lipsum.__globals__['os']"},
	{"lipsum-globals-builtins-import.jinja", finding.Critical, "__import__('subprocess')"},
	{"namespace-init-globals.jinja", finding.Critical, "namespace.__init__.__globals__"},
	{"attr-filter-chain.jinja", finding.High, "|attr('__subclasses__')"},
	{"attr-filter-lipsum-popen.jinja", finding.Critical, "lipsum|attr('__globals__')"},
	{"string-built-dunder.jinja", finding.High, "()|attr(a)|attr(b)"},
	{"hex-escaped-dunder.jinja", finding.High, `attr('\x5f\x5fclass\x5f\x5f')`},
	{"format-built-dunder.jinja", finding.High, `"%c%cclass%c%c"|format(95,95,95,95)`},
	{"self-template-reference.jinja", finding.Critical, "self._TemplateReference__context"},
	{"subscript-dunder.jinja", finding.High, "()['__class__']['__base__']"},
	{"map-attribute-globals.jinja", finding.Critical, "map(attribute='__init__.__globals__')"},
	{"format-string-fields.jinja", finding.High, "'{0.__class__.__base__.__subclasses__}'.format(())"},
	{"include-etc-passwd.jinja", finding.High, `{% include "/etc/passwd" %}`},
	{"extends-etc-hostname.jinja", finding.High, `{% extends "/etc/hostname" %}`},
	{"import-dotdot.jinja", finding.High, "../../../../etc/passwd"},
	{"model-token-key.jinja", finding.High, "()[bos_token]"},
	{"llama-3-backdoored.jinja", finding.Critical, "lipsum.__globals__['os'].popen('curl"},
	{"unparsable-dunders.jinja", finding.High, "().__class__.__base__.__subclasses__()"},
	{"loop-alias-join.jinja", finding.High, "x|attr(p|join)"},
}

func TestMaliciousTemplates(t *testing.T) {
	files, _ := filepath.Glob("testdata/templates/malicious/*.jinja")
	if len(files) != len(maliciousTemplates) {
		t.Errorf("%d malicious fixtures, %d in the table", len(files), len(maliciousTemplates))
	}
	for _, tc := range maliciousTemplates {
		t.Run(tc.file, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata/templates/malicious", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			issues := CheckTemplate(string(src))
			if w := worst(issues); w != tc.sev {
				t.Errorf("worst severity %s, want %s:%s", w, tc.sev, describeIssues(issues))
			}
			found := false
			for _, i := range issues {
				found = found || (i.Severity == tc.sev && strings.Contains(i.Evidence, tc.evidence))
				if i.Rule != knowledge.RuleGGUFTemplateInjection && i.Rule != knowledge.RuleGGUFTemplateUnparsable {
					t.Errorf("rule %q", i.Rule)
				}
				if i.Pos >= 0 && i.Evidence != "" && !strings.Contains(string(src), strings.Fields(i.Evidence)[0]) {
					t.Errorf("evidence %q is not from the template", i.Evidence)
				}
			}
			if !found {
				t.Errorf("no %s issue quoting %q:%s", tc.sev, tc.evidence, describeIssues(issues))
			}
		})
	}
}

// TestTemplateDetections covers each detection with positive and negative
// cases.
func TestTemplateDetections(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		sev  finding.Severity // the worst severity expected (Info: nothing)
		msg  string           // a piece of that issue's message
	}{
		// Attribute access.
		{"dunder attribute", "{{ x.__class__ }}", finding.High, "__class__"},
		{"dunder subscript", "{{ x['__mro__'] }}", finding.High, "__mro__"},
		{"dunder subscript via variable", "{% set k = '__dict__' %}{{ x[k] }}", finding.High, "__dict__"},
		{"dunder via namespace attribute", "{% set ns = namespace() %}{% set ns.k = '__class__' %}{{ x|attr(ns.k) }}", finding.High, "__class__"},
		{"globals is critical", "{{ x.__init__.__globals__ }}", finding.Critical, "__globals__"},
		{"builtins is critical", "{{ x.__builtins__ }}", finding.Critical, "__builtins__"},
		{"popen after internals", "{{ x.__class__.popen }}", finding.Critical, "popen"},
		{"os in a call after internals", "{{ x.__import__('os') }}", finding.Critical, "os"},
		{"mangled private", "{{ self._TemplateReference__context }}", finding.High, "_TemplateReference__context"},
		{"unsafe attribute", "{{ f.func_globals }}", finding.Critical, "func_globals"},
		{"gi_frame", "{{ g.gi_frame }}", finding.High, "gi_frame"},
		{"private attribute", "{{ tool._meta }}", finding.Medium, "_meta"},
		{"no dunder, no finding", "{{ message.content.system }}", finding.Info, ""},
		{"role named system", "{% if message['role'] == 'system' %}{{ message['content'] }}{% endif %}", finding.Info, ""},
		// Filters that read attributes.
		{"attr filter constant", "{{ x|attr('__class__') }}", finding.High, "__class__"},
		{"attr filter harmless", "{{ x|attr('name') }}", finding.Info, ""},
		{"attr filter dynamic", "{{ x|attr(message.content) }}", finding.High, "computed at render time"},
		{"attr filter from the vocabulary", "{{ x|attr(eos_token) }}", finding.High, "computed at render time"},
		{"map attribute", "{{ xs|map(attribute='__class__')|list }}", finding.High, "__class__"},
		{"map attr filter", "{{ xs|map('attr', '__globals__')|list }}", finding.Critical, "__globals__"},
		{"map attribute dotted", "{{ xs|map(attribute='a.__class__')|list }}", finding.High, "__class__"},
		{"selectattr dunder", "{{ xs|selectattr('__class__')|list }}", finding.High, "__class__"},
		{"groupby dunder", "{{ xs|groupby('__class__') }}", finding.High, "__class__"},
		{"sum attribute", "{{ xs|sum(attribute='__len__') }}", finding.High, "__len__"},
		{"selectattr benign", "{{ messages|selectattr('role', 'equalto', 'user')|list }}", finding.Info, ""},
		{"map attribute benign", "{{ tools|map(attribute='function.name')|join(', ') }}", finding.Info, ""},
		// Jinja globals.
		{"cycler internals", "{{ cycler.__init__ }}", finding.High, "cycler"},
		{"lipsum as a string", "{{ (lipsum|string)[0] }}", finding.High, "lipsum"},
		{"range internals", "{{ range.__self__ }}", finding.High, "range"},
		{"gadget alias", "{% set c = cycler %}{{ c.x }}", finding.High, "cycler"},
		{"namespace call", "{% set ns = namespace(found=false) %}{% set ns.found = true %}{{ ns.found }}", finding.Info, ""},
		{"range call", "{% for i in range(3) %}{{ i }}{% endfor %}", finding.Info, ""},
		{"cycler call", "{% set c = cycler('a', 'b') %}{{ c.next() }}", finding.Info, ""},
		{"loop variable named g", "{% for g in groups %}{{ g.name }}{% endfor %}", finding.Info, ""},
		{"set variable named config", "{% set config = {'a': 1} %}{{ config.a }}", finding.Info, ""},
		{"macro parameter named self", "{% macro m(self) %}{{ self.x }}{% endmacro %}", finding.Info, ""},
		{"unbound config", "{{ config.items() }}", finding.High, "config"},
		{"lexical: loop variable named g", "{% for g in groups %}{{ g.name }}{% endfor %}{% endif %}", finding.Medium, "could not be parsed"},
		{"lexical: unbound lipsum", "{{ lipsum.x }}{% endif %}", finding.High, "lipsum"},
		// Strings and names built at render time.
		{"concat tilde", "{{ x|attr('__cla' ~ 'ss__') }}", finding.High, "__class__"},
		{"concat plus", "{{ x['__gl' + 'obals__'] }}", finding.Critical, "__globals__"},
		{"repeat", "{{ x|attr('_' * 2 ~ 'class' ~ '_' * 2) }}", finding.High, "__class__"},
		{"percent operator", "{{ x|attr('%c%cclass%c%c' % (95, 95, 95, 95)) }}", finding.High, "__class__"},
		{"format filter", "{{ x|attr('%sclass%s'|format('__', '__')) }}", finding.High, "__class__"},
		{"join filter", "{{ x|attr(['__', 'class', '__']|join) }}", finding.High, "__class__"},
		{"str join", "{{ x|attr(''.join(['__', 'class', '__'])) }}", finding.High, "__class__"},
		{"str format", "{{ x|attr('{}class{}'.format('__', '__')) }}", finding.High, "__class__"},
		{"replace filter", "{{ x|attr('XXclassXX'|replace('X', '_')) }}", finding.High, "__class__"},
		{"reverse filter", "{{ x|attr('__ssalc__'|reverse) }}", finding.High, "__class__"},
		{"upper-lower", "{{ x|attr('__CLASS__'|lower) }}", finding.High, "__class__"},
		{"hex escape", `{{ x|attr('\x5f\x5fclass\x5f\x5f') }}`, finding.High, "__class__"},
		{"unicode escape", `{{ x|attr('\u005f\u005fclass\u005f\u005f') }}`, finding.High, "__class__"},
		{"octal escape", `{{ x|attr('\137\137class\137\137') }}`, finding.High, "__class__"},
		{"named escape", `{{ x|attr('\N{LOW LINE}\N{LOW LINE}class\N{LOW LINE}\N{LOW LINE}') }}`, finding.High, "__class__"},
		{"unknown named escape", `{% set s = '\N{SNOWMAN}' %}`, finding.Medium, "cannot resolve"},
		{"loop over pieces", "{% for k in ['__class__'] %}{{ x[k] }}{% endfor %}", finding.High, "__class__"},
		{"macro default", "{% macro m(k='__class__') %}{{ x[k] }}{% endmacro %}", finding.High, "__class__"},
		{"computed key", "{{ x['__' ~ y ~ '__'] }}", finding.High, "built from string pieces"},
		{"arithmetic key is fine", "{{ messages[loop.index0 - 1].role }}", finding.Info, ""},
		{"lookup key is fine", "{{ basic_type_map[json_spec.type] }}", finding.Info, ""},
		{"vocabulary key", "{{ x[eos_token] }}", finding.High, "eos_token"},
		{"vocabulary key alias", "{% set k = bos_token %}{{ x[k] }}", finding.High, "bos_token"},
		{"str.format fields", "{{ '{0.__globals__}'.format(f) }}", finding.Critical, "__globals__"},
		{"str.format benign", "{{ '{} and {}'.format(a, b) }}", finding.Info, ""},
		// Loose strings.
		{"dunder string", "{% set s = '__class__' %}", finding.Medium, "spells Python internals"},
		{"dunder in a longer string", "{{ 'x.__subclasses__()' }}", finding.Medium, "__subclasses__"},
		{"fragment", "{% set s = '__cla' %}", finding.Medium, "part of a dunder name"},
		{"fragment end", "{% set s = 'ss__' %}", finding.Medium, "part of a dunder name"},
		{"keyword argument", "{{ dict(__class__=1)|first }}", finding.Medium, "__class__"},
		{"double underscore alone", "{{ '__' }}{{ 'a__b' }}{{ '<|im_start|>' }}", finding.Info, ""},
		// Tainted variables.
		{"taint through set", "{% set c = ().__class__ %}{{ c.mro() }}", finding.High, "via c"},
		{"taint through for", "{% for s in ().__class__.__base__.__subclasses__() %}{{ s()._module.__builtins__ }}{% endfor %}", finding.Critical, "__builtins__"},
		{"taint through with", "{% with g = lipsum.__globals__ %}{{ g.os.popen('id') }}{% endwith %}", finding.Critical, "popen"},
		{"taint used before set", "{% for i in range(2) %}{% if i %}{{ v.x }}{% endif %}{% set v = x.__class__ %}{% endfor %}", finding.High, "via v"},
		// Loads.
		{"include absolute", `{% include "/etc/passwd" %}`, finding.High, `"/etc/passwd"`},
		{"include windows", `{% include "C:\\Windows\\win.ini" %}`, finding.High, "win.ini"},
		{"include relative", `{% include "header.jinja" %}`, finding.Medium, "header.jinja"},
		{"include dynamic", `{% include messages[0].content %}`, finding.High, "computed at render time"},
		{"include ignore missing", `{% include "/etc/shadow" ignore missing %}`, finding.High, "/etc/shadow"},
		{"extends", `{% extends "/etc/hostname" %}`, finding.High, "/etc/hostname"},
		{"import", `{% import "/etc/passwd" as p %}`, finding.High, "/etc/passwd"},
		{"from import", `{% from "../secrets" import x as y %}`, finding.High, "../secrets"},
		// Tags the checker parses itself.
		{"set tuple", "{% set a, b = x.__class__, 2 %}", finding.High, "__class__"},
		{"set conditional", "{% set a = 1 if x.__class__ else 2 %}", finding.High, "__class__"},
		{"block set", "{% set a %}{{ x.__class__ }}{% endset %}", finding.High, "__class__"},
		{"filter block", "{% filter upper %}{{ x.__class__ }}{% endfilter %}", finding.High, "__class__"},
		{"block", "{% block b %}{{ x.__class__ }}{% endblock %}", finding.High, "__class__"},
		{"generation", "{% generation %}{{ x.__class__ }}{% endgeneration %}", finding.High, "__class__"},
		{"do", "{% do x.__class__ %}", finding.High, "__class__"},
		{"call block", "{% macro m() %}{{ caller() }}{% endmacro %}{% call m() %}{{ x.__class__ }}{% endcall %}", finding.High, "__class__"},
		{"test arguments", "{% if x is sameas y.__class__ %}{% endif %}", finding.High, "__class__"},
		{"dict value", "{% set d = {'a': x.__class__} %}", finding.High, "__class__"},
		{"for condition", "{% for m in messages if m.__class__ %}{% endfor %}", finding.High, "__class__"},
		// Text outside tags.
		{"data that looks like access", "Call obj.__class__.__mro__ to see", finding.Medium, "outside tags"},
		{"data prose", "Implement __init__ in Python.", finding.Info, ""},
		// Parse failures are reported and still scanned.
		{"unparsable", "{{ x.__globals__.os }}{% endif %}", finding.Critical, "lexical scan"},
		{"unparsable benign", "{% endfor %}", finding.Medium, "could not be parsed"},
		{"unknown tag", "{% frobnicate %}", finding.Medium, "could not be parsed"},
		{"deep brackets", "{{ " + strings.Repeat("(", 200) + "x.__class__" + strings.Repeat(")", 200) + " }}", finding.High, "lexical scan"},
		{"deep blocks", strings.Repeat("{% if a %}", 100) + "{{ x.__class__ }}" + strings.Repeat("{% endif %}", 100), finding.High, "lexical scan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			issues := CheckTemplate(tc.src)
			w := worst(issues)
			if w != tc.sev {
				t.Fatalf("worst %s, want %s:%s", w, tc.sev, describeIssues(issues))
			}
			if tc.msg == "" {
				return
			}
			for _, i := range issues {
				if i.Severity == tc.sev && strings.Contains(i.Message+i.Evidence, tc.msg) {
					return
				}
			}
			t.Errorf("no %s issue mentioning %q:%s", tc.sev, tc.msg, describeIssues(issues))
		})
	}
}

func TestTemplatePositions(t *testing.T) {
	src := "{{ bos_token }}\r\n{{ x.__class__ }}"
	issues := CheckTemplate(src)
	if len(issues) != 1 || issues[0].Evidence != "x.__class__" || src[issues[0].Pos:issues[0].Pos+len("x.__class__")] != "x.__class__" {
		t.Errorf("issues %+v", issues)
	}
}

// recordingLoader records every call and then does what the wrapped loader
// does: if the checker ever asked it for a file, the test would see it.
type recordingLoader struct {
	mu    sync.Mutex
	calls []string
	next  loaders.Loader
}

func (l *recordingLoader) record(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, s)
}

func (l *recordingLoader) Read(p string) (io.Reader, error) {
	l.record("Read " + p)
	return l.next.Read(p)
}

func (l *recordingLoader) Resolve(p string) (string, error) {
	l.record("Resolve " + p)
	return l.next.Resolve(p)
}

func (l *recordingLoader) Inherit(p string) (loaders.Loader, error) {
	l.record("Inherit " + p)
	return l.next.Inherit(p)
}

// loadTemplates are templates that name a file to load.
func loadTemplates(path string) []string {
	return []string{
		`{% extends "` + path + `" %}`,
		`{% include "` + path + `" %}`,
		`{% include "` + path + `" ignore missing with context %}`,
		`{% import "` + path + `" as secrets %}{{ secrets.x }}`,
		`{% from "` + path + `" import x as y %}{{ y() }}`,
		`{% extends "secret.txt" %}`,
		`{% include "secret.txt" %}`,
		`{% include ["secret.txt", "` + path + `"] %}`,
		`{% extends "` + path + `" %}{{ x.__class__ }}`,
	}
}

// TestTemplatesLoadNothing proves that checking a template never reads the
// files it names: the loader given to the parser would read a real file
// (a secret in a temporary directory) and records every call.
func TestTemplatesLoadNothing(t *testing.T) {
	dir := t.TempDir()
	const secret = "MODELGATE-SECRET-8d1f6c"
	path := filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(path, []byte(secret+"{{ x.__class__ }}"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	fs, err := loaders.NewFileSystemLoader(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range loadTemplates(path) {
		rec := &recordingLoader{next: fs}
		issues := checkTemplate(src, rec)
		if len(rec.calls) > 0 {
			t.Errorf("%s: loader called: %v", src, rec.calls)
		}
		for _, i := range issues {
			if strings.Contains(i.Message+i.Evidence, secret) {
				t.Errorf("%s: the secret file was read: %+v", src, i)
			}
		}
		if worst(issues) < finding.Medium {
			t.Errorf("%s: the load was not reported:%s", src, describeIssues(issues))
		}
		// And through the public entry point.
		for _, i := range CheckTemplate(src) {
			if strings.Contains(i.Message+i.Evidence, secret) {
				t.Errorf("%s: the secret file was read: %+v", src, i)
			}
		}
	}
}

// TestGonjaExtendsReadsFiles is the control for TestTemplatesLoadNothing:
// gonja's own tags do read the parent template while parsing, so a
// regression to them would be seen by the recording loader.
func TestGonjaExtendsReadsFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "parent.txt")
	if err := os.WriteFile(path, []byte("parent"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs, err := loaders.NewFileSystemLoader(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingLoader{next: fs}
	cfg := config.New()
	src := `{% extends "` + path + `" %}`
	if _, err := parser.NewParser("t", tokens.LexAll(src, cfg), cfg, rec, builtins.ControlStructures).Parse(); err != nil {
		t.Fatal(err)
	}
	if len(rec.calls) == 0 {
		t.Error("gonja's extends did not call the loader: the no-load test proves nothing")
	}
}

func TestRefusingLoader(t *testing.T) {
	var l refusingLoader
	if r, err := l.Read("/etc/passwd"); r != nil || err == nil {
		t.Error("Read allowed")
	}
	if p, err := l.Resolve("/etc/passwd"); p != "" || err == nil {
		t.Error("Resolve allowed")
	}
	if n, err := l.Inherit("/etc"); n != nil || err == nil {
		t.Error("Inherit allowed")
	}
}

func TestUnescapePython(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:                "plain",
		`\x5f\u005f\U0000005f`: "___",
		`\137\n\t\\\'\"`:       "_\n\t\\'\"",
		`\N{LOW LINE}\N{latin small letter a}\N{DIGIT SEVEN}`: "_a7",
		`\q\x`:   `\q\x`,
		`\uZZZZ`: `\uZZZZ`,
	} {
		if got, _ := unescapePython(in); got != want {
			t.Errorf("unescapePython(%q) = %q, want %q", in, got, want)
		}
	}
	if _, unknown := unescapePython(`\N{SNOWMAN}`); !unknown {
		t.Error("unknown \\N name not reported")
	}
}

func TestFoldBounds(t *testing.T) {
	// A long chain of concatenations: folded once per node, capped in
	// length, and finished quickly.
	src := "{{ x|attr('a'" + strings.Repeat(" ~ 'bbbbbbbbbbbbbbbb'", 20000) + ") }}"
	issues := CheckTemplate(src)
	if w := worst(issues); w != finding.Info && w != finding.High {
		t.Errorf("worst %s:%s", w, describeIssues(issues))
	}
}

// FuzzTemplate checks that the template checker never panics (its own
// recover turns a panic in the walker into an "internal error" issue,
// which the fuzzer treats as a failure) and stays within its caps.
func FuzzTemplate(f *testing.F) {
	for _, dir := range []string{"testdata/templates/benign", "testdata/templates/malicious"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.jinja"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(string(b))
		}
	}
	f.Add("{{ x|attr('\\N{LOW LINE}') }}{% set a, b = 1 %}{% include %}")
	f.Fuzz(func(t *testing.T, src string) {
		issues := CheckTemplate(src)
		if len(issues) > maxIssues+1 {
			t.Fatalf("%d issues", len(issues))
		}
		for _, i := range issues {
			if strings.Contains(i.Message, "internal error") {
				t.Fatalf("walker panicked: %s", i.Message)
			}
			if len(i.Evidence) > maxEvidence+len("…") {
				t.Fatalf("evidence of %d bytes", len(i.Evidence))
			}
			if i.Pos > len(src) {
				t.Fatalf("position %d past the end (%d)", i.Pos, len(src))
			}
		}
	})
}
