package knowledge

import "slices"

// SafeGlobals is the known-safe tier: globals that real model files use and
// that cannot run code chosen by the pickle.
//
// Calls is true only for callables whose behaviour is fixed by their own code
// and cannot be steered into running other code by the arguments a pickle can
// build; everything else is instantiate-only (NEWOBJ + BUILD). The entries
// were checked against what torch 1.13, NumPy 1.24, scikit-learn 1.2, SciPy
// 1.10, pandas 1.5 and joblib 1.2 actually write with pickle protocols 0–5,
// torch.save (zip and legacy) and joblib.dump, plus the names newer releases
// write (numpy._core, torch._utils._rebuild_tensor_v3, ...).
//
// Deliberately absent: torch.storage._load_from_bytes (plain pickle.dumps of a
// tensor; it torch.loads embedded bytes, a nested loader), builtins.type (its
// three-argument form runs the chosen bases' metaclass code; NoneType pickles
// as type(None)), dateutil.tz.tz.tzfile (its constructor opens the path it is
// given), scipy.stats distributions (see DangerousGlobals) and zoneinfo
// (pickled through builtins.getattr).
var SafeGlobals = slices.Concat(
	safePython,
	safeNumpy,
	safeTorch,
	safePandas,
	safeScipy,
	safeSklearn,
	safeOther,
)

func call(module, name, why string) SafeGlobal {
	return SafeGlobal{Module: module, Name: name, Calls: true, Why: why}
}

func value(module, name, why string) SafeGlobal {
	return SafeGlobal{Module: module, Name: name, Why: why}
}

// wholeModule allows every class of the module and its submodules to be
// imported, instantiated (NEWOBJ) and given state (BUILD), but not called.
func wholeModule(module, why string) SafeGlobal {
	return SafeGlobal{Module: module, Why: why}
}

func calls(module string, list []string, why string) []SafeGlobal {
	out := make([]SafeGlobal, 0, len(list))
	for _, n := range list {
		out = append(out, call(module, n, why))
	}
	return out
}

func values(module string, list []string, why string) []SafeGlobal {
	out := make([]SafeGlobal, 0, len(list))
	for _, n := range list {
		out = append(out, value(module, n, why))
	}
	return out
}

// instantiating marks a helper that creates an instance of the class passed at
// position 0 without running its constructor (Cython __pyx_unpickle_*,
// sklearn newObj, pandas _new_Index): the VM checks that class.
func instantiating(module string, list []string, why string) []SafeGlobal {
	out := make([]SafeGlobal, 0, len(list))
	for _, n := range list {
		out = append(out, SafeGlobal{Module: module, Name: n, Calls: true, Instantiates: []int{0}, Why: why})
	}
	return out
}

// Python's own value types and pickle helpers.
var safePython = slices.Concat(
	calls("builtins",
		[]string{"set", "frozenset", "bytearray", "bytes", "complex", "slice", "range", "list", "dict", "tuple", "int", "float", "str", "bool", "object"},
		"builtin value type; constructing it only copies or converts its arguments"),
	values("builtins", []string{"Ellipsis", "NotImplemented"}, "builtin singleton"),
	[]SafeGlobal{
		{Module: "copyreg", Name: "_reconstructor", Calls: true, Instantiates: []int{0}, CallsArgs: []int{1},
			Why: "protocol 0/1 object rebuild: cls via base.__new__, then base.__init__"},
		{Module: "copyreg", Name: "__newobj__", Calls: true, Instantiates: []int{0}, Why: "cls.__new__(cls, *args), the protocol 2 object rebuild"},
		{Module: "copyreg", Name: "__newobj_ex__", Calls: true, Instantiates: []int{0}, Why: "cls.__new__(cls, *args, **kwargs), the protocol 4 object rebuild"},
		call("_codecs", "encode", "turns the latin-1 text of protocol 0-2 bytes back into bytes; codec names resolve only inside the encodings package"),
		call("collections", "OrderedDict", "container"),
		// The factory is not called at load, but model code calls it on the
		// first missing key, so the VM must judge it as a callable.
		{Module: "collections", Name: "defaultdict", Calls: true, CallsArgs: []int{0},
			Why: "container whose default factory (argument 0) is called on every missing key"},
		call("collections", "Counter", "container"),
		call("collections", "deque", "container"),
		call("collections", "UserDict", "container (Python 2 UserDict maps here)"),
		call("collections", "UserList", "container (Python 2 UserList maps here)"),
		call("collections", "UserString", "container (Python 2 UserString maps here)"),
		call("datetime", "date", "value type"),
		call("datetime", "datetime", "value type"),
		call("datetime", "time", "value type"),
		call("datetime", "timedelta", "value type"),
		call("datetime", "timezone", "fixed-offset time zone value"),
		call("datetime", "tzinfo", "abstract time zone base, the base argument of copyreg._reconstructor"),
		call("decimal", "Decimal", "value type"),
		call("fractions", "Fraction", "value type"),
		call("uuid", "UUID", "value type"),
		call("types", "SimpleNamespace", "attribute container"),
		call("argparse", "Namespace", "attribute container (training arguments)"),
		call("re", "_compile", "compiles a regular expression; patterns cannot run code"),
	},
	calls("pathlib",
		[]string{"Path", "PosixPath", "WindowsPath", "PurePath", "PurePosixPath", "PureWindowsPath"},
		"path value; building one touches no file (the I/O methods are in DangerousGlobals)"),
)

// NumPy 1.x (numpy.core) and 2.x (numpy._core) array, dtype and scalar
// rebuilding.
var safeNumpy = slices.Concat(
	[]SafeGlobal{
		{Module: "numpy.core.multiarray", Name: "_reconstruct", Calls: true, Instantiates: []int{0},
			Why: "ndarray.__new__(subtype, shape, dtype): an empty array of the given subtype, filled by BUILD"},
		{Module: "numpy._core.multiarray", Name: "_reconstruct", Calls: true, Instantiates: []int{0},
			Why: "NumPy 2 name of ndarray.__new__(subtype, shape, dtype)"},
		call("numpy.core.multiarray", "scalar", "builds a NumPy scalar from a dtype and its bytes"),
		call("numpy._core.multiarray", "scalar", "NumPy 2 name of the scalar rebuild"),
		call("numpy.core.numeric", "_frombuffer", "protocol 5 array rebuild: a view over a bytes buffer"),
		call("numpy._core.numeric", "_frombuffer", "NumPy 2 name of the protocol 5 array rebuild"),
		call("numpy", "dtype", "builds a dtype from a type code; BUILD sets its byte order and fields"),
		value("numpy", "ndarray", "array class passed to _reconstruct"),
		value("numpy.matrixlib.defmatrix", "matrix", "ndarray subclass passed to _reconstruct (numpy.matrix)"),
		value("numpy", "matrix", "ndarray subclass passed to _reconstruct"),
		value("numpy", "recarray", "ndarray subclass passed to _reconstruct"),
		call("numpy", "finfo", "floating-point limits of a dtype"),
		call("numpy", "iinfo", "integer limits of a dtype"),
		value("numpy.core.getlimits", "MachArLike", "machine-limits record held by finfo, rebuilt by NEWOBJ + BUILD"),
		value("numpy._core.getlimits", "MachArLike", "NumPy 2 name of the finfo machine-limits record"),
		value("numpy.ma.core", "MaskedArray", "masked array class passed to _mareconstruct"),
		call("numpy.ma.core", "MaskedConstant", "the numpy.ma.masked singleton"),
		{Module: "numpy.ma.core", Name: "_mareconstruct", Calls: true, Instantiates: []int{0, 1},
			Why: "masked array rebuild: creates the subtype (0) over an array of the base class (1)"},
		wholeModule("numpy.dtypes", "NumPy ≥1.25 dtype classes, referenced as values"),
		{Module: "numpy.random._pickle", Name: "__randomstate_ctor", Calls: true, CallsArgs: []int{1},
			Why: "RandomState(bit_generator_ctor(name)): calls its second argument"},
		{Module: "numpy.random._pickle", Name: "__generator_ctor", Calls: true, CallsArgs: []int{1},
			Why: "Generator(bit_generator_ctor(name)): calls its second argument"},
		{Module: "numpy.random._pickle", Name: "__bit_generator_ctor", Calls: true, CallsArgs: []int{0},
			Why: "builds a bit generator from a known name; NumPy 2 also calls a class passed as argument 0"},
		call("numpy.random", "__RandomState_ctor", "legacy RandomState(seed=0) rebuild of NumPy < 1.17"),
		call("numpy.random.mtrand", "RandomState", "legacy random generator; construction seeds it"),
		call("numpy.random._generator", "Generator", "random generator over a bit generator"),
		call("numpy.random._mt19937", "MT19937", "bit generator (NumPy 2 pickles the class)"),
		call("numpy.random._pcg64", "PCG64", "bit generator (NumPy 2 pickles the class)"),
		call("numpy.random._pcg64", "PCG64DXSM", "bit generator (NumPy 2 pickles the class)"),
		call("numpy.random._philox", "Philox", "bit generator (NumPy 2 pickles the class)"),
		call("numpy.random._sfc64", "SFC64", "bit generator (NumPy 2 pickles the class)"),
		call("numpy.random.bit_generator", "SeedSequence", "seed sequence value"),
	},
	instantiating("numpy.random.bit_generator", []string{"__pyx_unpickle_SeedSequence", "__pyx_unpickle_SeedlessSeedSequence"},
		"Cython unpickle helper: SeedSequence.__new__(type) then its generated __setstate__"),
	calls("numpy", numpyScalarTypes, "NumPy scalar type; calling it converts a value"),
)

// numpyScalarTypes are the scalar classes and their aliases as they appear in
// pickles (as dtype=… values and as scalar(...) arguments).
var numpyScalarTypes = []string{
	"bool_", "bool", "byte", "ubyte", "short", "ushort", "intc", "uintc", "int_", "uint", "longlong", "ulonglong", "intp", "uintp",
	"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
	"half", "single", "double", "longdouble", "float_", "longfloat", "float16", "float32", "float64", "float96", "float128",
	"csingle", "cdouble", "clongdouble", "singlecomplex", "cfloat", "complex_", "longcomplex", "clongfloat",
	"complex64", "complex128", "complex192", "complex256",
	"object_", "str_", "unicode_", "bytes_", "string_", "void", "record", "datetime64", "timedelta64",
	"generic", "number", "integer", "signedinteger", "unsignedinteger", "inexact", "floating", "complexfloating",
	"flexible", "character",
}

// PyTorch tensor, parameter and storage rebuilding (the same set torch's own
// weights_only unpickler allows, plus nn modules for whole-model pickles).
var safeTorch = slices.Concat(
	calls("torch._utils",
		[]string{"_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter", "_rebuild_parameter_with_state",
			"_rebuild_qtensor", "_rebuild_sparse_tensor", "_rebuild_sparse_csr_tensor", "_rebuild_meta_tensor_no_storage",
			"_rebuild_device_tensor_from_numpy", "_rebuild_device_tensor_from_cpu_tensor", "_rebuild_xla_tensor", "_rebuild_mlc_tensor",
			"_rebuild_nested_tensor"},
		"rebuilds a tensor or parameter over a storage or array; backward_hooks and state are stored, not called"),
	[]SafeGlobal{
		{Module: "torch._utils", Name: "_rebuild_wrapper_subclass", Calls: true, Instantiates: []int{0},
			Why: "creates an empty instance of the tensor subclass passed as argument 0"},
		{Module: "torch._tensor", Name: "_rebuild_from_type", Calls: true, CallsArgs: []int{0}, Instantiates: []int{1},
			Why: "func(*args) then as_subclass(type): calls argument 0, instantiates argument 1"},
		{Module: "torch._tensor", Name: "_rebuild_from_type_v2", Calls: true, CallsArgs: []int{0}, Instantiates: []int{1},
			Why: "func(*args) then as_subclass(new_type) and its __setstate__: calls argument 0, instantiates argument 1"},
		call("torch.serialization", "_get_layout", "looks a layout up by name in torch's own table"),
		call("torch", "Size", "shape tuple"),
		call("torch", "device", "device descriptor"),
		value("torch", "Tensor", "tensor class, passed to the rebuild helpers"),
		call("torch.nn.parameter", "Parameter", "wraps a tensor as a parameter"),
		value("torch.nn.parameter", "UninitializedParameter", "lazy-module parameter placeholder"),
		value("torch.nn.parameter", "Buffer", "buffer marker class of torch ≥ 2.5"),
		value("torch.storage", "TypedStorage", "storage class named by a persistent id"),
		value("torch.storage", "UntypedStorage", "storage class named by a persistent id"),
		value("torch.storage", "_TypedStorage", "storage class named by a persistent id (torch 1.12)"),
		value("torch.storage", "_UntypedStorage", "storage class named by a persistent id (torch 1.12)"),
		value("torch", "TypedStorage", "storage class named by a persistent id"),
		value("torch", "UntypedStorage", "storage class named by a persistent id"),
		value("torch", "_UntypedStorage", "storage class named by a persistent id (torch 1.12)"),
		wholeModule("torch.nn.modules", "standard layers in whole-model pickles, rebuilt by NEWOBJ + Module.__setstate__"),
		// TorchScript pickles (read by torch.jit.load's C++ unpickler, or by
		// Python when torch.load meets them) use these identity helpers.
		// They are exact exceptions to the dangerous torch.jit.* prefix.
		call("torch.jit._pickle", "build_intlist", "returns its list argument unchanged"),
		call("torch.jit._pickle", "build_tensorlist", "returns its list argument unchanged"),
		call("torch.jit._pickle", "build_doublelist", "returns its list argument unchanged"),
		call("torch.jit._pickle", "build_boollist", "returns its list argument unchanged"),
		call("torch.jit._pickle", "build_tensor_from_id", "returns its int argument unchanged"),
		call("torch.jit._pickle", "restore_type_tag", "returns its value argument unchanged (the type string is ignored in Python)"),
		call("torch.nn.backends.thnn", "_get_thnn_function_backend",
			"torch < 1.0 pickled each module's _backend as a call of this getter; it returns the THNN backend singleton"),
		wholeModule("torch.nn.functional", "activation functions stored as layer attributes"),
		wholeModule("torch._C._nn", "native activation functions stored as layer attributes"),
		wholeModule("torch.optim", "optimizers and schedulers in whole-object checkpoints, rebuilt by NEWOBJ + BUILD"),
	},
	values("torch", torchStorageNames, "legacy typed storage class named by a persistent id"),
	values("torch.cuda", torchCUDAStorageNames, "legacy CUDA storage class named by a persistent id"),
	values("torch", torchTensorTypes, "legacy tensor type"),
	values("torch.cuda", torchTensorTypes, "legacy CUDA tensor type"),
	values("torch.sparse", torchTensorTypes[:9], "legacy sparse tensor type"),
	values("torch.cuda.sparse", torchTensorTypes[:9], "legacy sparse CUDA tensor type"),
	values("torch", torchDtypes, "dtype value"),
	values("torch", []string{"strided", "sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc", "_mkldnn", "jagged"}, "layout value"),
	values("torch", []string{"contiguous_format", "channels_last", "channels_last_3d", "preserve_format", "legacy_contiguous_format"}, "memory format value"),
	// memory_format.__reduce__ returns "torch.<name>", which pickle resolves
	// inside torch._utils with protocol 4 and later.
	values("torch._utils", []string{"torch.contiguous_format", "torch.channels_last", "torch.channels_last_3d", "torch.preserve_format"}, "memory format value"),
	values("torch", []string{"per_tensor_affine", "per_channel_affine", "per_tensor_symmetric", "per_channel_symmetric", "per_channel_affine_float_qparams"}, "quantization scheme value"),
)

// torchCUDAStorageNames are the storage classes torch.cuda defines (no
// quantized ones).
var torchCUDAStorageNames = []string{
	"DoubleStorage", "FloatStorage", "HalfStorage", "LongStorage", "IntStorage", "ShortStorage", "CharStorage",
	"ByteStorage", "BoolStorage", "BFloat16Storage", "ComplexDoubleStorage", "ComplexFloatStorage",
}

// torchTensorTypes are the legacy tensor types; the first nine also exist
// under torch.sparse and torch.cuda.sparse.
var torchTensorTypes = []string{
	"DoubleTensor", "FloatTensor", "HalfTensor", "LongTensor", "IntTensor", "ShortTensor", "CharTensor", "ByteTensor", "BFloat16Tensor", "BoolTensor",
}

var torchDtypes = []string{
	"float32", "float", "float64", "double", "float16", "half", "bfloat16",
	"uint8", "int8", "int16", "short", "int32", "int", "int64", "long", "bool",
	"complex32", "chalf", "complex64", "cfloat", "complex128", "cdouble",
	"qint8", "quint8", "qint32", "quint4x2", "quint2x4",
	"uint16", "uint32", "uint64", "int1", "int2", "int3", "int4", "int5", "int6", "int7",
	"uint1", "uint2", "uint3", "uint4", "uint5", "uint6", "uint7",
	"float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2",
	"bits1x8", "bits2x4", "bits4x2", "bits8", "bits16",
}

// pandas: frames, series, indexes and extension arrays are instantiated and
// given state; the Cython types are rebuilt through these helpers.
var safePandas = slices.Concat(
	[]SafeGlobal{
		wholeModule("pandas.core", "DataFrame, Series, Index, blocks and extension arrays, rebuilt by NEWOBJ + NDFrame.__setstate__"),
		call("pandas.core.internals.managers", "BlockManager", "block manager built from its blocks and axes"),
		call("pandas.core.internals.managers", "SingleBlockManager", "single-block manager built from a block and an index"),
		call("pandas.core.internals.blocks", "new_block", "builds a block over an array"),
		call("pandas.core.indexes.frozen", "FrozenList", "immutable list"),
		call("pandas.core.dtypes.dtypes", "PeriodDtype", "period dtype from a frequency"),
		call("pandas._libs.internals", "_unpickle_block", "builds a block from values, placement and ndim"),
		call("pandas._libs.interval", "Interval", "interval value"),
		call("pandas._libs.sparse", "IntIndex", "sparse index value"),
		call("pandas._libs.sparse", "BlockIndex", "sparse index value"),
		call("pandas._libs.tslibs.nattype", "__nat_unpickle", "returns the NaT singleton"),
		value("pandas._libs.tslibs.nattype", "NaT", "not-a-time singleton"),
		value("pandas._libs.missing", "NA", "missing-value singleton"),
		call("pandas._libs.tslibs.period", "Period", "period value"),
		call("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle", "timedelta value"),
		call("pandas._libs.tslibs.timestamps", "_unpickle_timestamp", "timestamp value from nanoseconds, frequency and time zone"),
		call("pandas._libs.tslibs.timestamps", "Timestamp", "timestamp value"),
		call("pandas._libs.tslibs.timedeltas", "Timedelta", "timedelta value"),
	},
	instantiating("pandas.core.indexes.base", []string{"_new_Index"}, "Index rebuild: cls.__new__(cls, **d) for the index class at position 0"),
	instantiating("pandas.core.indexes.datetimes", []string{"_new_DatetimeIndex"}, "DatetimeIndex rebuild for the class at position 0"),
	instantiating("pandas.core.indexes.period", []string{"_new_PeriodIndex"}, "PeriodIndex rebuild for the class at position 0"),
	instantiating("pandas.core.indexes.interval", []string{"_new_IntervalIndex"}, "IntervalIndex rebuild: cls.from_arrays for the class at position 0"),
	instantiating("pandas._libs.arrays", []string{"__pyx_unpickle_NDArrayBacked"}, "Cython unpickle helper for Categorical, DatetimeArray and other NDArrayBacked arrays"),
	instantiating("pandas._libs.interval", []string{"__pyx_unpickle_IntervalMixin"}, "Cython unpickle helper for interval arrays"),
	calls("pandas._libs.tslibs.offsets", []string{
		"DateOffset", "Day", "Hour", "Minute", "Second", "Milli", "Micro", "Nano", "BusinessDay", "BDay", "BusinessHour",
		"CustomBusinessDay", "CDay", "CustomBusinessHour", "MonthEnd", "MonthBegin", "BusinessMonthEnd", "BMonthEnd",
		"BusinessMonthBegin", "BMonthBegin", "CustomBusinessMonthEnd", "CBMonthEnd", "CustomBusinessMonthBegin", "CBMonthBegin",
		"SemiMonthEnd", "SemiMonthBegin", "Week", "WeekOfMonth", "LastWeekOfMonth", "QuarterEnd", "QuarterBegin",
		"BQuarterEnd", "BQuarterBegin", "YearEnd", "YearBegin", "BYearEnd", "BYearBegin", "FY5253", "FY5253Quarter", "Easter"},
		"date offset value built from its count and parameters"),
	// Time zones held by timestamps.
	calls("pytz", []string{"_UTC", "_p"}, "pytz time zone rebuild: UTC, or a zone looked up by name in pytz's own database"),
	calls("dateutil.tz.tz", []string{"tzutc", "tzoffset", "tzlocal"}, "fixed or local time zone value"),
	values("dateutil.tz.tz", []string{"_ttinfo"}, "transition record of a dateutil time zone"),
	calls("dateutil.relativedelta", []string{"relativedelta"}, "relative date offset value"),
)

// SciPy sparse matrices are instantiated and given their arrays by BUILD.
var safeScipy = []SafeGlobal{
	wholeModule("scipy.sparse", "sparse matrix and array classes, rebuilt by NEWOBJ + BUILD (load_npz/save_npz are dangerous)"),
}

// scikit-learn estimators are instantiated and given state; its Cython types
// are rebuilt by calling the class or a generated helper.
var safeSklearn = slices.Concat(
	[]SafeGlobal{
		wholeModule("sklearn", "estimators and transformers, rebuilt by NEWOBJ + BaseEstimator.__setstate__ (sklearn.datasets is dangerous)"),
		call("sklearn.tree._tree", "Tree", "Tree(n_features, n_classes, n_outputs): allocates the node arrays that BUILD fills"),
	},
	calls("sklearn.tree._criterion", []string{"Gini", "Entropy", "MSE", "FriedmanMSE", "MAE", "Poisson"},
		"split criterion built from its output and class counts"),
	calls("sklearn.tree._splitter", []string{"BestSplitter", "RandomSplitter", "BestSparseSplitter", "RandomSparseSplitter"},
		"tree splitter built from a criterion and numeric settings"),
	calls("sklearn.linear_model._sgd_fast", []string{"Hinge", "SquaredHinge", "Log", "SquaredLoss", "ModifiedHuber", "Huber", "EpsilonInsensitive", "SquaredEpsilonInsensitive"},
		"SGD loss object built from its numeric parameter"),
	calls("sklearn.linear_model._sag_fast", []string{"MultinomialLogLoss32", "MultinomialLogLoss64"}, "SAG loss object"),
	instantiating("sklearn.metrics._dist_metrics", []string{"newObj"}, "obj.__new__(obj) for the distance metric class at position 0"),
	instantiating("sklearn.neighbors._ball_tree", []string{"newObj"}, "obj.__new__(obj) for the BallTree class at position 0"),
	instantiating("sklearn.neighbors._kd_tree", []string{"newObj"}, "obj.__new__(obj) for the KDTree class at position 0"),
	instantiating("sklearn._loss._loss", []string{
		"__pyx_unpickle_CyLossFunction", "__pyx_unpickle_CyHalfSquaredError", "__pyx_unpickle_CyAbsoluteError", "__pyx_unpickle_CyPinballLoss",
		"__pyx_unpickle_CyHalfPoissonLoss", "__pyx_unpickle_CyHalfGammaLoss", "__pyx_unpickle_CyHalfTweedieLoss",
		"__pyx_unpickle_CyHalfTweedieLossIdentity", "__pyx_unpickle_CyHalfBinomialLoss", "__pyx_unpickle_CyHalfMultinomialLoss"},
		"Cython unpickle helper for a loss object"),
	instantiating("sklearn.linear_model._sgd_fast", []string{"__pyx_unpickle_LossFunction", "__pyx_unpickle_Classification", "__pyx_unpickle_Regression"},
		"Cython unpickle helper for an SGD loss object"),
	instantiating("sklearn.tree._tree", []string{"__pyx_unpickle_TreeBuilder", "__pyx_unpickle__CCPPruneController"},
		"Cython unpickle helper for tree building state"),
	instantiating("sklearn.utils._fast_dict", []string{"__pyx_unpickle_IntFloatDict"}, "Cython unpickle helper for an int→float map"),
	instantiating("sklearn.cluster._hierarchical_fast", []string{"__pyx_unpickle_UnionFind", "__pyx_unpickle_WeightedEdge"},
		"Cython unpickle helper for hierarchical clustering state"),
	instantiating("sklearn.ensemble._hist_gradient_boosting.histogram", []string{"__pyx_unpickle_HistogramBuilder"},
		"Cython unpickle helper for histogram gradient boosting state"),
	instantiating("sklearn.ensemble._hist_gradient_boosting.splitting", []string{"__pyx_unpickle_Splitter"},
		"Cython unpickle helper for histogram gradient boosting state"),
)

// Other loaders' own placeholders.
var safeOther = []SafeGlobal{
	value("joblib.numpy_pickle", "NumpyArrayWrapper", "joblib's marker for an array stored inline after this object; joblib's BUILD reads it"),
}
