package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// KnownFormats are the format ids modelgate reports (the JSON "format"
// field), for Check's typo warning. Keep it in step with the analysers.
var KnownFormats = []string{
	"7z", "bzip2", "empty", "gguf", "gzip", "hdf5", "hf-config", "joblib", "joblib-zfile", "keras", "keras-h5", "lzma",
	"npy", "npz", "onnx", "pickle", "pytorch-legacy", "pytorch-tar", "pytorch-zip", "safetensors", "tar",
	"tf-checkpoint", "tf-checkpoint-data", "tf-checkpoint-index", "tf-checkpoint-state", "tf-fingerprint",
	"tf-graphdef", "tf-savedmodel", "tflite", "torchscript", "unknown", "xz", "zip", "zlib", "zstd",
}

// SoonExpiring is how close to its expiry date a suppression is reported by
// Check.
const SoonExpiring = 30 * 24 * time.Hour

// Check returns the problems worth telling a user about a valid policy, in
// file order: suppressions that have expired or expire soon, entries that do
// nothing, rule ids and format ids this modelgate does not know, and
// settings that let dangerous findings pass. An empty result means nothing
// to say.
func Check(p *Policy, now time.Time) []string {
	var out []string
	at := func(line int, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if line > 0 {
			msg = fmt.Sprintf("line %d: %s", line, msg)
		}
		out = append(out, msg)
	}
	ruleIDs := make([]string, len(knowledge.Rules))
	for i, r := range knowledge.Rules {
		ruleIDs[i] = r.ID
	}

	if p.FailOn > finding.High {
		at(0, "fail_on %s: load-time calls of callables that are not known safe (high) no longer fail a scan", p.FailOn)
	}

	ids := make([]string, 0, len(p.Severity))
	for id := range p.Severity {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		sev := p.Severity[id]
		r, ok := knowledge.RuleByID(id)
		if !ok {
			at(0, "severity: unknown rule id %s%s; `modelgate rules` lists them", id, suggest(id, ruleIDs))
			continue
		}
		if r.Severity >= p.FailOn && sev < p.FailOn {
			at(0, "severity: %s is lowered from %s to %s, below fail_on %s: its findings no longer fail a scan", id, r.Severity, sev, p.FailOn)
		}
	}

	for _, a := range p.Allow {
		g := a.Global
		if g.Name == "" {
			if v := knowledge.Classify(g.Module, ""); v.Tier == knowledge.TierDangerous {
				at(a.Line, "allow %s does nothing: the built-in catalogue lists %s as dangerous (%s)", g, v.Danger.Path(), v.Danger.Why)
				continue
			}
		} else {
			switch v := knowledge.Classify(g.Module, g.Name); v.Tier {
			case knowledge.TierDangerous:
				at(a.Line, "allow %s does nothing: the built-in catalogue lists it as dangerous (%s)", g, v.Danger.Why)
				continue
			case knowledge.TierSafe:
				if a.Calls && !v.Safe.Calls {
					at(a.Line, "allow %s calls: true does nothing: the built-in catalogue knows it as safe to rebuild but not to call, and built-in knowledge wins", g)
				} else {
					at(a.Line, "allow %s is redundant: the built-in catalogue already knows it as safe", g)
				}
				continue
			}
		}
		for _, d := range p.Deny {
			if covers(d.Global, g) {
				at(a.Line, "allow %s does nothing: deny %s (line %d) covers it, and deny wins", g, d.Global, d.Line)
				break
			}
		}
	}

	for _, s := range p.Suppressions {
		if _, ok := knowledge.RuleByID(s.Rule); !ok {
			at(s.Line, "suppression: unknown rule id %s%s; it can never match", s.Rule, suggest(s.Rule, ruleIDs))
		}
		exp, _ := time.Parse(time.DateOnly, s.Expires)
		today, _ := time.Parse(time.DateOnly, now.UTC().Format(time.DateOnly))
		switch days := int(exp.Sub(today).Hours() / 24); {
		case s.Expired(now):
			at(s.Line, "suppression of %s for sha256 %s… (owner %s) expired on %s: it no longer applies", s.Rule, s.SHA256[:12], s.Owner, s.Expires)
		case exp.Sub(today) < SoonExpiring:
			at(s.Line, "suppression of %s for sha256 %s… (owner %s) expires on %s (%s)", s.Rule, s.SHA256[:12], s.Owner, s.Expires, inDays(days))
		}
	}

	for _, list := range [][]string{p.Formats.Enabled, p.Formats.Disabled} {
		for _, f := range list {
			if !slices.Contains(KnownFormats, f) {
				at(0, "formats: %q is not a format id this modelgate reports%s (known: %s)", f, suggest(f, KnownFormats), strings.Join(KnownFormats, ", "))
			}
		}
	}
	return out
}

func inDays(d int) string {
	switch d {
	case 0:
		return "today is its last day"
	case 1:
		return "tomorrow is its last day"
	}
	return fmt.Sprintf("in %d days", d)
}

// covers reports whether deny pattern d matches everything allow pattern a
// names.
func covers(d, a Global) bool {
	if d.Name == "" {
		return a.Module == d.Module || strings.HasPrefix(a.Module, d.Module+".")
	}
	return a.Name != "" && a.Module == d.Module && (a.Name == d.Name || strings.HasPrefix(a.Name, d.Name+"."))
}

// Explain describes the effective policy for people.
func Explain(p *Policy) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("policy %s", p.Source)
	w("  hash %s", p.Hash())
	w("")
	w("threshold: a finding at or above %s fails a scan (exit status 1)", p.FailOn)

	if len(p.Severity) > 0 {
		w("")
		w("severity overrides (every finding of the rule gets this severity):")
		ids := make([]string, 0, len(p.Severity))
		for id := range p.Severity {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			usual := "unknown rule"
			if r, ok := knowledge.RuleByID(id); ok {
				usual = "usually " + r.Severity.String()
			}
			w("  %-32s %s (%s)", id, p.Severity[id], usual)
		}
	}

	if len(p.Allow) > 0 {
		w("")
		w("allowed globals (known safe where the built-in catalogue has no opinion; never over a dangerous one):")
		for _, a := range p.Allow {
			what := "may be called at load"
			switch {
			case a.Global.Name == "":
				what = "its classes may be rebuilt (instantiated, state set), not called"
			case !a.Calls:
				what = "may be rebuilt (instantiated, state set), not called"
			}
			w("  %s: %s%s", a.Global, what, because(a.Reason))
		}
	}

	if len(p.Deny) > 0 {
		w("")
		w("denied globals (dangerous whatever the built-in catalogue says):")
		for _, d := range p.Deny {
			w("  %s: %s on any reference%s", d.Global, d.Severity, because(d.Reason))
		}
	}

	if len(p.Suppressions) > 0 {
		w("")
		w("suppressions (findings of the rule in the file with this SHA-256 are accepted, through the expiry date, UTC):")
		for _, s := range p.Suppressions {
			w("  %s in sha256 %s", s.Rule, s.SHA256)
			w("      until %s, owner %s: %s", s.Expires, s.Owner, s.Reason)
		}
	}

	w("")
	switch {
	case len(p.Formats.Enabled) == 0 && len(p.Formats.Disabled) == 0:
		w("formats: all analysed")
	default:
		if len(p.Formats.Enabled) > 0 {
			w("formats: only %s analysed", strings.Join(p.Formats.Enabled, ", "))
		}
		if len(p.Formats.Disabled) > 0 {
			w("formats disabled: %s", strings.Join(p.Formats.Disabled, ", "))
		}
		w("  files in a format that is not analysed are reported as incomplete (exit status 2 unless something fails)")
	}

	w("")
	w("limits:")
	d := defaultLimits()
	l := p.Limits
	lim := func(name string, v, def int64, size bool) {
		s := fmt.Sprint(v)
		if size {
			s = FormatSize(v)
		}
		note := ""
		if v != def {
			if size {
				note = " (default " + FormatSize(def) + ")"
			} else {
				note = fmt.Sprintf(" (default %d)", def)
			}
		}
		w("  %-24s %s%s", name, s, note)
	}
	lim("max_depth", int64(l.MaxDepth), int64(d.MaxDepth), false)
	lim("max_decompressed", l.MaxDecompressed, d.MaxDecompressed, true)
	lim("max_total_decompressed", l.MaxTotalDecompressed, d.MaxTotalDecompressed, true)
	lim("max_ratio", l.MaxRatio, d.MaxRatio, false)
	lim("max_members", int64(l.MaxMembers), int64(d.MaxMembers), false)
	lim("max_opcodes", l.MaxOpcodes, d.MaxOpcodes, false)
	lim("max_findings", int64(l.MaxFindings), int64(d.MaxFindings), false)
	return b.String()
}

func because(reason string) string {
	if reason == "" {
		return ""
	}
	return " — " + reason
}

// FormatSize renders a byte count the way a policy writes it: the shortest
// exact form among binary (GiB) and decimal (GB) units and plain bytes
// (units win a tie, binary first).
func FormatSize(n int64) string {
	best := ""
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}} {
		if n != 0 && n%u.size == 0 {
			if s := fmt.Sprintf("%d%s", n/u.size, u.name); best == "" || len(s) < len(best) {
				best = s
			}
		}
	}
	if plain := fmt.Sprint(n); best == "" || len(plain) < len(best) {
		return plain
	}
	return best
}

// InitTemplate is the commented default policy that `modelgate policy init`
// writes. It parses to a policy with Default()'s hash; uncommenting the
// limits block gives the same hash too (the values shown are the defaults).
const InitTemplate = `# modelgate policy (https://github.com/modelgate/modelgate).
# modelgate scan reads ./modelgate.yaml (or ./.modelgate.yaml), or the file given with --policy.
# Unknown keys are errors. ` + "`modelgate policy check FILE`" + ` validates and explains a policy.
version: 1

# A finding at or above this severity fails a scan (exit status 1):
# info, low, medium, high or critical.
fail_on: high

# Per-rule severity overrides (rule ids: ` + "`modelgate rules`" + `).
# severity:
#   PICKLE-UNKNOWN-GLOBAL: low

# Globals your organisation vouches for. They count as safe only where the built-in catalogue has
# no opinion: a global it lists as dangerous stays dangerous.
#   "module.name"         one class: may be rebuilt (instantiated, state set), not called
#   "module.*"            every class of the module and its submodules, rebuilt only
#   "module:Outer.Inner"  a nested name
#   calls: true           the callable is safe to call at load time (exact names only)
# allow:
#   - global: mycorp.models.*
#     reason: our own model classes
#   - global: mycorp.util.load_weights
#     calls: true
#     reason: reads tensors only; reviewed in SEC-100

# Globals to treat as dangerous whatever the built-in catalogue says (severity defaults to critical).
# deny:
#   - global: mycorp.legacy.*
#     severity: critical
#     reason: the legacy loader runs shell commands

# Reviewed exceptions, each pinned to one file (its SHA-256, as in the JSON report) and one rule.
# A suppressed finding stays in reports and does not fail the scan. A suppression applies through its
# expiry date (UTC); after that it stops applying and the scan reports POLICY-SUPPRESSION-EXPIRED.
# suppressions:
#   - sha256: 0000000000000000000000000000000000000000000000000000000000000000
#     rule: PICKLE-UNKNOWN-CALL
#     reason: reviewed in SEC-123
#     owner: alice@example.com
#     expires: 2027-03-31

# Formats (the "format" field of the JSON report). Files in a format that is not analysed are
# reported as incomplete (exit status 2). Empty enabled list: every format.
# formats:
#   enabled: []
#   disabled: [tflite]

# Budgets (the values shown are the defaults). Sizes take B, KB, MB, GB, TB, KiB, MiB, GiB, TiB.
# limits:
#   max_depth: 8                  # nested containers
#   max_decompressed: 16GiB       # one decompressed stream
#   max_total_decompressed: 64GiB # every stream and member of one file together
#   max_ratio: 1000               # decompressed/compressed size (past 64 MiB)
#   max_members: 100000           # archive members of one file
#   max_opcodes: 500_000_000      # pickle opcodes of one file
#   max_findings: 500             # findings listed for one file
`
