package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/compress"
	"github.com/modelgate/modelgate/internal/formats/picklefile"
	"github.com/modelgate/modelgate/internal/pickle"
	"github.com/modelgate/modelgate/internal/scan"
)

func runExplain(ctx context.Context, args []string, env *Env) (int, error) {
	fs := newFlagSet("explain", "FILE", env)
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		return ExitIncomplete, flagError(err)
	}
	if len(paths) != 1 {
		fs.Usage()
		return ExitIncomplete, usagef("explain needs exactly one FILE")
	}
	f, err := os.Open(paths[0])
	if err != nil {
		return ExitIncomplete, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ExitIncomplete, err
	}
	eng := scan.New()
	in := analyzer.Input{Name: paths[0], R: f, Size: st.Size()}
	// Unwrap compression to reach the pickle.
	for depth := 0; ; depth++ {
		head := make([]byte, min(int64(analyzer.HeadSize), in.Size))
		n, _ := in.R.ReadAt(head, 0)
		a := eng.Match(in.Name, head[:n])
		switch a.(type) {
		case picklefile.Analyzer:
			return explainPickle(env.Stdout, in, eng.Limits)
		case compress.Analyzer:
			if depth >= eng.Limits.MaxDepth {
				return ExitIncomplete, fmt.Errorf("%s: nested too deeply", paths[0])
			}
			var out analyzer.Output
			if err := a.Analyze(ctx, in, eng.Limits, &out); err != nil && len(out.Nested) == 0 {
				return ExitIncomplete, err
			}
			nested := out.Nested[0]
			if nested.Close != nil {
				defer nested.Close()
			}
			fmt.Fprintf(env.Stdout, "%s: %s stream, explaining its content %q\n\n", in.Name, out.Format, nested.Name)
			in = analyzer.Input{Name: nested.Name, R: nested.R, Size: nested.Size, Depth: depth + 1}
		default:
			return ExitIncomplete, fmt.Errorf("%s: not a pickle stream (explain reads raw or compressed pickles)", in.Name)
		}
	}
}

// explainPickle prints the disassembly with pseudo-Python and marks each
// opcode that carries a finding.
func explainPickle(w io.Writer, in analyzer.Input, lim analyzer.Limits) (int, error) {
	audit := picklefile.Run(in.R, 0, in.Size, picklefile.Options{Limits: lim.Pickle})
	byPos := map[int64][]finding.Finding{}
	worst := finding.Info
	for _, f := range audit.Findings {
		if f.Offset != finding.NoOffset {
			byPos[f.Offset] = append(byPos[f.Offset], f)
		}
		worst = max(worst, f.Severity)
	}
	var code []string
	pickleIdx := -1
	res := pickle.Run(in.R, 0, in.Size, pickle.Options{Limits: lim.Pickle, OnStep: func(s pickle.Step) {
		if s.Pickle != pickleIdx {
			pickleIdx = s.Pickle
			if len(code) > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "pickle %d at offset %d\n", s.Pickle+1, s.Pos)
			code = append(code, fmt.Sprintf("# pickle %d", s.Pickle+1))
		}
		name := pickle.OpName(s.Op)
		line := fmt.Sprintf("%8d  %-17s %s", s.Pos, name, s.Arg)
		for _, f := range byPos[s.Pos] {
			if f.Severity == finding.Info {
				continue
			}
			line += fmt.Sprintf("   <<< %s %s", strings.ToUpper(f.Severity.String()), f.RuleID)
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
		switch name {
		case "GLOBAL", "STACK_GLOBAL":
			code = append(code, "# import "+s.Arg)
		case "REDUCE", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "BUILD":
			code = append(code, s.Arg)
		case "STOP":
			code = append(code, "return "+s.Arg)
		}
	}})
	fmt.Fprintln(w, "\npseudo-Python:")
	for _, c := range code {
		fmt.Fprintln(w, "    "+c)
	}
	fmt.Fprintln(w, "\nfindings:")
	finding.Sort(audit.Findings)
	for _, f := range audit.Findings {
		loc := ""
		if f.Offset != finding.NoOffset {
			loc = fmt.Sprintf(" at offset %d", f.Offset)
		}
		fmt.Fprintf(w, "    %-8s %s%s: %s\n", strings.ToUpper(f.Severity.String()), f.RuleID, loc, f.Message)
		if f.Evidence != "" {
			fmt.Fprintf(w, "             %s\n", f.Evidence)
		}
	}
	if res.Err != nil {
		fmt.Fprintf(w, "\nincomplete: %v\n", res.Err)
		return ExitIncomplete, nil
	}
	if worst >= finding.High {
		return ExitFail, nil
	}
	return ExitPass, nil
}
