package knowledge

import (
	"strings"
	"testing"

	"github.com/modelgate/modelgate/internal/finding"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		module, name string
		tier         Tier
		// For dangerous verdicts: the catalogue entry expected to match
		// ("module" or "module.name" as Path renders it without ".*").
		entry    string
		severity finding.Severity
	}{
		// Dangerous module prefixes and their submodules.
		{"posix", "system", TierDangerous, "posix.*", finding.Critical},
		{"nt", "system", TierDangerous, "nt.*", finding.Critical},
		{"os", "system", TierDangerous, "os.*", finding.Critical},
		{"subprocess", "Popen", TierDangerous, "subprocess.*", finding.Critical},
		{"asyncio.unix_events", "_UnixSubprocessTransport._start", TierDangerous, "asyncio.*", finding.Critical},
		{"asyncio.unix_events", "_UnixSubprocessTransport", TierDangerous, "asyncio.*", finding.Critical},
		{"torch.utils.data.datapipes.utils.decoder", "basichandlers", TierDangerous, "torch.utils.data.datapipes.*", finding.Critical},
		// Dotted names resolve through attributes (find_class with protocol 4+).
		{"pathlib", "os.system", TierDangerous, "os.*", finding.Critical},
		// An exact safe name outranks a dangerous module prefix, nothing else.
		{"torch.jit._pickle", "build_intlist", TierSafe, "", 0},
		{"torch.jit._pickle", "build_intlist.__globals__", TierDangerous, "torch.jit.*", finding.Critical},
		{"torch.jit._pickle", "something_else", TierDangerous, "torch.jit.*", finding.Critical},
		// A dunder reached by name alone is traversal too.
		{"collections", "__builtins__", TierDangerous, ".*", finding.Critical},
		{"mylib", "__globals__", TierDangerous, ".*", finding.Critical},
		{"torch", "jit.unsupported_tensor_ops.execWrapper", TierDangerous, "torch.jit.*", finding.Critical},
		{"torch", "serialization.load", TierDangerous, "torch.serialization.load", finding.Critical},
		{"numpy", "testing._private.utils.runstring", TierDangerous, "numpy.testing.*", finding.Critical},
		{"trace", "Trace.runctx", TierDangerous, "trace.*", finding.Critical},
		{"pathlib", "PosixPath.write_text", TierDangerous, "pathlib.PosixPath.write_text", finding.Critical},
		{"torch", "FloatStorage.from_file", TierDangerous, "torch.FloatStorage.from_file", finding.Critical},
		{"pandas.core.frame", "DataFrame.query", TierDangerous, "pandas.core.frame.DataFrame.query", finding.Critical},
		// Dunder traversal from a safe global.
		{"collections", "OrderedDict.__init__.__globals__", TierDangerous, "", finding.Critical},
		{"torch._utils", "_rebuild_tensor_v2.__globals__", TierDangerous, "", finding.Critical},
		{"builtins", "set.__class__.__subclasses__", TierDangerous, "", finding.Critical},
		// Specific names.
		{"builtins", "eval", TierDangerous, "builtins.eval", finding.Critical},
		{"builtins", "getattr", TierDangerous, "builtins.getattr", finding.Critical},
		{"io", "open", TierDangerous, "io.open", finding.Critical},
		{"_io", "FileIO", TierDangerous, "_io.FileIO", finding.Critical},
		{"_functools", "reduce", TierDangerous, "_functools.reduce", finding.Critical},
		{"_pickle", "loads", TierDangerous, "_pickle.*", finding.Critical},
		{"torch.serialization", "load", TierDangerous, "torch.serialization.load", finding.Critical},
		{"numpy", "load", TierDangerous, "numpy.load", finding.Critical},
		{"numpy", "memmap", TierDangerous, "numpy.memmap", finding.Critical},
		{"joblib.numpy_pickle", "load", TierDangerous, "joblib.numpy_pickle.load", finding.Critical},
		{"joblib.numpy_pickle_compat", "NDArrayWrapper", TierDangerous, "joblib.numpy_pickle_compat.*", finding.Critical},
		{"scipy.sparse", "load_npz", TierDangerous, "scipy.sparse.load_npz", finding.Critical},
		{"scipy.stats._continuous_distns", "norm_gen", TierDangerous, "scipy.stats._continuous_distns.*", finding.Critical},
		{"sklearn.datasets", "fetch_openml", TierDangerous, "sklearn.datasets.*", finding.Critical},
		{"picklescan.scanner", "scan_pickle_bytes", TierDangerous, "picklescan.*", finding.Critical},
		{"uuid", "_get_command_stdout", TierDangerous, "uuid._get_command_stdout", finding.Critical},
		// High: code objects and registry manipulation.
		{"copyreg", "add_extension", TierDangerous, "copyreg.add_extension", finding.High},
		{"copyreg", "_inverted_registry", TierDangerous, "copyreg._inverted_registry", finding.High},
		{"marshal", "loads", TierDangerous, "marshal.*", finding.High},
		{"types", "CodeType", TierDangerous, "types.CodeType", finding.High},
		{"types", "FunctionType", TierDangerous, "types.FunctionType", finding.High},
		{"dill._dill", "_create_code", TierDangerous, "dill._dill._create_code", finding.High},
		{"cloudpickle.cloudpickle", "_make_function", TierDangerous, "cloudpickle.cloudpickle._make_function", finding.High},
		{"cloudpickle.cloudpickle_fast", "_builtin_type", TierDangerous, "cloudpickle.cloudpickle_fast._builtin_type", finding.High},
		// Safe exact matches and whole-module entries.
		{"collections", "OrderedDict", TierSafe, "", 0},
		{"torch._utils", "_rebuild_tensor_v2", TierSafe, "", 0},
		{"torch._utils", "torch.channels_last", TierSafe, "", 0},
		{"torch", "FloatStorage", TierSafe, "", 0},
		{"torch", "float32", TierSafe, "", 0},
		{"numpy.core.multiarray", "_reconstruct", TierSafe, "", 0},
		{"numpy._core.multiarray", "_reconstruct", TierSafe, "", 0},
		{"copyreg", "_reconstructor", TierSafe, "", 0},
		{"builtins", "set", TierSafe, "", 0},
		{"pathlib", "PosixPath", TierSafe, "", 0},
		{"sklearn.linear_model._base", "LinearRegression", TierSafe, "", 0},
		{"sklearn.tree._tree", "Tree", TierSafe, "", 0},
		{"scipy.sparse._csr", "csr_matrix", TierSafe, "", 0},
		{"pandas.core.frame", "DataFrame", TierSafe, "", 0},
		{"torch.nn.modules.linear", "Linear", TierSafe, "", 0},
		// A safe name with an extra attribute is no longer known.
		{"collections", "OrderedDict.fromkeys", TierUnknown, "", 0},
		{"torch", "Size.count", TierUnknown, "", 0},
		{"sklearn.linear_model._base", "LinearRegression.fit", TierUnknown, "", 0},
		// Unknown.
		// A last segment named like a dangerous module is not that module.
		{"numpy", "trace", TierUnknown, "", 0},
		{"mylib", "signal", TierUnknown, "", 0},
		{"__main__", "Net", TierUnknown, "", 0},
		{"builtins", "type", TierUnknown, "", 0},
		{"torch.storage", "_load_from_bytes", TierUnknown, "", 0},
		{"dateutil.tz.tz", "tzfile", TierUnknown, "", 0},
		{"mymodel.layers", "Attention", TierUnknown, "", 0},
	}
	for _, tt := range tests {
		v := Classify(tt.module, tt.name)
		if v.Tier != tt.tier {
			t.Errorf("Classify(%q, %q) tier = %v, want %v", tt.module, tt.name, v.Tier, tt.tier)
			continue
		}
		switch v.Tier {
		case TierDangerous:
			if v.Danger == nil {
				t.Errorf("Classify(%q, %q): dangerous verdict without entry", tt.module, tt.name)
				continue
			}
			if tt.entry != "" && v.Danger.Path() != tt.entry {
				t.Errorf("Classify(%q, %q) matched %s, want %s", tt.module, tt.name, v.Danger.Path(), tt.entry)
			}
			if tt.entry == "" && v.Danger.Category != "traversal" {
				t.Errorf("Classify(%q, %q) matched %s, want the dunder traversal verdict", tt.module, tt.name, v.Danger.Path())
			}
			if v.Danger.Severity != tt.severity {
				t.Errorf("Classify(%q, %q) severity = %v, want %v", tt.module, tt.name, v.Danger.Severity, tt.severity)
			}
		case TierSafe:
			if v.Safe == nil {
				t.Errorf("Classify(%q, %q): safe verdict without entry", tt.module, tt.name)
			}
		}
	}
}

func TestJudge(t *testing.T) {
	critical := Classify("posix", "system")
	highDanger := Classify("marshal", "loads")
	safeCall := Classify("collections", "OrderedDict")
	safeNoCall := Classify("sklearn.pipeline", "Pipeline")
	unknown := Classify("__main__", "Net")
	for name, v := range map[string]Verdict{"critical": critical, "high": highDanger, "safe-call": safeCall, "safe-nocall": safeNoCall, "unknown": unknown} {
		if (name == "critical" || name == "high") != (v.Tier == TierDangerous) {
			t.Fatalf("fixture %s has tier %v", name, v.Tier)
		}
	}
	if safeCall.Tier != TierSafe || !safeCall.Safe.Calls || safeNoCall.Tier != TierSafe || safeNoCall.Safe.Calls || unknown.Tier != TierUnknown {
		t.Fatal("fixtures do not have the expected tiers")
	}
	none := Judgement{}
	tests := []struct {
		name string
		v    Verdict
		use  Use
		want Judgement
	}{
		{"critical imported", critical, Imported, Judgement{RuleDangerousGlobal, finding.Critical, true}},
		{"critical instantiated", critical, Instantiated, Judgement{RuleDangerousGlobal, finding.Critical, true}},
		{"critical state-set", critical, StateSet, Judgement{RuleDangerousGlobal, finding.Critical, true}},
		{"critical called", critical, Called, Judgement{RuleDangerousCall, finding.Critical, true}},
		{"critical mutated", critical, Mutated, Judgement{RuleDangerousGlobal, finding.Critical, true}},
		{"high imported", highDanger, Imported, Judgement{RuleDangerousGlobal, finding.High, true}},
		{"high instantiated", highDanger, Instantiated, Judgement{RuleDangerousGlobal, finding.High, true}},
		{"high state-set", highDanger, StateSet, Judgement{RuleDangerousGlobal, finding.High, true}},
		{"high called", highDanger, Called, Judgement{RuleDangerousCall, finding.High, true}},
		{"high mutated", highDanger, Mutated, Judgement{RuleDangerousGlobal, finding.High, true}},
		{"safe-call imported", safeCall, Imported, none},
		{"safe-call instantiated", safeCall, Instantiated, none},
		{"safe-call state-set", safeCall, StateSet, none},
		{"safe-call called", safeCall, Called, none},
		{"safe-call mutated", safeCall, Mutated, Judgement{RuleGlobalMutation, finding.High, true}},
		{"safe-nocall imported", safeNoCall, Imported, none},
		{"safe-nocall instantiated", safeNoCall, Instantiated, none},
		{"safe-nocall state-set", safeNoCall, StateSet, none},
		{"safe-nocall called", safeNoCall, Called, Judgement{RuleUnknownCall, finding.High, true}},
		{"safe-nocall mutated", safeNoCall, Mutated, Judgement{RuleGlobalMutation, finding.High, true}},
		{"unknown imported", unknown, Imported, Judgement{RuleUnknownGlobal, finding.Medium, true}},
		{"unknown instantiated", unknown, Instantiated, Judgement{RuleUnknownGlobal, finding.Medium, true}},
		{"unknown state-set", unknown, StateSet, Judgement{RuleUnknownGlobal, finding.Medium, true}},
		{"unknown called", unknown, Called, Judgement{RuleUnknownCall, finding.High, true}},
		{"unknown mutated", unknown, Mutated, Judgement{RuleGlobalMutation, finding.High, true}},
	}
	for _, tt := range tests {
		if got := Judge(tt.v, tt.use); got != tt.want {
			t.Errorf("%s: Judge = %+v, want %+v", tt.name, got, tt.want)
		}
		if got := Judge(tt.v, tt.use); got.Report {
			if _, ok := RuleByID(got.RuleID); !ok {
				t.Errorf("%s: rule %s is not in Rules", tt.name, got.RuleID)
			}
		}
	}
}

func validPath(s string) bool {
	if s == "" || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	return !strings.ContainsAny(s, " \t\n/\\:")
}

func TestDangerEntries(t *testing.T) {
	if len(DangerousGlobals) < 300 {
		t.Errorf("only %d dangerous entries", len(DangerousGlobals))
	}
	for i := range DangerousGlobals {
		d := &DangerousGlobals[i]
		if !validPath(d.Module) || (d.Name != "" && !validPath(d.Name)) {
			t.Errorf("%s: malformed module or name", d.Path())
		}
		if strings.TrimSpace(d.Why) == "" {
			t.Errorf("%s: empty Why", d.Path())
		}
		if !strings.HasPrefix(d.Ref, "http") {
			t.Errorf("%s: Ref %q is not a URL", d.Path(), d.Ref)
		}
		if d.Category == "" {
			t.Errorf("%s: empty Category", d.Path())
		}
		if d.Severity != finding.Critical && d.Severity != finding.High {
			t.Errorf("%s: severity %v, want high or critical", d.Path(), d.Severity)
		}
		// Every entry is reachable: Classify returns this very entry.
		name := d.Name
		if name == "" {
			name = "anything"
		}
		v := Classify(d.Module, name)
		if v.Tier != TierDangerous || v.Danger != d {
			got := "nothing"
			if v.Danger != nil {
				got = v.Danger.Path()
			}
			t.Errorf("%s: Classify(%q, %q) matches %s instead (shadowed or unreachable entry)", d.Path(), d.Module, name, got)
		}
	}
}

func TestSafeEntries(t *testing.T) {
	if len(SafeGlobals) < 300 {
		t.Errorf("only %d safe entries", len(SafeGlobals))
	}
	for i := range SafeGlobals {
		s := &SafeGlobals[i]
		path := s.Module + "." + s.Name
		if !validPath(s.Module) || (s.Name != "" && !validPath(s.Name)) {
			t.Errorf("%s: malformed module or name", path)
		}
		if strings.TrimSpace(s.Why) == "" {
			t.Errorf("%s: empty Why", path)
		}
		if s.Name == "" && (s.Calls || len(s.Instantiates) > 0 || len(s.CallsArgs) > 0) {
			t.Errorf("%s: whole-module safe entry must be instantiate-only", s.Module)
		}
		if !s.Calls && (len(s.Instantiates) > 0 || len(s.CallsArgs) > 0) {
			t.Errorf("%s: argument positions on an entry that may not be called", path)
		}
		for _, p := range append(append([]int(nil), s.Instantiates...), s.CallsArgs...) {
			if p < 0 || p > 8 {
				t.Errorf("%s: implausible argument position %d", path, p)
			}
		}
		// No global is both dangerous and safe.
		v := Classify(s.Module, s.Name)
		if v.Tier != TierSafe || v.Safe != s {
			desc := v.Tier.String()
			if v.Danger != nil {
				desc += " (" + v.Danger.Path() + ")"
			}
			t.Errorf("%s: Classify = %s, want this safe entry", path, desc)
		}
		if s.Name == "" {
			if v := Classify(s.Module+".sub", "SomeClass"); v.Tier != TierSafe {
				t.Errorf("%s: whole-module entry does not cover submodule classes (%v)", s.Module, v.Tier)
			}
		}
	}
}

// THREATS.md items 1, 2, 13–17 and the nested loaders, as CPython 3.11
// pickles them (module after fix_imports, qualified name for protocol 4).
func TestThreatGlobalsAreDangerous(t *testing.T) {
	tests := []struct{ module, name string }{
		// Item 1.
		{"posix", "system"}, {"nt", "system"}, {"os", "system"}, {"posix", "popen"}, {"subprocess", "Popen"},
		{"subprocess", "check_output"}, {"builtins", "eval"}, {"builtins", "exec"}, {"builtins", "compile"},
		{"builtins", "__import__"}, {"builtins", "getattr"}, {"io", "open"},
		// Item 2: fix_imports targets of Python 2 names.
		{"subprocess", "getoutput"}, {"_pickle", "loads"}, {"pickle", "loads"}, {"urllib.request", "urlopen"},
		{"urllib.request", "urlretrieve"}, {"http.client", "HTTPConnection"}, {"http.server", "CGIHTTPRequestHandler"},
		{"socketserver", "TCPServer"}, {"xmlrpc.client", "ServerProxy"}, {"xmlrpc.server", "SimpleXMLRPCServer"},
		{"_thread", "start_new_thread"}, {"dbm", "open"}, {"dbm.dumb", "open"}, {"functools", "reduce"},
		{"sys", "intern"}, {"builtins", "map"}, {"builtins", "filter"}, {"winreg", "OpenKey"}, {"tkinter", "Tcl"},
		{"test.support", "script_helper"}, {"multiprocessing.connection", "Connection"}, {"socket", "fromfd"},
		{"http.cookiejar", "MozillaCookieJar"},
		// Item 7.
		{"copyreg", "add_extension"},
		// Item 13.
		{"pkgutil", "resolve_name"}, {"pydoc", "locate"}, {"importlib", "import_module"},
		{"importlib.util", "module_from_spec"}, {"operator", "attrgetter"}, {"operator", "methodcaller"},
		{"operator", "itemgetter"}, {"_operator", "attrgetter"}, {"functools", "partial"}, {"_functools", "reduce"},
		{"sys", "modules"}, {"builtins", "setattr"}, {"builtins", "delattr"}, {"builtins", "globals"},
		{"builtins", "locals"}, {"builtins", "vars"}, {"builtins", "breakpoint"}, {"builtins", "help"},
		{"builtins", "input"}, {"code", "interact"}, {"codeop", "compile_command"}, {"itertools", "starmap"},
		{"weakref", "finalize"}, {"atexit", "register"}, {"typing", "get_type_hints"},
		// Item 14.
		{"runpy", "_run_code"}, {"runpy", "run_path"}, {"timeit", "timeit"}, {"cProfile", "run"}, {"profile", "run"},
		{"trace", "Trace.runctx"}, {"bdb", "Bdb.run"}, {"pdb", "run"}, {"code", "InteractiveInterpreter.runcode"},
		{"doctest", "debug_script"}, {"idlelib.pyshell", "ModifiedInterpreter.runcode"}, {"idlelib.run", "Executive.runcode"},
		{"lib2to3.pgen2.driver", "load_grammar"}, {"lib2to3.pgen2.grammar", "Grammar.load"}, {"ensurepip", "_run_pip"},
		{"venv", "create"}, {"numpy.testing._private.utils", "runstring"}, {"numpy.f2py.crackfortran", "getlincoef"},
		{"numpy.f2py.f2py2e", "run_main"}, {"pip", "main"}, {"pip._internal.cli.main", "main"},
		{"_posixsubprocess", "fork_exec"}, {"uuid", "_get_command_stdout"}, {"_osx_support", "_read_output"},
		{"_aix_support", "_read_cmd_output"}, {"imaplib", "IMAP4_stream"}, {"pty", "spawn"},
		{"multiprocessing.util", "spawnv_passfds"}, {"ctypes", "CDLL"}, {"shutil", "rmtree"}, {"shutil", "copyfile"},
		{"_io", "FileIO"}, {"io", "FileIO"}, {"logging", "FileHandler"}, {"logging.config", "fileConfig"},
		{"logging.config", "listen"}, {"urllib.request", "urlopen"}, {"ssl", "get_server_certificate"},
		{"socket", "create_connection"}, {"http.client", "HTTPSConnection"}, {"ftplib", "FTP"}, {"smtplib", "SMTP"},
		{"telnetlib", "Telnet"}, {"webbrowser", "open"},
		{"torch.jit.unsupported_tensor_ops", "execWrapper"}, {"torch._inductor.codecache", "compile_file"},
		{"torch.utils.collect_env", "run"}, {"torch.serialization", "load"}, {"torch", "load"}, {"torch.hub", "load"},
		{"torch.utils._config_module", "ConfigModule.load_config"}, {"torch._dynamo.config", "load_config"},
		{"torch.utils.data.datapipes.utils.decoder", "basichandlers"}, {"torch.ops", "load_library"},
		{"torch._C", "_load_for_lite_interpreter"}, {"torch.fx.graph_module", "reduce_graph_module"},
		{"torch.package.package_importer", "PackageImporter"},
		// Item 15.
		{"asyncio.unix_events", "_UnixSubprocessTransport._start"}, {"asyncio.subprocess", "create_subprocess_shell"},
		// Item 16.
		{"marshal", "loads"}, {"types", "CodeType"}, {"types", "FunctionType"}, {"dill._dill", "_create_code"},
		{"dill._dill", "_create_function"}, {"dill._dill", "_load_type"}, {"cloudpickle.cloudpickle", "_make_function"},
		{"cloudpickle.cloudpickle", "_builtin_type"}, {"cloudpickle.cloudpickle", "subimport"},
		{"cloudpickle.cloudpickle", "_make_skeleton_class"}, {"cloudpickle.cloudpickle_fast", "_make_function"},
		// Item 17.
		{"picklescan.scanner", "scan_pickle_bytes"}, {"modelscan.modelscan", "ModelScan"}, {"fickling", "always_check_safety"},
		{"fickling.hook", "run_hook"}, {"modelaudit.core", "scan_model_directory_or_file"},
		// Nested loaders.
		{"pickle", "Unpickler"}, {"_pickle", "Unpickler"}, {"dill._dill", "loads"}, {"dill", "loads"},
		{"joblib.numpy_pickle", "load"}, {"numpy", "load"}, {"numpy.lib.npyio", "load"}, {"shelve", "open"},
		{"pandas.io.pickle", "read_pickle"}, {"pandas", "read_pickle"}, {"yaml", "load"}, {"yaml", "unsafe_load"},
		// Files, processes and threads.
		{"tempfile", "mkdtemp"}, {"glob", "glob"}, {"pathlib", "Path.write_bytes"}, {"pathlib", "PosixPath.unlink"},
		{"zipfile", "ZipFile.extractall"}, {"tarfile", "TarFile.extractall"}, {"signal", "signal"}, {"gc", "get_objects"},
		{"inspect", "getsource"}, {"cffi", "FFI"}, {"platform", "architecture"}, {"distutils.spawn", "spawn"},
		{"distutils.file_util", "write_file"}, {"setuptools", "setup"}, {"_winapi", "CreateProcess"}, {"msvcrt", "spawn"},
		{"threading", "Thread"}, {"_thread", "start_new_thread"}, {"builtins", "__builtins__"}, {"builtins", "__loader__"},
		{"numpy.lib._datasource", "DataSource"}, {"torch._utils", "_import_dotted_name"},
	}
	for _, tt := range tests {
		if v := Classify(tt.module, tt.name); v.Tier != TierDangerous {
			t.Errorf("Classify(%q, %q) = %v, want dangerous", tt.module, tt.name, v.Tier)
		}
	}
}

// What torch 1.13, NumPy 1.24, scikit-learn 1.2, SciPy 1.10, pandas 1.5 and
// joblib 1.2 wrote for real objects (every pickle protocol, torch.save zip and
// legacy, joblib.dump), with the strongest use observed. None may be reported.
func TestRealLibraryGlobals(t *testing.T) {
	tests := []struct {
		module, name string
		use          Use
	}{
		{"builtins", "Ellipsis", Imported},                                                                         // builtins
		{"builtins", "NotImplemented", Imported},                                                                   // builtins
		{"builtins", "bytearray", Called},                                                                          // builtins
		{"builtins", "bytes", Called},                                                                              // hgb
		{"builtins", "complex", Called},                                                                            // builtins
		{"builtins", "dict", Imported},                                                                             // dok
		{"builtins", "frozenset", Called},                                                                          // builtins
		{"builtins", "int", Imported},                                                                              // builtins
		{"builtins", "object", Instantiated},                                                                       // argparse
		{"builtins", "set", Called},                                                                                // builtins
		{"builtins", "slice", Called},                                                                              // builtins
		{"builtins", "str", Imported},                                                                              // builtins
		{"builtins", "range", Called},                                                                              // builtins
		{"_codecs", "encode", Called},                                                                              // bsr
		{"argparse", "Namespace", StateSet},                                                                        // argparse
		{"collections", "OrderedDict", Called},                                                                     // torch_fn_refs
		{"copyreg", "_reconstructor", Called},                                                                      // argparse
		{"datetime", "date", Called},                                                                               // datetime
		{"datetime", "datetime", Called},                                                                           // datetime
		{"datetime", "time", Called},                                                                               // datetime
		{"datetime", "timedelta", Called},                                                                          // datetime
		{"datetime", "timezone", Called},                                                                           // datetime
		{"datetime", "tzinfo", Called},                                                                             // dateutil_tz
		{"dateutil.relativedelta", "relativedelta", StateSet},                                                      // pd_more
		{"dateutil.tz.tz", "_ttinfo", StateSet},                                                                    // dateutil_tz
		{"dateutil.tz.tz", "tzoffset", StateSet},                                                                   // dateutil_tz
		{"dateutil.tz.tz", "tzutc", Instantiated},                                                                  // dateutil_tz
		{"decimal", "Decimal", Called},                                                                             // decimal
		{"fractions", "Fraction", Called},                                                                          // fraction
		{"joblib.numpy_pickle", "NumpyArrayWrapper", Imported},                                                     // bsr/joblib
		{"numpy", "bool_", Imported},                                                                               // np_types
		{"numpy", "datetime64", Imported},                                                                          // np_types
		{"numpy", "dtype", Called},                                                                                 // bsr
		{"numpy", "finfo", StateSet},                                                                               // np_finfo
		{"numpy", "float32", Imported},                                                                             // np_finfo
		{"numpy", "float64", Imported},                                                                             // np_dtypes
		{"numpy", "iinfo", StateSet},                                                                               // np_iinfo
		{"numpy", "int32", Imported},                                                                               // np_dtypes
		{"numpy", "int64", Imported},                                                                               // count
		{"numpy", "matrix", Instantiated},                                                                          // np_matrix
		{"numpy", "ndarray", Instantiated},                                                                         // bsr
		{"numpy", "object_", Imported},                                                                             // np_types
		{"numpy", "recarray", Instantiated},                                                                        // np_recarray
		{"numpy", "record", Imported},                                                                              // np_recarray
		{"numpy", "str_", Imported},                                                                                // np_types
		{"numpy", "void", Imported},                                                                                // np_types
		{"numpy.core.getlimits", "MachArLike", StateSet},                                                           // np_finfo
		{"numpy.core.multiarray", "_reconstruct", Called},                                                          // bsr
		{"numpy.core.multiarray", "scalar", Called},                                                                // coltr
		{"numpy.core.numeric", "_frombuffer", Called},                                                              // bsr
		{"numpy.ma.core", "MaskedArray", Imported},                                                                 // np_masked
		{"numpy.ma.core", "_mareconstruct", Called},                                                                // np_masked
		{"numpy.random._pickle", "__bit_generator_ctor", Called},                                                   // gb
		{"numpy.random._pickle", "__generator_ctor", Called},                                                       // np_generator
		{"numpy.random._pickle", "__randomstate_ctor", Called},                                                     // gb
		{"numpy.random.bit_generator", "SeedSequence", Imported},                                                   // np_bitgens
		{"numpy.random.bit_generator", "__pyx_unpickle_SeedSequence", Called},                                      // np_bitgens
		{"pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked", Called},                                            // cat
		{"pandas._libs.internals", "_unpickle_block", Called},                                                      // df
		{"pandas._libs.interval", "Interval", Called},                                                              // interval
		{"pandas._libs.interval", "__pyx_unpickle_IntervalMixin", Called},                                          // pd_more
		{"pandas._libs.missing", "NA", Imported},                                                                   // str_arr
		{"pandas._libs.sparse", "IntIndex", Called},                                                                // sparse_series
		{"pandas._libs.tslibs.nattype", "__nat_unpickle", Called},                                                  // nat
		{"pandas._libs.tslibs.offsets", "BusinessHour", Called},                                                    // pd_more
		{"pandas._libs.tslibs.offsets", "CustomBusinessDay", Called},                                               // pd_more
		{"pandas._libs.tslibs.offsets", "DateOffset", StateSet},                                                    // pd_more
		{"pandas._libs.tslibs.offsets", "Day", Called},                                                             // dtidx
		{"pandas._libs.tslibs.offsets", "MonthEnd", Called},                                                        // pd_more
		{"pandas._libs.tslibs.offsets", "Week", Called},                                                            // pd_more
		{"pandas._libs.tslibs.period", "Period", Called},                                                           // period
		{"pandas._libs.tslibs.timedeltas", "_timedelta_unpickle", Called},                                          // td
		{"pandas._libs.tslibs.timestamps", "_unpickle_timestamp", Called},                                          // pd_ts_dateutil
		{"pandas.core.arrays.boolean", "BooleanArray", StateSet},                                                   // pd_more
		{"pandas.core.arrays.boolean", "BooleanDtype", Instantiated},                                               // pd_more
		{"pandas.core.arrays.categorical", "Categorical", Imported},                                                // cat
		{"pandas.core.arrays.datetimes", "DatetimeArray", Imported},                                                // df
		{"pandas.core.arrays.floating", "Float64Dtype", StateSet},                                                  // pd_more
		{"pandas.core.arrays.floating", "FloatingArray", StateSet},                                                 // pd_more
		{"pandas.core.arrays.integer", "Int64Dtype", StateSet},                                                     // df
		{"pandas.core.arrays.integer", "IntegerArray", StateSet},                                                   // df
		{"pandas.core.arrays.interval", "IntervalArray", Imported},                                                 // pd_more
		{"pandas.core.arrays.period", "PeriodArray", Imported},                                                     // pd_more
		{"pandas.core.arrays.sparse.array", "SparseArray", StateSet},                                               // sparse_series
		{"pandas.core.arrays.sparse.dtype", "SparseDtype", StateSet},                                               // sparse_series
		{"pandas.core.arrays.string_", "StringArray", Imported},                                                    // str_arr
		{"pandas.core.arrays.string_", "StringDtype", StateSet},                                                    // str_arr
		{"pandas.core.arrays.timedeltas", "TimedeltaArray", Imported},                                              // df
		{"pandas.core.dtypes.dtypes", "CategoricalDtype", StateSet},                                                // cat
		{"pandas.core.dtypes.dtypes", "DatetimeTZDtype", StateSet},                                                 // df
		{"pandas.core.dtypes.dtypes", "IntervalDtype", StateSet},                                                   // pd_more
		{"pandas.core.dtypes.dtypes", "PeriodDtype", Called},                                                       // pd_more
		{"pandas.core.frame", "DataFrame", StateSet},                                                               // df
		{"pandas.core.indexes.base", "Index", Imported},                                                            // cat
		{"pandas.core.indexes.base", "_new_Index", Called},                                                         // cat
		{"pandas.core.indexes.category", "CategoricalIndex", Imported},                                             // pd_more
		{"pandas.core.indexes.datetimes", "DatetimeIndex", Imported},                                               // dtidx
		{"pandas.core.indexes.datetimes", "_new_DatetimeIndex", Called},                                            // dtidx
		{"pandas.core.indexes.interval", "IntervalIndex", Imported},                                                // pd_more
		{"pandas.core.indexes.interval", "_new_IntervalIndex", Called},                                             // pd_more
		{"pandas.core.indexes.multi", "MultiIndex", Imported},                                                      // df_mi
		{"pandas.core.indexes.numeric", "Int64Index", Imported},                                                    // df_mi
		{"pandas.core.indexes.period", "PeriodIndex", Imported},                                                    // pd_more
		{"pandas.core.indexes.range", "RangeIndex", Imported},                                                      // df
		{"pandas.core.indexes.timedeltas", "TimedeltaIndex", Imported},                                             // pd_more
		{"pandas.core.internals.managers", "BlockManager", Called},                                                 // df
		{"pandas.core.internals.managers", "SingleBlockManager", StateSet},                                         // pd_more
		{"pandas.core.series", "Series", StateSet},                                                                 // pd_more
		{"pathlib", "PosixPath", Called},                                                                           // pathlib
		{"pytz", "_UTC", Called},                                                                                   // df
		{"pytz", "_p", Called},                                                                                     // pd_tzutc
		{"re", "_compile", Called},                                                                                 // re
		{"scipy.sparse._arrays", "csr_array", StateSet},                                                            // csr_array
		{"scipy.sparse._bsr", "bsr_matrix", StateSet},                                                              // bsr
		{"scipy.sparse._coo", "coo_matrix", StateSet},                                                              // coo
		{"scipy.sparse._csc", "csc_matrix", StateSet},                                                              // csc
		{"scipy.sparse._csr", "csr_matrix", StateSet},                                                              // csr
		{"scipy.sparse._dia", "dia_matrix", StateSet},                                                              // dia
		{"scipy.sparse._dok", "dok_matrix", StateSet},                                                              // dok
		{"scipy.sparse._lil", "lil_matrix", StateSet},                                                              // lil
		{"sklearn._loss._loss", "CyHalfBinomialLoss", Imported},                                                    // hgb
		{"sklearn._loss._loss", "__pyx_unpickle_CyHalfBinomialLoss", Called},                                       // hgb
		{"sklearn._loss.link", "Interval", StateSet},                                                               // hgb
		{"sklearn._loss.link", "LogitLink", Instantiated},                                                          // hgb
		{"sklearn._loss.loss", "HalfBinomialLoss", StateSet},                                                       // hgb
		{"sklearn.cluster._kmeans", "KMeans", StateSet},                                                            // kmeans
		{"sklearn.compose._column_transformer", "ColumnTransformer", StateSet},                                     // coltr
		{"sklearn.decomposition._pca", "PCA", StateSet},                                                            // pca
		{"sklearn.dummy", "DummyClassifier", StateSet},                                                             // gb
		{"sklearn.ensemble._forest", "RandomForestClassifier", StateSet},                                           // rf
		{"sklearn.ensemble._gb", "GradientBoostingClassifier", StateSet},                                           // gb
		{"sklearn.ensemble._gb_losses", "BinomialDeviance", StateSet},                                              // gb
		{"sklearn.ensemble._hist_gradient_boosting.binning", "_BinMapper", StateSet},                               // hgb
		{"sklearn.ensemble._hist_gradient_boosting.gradient_boosting", "HistGradientBoostingClassifier", StateSet}, // hgb
		{"sklearn.ensemble._hist_gradient_boosting.predictor", "TreePredictor", StateSet},                          // hgb
		{"sklearn.ensemble._iforest", "IsolationForest", StateSet},                                                 // iforest
		{"sklearn.feature_extraction.text", "CountVectorizer", StateSet},                                           // count
		{"sklearn.feature_extraction.text", "TfidfTransformer", StateSet},                                          // tfidf
		{"sklearn.feature_extraction.text", "TfidfVectorizer", StateSet},                                           // tfidf
		{"sklearn.linear_model._base", "LinearRegression", StateSet},                                               // linreg
		{"sklearn.linear_model._logistic", "LogisticRegression", StateSet},                                         // logreg
		{"sklearn.linear_model._ridge", "Ridge", StateSet},                                                         // ridge
		{"sklearn.linear_model._sgd_fast", "Hinge", Called},                                                        // sgd
		{"sklearn.linear_model._stochastic_gradient", "SGDClassifier", StateSet},                                   // sgd
		{"sklearn.metrics._dist_metrics", "EuclideanDistance", Imported},                                           // knn
		{"sklearn.metrics._dist_metrics", "newObj", Called},                                                        // knn
		{"sklearn.naive_bayes", "GaussianNB", StateSet},                                                            // gnb
		{"sklearn.neighbors._ball_tree", "BallTree", Imported},                                                     // knn_ball
		{"sklearn.neighbors._ball_tree", "newObj", Called},                                                         // knn_ball
		{"sklearn.neighbors._classification", "KNeighborsClassifier", StateSet},                                    // knn
		{"sklearn.neighbors._kd_tree", "KDTree", Imported},                                                         // knn
		{"sklearn.neighbors._kd_tree", "newObj", Called},                                                           // knn
		{"sklearn.pipeline", "Pipeline", StateSet},                                                                 // pipe
		{"sklearn.preprocessing._data", "MinMaxScaler", StateSet},                                                  // pipe
		{"sklearn.preprocessing._data", "StandardScaler", StateSet},                                                // coltr
		{"sklearn.preprocessing._encoders", "OneHotEncoder", StateSet},                                             // ohe
		{"sklearn.preprocessing._label", "LabelEncoder", StateSet},                                                 // le
		{"sklearn.preprocessing._polynomial", "PolynomialFeatures", StateSet},                                      // pipe
		{"sklearn.svm._classes", "SVC", StateSet},                                                                  // svc
		{"sklearn.tree._classes", "DecisionTreeClassifier", StateSet},                                              // dt
		{"sklearn.tree._classes", "DecisionTreeRegressor", StateSet},                                               // dtr
		{"sklearn.tree._classes", "ExtraTreeRegressor", StateSet},                                                  // iforest
		{"sklearn.tree._tree", "Tree", Called},                                                                     // dt
		{"torch", "BFloat16Storage", Imported},                                                                     // torch_tensors/legacy
		{"torch", "BoolStorage", Imported},                                                                         // torch_tensors/legacy
		{"torch", "ByteStorage", Imported},                                                                         // torch_rng/legacy
		{"torch", "CharStorage", Imported},                                                                         // torch_tensors/legacy
		{"torch", "ComplexDoubleStorage", Imported},                                                                // torch_tensors/legacy
		{"torch", "ComplexFloatStorage", Imported},                                                                 // torch_tensors/legacy
		{"torch", "DoubleStorage", Imported},                                                                       // torch_qc/legacy
		{"torch", "FloatStorage", Imported},                                                                        // torch_fn_refs/legacy
		{"torch", "HalfStorage", Imported},                                                                         // torch_tensors/legacy
		{"torch", "IntStorage", Imported},                                                                          // torch_tensors/legacy
		{"torch", "LongStorage", Imported},                                                                         // torch_qc/legacy
		{"torch", "QInt32Storage", Imported},                                                                       // torch_qint32/legacy
		{"torch", "QInt8Storage", Imported},                                                                        // torch_qc/legacy
		{"torch", "QUInt8Storage", Imported},                                                                       // torch_q/legacy
		{"torch", "ShortStorage", Imported},                                                                        // torch_tensors/legacy
		{"torch", "Size", Called},                                                                                  // torch_size
		{"torch", "bfloat16", Imported},                                                                            // torch_dtypes
		{"torch", "bool", Imported},                                                                                // torch_dtypes
		{"torch", "complex128", Imported},                                                                          // torch_dtypes
		{"torch", "complex32", Imported},                                                                           // torch_dtypes
		{"torch", "complex64", Imported},                                                                           // torch_dtypes
		{"torch", "device", Called},                                                                                // torch_device
		{"torch", "float16", Imported},                                                                             // torch_dtypes
		{"torch", "float32", Imported},                                                                             // torch_dtypes
		{"torch", "float64", Imported},                                                                             // torch_dtypes
		{"torch", "int16", Imported},                                                                               // torch_dtypes
		{"torch", "int32", Imported},                                                                               // torch_dtypes
		{"torch", "int64", Imported},                                                                               // torch_dtypes
		{"torch", "int8", Imported},                                                                                // torch_dtypes
		{"torch", "per_channel_affine", Imported},                                                                  // torch_qc
		{"torch", "per_tensor_affine", Imported},                                                                   // torch_q
		{"torch", "qint32", Imported},                                                                              // torch_dtypes
		{"torch", "qint8", Imported},                                                                               // torch_dtypes
		{"torch", "quint2x4", Imported},                                                                            // torch_dtypes
		{"torch", "quint4x2", Imported},                                                                            // torch_dtypes
		{"torch", "quint8", Imported},                                                                              // torch_dtypes
		{"torch", "uint8", Imported},                                                                               // torch_dtypes
		{"torch._utils", "_rebuild_meta_tensor_no_storage", Called},                                                // torch_meta
		{"torch._utils", "_rebuild_parameter", Called},                                                             // torch_fn_refs
		{"torch._utils", "_rebuild_qtensor", Called},                                                               // torch_q
		{"torch._utils", "_rebuild_sparse_csr_tensor", Called},                                                     // torch_sparse_csr
		{"torch._utils", "_rebuild_sparse_tensor", Called},                                                         // torch_sparse
		{"torch._utils", "_rebuild_tensor_v2", Called},                                                             // torch_fn_refs
		{"torch._utils", "torch.channels_last", Imported},                                                          // torch_memfmt
		{"torch._utils", "torch.contiguous_format", Imported},                                                      // torch_memfmt
		{"torch.nn.functional", "relu", Imported},                                                                  // torch_fn_refs
		{"torch.nn.modules.activation", "MultiheadAttention", StateSet},                                            // torch_fn_refs
		{"torch.nn.modules.activation", "ReLU", StateSet},                                                          // torch_seq
		{"torch.nn.modules.batchnorm", "BatchNorm2d", StateSet},                                                    // torch_seq
		{"torch.nn.modules.container", "Sequential", StateSet},                                                     // torch_seq
		{"torch.nn.modules.conv", "Conv2d", StateSet},                                                              // torch_seq
		{"torch.nn.modules.dropout", "Dropout", StateSet},                                                          // torch_fn_refs
		{"torch.nn.modules.linear", "Linear", StateSet},                                                            // torch_fn_refs
		{"torch.nn.modules.linear", "NonDynamicallyQuantizableLinear", StateSet},                                   // torch_fn_refs
		{"torch.nn.modules.normalization", "LayerNorm", StateSet},                                                  // torch_fn_refs
		{"torch.nn.modules.rnn", "LSTM", StateSet},                                                                 // torch_seq
		{"torch.nn.modules.sparse", "Embedding", StateSet},                                                         // torch_seq
		{"torch.nn.modules.transformer", "TransformerEncoderLayer", StateSet},                                      // torch_fn_refs
		{"torch.serialization", "_get_layout", Called},                                                             // torch_layout
		{"torch.storage", "UntypedStorage", Imported},                                                              // torch_untyped/legacy
		{"types", "SimpleNamespace", Called},                                                                       // simplens
		{"uuid", "UUID", StateSet},                                                                                 // uuid
	}
	for _, tt := range tests {
		v := Classify(tt.module, tt.name)
		if j := Judge(v, tt.use); j.Report {
			t.Errorf("%s.%s %v: %s %v, want no finding (tier %v)", tt.module, tt.name, tt.use, j.RuleID, j.Severity, v.Tier)
		}
	}

	// Real pickles that are reported, and why.
	flagged := []struct {
		module, name string
		use          Use
		rule         string
		severity     finding.Severity
	}{
		// pickle.dumps of a tensor outside torch.save: a nested torch.load
		// of embedded bytes, left to the nested-loader logic.
		{"torch.storage", "_load_from_bytes", Called, RuleUnknownCall, finding.High},
		// NoneType pickles as type(None); type's three-argument form runs
		// metaclass code.
		{"builtins", "type", Called, RuleUnknownCall, finding.High},
		// dateutil tzfile(None, filename) opens the path it is given.
		{"dateutil.tz.tz", "tzfile", Called, RuleUnknownCall, finding.High},
		// zoneinfo.ZoneInfo pickles as getattr(ZoneInfo, "_unpickle").
		{"builtins", "getattr", Called, RuleDangerousCall, finding.Critical},
		{"zoneinfo", "ZoneInfo", Imported, RuleUnknownGlobal, finding.Medium},
		// functools.partial objects (e.g. in FunctionTransformer).
		{"functools", "partial", Called, RuleDangerousCall, finding.Critical},
	}
	for _, tt := range flagged {
		j := Judge(Classify(tt.module, tt.name), tt.use)
		if !j.Report || j.RuleID != tt.rule || j.Severity != tt.severity {
			t.Errorf("%s.%s %v: %+v, want %s %v", tt.module, tt.name, tt.use, j, tt.rule, tt.severity)
		}
	}
}

// A safe helper that calls or instantiates one of its arguments says so, so
// that the VM can judge the argument.
func TestSafeArgumentPositions(t *testing.T) {
	tests := []struct {
		module, name string
		instantiates []int
		callsArgs    []int
	}{
		{"copyreg", "_reconstructor", []int{0}, []int{1}},
		{"copyreg", "__newobj__", []int{0}, nil},
		{"copyreg", "__newobj_ex__", []int{0}, nil},
		{"numpy.core.multiarray", "_reconstruct", []int{0}, nil},
		{"collections", "defaultdict", nil, []int{0}},
		{"numpy.random._pickle", "__randomstate_ctor", nil, []int{1}},
		{"numpy.random._pickle", "__generator_ctor", nil, []int{1}},
		{"torch._tensor", "_rebuild_from_type_v2", []int{1}, []int{0}},
		{"pandas.core.indexes.base", "_new_Index", []int{0}, nil},
		{"sklearn.neighbors._kd_tree", "newObj", []int{0}, nil},
	}
	for _, tt := range tests {
		v := Classify(tt.module, tt.name)
		if v.Tier != TierSafe || !v.Safe.Calls {
			t.Errorf("%s.%s: tier %v, want safe to call", tt.module, tt.name, v.Tier)
			continue
		}
		if !equalInts(v.Safe.Instantiates, tt.instantiates) || !equalInts(v.Safe.CallsArgs, tt.callsArgs) {
			t.Errorf("%s.%s: Instantiates %v CallsArgs %v, want %v %v", tt.module, tt.name,
				v.Safe.Instantiates, v.Safe.CallsArgs, tt.instantiates, tt.callsArgs)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCatalogueAdditions(t *testing.T) {
	c := &Catalogue{
		Deny:  []Danger{{Module: "mycorp.unsafe", Severity: finding.Critical, Why: "policy", Ref: "policy"}, {Module: "collections", Name: "OrderedDict", Severity: finding.High, Why: "policy", Ref: "policy"}},
		Allow: []SafeGlobal{{Module: "mycorp.models", Why: "our own classes"}, {Module: "builtins", Name: "eval", Calls: true, Why: "bad idea"}},
	}
	for _, tc := range []struct {
		module, name string
		want         Tier
	}{
		{"mycorp.models", "Net", TierSafe},
		{"mycorp.models.vision", "ResNet", TierSafe},
		{"mycorp.models", "Net.helper", TierUnknown},
		{"mycorp.unsafe.sub", "x", TierDangerous},
		{"collections", "OrderedDict", TierDangerous}, // deny beats the built-in allowlist
		{"builtins", "eval", TierDangerous},           // allow never beats the built-in denylist
		{"other", "X", TierUnknown},
	} {
		if got := c.Classify(tc.module, tc.name).Tier; got != tc.want {
			t.Errorf("%s.%s: %s, want %s", tc.module, tc.name, got, tc.want)
		}
	}
	var none *Catalogue
	if none.Classify("posix", "system").Tier != TierDangerous {
		t.Error("nil catalogue is not the built-in one")
	}
}

// Names are matched exactly, as Python's import system resolves them: a
// case variant of a dangerous module is not the dangerous module, but it is
// not demoted either — it is unknown, so calling it at load is high (one
// peer scanner demoted upper-case module names).
func TestCaseVariantsAreUnknownNotSafe(t *testing.T) {
	for _, mn := range [][2]string{{"OS", "system"}, {"Posix", "system"}, {"SUBPROCESS", "Popen"}, {"Builtins", "eval"}} {
		v := Classify(mn[0], mn[1])
		if v.Tier != TierUnknown {
			t.Errorf("Classify(%q, %q) tier %v, want unknown", mn[0], mn[1], v.Tier)
		}
		if j := Judge(v, Called); j.RuleID != RuleUnknownCall || j.Severity != finding.High {
			t.Errorf("%s.%s called: %+v", mn[0], mn[1], j)
		}
	}
}
