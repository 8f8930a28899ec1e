// Package report holds the one document every writer renders: the scanned
// files with their findings, and the summary and verdict derived from them.
// Writers live in subpackages (textout, jsonout) and only format.
package report

import (
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/scan"
)

// SchemaVersion is the JSON contract version. Extend, don't break.
const SchemaVersion = "1"

// Document is the result of one scan.
type Document struct {
	ToolVersion string
	Files       []scan.FileResult
	FailOn      finding.Severity
	// Policy identifies the effective policy (its SHA-256 over the
	// canonical form, and where it came from); empty without one.
	PolicyHash   string
	PolicySource string
	// Sources are the remote inputs (Hub repositories, URLs), each with
	// the range of Files that came from it.
	Sources []Source
}

// Source is a remote input and the files it contributed: Files[Start:End].
type Source struct {
	scan.Source
	Start, End int
}

// SummarizeSource computes the summary of one source's files.
func (d *Document) SummarizeSource(s Source) Summary { return summarize(d.Files[s.Start:s.End]) }

// SourceVerdict applies the threshold to one source's files.
func (d *Document) SourceVerdict(s Source) Verdict {
	return verdictOf(summarize(d.Files[s.Start:s.End]), d.FailOn)
}

// Summary counts what the document contains.
type Summary struct {
	Files       int
	MaxSeverity finding.Severity
	HasFindings bool
	Counts      map[finding.Severity]int
	Incomplete  int // files with errors
	Suppressed  int // findings accepted by the policy (not counted above)
}

// Summarize computes the summary.
func (d *Document) Summarize() Summary { return summarize(d.Files) }

func summarize(files []scan.FileResult) Summary {
	s := Summary{Files: len(files), Counts: map[finding.Severity]int{}}
	for _, f := range files {
		for _, x := range f.Findings {
			if x.Suppression != nil {
				s.Suppressed++
				continue
			}
			s.Counts[x.Severity]++
			if !s.HasFindings || x.Severity > s.MaxSeverity {
				s.MaxSeverity = x.Severity
			}
			s.HasFindings = true
		}
		if len(f.Errors) > 0 {
			s.Incomplete++
		}
	}
	return s
}

// Verdict is the scan's outcome, which is also its exit status.
type Verdict int

// Verdicts, numbered as exit statuses.
const (
	Pass       Verdict = 0 // nothing at or above the threshold, everything analysed
	Fail       Verdict = 1 // a finding at or above the threshold
	Incomplete Verdict = 2 // something could not be analysed, and nothing failed
)

// Verdict applies the threshold: a failing finding wins over an incomplete
// analysis, because what was found is already enough to refuse the file.
func (d *Document) Verdict() Verdict { return verdictOf(d.Summarize(), d.FailOn) }

func verdictOf(s Summary, failOn finding.Severity) Verdict {
	if s.HasFindings && s.MaxSeverity >= failOn {
		return Fail
	}
	if s.Incomplete > 0 {
		return Incomplete
	}
	return Pass
}

// String is the verdict's name in reports: pass, fail or incomplete.
func (v Verdict) String() string {
	switch v {
	case Fail:
		return "fail"
	case Incomplete:
		return "incomplete"
	}
	return "pass"
}

// FileVerdict applies the document's threshold to one file.
func (d *Document) FileVerdict(f scan.FileResult) Verdict {
	if m, ok := finding.Max(f.Findings); ok && m >= d.FailOn {
		return Fail
	}
	if len(f.Errors) > 0 {
		return Incomplete
	}
	return Pass
}
