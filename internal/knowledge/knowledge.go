// Package knowledge is the catalogue of Python globals a pickle can reach:
// which are known to be dangerous, which are known to be safe, and how a
// global's tier and its use at load time combine into a severity.
//
// Unknown is not safe: anything absent from both tables is judged as unknown,
// and a load-time call of an unknown callable is at least high.
package knowledge

import (
	"strings"

	"github.com/modelgate/modelgate/internal/finding"
)

// Use is how a pickle uses a global it references.
type Use int

// Uses, weakest first. The VM reports the strongest use seen for each
// reference.
const (
	// Imported: the global is looked up (find_class) but never called.
	Imported Use = iota
	// Instantiated: the class is created without calling it (NEWOBJ,
	// NEWOBJ_EX, or a safe rebuild helper such as copyreg.__newobj__).
	Instantiated
	// StateSet: an instance of the class receives BUILD (__setstate__).
	StateSet
	// Called: the global is called at load time (REDUCE, INST, OBJ).
	Called
	// Mutated: the global object itself is changed at load time (BUILD,
	// APPEND, SETITEM, ADDITEMS applied to a module, class or function).
	Mutated
)

var useNames = [...]string{"imported", "instantiated", "state-set", "called", "mutated"}

func (u Use) String() string {
	if u < Imported || u > Mutated {
		return "use(?)"
	}
	return useNames[u]
}

// Tier is what the catalogue knows about a global.
type Tier int

// Tiers.
const (
	TierUnknown Tier = iota
	TierSafe
	TierDangerous
)

func (t Tier) String() string {
	switch t {
	case TierSafe:
		return "safe"
	case TierDangerous:
		return "dangerous"
	default:
		return "unknown"
	}
}

// Danger is one known-dangerous global or module.
type Danger struct {
	// Module is the module as find_class sees it after fix_imports mapping
	// ("posix", "builtins", "torch.hub").
	Module string
	// Name is the attribute inside Module. Empty means the whole module and
	// every submodule. A name also covers its attributes: "Popen" covers
	// "Popen.__init__".
	Name     string
	Severity finding.Severity
	Category string // short tag: "exec", "subprocess", "file", "network", "resolver", ...
	Why      string // one sentence: what loading it can do
	Ref      string // a public reference (advisory, CVE, paper, issue)
}

// Path renders the entry as "module.name" or "module.*".
func (d *Danger) Path() string {
	if d.Name == "" {
		return d.Module + ".*"
	}
	return d.Module + "." + d.Name
}

// SafeGlobal is one global that is known to be safe in the given way.
type SafeGlobal struct {
	Module string
	// Name is the exact attribute. Empty means every top-level class of the
	// module and its submodules, and is only allowed with Calls == false.
	Name string
	// Calls is true when calling the global at load time is safe. When false,
	// only instantiation (NEWOBJ) and BUILD are safe: the class is rebuilt
	// from state without running constructor code chosen by the pickle.
	Calls bool
	// Instantiates lists argument positions whose value the callable
	// instantiates (copyreg._reconstructor(cls, base, state) creates cls).
	Instantiates []int
	// CallsArgs lists argument positions whose value the callable calls
	// (copyreg._reconstructor calls base.__init__).
	CallsArgs []int
	Why       string
}

// Verdict is the catalogue's answer for one global.
type Verdict struct {
	Tier   Tier
	Danger *Danger     // set when Tier == TierDangerous
	Safe   *SafeGlobal // set when Tier == TierSafe
}

// dunderTraversal lists attributes that lead from an ordinary object to the
// interpreter's internals. A dotted name passing through one of them is
// dangerous whatever it starts from.
var dunderTraversal = map[string]bool{
	"__globals__": true, "__builtins__": true, "__subclasses__": true, "__class__": true,
	"__mro__": true, "__bases__": true, "__base__": true, "__dict__": true, "__code__": true,
	"__import__": true, "__loader__": true, "__spec__": true, "__getattribute__": true,
	"__closure__": true, "__func__": true, "__self__": true, "__module__": true,
	"__reduce__": true, "__reduce_ex__": true, "__init_subclass__": true, "__call__": true,
	"__init__": true, "__new__": true, "__getattr__": true, "__setattr__": true,
	"__delattr__": true, "__wrapped__": true,
}

var traversalDanger = Danger{
	Severity: finding.Critical,
	Category: "traversal",
	Why:      "the dotted name walks through dunder attributes to reach interpreter internals (globals, builtins, subclasses)",
	Ref:      "https://github.com/trailofbits/fickling/security/advisories/GHSA-5j3x-jp52-966f",
}

// Classify returns the catalogue's verdict for module.name, where name may be
// dotted (find_class resolves dotted names attribute by attribute). A dotted
// name is dangerous if any way of reading it reaches a dangerous entry, and
// safe only if it is exactly a safe entry.
//
// An exact safe entry outranks a dangerous whole-module entry (the
// allowlist names one function; the denylist paints a whole module), but
// never a dangerous entry that names the global itself.
func Classify(module, name string) Verdict {
	if d := lookupDanger(module, name); d != nil {
		if s, ok := safeNames[module+"\x00"+name]; ok && d.Name == "" && d != &traversalDanger {
			return Verdict{Tier: TierSafe, Safe: s}
		}
		return Verdict{Tier: TierDangerous, Danger: d}
	}
	if s := lookupSafe(module, name); s != nil {
		return Verdict{Tier: TierSafe, Safe: s}
	}
	return Verdict{Tier: TierUnknown}
}

func lookupDanger(module, name string) *Danger {
	// Every split of module.a.b.c into (module part, attribute part), and
	// every suffix of the attribute chain read as a module of its own: an
	// attribute such as pathlib.os is the os module.
	full := module
	if name != "" {
		full = module + "." + name
	}
	segs := strings.Split(full, ".")
	modEnd := len(strings.Split(module, "."))
	for start := 0; start < len(segs); start++ {
		// A suffix that starts inside the original module path is not a
		// real alias (posix.path is not the module "path"), except start 0.
		if start > 0 && start < modEnd {
			continue
		}
		for cut := start + 1; cut <= len(segs); cut++ {
			// A segment read as a module alias only matters when an
			// attribute is taken from it: numpy.trace is a function, not
			// the trace module, but pathlib.os.system is os.system.
			if start > 0 && cut == len(segs) {
				break
			}
			mod := strings.Join(segs[start:cut], ".")
			attr := strings.Join(segs[cut:], ".")
			if d := matchDanger(mod, attr); d != nil {
				return d
			}
		}
	}
	for _, p := range strings.Split(name, ".") {
		if dunderTraversal[p] {
			return &traversalDanger
		}
	}
	return nil
}

// matchDanger checks one (module, attribute) reading against the table.
func matchDanger(mod, attr string) *Danger {
	// Whole-module entries cover the module and its submodules.
	for m := mod; ; {
		if d, ok := dangerModules[m]; ok {
			return d
		}
		i := strings.LastIndexByte(m, '.')
		if i < 0 {
			break
		}
		m = m[:i]
	}
	if attr == "" {
		return nil
	}
	// Named entries cover the name and its attributes.
	for a := attr; ; {
		if d, ok := dangerNames[mod+"\x00"+a]; ok {
			return d
		}
		i := strings.LastIndexByte(a, '.')
		if i < 0 {
			return nil
		}
		a = a[:i]
	}
}

func lookupSafe(module, name string) *SafeGlobal {
	if s, ok := safeNames[module+"\x00"+name]; ok {
		return s
	}
	if strings.Contains(name, ".") {
		return nil
	}
	for m := module; ; {
		if s, ok := safeModules[m]; ok {
			return s
		}
		i := strings.LastIndexByte(m, '.')
		if i < 0 {
			return nil
		}
		m = m[:i]
	}
}

// Judgement is the outcome of combining a verdict with a use.
type Judgement struct {
	RuleID   string
	Severity finding.Severity
	Report   bool // false when the use is safe and nothing needs reporting
}

// Judge combines tier and use as the severity table prescribes: a
// known-dangerous reference is reported at its catalogue severity however it
// is used; a load-time call of anything not known safe to call is high;
// changing a global object at load is high; an unknown class that is only
// imported or instantiated is medium.
func Judge(v Verdict, use Use) Judgement {
	switch v.Tier {
	case TierDangerous:
		id := RuleDangerousGlobal
		if use == Called {
			id = RuleDangerousCall
		}
		return Judgement{RuleID: id, Severity: v.Danger.Severity, Report: true}
	case TierSafe:
		switch {
		case use == Mutated:
			return Judgement{RuleID: RuleGlobalMutation, Severity: finding.High, Report: true}
		case use == Called && !v.Safe.Calls:
			return Judgement{RuleID: RuleUnknownCall, Severity: finding.High, Report: true}
		}
		return Judgement{}
	default:
		switch use {
		case Called:
			return Judgement{RuleID: RuleUnknownCall, Severity: finding.High, Report: true}
		case Mutated:
			return Judgement{RuleID: RuleGlobalMutation, Severity: finding.High, Report: true}
		}
		return Judgement{RuleID: RuleUnknownGlobal, Severity: finding.Medium, Report: true}
	}
}

// Catalogue is the built-in tables plus an organisation's own additions
// (from its policy): globals it denies, and globals it vouches for. A nil
// *Catalogue is the built-in tables alone.
type Catalogue struct {
	// Deny entries are dangerous whatever the built-in tables say.
	Deny []Danger
	// Allow entries are safe where the built-in tables have no opinion;
	// they never make a built-in dangerous global safe.
	Allow []SafeGlobal
}

// Classify is the package-level Classify with the additions applied.
func (c *Catalogue) Classify(module, name string) Verdict {
	if c == nil {
		return Classify(module, name)
	}
	for i := range c.Deny {
		if d := &c.Deny[i]; d.matches(module, name) {
			return Verdict{Tier: TierDangerous, Danger: d}
		}
	}
	v := Classify(module, name)
	if v.Tier != TierUnknown {
		return v
	}
	for i := range c.Allow {
		if s := &c.Allow[i]; s.Module == module && (s.Name == name || s.Name == "" && !strings.Contains(name, ".")) ||
			s.Name == "" && strings.HasPrefix(module, s.Module+".") && !strings.Contains(name, ".") {
			return Verdict{Tier: TierSafe, Safe: s}
		}
	}
	return v
}

// matches is a Danger entry's own rule: the module (and its submodules)
// when Name is empty, else the name and its attributes.
func (d *Danger) matches(module, name string) bool {
	if d.Name == "" {
		return module == d.Module || strings.HasPrefix(module, d.Module+".")
	}
	return module == d.Module && (name == d.Name || strings.HasPrefix(name, d.Name+"."))
}
