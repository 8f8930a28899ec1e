package cli

import (
	"context"
	"fmt"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/report"
	"github.com/modelgate/modelgate/internal/report/jsonout"
	"github.com/modelgate/modelgate/internal/report/textout"
	"github.com/modelgate/modelgate/internal/scan"
)

func runScan(ctx context.Context, args []string, env *Env) (int, error) {
	fs := newFlagSet("scan", "[--format text|json] [--fail-on LEVEL] [--no-sha256] PATH...", env)
	format := fs.String("format", "text", "output format: text or json")
	failOn := fs.String("fail-on", "high", "exit 1 when a finding is at or above this severity: info, low, medium, high, critical")
	noDigest := fs.Bool("no-sha256", false, "skip the SHA-256 of each file (the only step that reads every byte); sha256 is empty in reports")
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		return ExitIncomplete, flagError(err)
	}
	if len(paths) == 0 {
		fs.Usage()
		return ExitIncomplete, usagef("scan needs at least one PATH (a file, a directory, or - for stdin)")
	}
	threshold, err := finding.ParseSeverity(*failOn)
	if err != nil {
		return ExitIncomplete, usagef("--fail-on: %v", err)
	}
	if *format != "text" && *format != "json" {
		return ExitIncomplete, usagef("--format: unknown format %q (want text or json)", *format)
	}
	eng := scan.New()
	eng.NoDigest = *noDigest
	doc := &report.Document{ToolVersion: Version, FailOn: threshold, Files: eng.ScanPaths(ctx, paths)}
	switch *format {
	case "json":
		err = jsonout.Write(env.Stdout, doc)
	default:
		err = textout.Write(env.Stdout, doc, textout.Options{Color: env.IsTerminal && env.Getenv("NO_COLOR") == ""})
	}
	if err != nil {
		return ExitIncomplete, fmt.Errorf("write report: %w", err)
	}
	return int(doc.Verdict()), nil
}
