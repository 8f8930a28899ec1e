package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/modelgate/modelgate/internal/policy"
)

// runPolicy implements "policy init [FILE]" and "policy check [FILE]".
func runPolicy(_ context.Context, args []string, env *Env) (int, error) {
	if len(args) == 0 {
		return ExitIncomplete, usagef("policy needs a subcommand: init [FILE] or check [FILE]")
	}
	switch args[0] {
	case "init":
		fset := newFlagSet("policy init", "[--force] [FILE]", env)
		force := fset.Bool("force", false, "overwrite an existing file")
		rest, err := parseInterleaved(fset, args[1:])
		if err != nil {
			return ExitIncomplete, flagError(err)
		}
		path := "modelgate.yaml"
		if len(rest) > 1 {
			return ExitIncomplete, usagef("policy init takes at most one FILE")
		} else if len(rest) == 1 {
			path = rest[0]
		}
		flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
		if *force {
			flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		}
		f, err := os.OpenFile(path, flags, 0o644)
		if errors.Is(err, fs.ErrExist) {
			return ExitIncomplete, usagef("%s exists (use --force to overwrite it)", path)
		}
		if err != nil {
			return ExitIncomplete, err
		}
		if _, err := f.WriteString(policy.InitTemplate); err != nil {
			f.Close()
			return ExitIncomplete, err
		}
		if err := f.Close(); err != nil {
			return ExitIncomplete, err
		}
		fmt.Fprintf(env.Stdout, "wrote %s (the built-in policy, commented); check it with: modelgate policy check %s\n", path, path)
		return ExitPass, nil
	case "check":
		rest := args[1:]
		path := ""
		switch len(rest) {
		case 0:
			wd, _ := os.Getwd()
			found, ok := policy.Find(wd)
			if !ok {
				return ExitIncomplete, usagef("no modelgate.yaml here: policy check FILE")
			}
			path = found
		case 1:
			path = rest[0]
		default:
			return ExitIncomplete, usagef("policy check takes one FILE")
		}
		p, err := policy.Load(path)
		if err != nil {
			fmt.Fprintln(env.Stdout, err)
			return ExitFail, nil
		}
		fmt.Fprint(env.Stdout, policy.Explain(p))
		problems := policy.Check(p, time.Now())
		for _, pr := range problems {
			fmt.Fprintln(env.Stdout, "warning:", pr)
		}
		fmt.Fprintf(env.Stdout, "policy hash %s\n", p.Hash())
		return ExitPass, nil
	}
	return ExitIncomplete, usagef("unknown policy subcommand %q (want init or check)", args[0])
}
