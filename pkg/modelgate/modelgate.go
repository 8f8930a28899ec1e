// Package modelgate is the Go API of the modelgate scanner: scan model
// files and directories for code-execution payloads without running them,
// and get the same report the modelgate command prints.
//
// The command line is a thin layer over this package.
package modelgate

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/modelgate/modelgate/internal/cache"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/hub"
	"github.com/modelgate/modelgate/internal/policy"
	"github.com/modelgate/modelgate/internal/remote"
	"github.com/modelgate/modelgate/internal/report"
	"github.com/modelgate/modelgate/internal/report/cyclonedx"
	"github.com/modelgate/modelgate/internal/report/jsonout"
	"github.com/modelgate/modelgate/internal/report/sarif"
	"github.com/modelgate/modelgate/internal/report/textout"
	"github.com/modelgate/modelgate/internal/scan"
)

// Severity orders findings: Info < Low < Medium < High < Critical.
type Severity = finding.Severity

// Severity levels.
const (
	Info     = finding.Info
	Low      = finding.Low
	Medium   = finding.Medium
	High     = finding.High
	Critical = finding.Critical
)

// ParseSeverity parses "info", "low", "medium", "high" or "critical".
func ParseSeverity(s string) (Severity, error) { return finding.ParseSeverity(s) }

// Finding is one observation about one file: a stable rule id, a
// severity, a message, the location (archive member chain and byte offset)
// and the evidence rendered like Python.
type Finding = finding.Finding

// FileResult is everything found about one file.
type FileResult = scan.FileResult

// Verdict is the outcome of a scan, numbered as the command's exit status.
type Verdict = report.Verdict

// Verdicts.
const (
	Pass       = report.Pass       // nothing at or above the threshold, everything analysed
	Fail       = report.Fail       // a finding at or above the threshold
	Incomplete = report.Incomplete // something could not be analysed and nothing failed
)

// Options configure a scan; start from DefaultOptions. (The zero value
// has the threshold Info: every finding fails.)
type Options struct {
	// FailOn is the threshold: a finding at or above it fails the scan.
	FailOn Severity
	// NoDigest skips each file's SHA-256 (the only full read of a file).
	NoDigest bool
	// CacheDir enables the verdict cache in that directory.
	CacheDir string
	// CacheSalt must change whenever something that decides verdicts
	// changes (the command uses its own build digest and settings).
	CacheSalt string
	// Progress, if set, is called after each file.
	Progress func(done, total int)
	// ToolVersion is reported in documents; empty means "library".
	ToolVersion string
	// Policy, if set, is the organisation's policy: its threshold replaces
	// FailOn, its allow/deny lists join the catalogue, its limits replace
	// the budgets, and its severity overrides and suppressions are applied
	// to the report.
	Policy *Policy
	// Now is the time suppressions expire against; zero means time.Now().
	Now time.Time
	// HubEndpoint and HubToken are used for hf:// inputs and URLs of Hub
	// files (the command takes them from HF_ENDPOINT and HF_TOKEN).
	// An empty endpoint means https://huggingface.co.
	HubEndpoint, HubToken string
}

// Policy is a parsed policy file (modelgate.yaml).
type Policy = policy.Policy

// LoadPolicy reads and strictly parses a policy file.
func LoadPolicy(path string) (*Policy, error) { return policy.Load(path) }

// FindPolicy looks for modelgate.yaml (or .modelgate.yaml) in dir.
func FindPolicy(dir string) (string, bool) { return policy.Find(dir) }

// DefaultOptions are the command line's defaults: threshold high, SHA-256
// digests, no cache.
func DefaultOptions() Options { return Options{FailOn: High} }

// Report is the result of one scan.
type Report struct {
	doc *report.Document
}

// Files returns one result per scanned file, in a stable order.
func (r *Report) Files() []FileResult { return r.doc.Files }

// PolicyHash identifies the effective policy ("" without one).
func (r *Report) PolicyHash() string { return r.doc.PolicyHash }

// Verdict applies the threshold.
func (r *Report) Verdict() Verdict { return r.doc.Verdict() }

// WriteOptions control the report writers.
type WriteOptions struct {
	Color   bool   // text: ANSI colours
	Quiet   bool   // text: only files with findings at low or above, or errors
	Verbose bool   // text: list every import
	Root    string // sarif: paths are made relative to this directory
}

// writers are the report formats by name, one writer package each.
var writers = map[string]func(w io.Writer, d *report.Document, o WriteOptions) error{
	"text": func(w io.Writer, d *report.Document, o WriteOptions) error {
		return textout.Write(w, d, textout.Options{Color: o.Color, Quiet: o.Quiet, Verbose: o.Verbose})
	},
	"json":      func(w io.Writer, d *report.Document, _ WriteOptions) error { return jsonout.Write(w, d) },
	"sarif":     func(w io.Writer, d *report.Document, o WriteOptions) error { return sarif.Write(w, d, o.Root) },
	"cyclonedx": func(w io.Writer, d *report.Document, _ WriteOptions) error { return cyclonedx.Write(w, d) },
}

// Formats lists the report formats Write accepts.
func Formats() []string {
	names := make([]string, 0, len(writers))
	for n := range writers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Write renders the report in a format of Formats().
func (r *Report) Write(w io.Writer, format string, o WriteOptions) error {
	write, ok := writers[format]
	if !ok {
		return fmt.Errorf("unknown report format %q (want one of %s)", format, strings.Join(Formats(), ", "))
	}
	return write(w, r.doc, o)
}

// WriteJSON writes the versioned JSON document (schema_version "1").
func (r *Report) WriteJSON(w io.Writer) error { return r.Write(w, "json", WriteOptions{}) }

// Scan scans files and directories (recursively; "-" is standard input),
// Hugging Face Hub repositories and files (hf://org/name[@rev][/path]) and
// http(s) URLs of single files; remote files are read with Range requests.
// Inputs that cannot be read are reported in their FileResult's Errors,
// not as an error: the error return is for problems with the options.
func Scan(ctx context.Context, inputs []string, opts Options) (*Report, error) {
	if len(inputs) == 0 {
		return nil, fmt.Errorf("modelgate: no inputs")
	}
	eng := scan.New()
	eng.NoDigest = opts.NoDigest
	eng.Progress = opts.Progress
	failOn := opts.FailOn
	if p := opts.Policy; p != nil {
		if opts.NoDigest && p.NeedsDigest() {
			return nil, fmt.Errorf("modelgate: the policy's suppressions are pinned to SHA-256 digests; they cannot apply without them")
		}
		p.ApplyLimits(&eng.Limits)
		eng.FormatEnabled = p.FormatEnabled
		failOn = p.Threshold()
		opts.CacheSalt += "|policy " + p.Hash()
	}
	if opts.CacheDir != "" && !opts.NoDigest {
		c, err := cache.Open(opts.CacheDir, opts.CacheSalt)
		if err != nil {
			return nil, fmt.Errorf("modelgate: %w", err)
		}
		eng.Cache = c
	}

	version := opts.ToolVersion
	if version == "" {
		version = "library"
	}
	doc := &report.Document{ToolVersion: version, FailOn: failOn}
	var client *hub.Client
	// Consecutive local inputs are scanned together (in parallel); each
	// remote input is one source with its own summary.
	for i := 0; i < len(inputs); {
		if !remote.Is(inputs[i]) {
			j := i
			for j < len(inputs) && !remote.Is(inputs[j]) {
				j++
			}
			doc.Files = append(doc.Files, eng.ScanPaths(ctx, inputs[i:j])...)
			i = j
			continue
		}
		if client == nil {
			client = hub.New(opts.HubEndpoint, opts.HubToken, 0)
		}
		src, files := remote.Scan(ctx, eng, client, inputs[i])
		start := len(doc.Files)
		doc.Files = append(doc.Files, files...)
		doc.Sources = append(doc.Sources, report.Source{Source: src, Start: start, End: len(doc.Files)})
		i++
	}
	if opts.Policy != nil {
		now := opts.Now
		if now.IsZero() {
			now = time.Now()
		}
		opts.Policy.Apply(doc, now)
	}
	return &Report{doc: doc}, nil
}
