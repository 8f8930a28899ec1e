//go:build unix

package gate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelgate/modelgate/internal/gate"
	"github.com/modelgate/modelgate/internal/hub/hubtest"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// The gate's web page in a real browser: headless Chromium renders it
// (--dump-dom gives the DOM after parsing, so escaped text shows as the
// browser renders it) and takes a screenshot.
//
// Enable with MODELGATE_CHROMIUM=/usr/bin/chromium (Debian: apt-get install
// -y --no-install-recommends chromium).

// chromiumBin skips unless MODELGATE_CHROMIUM names the browser, and fails
// when it names something that is not an executable.
func chromiumBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("MODELGATE_CHROMIUM")
	if bin == "" {
		t.Skip("the headless-browser test of the gate's page is off: apt-get install -y --no-install-recommends chromium, then set MODELGATE_CHROMIUM=/usr/bin/chromium")
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		t.Fatalf("MODELGATE_CHROMIUM=%s is not an executable: %v", bin, err)
	}
	return bin
}

// runChromium runs headless Chromium with a fresh profile and returns its
// stdout. The run is bounded by 60 s; on timeout its whole process group
// (the browser, its zygote, renderer and GPU processes) is killed.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + filepath.Join(tmp, "profile")}, args...)
	cmd := exec.CommandContext(ctx, bin, all...)
	// Its own process group, so that one signal reaches every child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	// Keep Chromium's ~/.config, ~/.cache and crash reports out of $HOME.
	cmd.Env = append(os.Environ(), "HOME="+tmp, "XDG_CONFIG_HOME="+filepath.Join(tmp, "config"), "XDG_CACHE_HOME="+filepath.Join(tmp, "cache"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	if cmd.Process != nil {
		// Reap any helper left behind after the browser exited.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	t.Logf("chromium %s: %v in %v", strings.Join(args, " "), err, time.Since(start).Round(time.Millisecond))
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("chromium did not finish within 60 s; its process group was killed\nstderr: %s", tail(stderr.Bytes(), 4000))
	}
	if err != nil {
		t.Fatalf("chromium: %v\nstderr: %s", err, tail(stderr.Bytes(), 4000))
	}
	return stdout.Bytes()
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// section returns the part of dom from the first from up to the next to
// (to the end when to is not found), failing when from is missing.
func section(t *testing.T, dom, from, to string) string {
	t.Helper()
	i := strings.Index(dom, from)
	if i < 0 {
		t.Fatalf("the rendered page has no %q:\n%s", from, dom)
	}
	s := dom[i:]
	if j := strings.Index(s[len(from):], to); j >= 0 {
		s = s[:len(from)+j]
	}
	return s
}

// decisionRows returns the rendered rows of the recent decisions table.
func decisionRows(t *testing.T, dom string) []string {
	t.Helper()
	body := section(t, section(t, dom, "<h2>Recent decisions</h2>", "<h2>"), "<tbody>", "</tbody>")
	return strings.Split(body, "<tr>")[1:]
}

func rowFor(rows []string, path string) string {
	for _, r := range rows {
		if strings.Contains(r, "<code>"+path+"</code>") {
			return r
		}
	}
	return ""
}

func TestBrowserPage(t *testing.T) {
	bin := chromiumBin(t)
	e := newEnv(t, gate.Config{})
	e.upstream.AddRepo(hubtest.Repo{ID: "other/thing", Files: []hubtest.File{{Path: "weights.pkl", Content: e.ben, LFS: true}}})
	if resp, _ := e.do("GET", "/org/model/resolve/main/evil.pkl", nil); resp.StatusCode != 403 {
		t.Fatalf("evil.pkl: %d", resp.StatusCode)
	}
	if resp, _ := e.do("GET", "/org/model/resolve/main/clean.pkl", nil); resp.StatusCode != 200 {
		t.Fatalf("clean.pkl: %d", resp.StatusCode)
	}
	if resp, _ := e.do("GET", "/other/thing/resolve/main/weights.pkl", nil); resp.StatusCode != 200 {
		t.Fatalf("weights.pkl: %d", resp.StatusCode)
	}

	t.Run("dump-dom", func(t *testing.T) {
		dom := string(runChromium(t, bin, "--dump-dom", e.srv.URL+"/"))
		if !strings.Contains(dom, "<title>modelgate</title>") {
			t.Fatalf("chromium did not render the gate's page:\n%s", dom)
		}
		// The blocked entry: which file, the rule, its severity, and the
		// evidence as the browser renders it (html/template sent the quotes
		// as &#39;; the DOM holds the text).
		blocked := section(t, section(t, dom, `<h2 id="blocked">Blocked files</h2>`, "<h2>"), `<div class="blocked-entry"`, `<div class="blocked-entry"`)
		for _, want := range []string{
			"<code>evil.pkl</code>",
			"modelgate refused org/model/evil.pkl",
			`<span class="critical">critical</span> <code>` + knowledge.RuleDangerousCall + `</code>`,
			`<pre class="evidence">posix.system('touch marker')</pre>`,
		} {
			if !strings.Contains(blocked, want) {
				t.Errorf("the blocked entry lacks %q:\n%s", want, blocked)
			}
		}
		rows := decisionRows(t, dom)
		if len(rows) != 3 {
			t.Errorf("%d rows in recent decisions, want 3", len(rows))
		}
		if r := rowFor(rows, "clean.pkl"); !strings.Contains(r, `<td class="served">served</td>`) ||
			!strings.Contains(r, fmt.Sprintf("<td>%d</td>", len(e.ben))) || !strings.Contains(r, "<code>models/org/model</code>") {
			t.Errorf("the served clean.pkl row: %q", r)
		}
		if r := rowFor(rows, "evil.pkl"); !strings.Contains(r, `<td class="blocked">blocked</td>`) {
			t.Errorf("the blocked evil.pkl row: %q", r)
		}
	})

	t.Run("search by repository", func(t *testing.T) {
		dom := string(runChromium(t, bin, "--dump-dom", e.srv.URL+"/?repo=other/thing"))
		if !strings.Contains(dom, `value="other/thing"`) {
			t.Errorf("the search box does not show the query")
		}
		if !strings.Contains(section(t, dom, `<h2 id="blocked">`, "<h2>"), "Nothing blocked for “other/thing”.") {
			t.Errorf("the search shows blocked files of other repositories")
		}
		rows := decisionRows(t, dom)
		if len(rows) != 1 || !strings.Contains(rows[0], "<code>weights.pkl</code>") || !strings.Contains(rows[0], `<td class="served">served</td>`) {
			t.Errorf("search for other/thing: rows %q", rows)
		}
		dom = string(runChromium(t, bin, "--dump-dom", e.srv.URL+"/?repo=org/model&verdict=blocked"))
		rows = decisionRows(t, dom)
		if len(rows) != 1 || !strings.Contains(rows[0], "<code>evil.pkl</code>") {
			t.Errorf("search for blocked in org/model: rows %q", rows)
		}
		if !strings.Contains(dom, `<option value="blocked" selected="">blocked</option>`) {
			t.Errorf("the verdict filter does not show the selection")
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		shot := filepath.Join(t.TempDir(), "page.png")
		if dir := os.Getenv("MODELGATE_SCREENSHOT_DIR"); dir != "" {
			shot = filepath.Join(dir, "gate-page.png") // to look at it
		}
		runChromium(t, bin, "--screenshot="+shot, "--window-size=1280,900", e.srv.URL+"/")
		b, err := os.ReadFile(shot)
		if err != nil {
			t.Fatalf("no screenshot: %v", err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("the screenshot is not a PNG: %v", err)
		}
		colors := map[uint32]bool{}
		bounds := img.Bounds()
		for y := bounds.Min.Y; y < bounds.Max.Y; y += 3 {
			for x := bounds.Min.X; x < bounds.Max.X; x += 3 {
				r, g, b, _ := img.At(x, y).RGBA()
				colors[r>>8<<16|g>>8<<8|b>>8] = true
			}
		}
		t.Logf("screenshot: %d bytes, %v, %d colours sampled", len(b), bounds.Size(), len(colors))
		if bounds.Size() != (image.Point{1280, 900}) || len(b) < 20_000 || len(colors) < 16 {
			t.Errorf("screenshot: %d bytes, %v, %d colours: not a rendered 1280×900 page", len(b), bounds.Size(), len(colors))
		}
	})
}
