package gguf

import (
	"regexp"
	"strings"
)

// What the checker knows about names in Jinja expressions. The lists come
// from the public SSTI literature (PayloadsAllTheThings "Server Side
// Template Injection – Jinja2", the CVE-2024-34359 advisory) and from
// jinja2.sandbox, whose is_safe_attribute refuses every name starting with
// an underscore and the function, method, generator and frame attributes
// listed in unsafeAttrs.

// criticalNames are the steps that turn access to internals into code
// execution or file access (compared in lower case).
var criticalNames = map[string]bool{
	"__globals__": true, "__builtins__": true, "__import__": true, "builtins": true,
	"f_globals": true, "f_builtins": true, "func_globals": true, "__loader__": true,
	"os": true, "posix": true, "nt": true, "subprocess": true, "popen": true, "system": true,
	"spawnl": true, "spawnlp": true, "spawnv": true, "spawnvp": true, "execl": true, "execv": true, "execvp": true,
	"check_output": true, "check_call": true, "getoutput": true, "getstatusoutput": true, "pty": true,
	"eval": true, "exec": true, "execfile": true, "compile": true, "open": true,
	"sys": true, "modules": true, "importlib": true, "import_module": true, "load_module": true,
	"socket": true, "ctypes": true, "pickle": true, "marshal": true,
}

// unsafeAttrs are attributes without a leading underscore that jinja2's
// sandbox still refuses: they reach frames, code objects and globals.
var unsafeAttrs = map[string]bool{
	"func_closure": true, "func_code": true, "func_dict": true, "func_defaults": true, "func_globals": true,
	"im_class": true, "im_func": true, "im_self": true, "mro": true,
	"gi_frame": true, "gi_code": true, "gi_yieldfrom": true, "cr_frame": true, "cr_code": true, "cr_await": true,
	"ag_code": true, "ag_frame": true, "f_globals": true, "f_builtins": true, "f_locals": true, "f_back": true,
	"f_code": true, "tb_frame": true, "tb_next": true, "co_code": true,
}

// gadgetGlobals are the names Jinja (and Flask) put in every template's
// context whose internals are the classic ways out: cycler.__init__.
// __globals__, lipsum.__globals__, namespace.__init__, self._TemplateReference
// __context. Calling them is normal; reading anything else from them is not.
var gadgetGlobals = map[string]bool{
	"cycler": true, "joiner": true, "namespace": true, "lipsum": true, "range": true, "dict": true,
	"self": true, "config": true, "request": true, "session": true, "g": true, "url_for": true,
	"get_flashed_messages": true,
}

// modelStrings are context variables whose values come from the model file
// (its vocabulary), not from the conversation: an attacker who writes the
// template also writes these, so they must not name attributes.
var modelStrings = map[string]bool{
	"bos_token": true, "eos_token": true, "unk_token": true, "pad_token": true, "sep_token": true,
	"cls_token": true, "mask_token": true, "additional_special_tokens": true,
}

// knownDunders are Python special names worth reporting when a string
// merely contains them (format strings, prose-like payloads).
var knownDunders = []string{
	"__class__", "__base__", "__bases__", "__mro__", "__subclasses__", "__globals__", "__builtins__",
	"__import__", "__init__", "__getattribute__", "__getattr__", "__dict__", "__code__", "__closure__",
	"__func__", "__self__", "__module__", "__reduce__", "__reduce_ex__", "__call__", "__new__",
	"__getitem__", "__loader__", "__spec__", "__file__", "__defaults__", "__wrapped__", "__objclass__",
	"__traceback__", "__init_subclass__", "__class_getitem__", "__setattr__", "__delattr__",
}

var (
	dunderRe   = regexp.MustCompile(`^__[A-Za-z_][A-Za-z0-9_]*__$`)
	mangledRe  = regexp.MustCompile(`^_[A-Za-z][A-Za-z0-9]*__[A-Za-z0-9_]+$`)
	fragmentRe = regexp.MustCompile(`^__[A-Za-z][A-Za-z0-9_]*$|^[A-Za-z0-9_]*[A-Za-z0-9]__$`)
)

// isDunder reports a Python special name such as __class__.
func isDunder(name string) bool { return len(name) > 4 && dunderRe.MatchString(name) }

// isMangled reports a name-mangled private attribute such as
// _TemplateReference__context.
func isMangled(name string) bool { return mangledRe.MatchString(name) }

// isFragment reports a string that looks like one piece of a dunder name
// ('__cla', 'ss__'): names built from pieces get past keyword filters.
func isFragment(s string) bool { return !isDunder(s) && fragmentRe.MatchString(s) }

// dundersIn lists the special names a string spells: the whole string, or
// a known one anywhere in it.
func dundersIn(s string) []string {
	if isDunder(s) {
		return []string{s}
	}
	var out []string
	if strings.Contains(s, "__") {
		for _, d := range knownDunders {
			if strings.Contains(s, d) {
				out = append(out, d)
			}
		}
	}
	return out
}

// isCritical reports a name that turns internals into code execution.
func isCritical(name string) bool { return criticalNames[strings.ToLower(name)] }
