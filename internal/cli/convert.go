package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/modelgate/modelgate/internal/convert"
	"github.com/modelgate/modelgate/pkg/modelgate"
)

// listMax is how many names a text summary lists before "… and N more".
const listMax = 20

// runConvert implements "convert IN -o OUT.safetensors [--key K] [--force]":
// the normal scan first, then the allowlisted rebuild of the tensors.
func runConvert(ctx context.Context, args []string, env *Env) (int, error) {
	fs := newFlagSet("convert", "IN -o OUT.safetensors [--key K] [--force] [--policy FILE]", env)
	out := fs.String("o", "", "the safetensors file to write (required)")
	key := fs.String("key", "", "convert only this entry of a nested checkpoint (e.g. model or state_dict; dotted for deeper ones)")
	force := fs.Bool("force", false, "replace OUT if it exists")
	policyFile := fs.String("policy", "", "policy for the scan that comes first (default: modelgate.yaml in the working directory, else the built-in policy)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return ExitIncomplete, flagError(err)
	}
	if len(pos) != 1 || *out == "" {
		fs.Usage()
		return ExitIncomplete, usagef("convert needs one input file and -o OUT.safetensors")
	}
	in := pos[0]
	if st, err := os.Stat(in); err != nil {
		return ExitIncomplete, err
	} else if !st.Mode().IsRegular() {
		return ExitIncomplete, usagef("convert: %s is not a regular file", in)
	}
	if _, err := os.Lstat(*out); err == nil && !*force {
		return ExitIncomplete, usagef("convert: %s exists (use --force to replace it)", *out)
	}

	pol, err := loadPolicy(*policyFile)
	if err != nil {
		return ExitIncomplete, err
	}
	opts := modelgate.DefaultOptions()
	opts.ToolVersion, opts.Policy = Version, pol
	rep, err := modelgate.Scan(ctx, []string{in}, opts)
	if err != nil {
		return ExitIncomplete, err
	}
	switch rep.Verdict() {
	case modelgate.Fail:
		if err := rep.Write(env.Stdout, "text", modelgate.WriteOptions{}); err != nil {
			return ExitIncomplete, err
		}
		fmt.Fprintf(env.Stderr, "modelgate: %s: not converted: the scan failed it\n", in)
		return ExitFail, nil
	case modelgate.Incomplete:
		if err := rep.Write(env.Stdout, "text", modelgate.WriteOptions{}); err != nil {
			return ExitIncomplete, err
		}
		return ExitIncomplete, fmt.Errorf("%s: not converted: the scan could not analyse it completely", in)
	}
	var sum string
	if files := rep.Files(); len(files) == 1 {
		sum = files[0].SHA256
	}

	s, err := convert.Convert(ctx, in, *out, convert.ConvertOptions{Options: convert.Options{Key: *key}, Force: *force, SourceSHA256: sum})
	var re *convert.RefusedError
	switch {
	case errors.As(err, &re):
		fmt.Fprintf(env.Stdout, "%s: not converted: %v\n", in, re)
		return ExitFail, nil
	case errors.Is(err, convert.ErrExists):
		return ExitIncomplete, usagef("convert: %v", err)
	case err != nil:
		return ExitIncomplete, fmt.Errorf("convert %s: %w", in, err)
	}
	writeSummary(env.Stdout, s)
	return ExitPass, nil
}

func writeSummary(w io.Writer, s *convert.Summary) {
	fmt.Fprintf(w, "converted %s (%s, sha256 %s) to %s\n", s.Input, s.SourceFormat, s.SourceSHA256, s.Output)
	fmt.Fprintf(w, "  %d tensors, %d bytes of tensor data, %d bytes written\n", s.Tensors, s.TensorBytes, s.FileBytes)
	if len(s.Shared) > 0 {
		fmt.Fprintf(w, "  %d tied groups (tensors that shared a storage; each is written as its own copy):\n", len(s.Shared))
		for i, g := range s.Shared {
			if i == listMax {
				fmt.Fprintf(w, "    … and %d more groups\n", len(s.Shared)-listMax)
				break
			}
			fmt.Fprintf(w, "    %s\n", names(g.Names))
		}
	}
	if len(s.Skipped) > 0 {
		fmt.Fprintf(w, "  %d non-tensor values skipped:\n", len(s.Skipped))
		for i, k := range s.Skipped {
			if i == listMax {
				fmt.Fprintf(w, "    … and %d more\n", len(s.Skipped)-listMax)
				break
			}
			fmt.Fprintf(w, "    %s (%s)\n", k.Name, k.Kind)
		}
	}
}

func names(ns []string) string {
	if len(ns) > listMax {
		return strings.Join(ns[:listMax], ", ") + fmt.Sprintf(", … and %d more", len(ns)-listMax)
	}
	return strings.Join(ns, ", ")
}

// runVerify implements "verify A B [--format text|json]": exit 0 when both
// files hold the same tensors, 1 when they differ, 2 on an error.
func runVerify(ctx context.Context, args []string, env *Env) (int, error) {
	fs := newFlagSet("verify", "A B [--format text|json]", env)
	format := fs.String("format", "text", "output format: text or json")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return ExitIncomplete, flagError(err)
	}
	if len(pos) != 2 {
		fs.Usage()
		return ExitIncomplete, usagef("verify needs two model files")
	}
	if *format != "text" && *format != "json" {
		return ExitIncomplete, usagef("--format: unknown format %q (want text or json)", *format)
	}
	d, err := convert.Verify(ctx, pos[0], pos[1], convert.Options{})
	if err != nil {
		return ExitIncomplete, err
	}
	if *format == "json" {
		doc := struct {
			Identical bool         `json:"identical"`
			A         convert.Side `json:"a"`
			B         convert.Side `json:"b"`
			*convert.Diff
		}{d.Identical(), d.A, d.B, d}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return ExitIncomplete, err
		}
	} else {
		writeDiff(env.Stdout, d)
	}
	if d.Identical() {
		return ExitPass, nil
	}
	return ExitFail, nil
}

func writeDiff(w io.Writer, d *convert.Diff) {
	side := func(s convert.Side) string {
		return fmt.Sprintf("%s (%s, %d tensors)", s.Path, s.Format, s.Tensors)
	}
	if d.Identical() {
		fmt.Fprintf(w, "identical: %d tensors with the same names, dtypes, shapes and bytes\n  A %s\n  B %s\n", d.Equal, side(d.A), side(d.B))
		return
	}
	fmt.Fprintf(w, "different: %d of %d common tensors equal\n  A %s\n  B %s\n", d.Equal, d.Compared, side(d.A), side(d.B))
	for _, n := range d.OnlyInA {
		fmt.Fprintf(w, "  only in A: %s\n", n)
	}
	for _, n := range d.OnlyInB {
		fmt.Fprintf(w, "  only in B: %s\n", n)
	}
	for _, m := range d.Mismatch {
		fmt.Fprintf(w, "  %-5s %s: A %s, B %s\n", m.Field, m.Name, m.A, m.B)
	}
}
