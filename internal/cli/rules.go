package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/modelgate/modelgate/internal/knowledge"
)

func runRules(_ context.Context, args []string, env *Env) (int, error) {
	fs := newFlagSet("rules", "[--format text|json]", env)
	format := fs.String("format", "text", "output format: text or json")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return ExitIncomplete, flagError(err)
	}
	if len(rest) > 0 {
		return ExitIncomplete, usagef("rules takes no arguments")
	}
	switch *format {
	case "json":
		type rule struct {
			ID          string `json:"id"`
			Severity    string `json:"severity"`
			Title       string `json:"title"`
			Description string `json:"description"`
			Reference   string `json:"reference,omitempty"`
		}
		type global struct {
			Global    string `json:"global"`
			Severity  string `json:"severity"`
			Category  string `json:"category"`
			Why       string `json:"why"`
			Reference string `json:"reference"`
		}
		doc := struct {
			Rules     []rule   `json:"rules"`
			Dangerous []global `json:"dangerous_globals"`
			Safe      []string `json:"safe_globals"`
		}{Rules: []rule{}, Dangerous: []global{}, Safe: []string{}}
		for _, r := range knowledge.Rules {
			doc.Rules = append(doc.Rules, rule{r.ID, r.Severity.String(), r.Title, r.Description, r.Reference})
		}
		for _, d := range knowledge.DangerousGlobals {
			doc.Dangerous = append(doc.Dangerous, global{d.Path(), d.Severity.String(), d.Category, d.Why, d.Ref})
		}
		for _, s := range knowledge.SafeGlobals {
			doc.Safe = append(doc.Safe, safePath(s))
		}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return ExitPass, enc.Encode(doc)
	case "text":
	default:
		return ExitIncomplete, usagef("--format: unknown format %q (want text or json)", *format)
	}
	w := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "RULE\tSEVERITY\tTITLE\tREFERENCE")
	for _, r := range knowledge.Rules {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.ID, r.Severity, r.Title, r.Reference)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "DANGEROUS GLOBAL\tSEVERITY\tWHY\tREFERENCE")
	for _, d := range knowledge.DangerousGlobals {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", d.Path(), d.Severity, d.Why, d.Ref)
	}
	if err := w.Flush(); err != nil {
		return ExitIncomplete, err
	}
	fmt.Fprintf(env.Stdout, "\n%d globals are known safe (modelgate rules --format json lists them); anything else is unknown: a load-time call of it is high, an import medium.\n", len(knowledge.SafeGlobals))
	return ExitPass, nil
}

func safePath(s knowledge.SafeGlobal) string {
	p := s.Module + "." + s.Name
	if s.Name == "" {
		p = s.Module + ".* (instantiate only)"
	} else if !s.Calls {
		p += " (instantiate only)"
	}
	return p
}
