// Package textout writes the human-readable report: one block per file,
// findings worst first, evidence rendered like Python, and a summary line.
package textout

import (
	"fmt"
	"io"
	"strings"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/report"
	"github.com/modelgate/modelgate/internal/scan"
)

// Options control rendering.
type Options struct {
	Color bool // ANSI colours (only on a terminal, never with NO_COLOR)
	// Quiet prints only files with something at low or above (or an
	// error), without their info findings, and the summary line.
	Quiet bool
	// Verbose also lists every global each file's pickles import.
	Verbose bool
}

const (
	reset  = "\x1b[0m"
	bold   = "\x1b[1m"
	dim    = "\x1b[2m"
	red    = "\x1b[31m"
	yellow = "\x1b[33m"
	blue   = "\x1b[34m"
	green  = "\x1b[32m"
	bgRed  = "\x1b[41;97m"
)

var sevColor = map[finding.Severity]string{
	finding.Critical: bgRed, finding.High: red, finding.Medium: yellow, finding.Low: blue, finding.Info: dim,
}

// Write renders d.
func Write(w io.Writer, d *report.Document, o Options) error {
	p := &printer{w: w, o: o}
	shown := 0
	for _, f := range d.Files {
		if o.Quiet && !worthShowing(f) {
			continue
		}
		if shown > 0 {
			p.line("")
		}
		p.file(f)
		shown++
	}
	if shown > 0 {
		p.line("")
	}
	for _, src := range d.Sources {
		p.source(d, src)
	}
	p.summary(d)
	return p.err
}

// source prints one line per remote input: what it resolved to, what it
// cost, and its own verdict.
func (p *printer) source(d *report.Document, src report.Source) {
	if src.Error != "" {
		p.line("%s: %s", src.Input, p.paint(yellow+bold, "not scanned"))
		return
	}
	at := ""
	if src.Commit != "" {
		at = " @ " + src.Commit
	}
	s := d.SummarizeSource(src)
	worst := "no findings"
	if s.HasFindings {
		worst = "worst " + s.MaxSeverity.String()
	}
	var verdict string
	switch d.SourceVerdict(src) {
	case report.Fail:
		verdict = p.paint(red+bold, "FAIL")
	case report.Incomplete:
		verdict = p.paint(yellow+bold, "INCOMPLETE")
	default:
		verdict = p.paint(green+bold, "PASS")
	}
	p.line("%s%s: %d files (%s), %s transferred, %s. %s", src.Input, at, src.Files, humanSize(src.Size),
		humanSize(src.Transferred), worst, verdict)
}

type printer struct {
	w   io.Writer
	o   Options
	err error
}

func (p *printer) line(format string, args ...any) {
	if p.err != nil {
		return
	}
	_, p.err = fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *printer) paint(code, s string) string {
	if !p.o.Color || code == "" {
		return s
	}
	return code + s + reset
}

func (p *printer) file(f scan.FileResult) {
	meta := []string{}
	if f.Format != "" {
		meta = append(meta, f.Format)
	}
	meta = append(meta, humanSize(f.Size))
	if f.SHA256 != "" {
		meta = append(meta, "sha256:"+f.SHA256[:16]+"…")
	}
	p.line("%s  %s", p.paint(bold, f.Path), p.paint(dim, strings.Join(meta, "  ")))
	if len(f.Findings) == 0 && len(f.Errors) == 0 {
		p.line("  %s", p.paint(green, "no findings"))
	}
	for _, x := range f.Findings {
		if p.o.Quiet && x.Severity == finding.Info {
			continue
		}
		loc := x.Location()
		if loc != "" {
			if x.Member == "" {
				loc = "offset " + strings.TrimPrefix(loc, "@")
			}
			loc = "  " + p.paint(dim, "at "+loc)
		}
		sev := fmt.Sprintf("%-8s", strings.ToUpper(x.Severity.String()))
		color := sevColor[x.Severity]
		if x.Suppression != nil {
			color = dim
			loc += "  " + p.paint(dim, fmt.Sprintf("[suppressed until %s by %s: %s]", x.Suppression.Expires, x.Suppression.Owner, x.Suppression.Reason))
		}
		p.line("  %s  %s%s", p.paint(color, sev), x.RuleID, loc)
		p.line("            %s", x.Message)
		if x.Evidence != "" {
			p.line("            %s", p.paint(bold, x.Evidence))
		}
	}
	for _, e := range f.Errors {
		p.line("  %s  %s", p.paint(red, "ERROR   "), e)
	}
	if p.o.Verbose {
		for _, imp := range f.Imports {
			p.line("  %s  %s", p.paint(dim, "import  "), imp)
		}
		if f.Cached {
			p.line("  %s", p.paint(dim, "(result from the verdict cache)"))
		}
	}
}

// worthShowing: a file with a finding at low or above, or an error.
func worthShowing(f scan.FileResult) bool {
	if len(f.Errors) > 0 {
		return true
	}
	for _, x := range f.Findings {
		if x.Severity > finding.Info && x.Suppression == nil {
			return true
		}
	}
	return false
}

func (p *printer) summary(d *report.Document) {
	s := d.Summarize()
	var parts []string
	for sev := finding.Critical; sev >= finding.Info; sev-- {
		if n := s.Counts[sev]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, sev))
		}
	}
	counts := "no findings"
	if len(parts) > 0 {
		counts = strings.Join(parts, ", ")
	}
	if s.Suppressed > 0 {
		counts += fmt.Sprintf(" (%d suppressed)", s.Suppressed)
	}
	files := "files"
	if s.Files == 1 {
		files = "file"
	}
	var verdict string
	switch d.Verdict() {
	case report.Fail:
		verdict = p.paint(red+bold, "FAIL") + fmt.Sprintf(" (findings at or above %s)", d.FailOn)
	case report.Incomplete:
		verdict = p.paint(yellow+bold, "INCOMPLETE") + fmt.Sprintf(" (%d not fully analysed)", s.Incomplete)
	default:
		verdict = p.paint(green+bold, "PASS") + fmt.Sprintf(" (nothing at or above %s)", d.FailOn)
	}
	p.line("%d %s scanned: %s. %s", s.Files, files, counts, verdict)
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
