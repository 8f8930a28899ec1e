// Package keras analyses Keras models without loading them: the model
// config of a Keras v3 .keras archive (config.json, reached through the zip
// analyser) and of a legacy HDF5 .h5 model (the model_config root
// attribute, read by a small bounded HDF5 reader). The config is walked as
// a whole, at any depth: layers of Sequential and Functional models, nested
// models, wrapper layers, shared layers, initializers, optimizers, losses.
// Lambda layers (marshalled Python bytecode) and objects from outside the
// Keras namespaces are reported; the weights are never read.
package keras

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// MaxConfig caps the size of a config read into memory (a config.json, a
// metadata.json or one HDF5 string attribute). Real configs are kilobytes
// to a few megabytes.
const MaxConfig = 64 << 20

// Summary is what a config says about the model.
type Summary struct {
	Class   string // class_name of the top-level object ("Sequential", "Functional", "Model")
	Name    string // the model's name
	Layers  int    // layers at every depth (nested models' layers included)
	Models  int    // nested models used as layers
	Lambdas int
	Custom  int // custom objects
	Keras3  bool
}

// checker walks one config.
type checker struct {
	where  string // what the config is, for messages ("config.json", "model_config attribute")
	member string // Member of the findings
	out    *analyzer.Output
	sum    Summary
	// lambdaPaths are the Lambda layers already reported: code inside them
	// is evidence of that finding, not a new one.
	lambdaPaths []string
	nodes       int
}

// maxNodes bounds the walk (a 64 MiB config has fewer JSON values than this).
const maxNodes = 64 << 20

// CheckConfig parses a Keras model config (the JSON of config.json or of
// the model_config attribute) and reports Lambda layers, serialized code and
// custom objects into out. where names the config in messages; findings
// carry member as their Member, and embedded payloads (TorchModuleWrapper's
// torch.save blob) are handed back as nested inputs named member#path.
func CheckConfig(data []byte, where, member string, out *analyzer.Output) (Summary, error) {
	if len(data) > MaxConfig {
		return Summary{}, fmt.Errorf("%s: %d bytes, larger than the %d-byte cap; not analysed", where, len(data), MaxConfig)
	}
	v, err := parseJSON(data)
	if err != nil {
		return Summary{}, fmt.Errorf("%s is not JSON that Keras can load (%v): not analysed", where, err)
	}
	c := &checker{where: where, member: member, out: out}
	if root, ok := v.(*object); ok {
		c.sum.Class, _ = root.str("class_name")
		if inner, ok := root.get("config").(*object); ok {
			c.sum.Name, _ = inner.str("name")
		}
	}
	c.walk(v, "")
	return c.sum, nil
}

func (c *checker) add(sev finding.Severity, rule, msg, evidence string) {
	c.out.Add(finding.Finding{RuleID: rule, Severity: sev, Member: c.member, Offset: finding.NoOffset,
		Message: msg, Evidence: evidence})
}

// walk visits every value. Every object with a string class_name is a
// serialized Keras object, wherever it is: that covers layers of any model,
// nested models, wrapped layers (TimeDistributed, Bidirectional's
// forward_layer/backward_layer), shared layers, cells, initializers,
// regularizers, optimizers and losses in one pass.
func (c *checker) walk(v any, path string) {
	c.nodes++
	if c.nodes > maxNodes {
		return
	}
	switch v := v.(type) {
	case *object:
		if len(v.dups) > 0 {
			c.add(finding.Medium, knowledge.RuleKerasCustomObject,
				fmt.Sprintf("%s: object at %s has duplicate keys %q; Python's json keeps the last value, other readers may keep the first and see a different model", c.where, pathOr(path), v.dups),
				"")
		}
		if _, ok := v.get("class_name").(string); ok {
			c.object(v, path)
		}
		for _, k := range v.keys {
			child := v.vals[k]
			c.countLayers(k, child)
			c.walk(child, path+"."+k)
		}
	case []any:
		for i, x := range v {
			c.walk(x, fmt.Sprintf("%s[%d]", path, i))
		}
	case string:
		c.stringValue(v, path)
	}
}

func pathOr(p string) string {
	if p == "" {
		return "the top level"
	}
	return strings.TrimPrefix(p, ".")
}

// countLayers counts layers where models and wrappers keep them.
func (c *checker) countLayers(key string, v any) {
	switch key {
	case "layers":
		list, _ := v.([]any)
		for _, x := range list {
			if o, ok := x.(*object); ok {
				if _, ok := o.get("class_name").(string); ok {
					c.sum.Layers++
					if isModelClass(o) {
						c.sum.Models++
					}
				}
			}
		}
	case "layer", "forward_layer", "backward_layer":
		if o, ok := v.(*object); ok {
			if _, ok := o.get("class_name").(string); ok {
				c.sum.Layers++
			}
		}
	}
}

func isModelClass(o *object) bool {
	cls, _ := o.str("class_name")
	switch cls {
	case "Sequential", "Functional", "Model":
		return true
	}
	inner, ok := o.get("config").(*object)
	return ok && inner.get("layers") != nil
}

// valueClasses are how Keras 3 writes data ({"class_name": "__bytes__",
// "config": {"value": ...}}): values, not references to code.
var valueClasses = map[string]bool{
	"__bytes__": true, "__numpy__": true, "__tensor__": true, "__keras_tensor__": true,
	"__slice__": true, "__ellipsis__": true, "__tuple__": true,
}

// object judges one serialized object.
func (c *checker) object(o *object, path string) {
	cls, _ := o.str("class_name")
	if _, ok := o.vals["module"]; ok {
		c.sum.Keras3 = true
	}
	switch {
	case valueClasses[cls]:
		return
	case cls == "__lambda__":
		c.lambdaObject(o, path)
		return
	case cls == "Sequential":
		// Keras 2.0/2.1 wrote a Sequential's config as the bare list of layers.
		if list, ok := o.get("config").([]any); ok {
			c.countLayers("layers", list)
		}
	case cls == "Lambda":
		c.lambdaLayer(o, path)
	case cls == "TorchModuleWrapper":
		c.torchWrapper(o, path)
	case cls == "TFSMLayer":
		inner, _ := o.get("config").(*object)
		target := ""
		if inner != nil {
			target, _ = inner.str("filepath")
		}
		c.sum.Custom++
		c.add(finding.Medium, knowledge.RuleKerasCustomObject,
			fmt.Sprintf("%s: TFSMLayer at %s loads the TensorFlow SavedModel at %q when the model is loaded; its graph runs with the model and was not analysed", c.where, pathOr(path), target),
			target)
	}
	c.customObject(o, cls, path)
}

// label names an object in messages: its class, its name, where it is.
func label(o *object, cls, path string) string {
	if inner, ok := o.get("config").(*object); ok {
		if n, ok := inner.str("name"); ok {
			return fmt.Sprintf("%s layer %q at %s", cls, n, pathOr(path))
		}
	}
	return fmt.Sprintf("%s at %s", cls, pathOr(path))
}

// lambdaLayer reports a Lambda layer with what its code refers to. Keras 2
// writes config.function as [base64 code, defaults, closure] (or a function
// name with function_type "function"); Keras 3 as {"class_name":
// "__lambda__", "config": {"code": ...}} or as a serialized function.
// output_shape and mask may carry code too.
func (c *checker) lambdaLayer(o *object, path string) {
	c.sum.Lambdas++
	c.lambdaPaths = append(c.lambdaPaths, path)
	inner, _ := o.get("config").(*object)
	var ev evidence
	if inner != nil {
		module, _ := inner.str("module")
		ev.function(inner.get("function"), module, "function")
		if t, _ := inner.str("output_shape_type"); t == "lambda" || isLambdaObject(inner.get("output_shape")) {
			ev.function(inner.get("output_shape"), "", "output_shape")
		}
		if isLambdaObject(inner.get("mask")) {
			ev.function(inner.get("mask"), "", "mask")
		}
	}
	if len(ev.parts) == 0 {
		ev.parts = append(ev.parts, "no function found in the config")
	}
	sev := finding.High
	msg := fmt.Sprintf("%s: %s carries Python code that runs when the model is loaded and called", c.where, label(o, "Lambda", path))
	if len(ev.dangerous) > 0 {
		sev = finding.Critical
		msg += "; it refers to " + strings.Join(ev.dangerous, ", ")
	}
	c.add(sev, knowledge.RuleKerasLambda, msg, ev.String())
}

func isLambdaObject(v any) bool {
	o, ok := v.(*object)
	if !ok {
		return false
	}
	cls, _ := o.str("class_name")
	return cls == "__lambda__"
}

// lambdaObject reports a serialized lambda outside a Lambda layer (Keras 3
// writes any lambda it meets, an activation for one, this way).
func (c *checker) lambdaObject(o *object, path string) {
	if c.insideLambda(path) {
		return
	}
	c.lambdaPaths = append(c.lambdaPaths, path)
	c.sum.Lambdas++
	var ev evidence
	ev.function(o, "", "code")
	sev := finding.High
	msg := fmt.Sprintf("%s: serialized Python lambda at %s (Keras loads it with marshal when safe_mode is off)", c.where, pathOr(path))
	if len(ev.dangerous) > 0 {
		sev = finding.Critical
		msg += "; it refers to " + strings.Join(ev.dangerous, ", ")
	}
	c.add(sev, knowledge.RuleKerasLambda, msg, ev.String())
}

func (c *checker) insideLambda(path string) bool {
	for _, p := range c.lambdaPaths {
		if path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

// stringValue finds marshalled code in any string outside a Lambda layer:
// other layers (TensorFlow Probability's DistributionLambda, custom
// layers) save functions with the same func_dump.
func (c *checker) stringValue(s, path string) {
	if len(s) < 16 || c.insideLambda(path) || !looksLikeCode(s) {
		return
	}
	info, _, err := decodeCode(s)
	if err != nil {
		return
	}
	c.sum.Lambdas++
	var ev evidence
	ev.code("code", info)
	sev := finding.High
	msg := fmt.Sprintf("%s: marshalled Python code in %s", c.where, pathOr(path))
	if len(ev.dangerous) > 0 {
		sev = finding.Critical
		msg += "; it refers to " + strings.Join(ev.dangerous, ", ")
	}
	c.add(sev, knowledge.RuleKerasLambda, msg, ev.String())
}

// torchWrapper hands the torch.save blob of a Keras 3 TorchModuleWrapper
// (base64 in config.module, loaded with torch.load(weights_only=False)) to
// the engine: it is a PyTorch pickle like any other.
func (c *checker) torchWrapper(o *object, path string) {
	inner, _ := o.get("config").(*object)
	if inner == nil {
		return
	}
	s, ok := inner.str("module")
	if !ok {
		return
	}
	blob, err := lenientBase64(s)
	if err != nil || len(blob) == 0 {
		c.add(finding.Medium, knowledge.RuleKerasCustomObject,
			fmt.Sprintf("%s: TorchModuleWrapper at %s has a module that is not base64 (%v)", c.where, pathOr(path), err), truncate(s, 64))
		return
	}
	name := c.member + "#" + strings.TrimPrefix(path, ".") + ".config.module"
	c.out.Nested = append(c.out.Nested, analyzer.Nested{Name: name, R: strings.NewReader(string(blob)), Size: int64(len(blob))})
	c.add(finding.Info, knowledge.RuleFormatSummary,
		fmt.Sprintf("%s: TorchModuleWrapper at %s embeds a %d-byte torch.save blob, loaded with torch.load(weights_only=False); it was analysed as %q", c.where, pathOr(path), len(blob), name), "")
}

// evidence collects what a Lambda's functions refer to.
type evidence struct {
	parts     []string
	dangerous []string
}

func (e *evidence) String() string { return truncate(strings.Join(e.parts, "; "), 600) }

// function describes one serialized function (a Lambda's function,
// output_shape or mask).
func (e *evidence) function(v any, module, what string) {
	switch v := v.(type) {
	case []any: // Keras 2 func_dump: [code, defaults, closure]; the first item is always code
		if len(v) > 0 {
			if s, ok := v[0].(string); ok {
				e.codeString(s, what)
			} else {
				e.function(v[0], module, what)
			}
		}
	case string:
		if _, raw, _ := decodeCode(v); raw != nil {
			e.codeString(v, what)
		} else {
			// function_type "function": a name looked up in module.
			ref := v
			if module != "" {
				ref = module + "." + v
				if vd := knowledge.Classify(module, v); vd.Tier == knowledge.TierDangerous {
					e.dangerous = append(e.dangerous, ref)
				}
			}
			e.parts = append(e.parts, fmt.Sprintf("%s: the named function %s", what, ref))
		}
	case *object:
		cls, _ := v.str("class_name")
		inner := v.get("config")
		switch cls {
		case "__lambda__":
			if io, ok := inner.(*object); ok {
				if code := io.get("code"); code != nil {
					e.function(code, module, what)
				} else {
					e.function(io.get("value"), module, what)
				}
			}
		case "function":
			mod, _ := v.str("module")
			name, _ := inner.(string)
			e.parts = append(e.parts, fmt.Sprintf("%s: the function %s.%s", what, mod, name))
			if vd := knowledge.Classify(mod, name); mod != "" && vd.Tier == knowledge.TierDangerous {
				e.dangerous = append(e.dangerous, mod+"."+name)
			}
		default:
			e.parts = append(e.parts, fmt.Sprintf("%s: a serialized %s", what, cls))
		}
	case nil:
	default:
		e.parts = append(e.parts, fmt.Sprintf("%s: %v", what, v))
	}
}

// codeString adds what a func_dump string refers to, or, when it does not
// decode, its beginning: the Lambda is reported either way.
func (e *evidence) codeString(s, what string) {
	info, raw, err := decodeCode(s)
	if err == nil {
		e.code(what, info)
		return
	}
	e.parts = append(e.parts, fmt.Sprintf("%s: %d bytes of code that could not be decoded (%v), starting %q", what, len(raw), err, truncate(s, 48)))
}

// code adds a decoded code object's references, and notes the ones that are
// known-dangerous callables: a global or builtin name (exec, __import__),
// a module.attribute pair of consecutive names (os, system), or a string
// constant used as a module with an attribute name (__import__('os').system).
func (e *evidence) code(what string, info *codeInfo) {
	e.parts = append(e.parts, fmt.Sprintf("%s (%s bytecode, functions %s): names %s; strings %s",
		what, info.Layout, strings.Join(info.Funcs, ", "), listOrNone(info.Names), quoteList(info.Strings)))
	seen := map[string]bool{}
	flag := func(mod, name string) bool {
		if !isIdentPath(mod) || !isIdentPath(name) {
			return false
		}
		if seen[mod+"."+name] {
			return true
		}
		if knowledge.Classify(mod, name).Tier == knowledge.TierDangerous {
			seen[mod+"."+name] = true
			e.dangerous = append(e.dangerous, mod+"."+name)
			return true
		}
		return false
	}
	for i, n := range info.Names {
		if flag("builtins", n) {
			continue // exec, __import__: the name itself is the danger
		}
		if i+1 < len(info.Names) {
			flag(n, info.Names[i+1])
		}
		for _, s := range info.Strings {
			flag(s, n)
		}
	}
}

func isIdentPath(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" {
			return false
		}
		for i, r := range part {
			if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

func quoteList(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", truncate(s, 80))
	}
	return strings.Join(q, ", ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// looksLikeCode is a cheap test before decoding: marshalled code starts
// with 'c' (0x63, Python 2 and 3.0-3.3) or 0xe3 ('c' with the reference
// flag), which base64 encodes as "Yw" or "4w".
func looksLikeCode(s string) bool {
	s = strings.TrimLeft(s, " \t\r\n")
	return strings.HasPrefix(s, "4w") || strings.HasPrefix(s, "Yw") || strings.HasPrefix(s, "\u00e3")
}

// decodeCode turns a func_dump string into the code it carries: base64
// (what every Keras since 2.0.x writes; Python's decoder skips characters
// outside the alphabet, so does this one), or, as the oldest Keras wrote
// it, the marshal bytes themselves as a raw_unicode_escape string. raw is
// the decoded bytes when the string decoded but the code did not.
func decodeCode(s string) (info *codeInfo, raw []byte, err error) {
	if b, berr := lenientBase64(s); berr == nil && len(b) > 0 {
		info, err := parseMarshalCode(b)
		if err == nil {
			return info, b, nil
		}
		if b[0]&^flagRef == mCode {
			return nil, b, err
		}
	}
	if b, ok := latin1(s); ok && len(b) > 0 && b[0]&^flagRef == mCode {
		info, err := parseMarshalCode(b)
		return info, b, err
	}
	return nil, nil, errors.New("not marshalled code")
}

// lenientBase64 decodes like binascii.a2b_base64 in its default mode:
// characters outside the alphabet are skipped, decoding stops at padding.
func lenientBase64(s string) ([]byte, error) {
	clean := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch == '=' {
			break
		}
		if ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '+' || ch == '/' {
			clean = append(clean, ch)
		}
	}
	if len(clean)%4 == 1 {
		return nil, errors.New("base64 of impossible length")
	}
	return base64.RawStdEncoding.DecodeString(string(clean))
}

func latin1(s string) ([]byte, bool) {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return nil, false
		}
		b = append(b, byte(r))
	}
	return b, true
}

// kerasNamespaces are the packages whose classes Keras resolves as its own.
var kerasNamespaces = []string{"keras", "tf_keras", "tensorflow.keras", "tensorflow.python.keras", "keras_core", "keras_nlp", "keras_cv", "keras_hub"}

func inKerasNamespace(module string) bool {
	for _, p := range kerasNamespaces {
		if module == p || strings.HasPrefix(module, p+".") {
			return true
		}
	}
	return false
}

// loaderFunctions are Keras' own functions that a config can name and that
// do more than compute: get_file downloads to a chosen path
// (CVE-2025-8747), enable_unsafe_deserialization turns safe_mode off for
// the rest of the load so that a later Lambda runs (CVE-2025-9906).
var loaderFunctions = map[string]string{
	"get_file":                      "downloads a file to a path chosen by the config (CVE-2025-8747)",
	"enable_unsafe_deserialization": "turns safe_mode off for the rest of the load, so later Lambda code runs (CVE-2025-9906)",
}

// customObject applies the custom-object rule. An object needs code from
// outside Keras when:
//
//  1. it has a "module" (Keras 3, tf.keras 2.13+): Keras imports that
//     module and takes the class (or, for class_name "function", the
//     function named by config) from it. Modules in a Keras namespace are
//     Keras. "builtins" is where Keras writes its own built-in functions
//     (activations, losses) and functions registered with
//     register_keras_serializable; a builtins name that is neither is custom.
//     Any other module is custom.
//  2. it has no module but a registered_name "package>Name": a class
//     registered with register_keras_serializable by the program that saved
//     it (tf.keras' own "Custom>Adam" optimizers excepted).
//  3. it has neither (Keras 1/2, tf.keras before 2.13): Keras looks the
//     class_name up among its own classes; any other name loads only with
//     custom_objects, code supplied by whoever loads the model.
//
// Severity comes from the pickle catalogue: a module.name that is known
// dangerous (os.system, builtins.exec, subprocess.Popen) is reported at its
// catalogue severity, every other custom object at medium. Keras' own
// loader functions (get_file, enable_unsafe_deserialization) are high.
func (c *checker) customObject(o *object, cls, path string) {
	module, _ := o.str("module")
	registered, _ := o.str("registered_name")
	name := cls
	switch cls {
	case "function":
		name, _ = o.get("config").(string)
	case "__typespec__":
		name, _ = o.str("spec_name")
	}
	ref := name
	if module != "" {
		ref = module + "." + name
	}
	if why, ok := loaderFunctions[name]; ok && (module == "" || inKerasNamespace(module) || module == "builtins") {
		c.sum.Custom++
		c.add(finding.High, knowledge.RuleKerasCustomObject,
			fmt.Sprintf("%s: %s names the Keras function %s, which %s", c.where, label(o, cls, path), ref, why), ref)
		return
	}
	switch {
	case module != "":
		if inKerasNamespace(module) {
			return
		}
		if vd := knowledge.Classify(module, name); vd.Tier == knowledge.TierDangerous {
			c.sum.Custom++
			c.add(vd.Danger.Severity, knowledge.RuleKerasCustomObject,
				fmt.Sprintf("%s: %s makes Keras import %s, which is dangerous: %s", c.where, label(o, cls, path), ref, vd.Danger.Why), ref)
			return
		}
		if module == "builtins" {
			switch {
			case builtinFunctions[name]:
				// Keras' own activations, losses and metrics.
			case strings.Contains(registered, ">"):
				c.sum.Custom++
				c.add(finding.Medium, knowledge.RuleKerasCustomObject,
					fmt.Sprintf("%s: %s is the registered custom function %q: loading needs its code", c.where, label(o, cls, path), registered), registered)
			default:
				c.sum.Custom++
				c.add(finding.Medium, knowledge.RuleKerasCustomObject,
					fmt.Sprintf("%s: %s resolves to %s, which is not a Keras built-in function", c.where, label(o, cls, path), ref), ref)
			}
			return
		}
		c.sum.Custom++
		c.add(finding.Medium, knowledge.RuleKerasCustomObject,
			fmt.Sprintf("%s: %s is %s, from outside Keras: loading imports %q", c.where, label(o, cls, path), ref, module), ref)
	case strings.Contains(registered, ">") && !isKerasClass(registered):
		c.sum.Custom++
		c.add(finding.Medium, knowledge.RuleKerasCustomObject,
			fmt.Sprintf("%s: %s is the registered custom object %q: loading needs its code", c.where, label(o, cls, path), registered), registered)
	case o.vals["module"] == nil && registered == "" && !isKerasClass(cls):
		c.sum.Custom++
		c.add(finding.Medium, knowledge.RuleKerasCustomObject,
			fmt.Sprintf("%s: %s is not a Keras class: it loads only with custom_objects supplying its code", c.where, label(o, cls, path)), cls)
	case o.vals["module"] == nil && registered != "" && !isKerasClass(cls) && !isKerasClass(registered):
		c.sum.Custom++
		c.add(finding.Medium, knowledge.RuleKerasCustomObject,
			fmt.Sprintf("%s: %s (registered as %q) is not a Keras class: loading needs its code", c.where, label(o, cls, path), registered), cls)
	}
}

// isKerasClass reports whether a module-less class name is one of Keras'
// own; tf.keras 2.x writes some of its optimizers as "Custom>Adam".
func isKerasClass(name string) bool {
	if rest, ok := strings.CutPrefix(name, "Custom>"); ok {
		name = rest
	}
	if rest, ok := strings.CutPrefix(name, "keras>"); ok {
		name = rest
	}
	return knownClasses[name]
}

// MetadataSummary is what a .keras archive's metadata.json says.
type MetadataSummary struct {
	KerasVersion string
	DateSaved    string
}

// CheckMetadata parses metadata.json. It carries no code; it is read for
// the version and so that a file that is not JSON is noticed.
func CheckMetadata(data []byte) (MetadataSummary, error) {
	var m MetadataSummary
	if len(data) > MaxConfig {
		return m, fmt.Errorf("metadata.json: %d bytes, larger than the %d-byte cap", len(data), MaxConfig)
	}
	v, err := parseJSON(data)
	if err != nil {
		return m, fmt.Errorf("metadata.json is not JSON (%v)", err)
	}
	if o, ok := v.(*object); ok {
		m.KerasVersion, _ = o.str("keras_version")
		m.DateSaved, _ = o.str("date_saved")
	}
	return m, nil
}

// String renders a summary for the FORMAT-SUMMARY finding.
func (s Summary) String() string {
	var b strings.Builder
	class := s.Class
	if class == "" {
		class = "unknown"
	}
	fmt.Fprintf(&b, "model class %s", class)
	if s.Name != "" {
		fmt.Fprintf(&b, " %q", s.Name)
	}
	fmt.Fprintf(&b, ", %d layers", s.Layers)
	if s.Models > 0 {
		fmt.Fprintf(&b, " (%d nested models)", s.Models)
	}
	if s.Lambdas > 0 {
		fmt.Fprintf(&b, ", %d with Python code", s.Lambdas)
	}
	if s.Custom > 0 {
		fmt.Fprintf(&b, ", %d custom objects", s.Custom)
	}
	if s.Keras3 {
		b.WriteString(", Keras 3 serialization")
	}
	return b.String()
}
