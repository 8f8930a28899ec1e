// Package jsonout writes the versioned JSON document (schema_version "1").
package jsonout

import (
	"encoding/json"
	"io"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/report"
)

type document struct {
	SchemaVersion string   `json:"schema_version"`
	Tool          tool     `json:"tool"`
	Policy        *policy  `json:"policy,omitempty"`
	Files         []file   `json:"files"`
	Sources       []source `json:"sources,omitempty"`
	Summary       summary  `json:"summary"`
}

// source is a remote input (a Hub repository or a URL): the commit it
// resolved to, the paths of its files in "files", and what it cost.
type source struct {
	Input       string `json:"input"`
	Commit      string `json:"commit,omitempty"`
	Files       int    `json:"files"`
	Size        int64  `json:"size"`
	Transferred int64  `json:"transferred"`
	Verdict     string `json:"verdict"`
	Error       string `json:"error,omitempty"`
}

type policy struct {
	Hash   string `json:"hash"`
	Source string `json:"source,omitempty"`
}

type suppression struct {
	Reason  string `json:"reason"`
	Owner   string `json:"owner"`
	Expires string `json:"expires"`
}

type tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type file struct {
	Path     string   `json:"path"`
	Format   string   `json:"format"`
	Size     int64    `json:"size"`
	SHA256   string   `json:"sha256"`
	Findings []result `json:"findings"`
	Errors   []string `json:"errors"`
	Imports  []string `json:"imports,omitempty"`
}

type result struct {
	RuleID   string `json:"rule_id"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
	Member   string `json:"member,omitempty"`
	Offset   *int64 `json:"offset,omitempty"`
	Evidence string `json:"evidence,omitempty"`
	// Suppression is set for findings a policy accepted for this file.
	Suppression *suppression `json:"suppression,omitempty"`
}

type summary struct {
	Files       int            `json:"files"`
	MaxSeverity string         `json:"max_severity"`
	Findings    map[string]int `json:"findings"`
	Incomplete  int            `json:"incomplete"`
	Suppressed  int            `json:"suppressed"`
	Verdict     string         `json:"verdict"`
	FailOn      string         `json:"fail_on"`
}

// Write renders d as indented JSON.
func Write(w io.Writer, d *report.Document) error {
	out := document{SchemaVersion: report.SchemaVersion, Tool: tool{Name: "modelgate", Version: d.ToolVersion}, Files: []file{}}
	if d.PolicyHash != "" {
		out.Policy = &policy{Hash: d.PolicyHash, Source: d.PolicySource}
	}
	for _, f := range d.Files {
		jf := file{Path: f.Path, Format: f.Format, Size: f.Size, SHA256: f.SHA256, Findings: []result{}, Errors: []string{}}
		for _, x := range f.Findings {
			r := result{RuleID: x.RuleID, Severity: x.Severity.String(), Message: x.Message, Member: x.Member, Evidence: x.Evidence}
			if sp := x.Suppression; sp != nil {
				r.Suppression = &suppression{Reason: sp.Reason, Owner: sp.Owner, Expires: sp.Expires}
			}
			if x.Offset != finding.NoOffset {
				off := x.Offset
				r.Offset = &off
			}
			jf.Findings = append(jf.Findings, r)
		}
		jf.Errors = append(jf.Errors, f.Errors...)
		jf.Imports = f.Imports
		out.Files = append(out.Files, jf)
	}
	for _, src := range d.Sources {
		v := d.SourceVerdict(src).String()
		if src.Error != "" {
			v = "incomplete"
		}
		out.Sources = append(out.Sources, source{Input: src.Input, Commit: src.Commit, Files: src.Files, Size: src.Size,
			Transferred: src.Transferred, Verdict: v, Error: src.Error})
	}
	s := d.Summarize()
	out.Summary = summary{Files: s.Files, MaxSeverity: "none", Findings: map[string]int{}, Incomplete: s.Incomplete, Suppressed: s.Suppressed,
		Verdict: d.Verdict().String(), FailOn: d.FailOn.String()}
	if s.HasFindings {
		out.Summary.MaxSeverity = s.MaxSeverity.String()
	}
	for sev, n := range s.Counts {
		out.Summary.Findings[sev.String()] = n
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}
