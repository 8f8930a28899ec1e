package knowledge

import (
	"slices"

	"github.com/modelgate/modelgate/internal/finding"
)

// DangerousGlobals is the known-dangerous tier. Module names are as find_class
// sees them after fix_imports (os.system pickles as posix.system on Linux and
// nt.system on Windows, so all three are listed; cPickle, commands, urllib2 and
// the other Python 2 names are mapped by the VM before lookup, so only their
// Python 3 targets appear here).
//
// An entry with an empty Name covers the module and every submodule, and wins
// over named entries below it, so a module is listed whole only when nearly
// everything in it is dangerous. A named entry covers the name and its
// attributes ("Trace" covers "Trace.runctx").
//
// Severity follows the project table: critical for anything that runs code or
// processes, touches files or the network, loads a nested pickle, or turns
// data into an arbitrary callable; high for building code objects and for
// changing the pickle machinery's own registries.
//
// Groups follow the numbered items of THREATS.md.
var DangerousGlobals = slices.Concat(
	dangerExec,           // items 1, 14: processes and code execution
	dangerBuiltins,       // items 1, 13: builtins
	dangerPython2Targets, // item 2: targets of fix_imports
	dangerRegistry,       // item 7: copyreg extension registry
	dangerResolvers,      // item 13: string → callable, callable appliers
	dangerGadgets,        // item 14: stdlib gadgets on few denylists
	dangerFiles,          // item 14: file system
	dangerNetwork,        // item 14: network
	dangerTorch,          // item 14: torch internals
	dangerAsync,          // item 15: submodules matched by prefix
	dangerCode,           // item 16: code objects
	dangerScanners,       // item 17: scanner tampering
	dangerLoaders,        // nested loaders
	dangerLibraries,      // numpy, pandas, scipy, joblib, sklearn and others
	dangerPathlib,        // pathlib methods that touch files
)

// References used by many entries.
const (
	refPaper        = "https://arxiv.org/abs/2508.19774"
	refFickling210  = "https://github.com/trailofbits/fickling/pull/210"
	refPSOperator   = "https://github.com/mmaitre314/picklescan/security/advisories/GHSA-m273-6v24-x4m4"
	refPSPkgutil    = "https://github.com/mmaitre314/picklescan/security/advisories/GHSA-vvpj-8cmc-gx39"
	refPSProfilers  = "https://github.com/mmaitre314/picklescan/security/advisories/GHSA-4675-36f9-wf6r"
	refPSNested     = "https://github.com/mmaitre314/picklescan/security/advisories/GHSA-84r2-jw7c-4r5q"
	refPSPip        = "https://github.com/mmaitre314/picklescan/security/advisories/GHSA-vqmv-47xg-9wpr"
	refPSNetwork    = "https://github.com/mmaitre314/picklescan/security/advisories/GHSA-hgrh-qx5j-jfwx"
	refPSIDE        = "https://github.com/mmaitre314/picklescan/security/advisories/GHSA-r8g5-cgf2-4m4m"
	refPSImportlib  = "https://github.com/mmaitre314/picklescan/issues/66"
	refPSPickle     = "https://github.com/mmaitre314/picklescan/pull/25"
	refPipCVE       = "https://nvd.nist.gov/vuln/detail/CVE-2025-1716"
	refAsyncioCVE   = "https://nvd.nist.gov/vuln/detail/CVE-2025-10157"
	refEXT          = "https://github.com/promptfoo/modelaudit/pull/623"
	refTamper       = "https://github.com/trailofbits/fickling/pull/249"
	refTorchLoad    = "https://pytorch.org/docs/stable/generated/torch.load.html"
	refTorchWeights = "https://github.com/pytorch/pytorch/blob/main/torch/_weights_only_unpickler.py"
	refDill         = "https://github.com/uqfoundation/dill/blob/master/dill/_dill.py"
	refCloudpickle  = "https://github.com/cloudpipe/cloudpickle/blob/master/cloudpickle/cloudpickle.py"
	refJoblib       = "https://joblib.readthedocs.io/en/stable/persistence.html"
	refNumpyLoad    = "https://numpy.org/doc/stable/reference/generated/numpy.load.html"
	refPandasEval   = "https://github.com/pandas-dev/pandas/pull/58697"
	refScipyStats   = "https://github.com/scipy/scipy/blob/main/scipy/stats/_distn_infrastructure.py"
	refYAML         = "https://pyyaml.org/wiki/PyYAMLDocumentation"
)

// doc is the Python documentation page of a standard-library module.
func doc(module string) string { return "https://docs.python.org/3/library/" + module + ".html" }

// doc311 is the page of a module removed after Python 3.11 (PEP 594, 632).
func doc311(module string) string { return "https://docs.python.org/3.11/library/" + module + ".html" }

func crit(category, module, name, why, ref string) Danger {
	return Danger{Module: module, Name: name, Severity: finding.Critical, Category: category, Why: why, Ref: ref}
}

func high(category, module, name, why, ref string) Danger {
	return Danger{Module: module, Name: name, Severity: finding.High, Category: category, Why: why, Ref: ref}
}

// names repeats one verdict over several names of a module.
func names(sev finding.Severity, category, module string, list []string, why, ref string) []Danger {
	out := make([]Danger, 0, len(list))
	for _, n := range list {
		out = append(out, Danger{Module: module, Name: n, Severity: sev, Category: category, Why: why, Ref: ref})
	}
	return out
}

// Items 1 and 14: modules that start processes or run code.
var dangerExec = []Danger{
	crit("exec", "os", "", "process, file and environment control (system, popen, exec*, spawn*, remove)", doc("os")),
	crit("exec", "posix", "", "the os functions as pickled on Linux and macOS (posix.system)", doc("os")),
	crit("exec", "nt", "", "the os functions as pickled on Windows (nt.system)", doc("os")),
	crit("subprocess", "subprocess", "", "starts processes (Popen, run, call, check_output, getoutput)", doc("subprocess")),
	crit("subprocess", "_posixsubprocess", "", "fork_exec starts a process directly, below the subprocess module", refPaper),
	crit("subprocess", "pty", "", "pty.spawn runs a program on a pseudo-terminal", doc("pty")),
	crit("subprocess", "multiprocessing", "", "starts processes and runs callables in them (util.spawnv_passfds, Process, Pool)", doc("multiprocessing")),
	crit("subprocess", "_multiprocessing", "", "C half of multiprocessing: semaphores and connections used to drive worker processes", doc("multiprocessing")),
	crit("subprocess", "concurrent", "", "executors run callables in threads or new processes", doc("concurrent.futures")),
	crit("subprocess", "pipes", "", "pipes.Template runs shell command pipelines", doc311("pipes")),
	crit("subprocess", "_winapi", "", "CreateProcess and other raw Win32 process calls", refPaper),
	crit("subprocess", "msvcrt", "", "Windows C runtime: spawn, file-descriptor and console control", doc("msvcrt")),
	crit("subprocess", "winreg", "", "reads and writes the Windows registry", doc("winreg")),
	crit("subprocess", "_osx_support", "", "_read_output runs a shell command and returns its output", refPaper),
	crit("subprocess", "_aix_support", "", "_read_cmd_output runs a shell command and returns its output", refPaper),
	crit("subprocess", "platform", "", "platform helpers run external commands (file, uname, ver) on paths the caller chooses", doc("platform")),
	crit("exec", "runpy", "", "runs a module, a path or a code object as __main__", doc("runpy")),
	crit("exec", "code", "", "InteractiveInterpreter.runsource/runcode compile and run Python source", doc("code")),
	crit("exec", "codeop", "", "compiles Python source into code objects for execution", doc("codeop")),
	crit("exec", "timeit", "", "timeit/repeat and Timer compile and run the statement strings they are given", refPSProfilers),
	crit("exec", "cProfile", "", "run/runctx execute a Python statement under the profiler", refPSProfilers),
	crit("exec", "profile", "", "run/runctx execute a Python statement under the profiler", refPSProfilers),
	crit("exec", "pstats", "", "Stats loads profile data from a file path with marshal", doc("profile")),
	crit("exec", "trace", "", "Trace.run/runctx/runfunc execute code under the tracer", refPSProfilers),
	crit("exec", "bdb", "", "Bdb.run/runeval/runctx/runcall execute code under the debugger", refPSProfilers),
	crit("exec", "pdb", "", "run/runeval/runcall execute code under the debugger", refPSProfilers),
	crit("exec", "doctest", "", "debug_script, run_docstring_examples and testmod execute Python source from strings", refPSProfilers),
	crit("exec", "idlelib", "", "IDLE's shell and run modules execute source code and start subprocesses", refPSIDE),
	crit("exec", "lib2to3", "", "pgen2 grammar loaders unpickle grammar files from a path", refPSIDE),
	crit("exec", "rlcompleter", "", "Completer.complete evaluates the expression it completes", doc("rlcompleter")),
	crit("exec", "site", "", "addsitedir and main execute the import lines of .pth files", doc("site")),
	crit("exec", "unittest", "", "unittest.main imports and runs tests by name; mock.patch imports its target by name", doc("unittest")),
	crit("exec", "test", "", "CPython's test package runs interpreters and scripts (test.support.script_helper)", doc("test")),
	crit("exec", "tkinter", "", "Tcl interpreters evaluate Tcl scripts, which can run commands", doc("tkinter")),
	crit("exec", "_tkinter", "", "the C Tcl interpreter behind tkinter evaluates Tcl scripts", doc("tkinter")),
	crit("exec", "IPython", "", "IPython runs cells, magics and shell commands", "https://ipython.readthedocs.io/en/stable/api/generated/IPython.utils.process.html"),
	crit("exec", "jinja2", "", "templates rendered at load are a server-side template injection vector", "https://jinja.palletsprojects.com/en/stable/sandbox/"),
	crit("exec", "numexpr", "", "evaluate compiles and evaluates expression strings", "https://github.com/pydata/numexpr/issues/442"),
	crit("exec", "typing", "get_type_hints", "evaluates string annotations of the object it is given", doc("typing")),
	crit("exec", "typing", "_eval_type", "evaluates forward-reference strings", doc("typing")),
	crit("exec", "typing_extensions", "get_type_hints", "evaluates string annotations of the object it is given", doc("typing")),
	crit("exec", "sympy", "sympify", "converts strings with eval", "https://docs.sympy.org/latest/modules/core.html#sympy.core.sympify.sympify"),
	crit("exec", "sympy.core.sympify", "sympify", "converts strings with eval", "https://docs.sympy.org/latest/modules/core.html#sympy.core.sympify.sympify"),
	crit("exec", "sympy.parsing", "", "parse_expr evaluates the expression strings it parses", "https://docs.sympy.org/latest/modules/parsing.html"),
	crit("exec", "pip", "", "pip.main and pip._internal install packages, running their build code (CVE-2025-1716)", refPipCVE),
	crit("exec", "ensurepip", "", "_run_pip runs pip to install packages", refPSPip),
	crit("exec", "venv", "", "create builds environments and runs pip in them", refPSPip),
	crit("exec", "distutils", "", "spawn, exec_command and file_util.write_file run commands and write files", refFickling210),
	crit("exec", "setuptools", "", "build machinery runs commands and setup scripts", "https://setuptools.pypa.io/en/latest/"),
	crit("exec", "pkg_resources", "", "entry points and resource providers import modules by name and extract files", "https://setuptools.pypa.io/en/latest/pkg_resources.html"),
	crit("exec", "py_compile", "", "compiles source files and writes .pyc files", doc("py_compile")),
	crit("exec", "compileall", "", "compiles trees of source files and writes .pyc files", doc("compileall")),
	crit("exec", "antigravity", "", "importing it opens a web browser", "https://github.com/python/cpython/blob/main/Lib/antigravity.py"),
	crit("exec", "webbrowser", "", "opens URLs by starting a browser process", doc("webbrowser")),
}

// Items 1 and 13: builtins that run code, resolve names or apply callables.
var dangerBuiltins = []Danger{
	crit("exec", "builtins", "eval", "evaluates Python source", "https://docs.python.org/3/library/functions.html#eval"),
	crit("exec", "builtins", "exec", "executes Python source", "https://docs.python.org/3/library/functions.html#exec"),
	crit("exec", "builtins", "compile", "turns source into code objects for eval/exec or FunctionType", "https://docs.python.org/3/library/functions.html#compile"),
	crit("exec", "builtins", "breakpoint", "calls sys.breakpointhook, which starts a debugger or imports the hook named by PYTHONBREAKPOINT", "https://docs.python.org/3/library/functions.html#breakpoint"),
	crit("exec", "builtins", "help", "runs pydoc, which can start a pager process", "https://docs.python.org/3/library/functions.html#help"),
	crit("io", "builtins", "input", "reads from standard input, blocking or consuming the host's input stream", "https://docs.python.org/3/library/functions.html#input"),
	crit("exec", "builtins", "__build_class__", "calls a function with a fresh namespace to build a class", refPaper),
	crit("file", "builtins", "open", "opens, creates or truncates files", "https://docs.python.org/3/library/functions.html#open"),
	crit("resolver", "builtins", "__import__", "imports any module by name", "https://docs.python.org/3/library/functions.html#import__"),
	crit("resolver", "builtins", "getattr", "reaches any attribute of any object, turning a safe import into a dangerous callable", refPaper),
	crit("resolver", "builtins", "setattr", "changes attributes of modules, classes and functions at load time", refPaper),
	crit("resolver", "builtins", "delattr", "removes attributes of modules, classes and functions at load time", refPaper),
	crit("resolver", "builtins", "globals", "returns a module namespace, from which any global can be read or replaced", refPaper),
	crit("resolver", "builtins", "locals", "returns a namespace dictionary of the running frame", refPaper),
	crit("resolver", "builtins", "vars", "returns the __dict__ of any object, module or class", refPaper),
	crit("resolver", "builtins", "__dict__", "the builtins namespace: every builtin, including eval and __import__, by key", refPaper),
	crit("resolver", "builtins", "__builtins__", "the builtins namespace reached by name", refPaper),
	crit("resolver", "builtins", "__loader__", "the builtin importer, which loads modules by name", refPaper),
	crit("resolver", "builtins", "__spec__", "the import spec of builtins, a route to the import machinery", refPaper),
	crit("resolver", "builtins", "map", "calls its function argument on every item, hiding the call from opcode-level checks", refPaper),
	crit("resolver", "builtins", "filter", "calls its predicate argument on every item, hiding the call from opcode-level checks", refPaper),
	crit("resolver", "builtins", "iter", "iter(callable, sentinel) calls its argument repeatedly when iterated", "https://docs.python.org/3/library/functions.html#iter"),
}

// Item 2: Python 2 names that fix_imports maps to these modules (cPickle →
// pickle is under the loaders, commands → subprocess, thread → _thread and
// __builtin__.reduce → functools.reduce are covered elsewhere).
var dangerPython2Targets = []Danger{
	crit("network", "urllib.request", "", "urlopen/urlretrieve fetch URLs and write files (urllib2, urllib.urlopen)", doc("urllib.request")),
	crit("network", "urllib.robotparser", "", "RobotFileParser.read fetches a URL (robotparser)", doc("urllib.robotparser")),
	crit("network", "http.client", "", "opens HTTP connections (httplib)", doc("http.client")),
	crit("network", "http.server", "", "starts HTTP servers, CGIHTTPRequestHandler runs scripts (BaseHTTPServer, SimpleHTTPServer, CGIHTTPServer)", doc("http.server")),
	crit("network", "http.cookiejar", "", "file cookie jars read and write files (cookielib)", doc("http.cookiejar")),
	crit("network", "socketserver", "", "starts network servers (SocketServer)", doc("socketserver")),
	crit("network", "xmlrpc", "", "XML-RPC clients and servers call remote procedures (xmlrpclib, SimpleXMLRPCServer)", doc("xmlrpc")),
	crit("file", "dbm", "", "opens and creates database files (anydbm, dbhash, gdbm, dumbdbm, whichdb)", doc("dbm")),
	crit("exec", "_thread", "", "start_new_thread runs a callable in a new thread (thread)", doc("_thread")),
	crit("exec", "_dummy_thread", "", "the Python 2 dummy_thread shim runs the callables it is given (dummy_thread)", doc("_thread")),
}

// Item 7: the copyreg extension registry behind EXT1/EXT2/EXT4.
var dangerRegistry = []Danger{
	high("registry", "copyreg", "add_extension", "registers a global under an extension code so later EXT opcodes load it unseen", refEXT),
	high("registry", "copyreg", "remove_extension", "changes the extension registry that EXT opcodes resolve through", refEXT),
	high("registry", "copyreg", "clear_extension_cache", "changes the extension cache that EXT opcodes resolve through", refEXT),
	high("registry", "copyreg", "_extension_registry", "the extension registry itself; SETITEM on it registers globals for EXT opcodes", refEXT),
	high("registry", "copyreg", "_inverted_registry", "the code-to-global map EXT opcodes read; SETITEM on it maps a code to any global", refEXT),
	high("registry", "copyreg", "_extension_cache", "the resolved-extension cache EXT opcodes read first; SETITEM on it plants any object", refEXT),
	high("registry", "copyreg", "pickle", "registers reduction functions that change how objects pickle afterwards", doc("copyreg")),
	high("registry", "copyreg", "dispatch_table", "the global reduction table; changing it alters later pickling", doc("copyreg")),
}

// Item 13: universal resolvers and callable appliers.
var dangerResolvers = slices.Concat(
	[]Danger{
		crit("resolver", "pkgutil", "", "resolve_name turns any dotted string into the object it names; get_data reads files", refPSPkgutil),
		crit("resolver", "pydoc", "", "locate resolves dotted names to objects; pagers run shell commands", doc("pydoc")),
		crit("resolver", "importlib", "", "import_module and loaders import and execute modules by name or path", refPSImportlib),
		crit("resolver", "importlib_metadata", "", "EntryPoint.load imports and returns the object an entry point names", "https://importlib-metadata.readthedocs.io/"),
		crit("resolver", "imp", "", "load_source/load_module execute modules from paths", doc311("imp")),
		crit("resolver", "_imp", "", "create_dynamic and exec_builtin load extension modules", doc("importlib")),
		crit("resolver", "zipimport", "", "zipimporter loads and executes modules from an archive path", doc("zipimport")),
		crit("resolver", "_frozen_importlib", "", "the import machinery: loaders execute modules by name", doc("importlib")),
		crit("resolver", "_frozen_importlib_external", "", "SourceFileLoader and friends execute modules from paths", doc("importlib")),
		crit("resolver", "sys", "", "sys.modules reaches every loaded module; settrace/setprofile install callables; exit ends the process", doc("sys")),
		crit("resolver", "gc", "", "get_objects/get_referrers reach every live object, including modules and functions", doc("gc")),
		crit("resolver", "inspect", "", "reaches frames, globals and module objects and reads source files", doc("inspect")),
		crit("resolver", "atexit", "", "register schedules a callable to run at interpreter exit", doc("atexit")),
		crit("resolver", "threading", "", "Thread and Timer run callables in new threads", doc("threading")),
		crit("resolver", "sched", "", "scheduler.run calls the callables scheduled on it", doc("sched")),
		crit("resolver", "signal", "", "signal installs callables as handlers; alarm and pthread_kill deliver signals", doc("signal")),
		crit("resolver", "_signal", "", "C half of signal: installs handlers and sends signals", doc("signal")),
		crit("resolver", "ctypes", "", "loads shared libraries and calls native functions (CDLL, util.find_library runs commands)", doc("ctypes")),
		crit("resolver", "_ctypes", "", "C half of ctypes: dlopen and raw function pointers", doc("ctypes")),
		crit("resolver", "cffi", "", "loads shared libraries and compiles C code", "https://cffi.readthedocs.io/"),
		crit("resolver", "_cffi_backend", "", "C half of cffi: dlopen and raw memory access", "https://cffi.readthedocs.io/"),
	},
	names(finding.Critical, "resolver", "operator",
		[]string{"attrgetter", "methodcaller", "itemgetter", "call"},
		"reads attributes or items of, or calls methods on, objects built at load time", refPSOperator),
	names(finding.Critical, "resolver", "_operator",
		[]string{"attrgetter", "methodcaller", "itemgetter", "call"},
		"C operator module: reads attributes or items of, or calls methods on, objects built at load time", refPSOperator),
	names(finding.Critical, "resolver", "functools",
		[]string{"partial", "partialmethod", "reduce", "cmp_to_key", "singledispatch"},
		"wraps or applies a callable chosen by the pickle, hiding the call from opcode-level checks", refFickling210),
	names(finding.Critical, "resolver", "_functools",
		[]string{"partial", "reduce", "cmp_to_key"},
		"C functools: wraps or applies a callable chosen by the pickle (functools.reduce pickles here)", refFickling210),
	names(finding.Critical, "resolver", "itertools",
		[]string{"starmap", "accumulate", "filterfalse", "takewhile", "dropwhile", "groupby"},
		"calls its function argument on every item, hiding the call from opcode-level checks", doc("itertools")),
	names(finding.Critical, "resolver", "weakref",
		[]string{"finalize", "ref", "proxy", "ReferenceType", "ProxyType", "WeakMethod", "KeyedRef"},
		"calls a callback chosen by the pickle when the referent dies or the interpreter exits", doc("weakref")),
	names(finding.Critical, "resolver", "_weakref",
		[]string{"ref", "proxy", "ReferenceType", "ProxyType"},
		"C weakref: calls a callback chosen by the pickle when the referent dies", doc("weakref")),
)

// Item 14: standard-library gadgets listed by the Hide-and-Seek paper and
// the peer scanners' advisories.
var dangerGadgets = slices.Concat(
	[]Danger{
		crit("file", "shutil", "", "copies, moves and deletes files and trees (rmtree, copyfile, move) and runs archive tools", refFickling210),
		crit("file", "tempfile", "", "creates files and directories; TemporaryDirectory cleanup deletes trees", doc("tempfile")),
		crit("file", "glob", "", "lists the file system", doc("glob")),
		crit("network", "imaplib", "", "IMAP4_stream runs a command; the clients open network connections", refPaper),
		crit("file", "logging", "FileHandler", "opens and appends to the file it is given", refPaper),
		crit("resolver", "logging.config", "", "fileConfig/dictConfig import and call factories by name; listen opens a socket that accepts new configuration", doc("logging.config")),
		crit("file", "logging.handlers", "", "file, socket, SMTP and HTTP handlers write files and open connections", doc("logging.handlers")),
		crit("subprocess", "uuid", "_get_command_stdout", "runs a command and returns its output", refPaper),
		crit("subprocess", "uuid", "_popen", "runs a command (Python < 3.9)", refPaper),
	},
	names(finding.Critical, "subprocess", "uuid",
		[]string{"_find_mac", "_find_mac_near_keyword", "_find_mac_under_heading", "_ifconfig_getnode", "_ip_getnode", "_arp_getnode", "_lanscan_getnode", "_netstat_getnode", "_ipconfig_getnode"},
		"runs a system command (ifconfig, ip, arp, netstat) to find a MAC address", refPaper),
)

// Item 14: file-system access outside shutil and tempfile.
var dangerFiles = slices.Concat(
	[]Danger{
		crit("file", "_pyio", "", "the pure-Python io module: open and FileIO create and truncate files", doc("io")),
		crit("file", "zipfile", "", "ZipFile opens, creates or truncates archives and extracts members to paths", doc("zipfile")),
		crit("file", "tarfile", "", "opens archives and extracts members to paths", doc("tarfile")),
		crit("file", "fileinput", "", "opens files and rewrites them in place", doc("fileinput")),
		crit("file", "linecache", "", "reads arbitrary files by path", doc("linecache")),
		crit("file", "mmap", "", "maps files into memory for reading and writing", doc("mmap")),
		crit("file", "sqlite3", "", "creates database files, runs SQL and can load native extensions", doc("sqlite3")),
		crit("file", "shelve", "", "opens a shelf file whose values are pickles", doc("shelve")),
		crit("file", "readline", "", "reads and writes history files", doc("readline")),
		crit("file", "codecs", "open", "opens files", doc("codecs")),
		crit("file", "xml.etree.ElementInclude", "", "include() loads the files its hrefs name", doc("xml.etree.elementtree")),
		crit("network", "xml.sax", "", "parsers read files and URLs, including external entities", doc("xml.sax")),
		crit("file", "xml.dom.minidom", "parse", "reads the file it is given", doc("xml.dom.minidom")),
		crit("file", "xml.dom.pulldom", "parse", "reads the file it is given", doc("xml.dom.pulldom")),
	},
	names(finding.Critical, "file", "io", []string{"open", "open_code", "FileIO"},
		"opens, creates or truncates files (builtins.open pickles as io.open)", refFickling210),
	names(finding.Critical, "file", "_io", []string{"open", "open_code", "FileIO"},
		"opens, creates or truncates files (io.FileIO pickles as _io.FileIO)", refFickling210),
	names(finding.Critical, "file", "gzip", []string{"open", "GzipFile"}, "opens or creates the file it is given", doc("gzip")),
	names(finding.Critical, "file", "bz2", []string{"open", "BZ2File"}, "opens or creates the file it is given", doc("bz2")),
	names(finding.Critical, "file", "lzma", []string{"open", "LZMAFile"}, "opens or creates the file it is given", doc("lzma")),
	names(finding.Critical, "file", "xml.etree.ElementTree", []string{"parse", "iterparse", "ElementTree"},
		"reads the file it is given", doc("xml.etree.elementtree")),
)

// Item 14: network access (ssl.get_server_certificate leaks data through DNS).
var dangerNetwork = []Danger{
	crit("network", "socket", "", "opens network connections and listening sockets", refPSNetwork),
	crit("network", "_socket", "", "C half of socket: raw network sockets", refPSNetwork),
	crit("network", "ssl", "", "get_server_certificate connects to any host, leaking data through DNS", refPSNetwork),
	crit("network", "_ssl", "", "C half of ssl: TLS connections and certificate files", refPSNetwork),
	crit("network", "ftplib", "", "opens FTP connections and transfers files", doc("ftplib")),
	crit("network", "smtplib", "", "opens SMTP connections and sends mail", doc("smtplib")),
	crit("network", "smtpd", "", "starts an SMTP server", doc311("smtpd")),
	crit("network", "poplib", "", "opens POP3 connections", doc("poplib")),
	crit("network", "nntplib", "", "opens NNTP connections", doc311("nntplib")),
	crit("network", "telnetlib", "", "opens telnet connections", doc311("telnetlib")),
	crit("network", "asyncore", "", "network event loop and dispatchers", doc311("asyncore")),
	crit("network", "asynchat", "", "network protocol handlers on asyncore", doc311("asynchat")),
	crit("network", "wsgiref", "", "simple_server starts an HTTP server", doc("wsgiref")),
	crit("network", "requests", "", "sends HTTP requests", refPSNetwork),
	crit("network", "urllib3", "", "sends HTTP requests", "https://urllib3.readthedocs.io/"),
	crit("network", "httpx", "", "sends HTTP requests", "https://www.python-httpx.org/"),
	crit("network", "aiohttp", "", "sends HTTP requests and starts servers", refPSNetwork),
	crit("network", "paramiko", "", "opens SSH connections and runs remote commands", "https://docs.paramiko.org/"),
	crit("network", "fsspec", "", "opens local and remote file systems by URL", "https://filesystem-spec.readthedocs.io/"),
	crit("network", "huggingface_hub", "", "downloads repositories and writes files to the cache", "https://huggingface.co/docs/huggingface_hub/"),
}

// Item 14: torch internals that load, compile or run code.
var dangerTorch = slices.Concat(
	[]Danger{
		crit("exec", "torch.jit", "", "compiles and runs TorchScript (unsupported_tensor_ops.execWrapper calls exec) and loads archives", refPaper),
		crit("exec", "torch._inductor", "", "codecache compiles and loads generated C++ and Python (compile_file, PyCodeCache.load)", refPaper),
		crit("exec", "torch._dynamo", "", "rewrites and runs Python bytecode; config.load_config unpickles bytes", refPaper),
		crit("exec", "torch.fx", "", "graph_module.reduce_graph_module and _forward_from_src exec generated Python source", "https://pytorch.org/docs/stable/fx.html"),
		crit("exec", "torch.utils._config_module", "", "ConfigModule.load_config unpickles the bytes it is given", refPaper),
		crit("subprocess", "torch.utils.collect_env", "", "run executes shell commands", refPaper),
		crit("exec", "torch.utils.cpp_extension", "", "compiles and loads C++/CUDA extensions", "https://pytorch.org/docs/stable/cpp_extension.html"),
		crit("exec", "torch.utils.benchmark", "", "Timer compiles and runs statement strings", "https://pytorch.org/docs/stable/benchmark_utils.html"),
		crit("exec", "torch.utils.bottleneck", "", "runs a script under the profilers", "https://pytorch.org/docs/stable/bottleneck.html"),
		crit("file", "torch.utils.tensorboard", "", "writes event files", "https://pytorch.org/docs/stable/tensorboard.html"),
		crit("loader", "torch.utils.data.datapipes", "", "decoder.basichandlers unpickles data; file and URL datapipes open files", refPaper),
		crit("loader", "torch.utils.model_zoo", "", "load_url downloads a checkpoint and torch.loads it", "https://pytorch.org/docs/stable/model_zoo.html"),
		crit("loader", "torch.hub", "", "load/load_state_dict_from_url download repositories, import their hubconf.py and load checkpoints", "https://pytorch.org/docs/stable/hub.html"),
		crit("exec", "torch.package", "", "PackageImporter imports and runs code stored in a package archive", "https://pytorch.org/docs/stable/package.html"),
		crit("exec", "torch.ops", "", "ops.load_library loads native libraries", "https://pytorch.org/tutorials/advanced/torch_script_custom_ops.html"),
		crit("exec", "torch._ops", "", "ops.load_library loads native libraries", "https://pytorch.org/tutorials/advanced/torch_script_custom_ops.html"),
		crit("exec", "torch.classes", "", "classes.load_library loads native libraries", "https://pytorch.org/tutorials/advanced/torch_script_custom_classes.html"),
		crit("exec", "torch._classes", "", "classes.load_library loads native libraries", "https://pytorch.org/tutorials/advanced/torch_script_custom_classes.html"),
		crit("exec", "torch.library", "", "registers Python callables as operators", "https://pytorch.org/docs/stable/library.html"),
		crit("loader", "torch.export", "", "load reads and unpickles exported program archives", "https://pytorch.org/docs/stable/export.html"),
		crit("loader", "torch._export", "", "exported program serialization loads archives", "https://pytorch.org/docs/stable/export.html"),
		crit("file", "torch.onnx", "", "export runs the model and writes files", "https://pytorch.org/docs/stable/onnx.html"),
		crit("subprocess", "torch.multiprocessing", "", "starts processes and runs callables in them", "https://pytorch.org/docs/stable/multiprocessing.html"),
		crit("network", "torch.distributed", "", "rendezvous, stores and RPC open connections and run remote callables", "https://pytorch.org/docs/stable/rpc.html"),
		crit("loader", "torch", "load", "nested torch.load of another file or buffer, outside the scanned data", refTorchLoad),
		crit("file", "torch", "save", "writes a checkpoint file", "https://pytorch.org/docs/stable/generated/torch.save.html"),
		crit("file", "torch", "from_file", "maps a file chosen by the pickle into a tensor", "https://pytorch.org/docs/stable/generated/torch.from_file.html"),
		crit("resolver", "torch.utils.checkpoint", "checkpoint", "calls its function argument", "https://pytorch.org/docs/stable/checkpoint.html"),
		crit("resolver", "torch.utils.checkpoint", "checkpoint_sequential", "calls its function arguments", "https://pytorch.org/docs/stable/checkpoint.html"),
		crit("resolver", "torch._utils", "_import_dotted_name", "imports a module by name and walks attributes", refTorchWeights),
	},
	names(finding.Critical, "loader", "torch.serialization",
		[]string{"load", "_load", "_legacy_load", "_open_file_like", "_open_zipfile_reader"},
		"nested torch.load of a file or buffer, outside the scanned data (torch.load pickles here)", refTorchLoad),
	names(finding.Critical, "file", "torch.serialization",
		[]string{"save", "_save", "_legacy_save", "_open_zipfile_writer", "mkdtemp"},
		"writes checkpoint files or temporary directories", refTorchLoad),
	names(finding.Critical, "loader", "torch._C",
		[]string{"_load_for_lite_interpreter", "_load_for_lite_interpreter_from_buffer", "import_ir_module", "import_ir_module_from_buffer",
			"_import_ir_module_from_package", "_load_mobile_module_from_file", "_load_mobile_module_from_bytes",
			"_load_jit_module_from_file", "_load_jit_module_from_bytes", "CompilationUnit", "_jit_script_compile", "_jit_script_class_compile"},
		"loads or compiles TorchScript programs, which run operators and can load libraries", "https://pytorch.org/docs/stable/jit.html"),
	// Every storage class can map a file: torch.FloatStorage.from_file(path, shared, size).
	storageFromFile(),
)

// Item 15: module prefixes cover submodules (asyncio.unix_events._UnixSubprocessTransport._start).
var dangerAsync = []Danger{
	crit("subprocess", "asyncio", "", "subprocess transports start processes; event loops run callables and open connections", refAsyncioCVE),
	crit("subprocess", "_asyncio", "", "C half of asyncio: tasks and futures run callbacks", refAsyncioCVE),
}

// Item 16: building code objects, functions and classes from data.
var dangerCode = slices.Concat(
	[]Danger{
		high("code", "marshal", "", "loads and load build code objects from bytes", "https://docs.python.org/3/library/marshal.html"),
		crit("resolver", "types", "new_class", "calls the exec_body callback it is given to fill the class namespace", doc("types")),
	},
	names(finding.High, "code", "types",
		[]string{"CodeType", "FunctionType", "LambdaType", "MethodType", "CellType", "ModuleType", "coroutine"},
		"builds code objects, functions, bound methods or modules from data", doc("types")),
	names(finding.High, "code", "dill._dill",
		[]string{"_create_code", "_create_function", "_create_cell", "_load_type", "_create_namedtuple"},
		"dill rebuilds code objects, functions and classes from data", refDill),
	names(finding.Critical, "resolver", "dill._dill",
		[]string{"_import_module", "_get_attr", "_getattr", "_getattribute", "_create_type", "_create_ftype", "_create_array"},
		"dill imports modules by name, reads attributes, or calls a constructor chosen by the pickle", refDill),
	[]Danger{
		crit("exec", "dill._dill", "_eval_repr", "evaluates a repr string with eval", refDill),
		crit("file", "dill._dill", "_create_filehandle", "opens (and can truncate) the file path stored in the pickle", refDill),
		crit("exec", "dill._dill", "_create_capsule", "builds a PyCapsule from a raw pointer with ctypes", refDill),
		crit("resolver", "dill._shims", "", "Reduce, Getattr, _setattr and _delattr apply callables and attribute access at load", refDill),
	},
	cloudpickleNames("cloudpickle.cloudpickle"),
	cloudpickleNames("cloudpickle.cloudpickle_fast"),
)

// Item 17: pickles that import a scanner to switch it off.
var dangerScanners = []Danger{
	crit("tamper", "picklescan", "", "a model has no reason to import a pickle scanner except to disable it", refTamper),
	crit("tamper", "modelscan", "", "a model has no reason to import a model scanner except to disable it", refTamper),
	crit("tamper", "fickling", "", "a model has no reason to import fickling except to disable its hooks", refTamper),
	crit("tamper", "modelaudit", "", "a model has no reason to import a model scanner except to disable it", refTamper),
}

// Nested loaders: a second deserialisation inside the first one runs whatever
// its data says, out of the scanner's sight.
var dangerLoaders = slices.Concat(
	[]Danger{
		crit("loader", "pickle", "", "loads/load/Unpickler deserialise a nested pickle (cPickle maps here)", refPSNested),
		crit("loader", "_pickle", "", "C pickle: loads/load/Unpickler deserialise a nested pickle", refPSPickle),
		crit("loader", "jsonpickle", "", "decode rebuilds arbitrary objects named in JSON", "https://jsonpickle.github.io/"),
		crit("loader", "dill.session", "", "load_session/load_module unpickle a saved interpreter session", refDill),
	},
	names(finding.Critical, "loader", "dill",
		[]string{"loads", "load", "Unpickler", "load_session", "load_module", "load_module_asdict"},
		"dill deserialises a nested pickle that can carry code", refDill),
	names(finding.Critical, "loader", "dill._dill",
		[]string{"loads", "load", "Unpickler", "load_session", "load_module"},
		"dill deserialises a nested pickle that can carry code", refDill),
	names(finding.Critical, "loader", "cloudpickle", []string{"loads", "load"},
		"deserialises a nested pickle", refCloudpickle),
	names(finding.Critical, "loader", "yaml",
		[]string{"load", "load_all", "unsafe_load", "unsafe_load_all", "full_load", "full_load_all"},
		"PyYAML loaders that can construct Python objects from tags", refYAML),
)

// Libraries whose modules are otherwise allowed or common in model files.
var dangerLibraries = slices.Concat(
	// NumPy.
	[]Danger{
		crit("loader", "numpy", "load", "loads .npy/.npz files, unpickling object arrays when allow_pickle is set", refNumpyLoad),
		crit("file", "numpy", "memmap", "opens, creates or overwrites the file it is given, even when only instantiated", "https://numpy.org/doc/stable/reference/generated/numpy.memmap.html"),
		crit("file", "numpy", "DataSource", "opens local files and URLs; its __del__ deletes its directory tree", "https://numpy.org/doc/stable/reference/generated/numpy.DataSource.html"),
		crit("file", "numpy.core.memmap", "", "memmap opens, creates or overwrites files when instantiated", "https://numpy.org/doc/stable/reference/generated/numpy.memmap.html"),
		crit("file", "numpy._core.memmap", "", "memmap opens, creates or overwrites files when instantiated", "https://numpy.org/doc/stable/reference/generated/numpy.memmap.html"),
		crit("file", "numpy.core.multiarray", "fromfile", "reads the file it is given", "https://numpy.org/doc/stable/reference/generated/numpy.fromfile.html"),
		crit("file", "numpy._core.multiarray", "fromfile", "reads the file it is given", "https://numpy.org/doc/stable/reference/generated/numpy.fromfile.html"),
		crit("file", "numpy.core.records", "fromfile", "reads the file it is given", "https://numpy.org/doc/stable/reference/generated/numpy.rec.fromfile.html"),
		crit("file", "numpy.core._methods", "_dump", "pickles an array into the file path it is given", "https://numpy.org/doc/stable/reference/generated/numpy.ndarray.dump.html"),
		crit("file", "numpy._core._methods", "_dump", "pickles an array into the file path it is given", "https://numpy.org/doc/stable/reference/generated/numpy.ndarray.dump.html"),
		crit("loader", "numpy.lib.format", "", "read_array unpickles object arrays; open_memmap creates files", "https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html"),
		crit("loader", "numpy.lib.npyio", "", "load/loadtxt/save/savez read and write files, unpickling object arrays", refNumpyLoad),
		crit("loader", "numpy.lib._npyio_impl", "", "NumPy 2 file readers and writers (load, save, loadtxt)", refNumpyLoad),
		crit("file", "numpy.lib._datasource", "", "opens local files and URLs; DataSource.__del__ deletes its directory tree", "https://numpy.org/doc/stable/reference/generated/numpy.DataSource.html"),
		crit("resolver", "numpy.lib.utils", "", "lookfor imports modules by name; source reads files", "https://numpy.org/doc/1.24/reference/routines.help.html"),
		crit("resolver", "numpy.lib._utils_impl", "", "NumPy 2 help utilities import modules and read source files", "https://numpy.org/doc/stable/reference/routines.help.html"),
		crit("exec", "numpy.ctypeslib", "", "load_library loads native libraries", "https://numpy.org/doc/stable/reference/routines.ctypeslib.html"),
		crit("exec", "numpy.distutils", "", "exec_command and the build helpers run commands and compilers", "https://numpy.org/doc/stable/reference/distutils.html"),
		crit("exec", "numpy.f2py", "", "crackfortran evaluates expressions; f2py2e compiles and imports extensions", refFickling210),
		crit("exec", "numpy.testing", "", "_private.utils.runstring executes source; extbuild compiles and imports C code", refPaper),
	},
	names(finding.Critical, "file", "numpy",
		[]string{"fromfile", "loadtxt", "genfromtxt", "fromregex", "save", "savez", "savez_compressed", "savetxt", "recfromtxt", "recfromcsv"},
		"reads or writes the file path it is given", refNumpyLoad),
	// pandas.
	[]Danger{
		crit("loader", "pandas.io", "", "readers and writers open files and URLs; read_pickle unpickles a nested pickle", "https://pandas.pydata.org/docs/reference/io.html"),
		crit("exec", "pandas.core.computation", "", "eval/query evaluate expression strings that can reach Python objects", refPandasEval),
		crit("exec", "pandas", "eval", "evaluates expression strings that can reach Python objects", refPandasEval),
	},
	names(finding.Critical, "exec", "pandas.core.frame", []string{"DataFrame.eval", "DataFrame.query"},
		"evaluates expression strings that can reach Python objects", refPandasEval),
	names(finding.Critical, "exec", "pandas", []string{"DataFrame.eval", "DataFrame.query"},
		"evaluates expression strings that can reach Python objects", refPandasEval),
	names(finding.Critical, "loader", "pandas",
		[]string{"read_pickle", "to_pickle", "read_csv", "read_table", "read_fwf", "read_json", "read_html", "read_xml", "read_excel",
			"read_hdf", "read_feather", "read_parquet", "read_orc", "read_sas", "read_spss", "read_stata", "read_sql", "read_sql_query",
			"read_sql_table", "read_gbq", "read_clipboard", "ExcelWriter", "HDFStore"},
		"reads or writes files and URLs; read_pickle unpickles a nested pickle", "https://pandas.pydata.org/docs/reference/io.html"),
	// SciPy.
	[]Danger{
		crit("exec", "scipy.stats._distn_infrastructure", "", "rv_generic.__setstate__ exec()s the pickled _parse_arg_template source on BUILD", refScipyStats),
		crit("exec", "scipy.stats._continuous_distns", "", "distributions inherit rv_generic.__setstate__, which exec()s pickled source on BUILD", refScipyStats),
		crit("exec", "scipy.stats._discrete_distns", "", "distributions inherit rv_generic.__setstate__, which exec()s pickled source on BUILD", refScipyStats),
		crit("file", "scipy.io", "", "readers and writers for MATLAB, Matrix Market, WAV and other files", "https://docs.scipy.org/doc/scipy/reference/io.html"),
		crit("network", "scipy.datasets", "", "downloads data sets and writes them to the cache", "https://docs.scipy.org/doc/scipy/reference/datasets.html"),
		crit("exec", "scipy.weave", "", "compiles and runs inline C code", "https://docs.scipy.org/doc/scipy-0.18.1/reference/tutorial/weave.html"),
	},
	names(finding.Critical, "file", "scipy.sparse", []string{"load_npz", "save_npz"},
		"reads or writes the file path it is given", "https://docs.scipy.org/doc/scipy/reference/generated/scipy.sparse.load_npz.html"),
	names(finding.Critical, "file", "scipy.sparse._matrix_io", []string{"load_npz", "save_npz"},
		"reads or writes the file path it is given", "https://docs.scipy.org/doc/scipy/reference/generated/scipy.sparse.load_npz.html"),
	// scikit-learn.
	[]Danger{
		crit("network", "sklearn.datasets", "", "fetch_* download data sets and write them to disk; load_files reads directories", "https://scikit-learn.org/stable/api/sklearn.datasets.html"),
		crit("subprocess", "sklearn.utils._testing", "", "test helpers run Python scripts in subprocesses", "https://github.com/scikit-learn/scikit-learn/blob/main/sklearn/utils/_testing.py"),
	},
	// joblib.
	[]Danger{
		crit("loader", "joblib.numpy_pickle_compat", "", "old-format NDArrayWrapper/ZNDArrayWrapper read arrays from file paths stored in the pickle, with allow_pickle", refJoblib),
		crit("file", "joblib._memmapping_reducer", "", "rebuilds memmaps from file paths and modes stored in the pickle, creating or overwriting files", refJoblib),
		crit("file", "joblib.backports", "", "make_memmap and concurrency_safe_rename create and replace files", refJoblib),
		crit("file", "joblib.disk", "", "mkdirp, rm_subdirs and delete_folder create and delete directories", refJoblib),
		crit("loader", "joblib.memory", "", "Memory and MemorizedResult write caches and unpickle cached results from disk", "https://joblib.readthedocs.io/en/stable/memory.html"),
		crit("loader", "joblib._store_backends", "", "cache stores read, write and unpickle files", "https://joblib.readthedocs.io/en/stable/memory.html"),
		crit("subprocess", "joblib.parallel", "", "Parallel starts worker processes and runs callables", "https://joblib.readthedocs.io/en/stable/parallel.html"),
		crit("subprocess", "joblib._parallel_backends", "", "backends start worker processes and run callables", "https://joblib.readthedocs.io/en/stable/parallel.html"),
		crit("subprocess", "joblib.pool", "", "worker pools start processes", "https://joblib.readthedocs.io/en/stable/parallel.html"),
		crit("subprocess", "joblib.executor", "", "executors start processes and run callables", "https://joblib.readthedocs.io/en/stable/parallel.html"),
		crit("subprocess", "joblib.externals", "", "vendored loky (process pools) and cloudpickle (function rebuilding)", "https://joblib.readthedocs.io/en/stable/parallel.html"),
	},
	names(finding.Critical, "loader", "joblib", []string{"load", "dump"},
		"nested joblib.load/dump of a file path: reads pickles or writes files", refJoblib),
	names(finding.Critical, "loader", "joblib.numpy_pickle",
		[]string{"load", "dump", "_unpickle", "NumpyUnpickler", "_read_fileobject", "load_temporary_memmap"},
		"nested joblib loading or dumping of a file path or stream (joblib.load pickles here)", refJoblib),
)

// cloudpickleNames lists the function and class rebuilding helpers of one
// cloudpickle module (cloudpickle.cloudpickle, or cloudpickle_fast in 1.x–2.x).
func cloudpickleNames(module string) []Danger {
	return slices.Concat(
		names(finding.High, "code", module,
			[]string{"_make_function", "_builtin_type", "_make_skeleton_class", "_make_skeleton_enum", "_rehydrate_skeleton_class",
				"_class_setstate", "_function_setstate", "_fill_function", "_make_skel_func", "_make_cell", "_make_empty_cell",
				"_make_cell_set_template_code", "dynamic_subimport"},
			"cloudpickle rebuilds functions, closures, classes and modules from data", refCloudpickle),
		[]Danger{
			crit("resolver", module, "subimport", "imports any module by name", refCloudpickle),
			crit("loader", module, "loads", "deserialises a nested pickle", refCloudpickle),
			crit("loader", module, "load", "deserialises a nested pickle", refCloudpickle),
		},
	)
}

// torchStorageNames are the legacy typed storage classes, as pickled by torch
// (module torch; torch.cuda for CUDA storages of old checkpoints).
var torchStorageNames = []string{
	"DoubleStorage", "FloatStorage", "HalfStorage", "LongStorage", "IntStorage", "ShortStorage", "CharStorage",
	"ByteStorage", "BoolStorage", "BFloat16Storage", "ComplexDoubleStorage", "ComplexFloatStorage",
	"QUInt8Storage", "QInt8Storage", "QInt32Storage", "QUInt4x2Storage", "QUInt2x4Storage",
}

// storageFromFile covers Storage.from_file, which maps a file named by the
// pickle, for every storage class the safe table allows.
func storageFromFile() []Danger {
	var out []Danger
	add := func(module, class string) {
		out = append(out, crit("file", module, class+".from_file", "maps the file path it is given into a storage", "https://pytorch.org/docs/stable/storage.html"))
	}
	for _, n := range torchStorageNames {
		add("torch", n)
	}
	add("torch", "UntypedStorage")
	add("torch", "TypedStorage")
	add("torch.storage", "UntypedStorage")
	add("torch.storage", "TypedStorage")
	return out
}

// dangerPathlib covers the I/O methods of concrete paths, which a pickle can
// call as pathlib.PosixPath.write_text(path, text); the path classes
// themselves stay safe to build.
var dangerPathlib = func() []Danger {
	var out []Danger
	methods := []string{"open", "read_text", "read_bytes", "write_text", "write_bytes", "touch", "mkdir", "unlink", "rmdir",
		"rename", "replace", "symlink_to", "hardlink_to", "link_to", "chmod", "lchmod", "iterdir", "glob", "rglob", "walk", "readlink"}
	for _, class := range []string{"Path", "PosixPath", "WindowsPath"} {
		out = append(out, names(finding.Critical, "file", "pathlib", prefixed(class+".", methods),
			"reads, writes, lists or deletes files through a path object", doc("pathlib"))...)
	}
	return out
}()

func prefixed(prefix string, list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = prefix + s
	}
	return out
}
