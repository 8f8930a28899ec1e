package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/joblib"
	"github.com/modelgate/modelgate/internal/formats/numpy"
	"github.com/modelgate/modelgate/internal/formats/picklefile"
	"github.com/modelgate/modelgate/internal/formats/pytorch"
	"github.com/modelgate/modelgate/internal/pickle"
	"github.com/modelgate/modelgate/internal/scan"
)

func runExplain(ctx context.Context, args []string, env *Env) (int, error) {
	fs := newFlagSet("explain", "[--member NAME] FILE", env)
	member := fs.String("member", "", "only explain pickle streams whose member path contains NAME (e.g. data.pkl)")
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
	x := &explainer{ctx: ctx, w: env.Stdout, eng: eng, filter: *member}
	in := analyzer.Input{Name: paths[0], R: f, Size: st.Size(), Budget: analyzer.NewBudget(eng.Limits)}
	x.walk(in, "")
	switch {
	case x.streams == 0:
		return ExitIncomplete, fmt.Errorf("%s: no pickle stream found to explain", paths[0])
	case x.worst >= finding.High:
		return ExitFail, nil
	case x.incomplete:
		return ExitIncomplete, nil
	}
	return ExitPass, nil
}

// explainer walks containers down to their pickle streams, the same way the
// scan engine does, and disassembles each stream.
type explainer struct {
	ctx        context.Context
	w          io.Writer
	eng        *scan.Engine
	filter     string
	streams    int
	worst      finding.Severity
	incomplete bool
}

func (x *explainer) walk(in analyzer.Input, member string) {
	if in.Depth > x.eng.Limits.MaxDepth {
		fmt.Fprintf(x.w, "%s: nested too deeply, not explained\n", member)
		x.incomplete = true
		return
	}
	head := make([]byte, min(int64(analyzer.HeadSize), in.Size))
	n, _ := in.R.ReadAt(head, 0)
	a := x.eng.Match(in.Name, head[:n])
	switch a.(type) {
	case nil:
		return
	case picklefile.Analyzer:
		var arrays joblib.Inline
		x.pickle(in, member, 0, picklefile.Options{AfterBuild: arrays.AfterBuild})
	case pytorch.LegacyAnalyzer:
		x.pickle(in, member, 0, picklefile.Options{MaxPickles: 5})
	case numpy.Analyzer:
		if h, err := numpy.ReadHeader(in.R, in.Size); err == nil && h.HasObject {
			x.pickle(in, member, h.DataOffset, picklefile.Options{})
		}
	default:
		var out analyzer.Output
		if err := a.Analyze(x.ctx, in, x.eng.Limits, &out); err != nil {
			fmt.Fprintf(x.w, "%s: %v\n", orFile(member, in.Name), err)
			x.incomplete = true
		}
		for _, nst := range out.Nested {
			x.walk(analyzer.Input{Name: nst.Name, R: nst.R, Size: nst.Size, Depth: in.Depth + 1, Budget: in.Budget}, joinChain(member, nst.Name))
			if nst.Close != nil {
				nst.Close()
			}
		}
	}
}

func orFile(member, name string) string {
	if member == "" {
		return name
	}
	return member
}

func joinChain(parent, child string) string {
	if parent == "" {
		return child
	}
	return parent + "!" + child
}

func (x *explainer) pickle(in analyzer.Input, member string, start int64, opts picklefile.Options) {
	if x.filter != "" && !strings.Contains(member, x.filter) {
		return
	}
	if x.streams > 0 {
		fmt.Fprintln(x.w)
	}
	x.streams++
	if member != "" {
		fmt.Fprintf(x.w, "== %s ==\n", member)
	}
	opts.Limits, opts.Catalogue = x.eng.Limits.Pickle, x.eng.Limits.Catalogue
	worst, complete := explainPickle(x.w, in.R, start, in.Size, opts)
	x.worst = max(x.worst, worst)
	x.incomplete = x.incomplete || !complete
}

// explainPickle prints the disassembly with pseudo-Python and marks each
// opcode that carries a finding.
func explainPickle(w io.Writer, r io.ReaderAt, start, end int64, opts picklefile.Options) (finding.Severity, bool) {
	audit := picklefile.Run(r, start, end, opts)
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
	var inline joblib.Inline // a fresh hook: the audit's counted the arrays already
	after := opts.AfterBuild
	if after != nil {
		after = inline.AfterBuild
	}
	res := pickle.Run(r, start, end, pickle.Options{Limits: opts.Limits, MaxPickles: opts.MaxPickles, AfterBuild: after, OnStep: func(s pickle.Step) {
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
		return worst, false
	}
	return worst, true
}
