package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/schollz/progressbar/v3"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/policy"
	"github.com/modelgate/modelgate/pkg/modelgate"
)

func runScan(ctx context.Context, args []string, env *Env) (int, error) {
	fs := newFlagSet("scan", "[flags] PATH...", env)
	format := fs.String("format", "text", "output format: "+strings.Join(modelgate.Formats(), ", "))
	failOn := fs.String("fail-on", "high", "exit 1 when a finding is at or above this severity: info, low, medium, high, critical")
	noDigest := fs.Bool("no-sha256", false, "skip the SHA-256 of each file (the only step that reads every byte); sha256 is empty in reports")
	output := fs.String("output", "", "write the report to this file instead of standard output")
	quiet := fs.Bool("quiet", false, "text: only files with findings at low or above or errors, and the summary")
	verbose := fs.Bool("verbose", false, "text: also list every global each file imports")
	policyFile := fs.String("policy", "", "policy file (default: modelgate.yaml or .modelgate.yaml in the working directory, else the built-in policy)")
	cacheDir := fs.String("cache", env.CacheDir, "verdict cache directory (re-scans of unchanged files are instant)")
	noCache := fs.Bool("no-cache", false, "do not read or write the verdict cache")
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		return ExitIncomplete, flagError(err)
	}
	if len(paths) == 0 {
		fs.Usage()
		return ExitIncomplete, usagef("scan needs at least one PATH (a file, a directory, - for stdin, hf://org/name[@rev] or an https:// URL)")
	}
	threshold, err := finding.ParseSeverity(*failOn)
	if err != nil {
		return ExitIncomplete, usagef("--fail-on: %v", err)
	}
	if !slices.Contains(modelgate.Formats(), *format) {
		return ExitIncomplete, usagef("--format: unknown format %q (want one of %s)", *format, strings.Join(modelgate.Formats(), ", "))
	}
	if *quiet && *verbose {
		return ExitIncomplete, usagef("--quiet and --verbose contradict each other")
	}
	pol, err := loadPolicy(*policyFile)
	if err != nil {
		return ExitIncomplete, err
	}
	// An explicit --fail-on is part of the effective policy (and its hash).
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "fail-on" {
			pol.FailOn = threshold
		}
	})
	if *noDigest && pol.NeedsDigest() {
		return ExitIncomplete, usagef("--no-sha256: the policy %s has suppressions pinned to SHA-256 digests", pol.Source)
	}
	opts := modelgate.DefaultOptions()
	opts.FailOn, opts.NoDigest, opts.ToolVersion, opts.Policy = threshold, *noDigest, Version, pol
	opts.HubEndpoint = env.Getenv("HF_ENDPOINT")
	opts.HubToken = env.Getenv("HF_TOKEN")
	if opts.HubToken == "" {
		opts.HubToken = env.Getenv("HUGGING_FACE_HUB_TOKEN")
	}
	if *cacheDir != "" && !*noCache && !*noDigest {
		opts.CacheDir, opts.CacheSalt = *cacheDir, cacheSalt(*noDigest)
	}
	if env.StderrTerminal && !*quiet {
		opts.Progress = progress(env.Stderr)
	}
	rep, err := modelgate.Scan(ctx, paths, opts)
	if err != nil {
		return ExitIncomplete, err
	}
	wo := modelgate.WriteOptions{Color: env.IsTerminal && *output == "" && env.Getenv("NO_COLOR") == "",
		Quiet: *quiet, Verbose: *verbose, Root: scanRoot(paths)}
	if err := emit(env, *output, func(w io.Writer) error { return rep.Write(w, *format, wo) }); err != nil {
		return ExitIncomplete, fmt.Errorf("write report: %w", err)
	}
	return int(rep.Verdict()), nil
}

// loadPolicy reads --policy, or modelgate.yaml from the working directory,
// or returns the built-in policy.
func loadPolicy(path string) (*modelgate.Policy, error) {
	if path == "" {
		if wd, err := os.Getwd(); err == nil {
			if found, ok := modelgate.FindPolicy(wd); ok {
				path = found
			}
		}
	}
	if path == "" {
		return policy.Default(), nil
	}
	p, err := modelgate.LoadPolicy(path)
	if err != nil {
		return nil, &usageError{fmt.Sprintf("policy: %v", err)}
	}
	return p, nil
}

// emit writes the report to standard output, or atomically to a file.
func emit(env *Env, path string, write func(io.Writer) error) error {
	if path == "" {
		return write(env.Stdout)
	}
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".modelgate-report-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// scanRoot is the directory report paths are made relative to (SARIF): the
// single directory scanned, or the working directory.
func scanRoot(paths []string) string {
	if len(paths) == 1 {
		if st, err := os.Stat(paths[0]); err == nil && st.IsDir() {
			return paths[0]
		}
	}
	return "."
}

// progress draws a bar on a terminal's standard error.
func progress(w io.Writer) func(done, total int) {
	var bar *progressbar.ProgressBar
	return func(done, total int) {
		if total < 2 {
			return
		}
		if bar == nil {
			bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("scanning"),
				progressbar.OptionClearOnFinish(), progressbar.OptionShowCount(), progressbar.OptionThrottle(100_000_000))
		}
		_ = bar.Set(done)
	}
}

var (
	exeOnce sync.Once
	exeSum  string
)

// cacheSalt names everything besides a file's bytes that decides its
// verdict. The executable's own digest is part of it, so a rebuilt
// modelgate (even a development build with an unchanged version string)
// never reuses an older build's verdicts.
func cacheSalt(noDigest bool) string {
	exeOnce.Do(func() {
		exe, err := os.Executable()
		if err != nil {
			return
		}
		f, err := os.Open(exe)
		if err != nil {
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err == nil {
			exeSum = hex.EncodeToString(h.Sum(nil))
		}
	})
	return fmt.Sprintf("%s|%s|%t", Version, exeSum, noDigest)
}
