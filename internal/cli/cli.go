// Package cli implements the modelgate command line: subcommands, flags and
// the single mapping from outcomes to exit statuses.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/modelgate/modelgate/internal/cache"
)

// Version is the tool version; release builds set it with
// -ldflags "-X github.com/modelgate/modelgate/internal/cli.Version=v1.2.3".
var Version = "0.1.0-dev"

// Exit statuses (the CLI contract).
const (
	ExitPass       = 0 // nothing at or above the threshold, everything analysed
	ExitFail       = 1 // a finding at or above the threshold
	ExitIncomplete = 2 // usage error, or an input could not be fully analysed
)

// usageError is a mistake on the command line; it maps to exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// flagError keeps -h a request for help (exit 0) and makes any other flag
// problem a usage error; the flag package has already printed the details.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return &usageError{err.Error()}
}

// Env is what a command may touch besides its arguments.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Getenv reads environment variables (NO_COLOR); tests replace it.
	Getenv func(string) string
	// IsTerminal reports whether Stdout is a terminal (colour).
	IsTerminal bool
	// StderrTerminal reports whether Stderr is a terminal (progress bar).
	StderrTerminal bool
	// CacheDir is the default verdict cache; empty disables caching
	// unless --cache is given.
	CacheDir string
}

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, env *Env) (int, error)
}

func commands() []command {
	return []command{
		{"scan", "scan model files and directories for code-execution payloads", runScan},
		{"explain", "disassemble a pickle and render it as pseudo-Python, findings marked", runExplain},
		{"rules", "list every rule and the catalogue of dangerous globals", runRules},
		{"convert", "IN -o OUT.safetensors: scan, then rebuild only allowlisted tensors into safetensors", runConvert},
		{"verify", "A B: compare two model files tensor by tensor (names, dtypes, shapes, bytes)", runVerify},
		{"policy", "init: write a commented modelgate.yaml; check FILE: validate and explain a policy", runPolicy},
		{"serve", "run the gate: a Hugging Face Hub proxy that scans every download", runServe},
		{"version", "print the version", runVersion},
	}
}

// Run executes the command line and returns the exit status.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := &Env{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: os.Getenv, IsTerminal: isTerminal(stdout),
		StderrTerminal: isTerminal(stderr)}
	if dir, err := cache.DefaultDir(); err == nil {
		env.CacheDir = dir
	}
	return RunEnv(ctx, args, env)
}

// RunEnv is Run with an explicit environment.
func RunEnv(ctx context.Context, args []string, env *Env) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(env.Stdout)
		if len(args) == 0 {
			return ExitIncomplete
		}
		return ExitPass
	}
	for _, c := range commands() {
		if c.name == args[0] {
			code, err := c.run(ctx, args[1:], env)
			return exitStatus(code, err, env.Stderr)
		}
	}
	fmt.Fprintf(env.Stderr, "modelgate: unknown command %q\n\n", args[0])
	printUsage(env.Stderr)
	return ExitIncomplete
}

// exitStatus is the one place where errors become exit statuses.
func exitStatus(code int, err error, stderr io.Writer) int {
	if err == nil {
		return code
	}
	if errors.Is(err, flag.ErrHelp) {
		return ExitPass
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "modelgate: %v\n", err)
		return ExitIncomplete
	}
	fmt.Fprintf(stderr, "modelgate: %v\n", err)
	if code == ExitPass {
		return ExitIncomplete
	}
	return code
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "modelgate %s: find code-execution payloads in machine-learning model files without running them.\n\n", Version)
	fmt.Fprintln(w, "Usage: modelgate COMMAND [flags] [args]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'modelgate COMMAND -h' for the flags of a command.")
	fmt.Fprintln(w, "Exit status: 0 pass, 1 a finding at or above --fail-on, 2 usage error or not fully analysed.")
}

// parseInterleaved parses flags that may appear before or after positional
// arguments ("scan model.pkl --format json"); "--" ends flag parsing.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func newFlagSet(name, usage string, env *Env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: modelgate %s %s\n\nFlags:\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

func runVersion(_ context.Context, args []string, env *Env) (int, error) {
	if len(args) > 0 {
		return ExitIncomplete, usagef("version takes no arguments")
	}
	fmt.Fprintf(env.Stdout, "modelgate %s%s\n", Version, buildInfo())
	return ExitPass, nil
}

func buildInfo() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	parts := []string{bi.GoVersion}
	if rev != "" {
		parts = append(parts, "commit "+rev[:min(12, len(rev))]+dirty)
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
