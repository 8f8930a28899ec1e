package knowledge

import "github.com/modelgate/modelgate/internal/finding"

// Rule IDs. They are part of the JSON contract: never rename one.
const (
	RuleDangerousCall   = "PICKLE-DANGEROUS-CALL"
	RuleDangerousGlobal = "PICKLE-DANGEROUS-GLOBAL"
	RuleUnknownCall     = "PICKLE-UNKNOWN-CALL"
	RuleComputedCall    = "PICKLE-COMPUTED-CALL"
	RuleGlobalMutation  = "PICKLE-GLOBAL-MUTATION"
	RuleUnknownGlobal   = "PICKLE-UNKNOWN-GLOBAL"
	RuleNonStringGlobal = "PICKLE-NONSTRING-GLOBAL"
	RuleMemoMiss        = "PICKLE-MEMO-MISS"
	RuleFrameDivergence = "PICKLE-FRAME-DIVERGENCE"
	RuleTrailingData    = "PICKLE-TRAILING-DATA"
	RuleLoaderError     = "PICKLE-LOADER-ERROR"
	RuleMalformed       = "PICKLE-MALFORMED"
	RuleLimit           = "PICKLE-LIMIT"
	RuleDuplicateProto  = "PICKLE-DUPLICATE-PROTO"
	RuleOldProtocol     = "PICKLE-OLD-PROTOCOL"
	RulePersistentID    = "PICKLE-PERSISTENT-ID"
	RuleMultiplePickles = "PICKLE-MULTIPLE"
	RuleSummary         = "PICKLE-SUMMARY"
	RuleCompressed      = "FORMAT-COMPRESSED"
	RuleScanLimit       = "SCAN-LIMIT"

	RuleFormatSummary = "FORMAT-SUMMARY"

	RuleZipDuplicateName  = "ZIP-DUPLICATE-NAME"
	RuleZipNameMismatch   = "ZIP-NAME-MISMATCH"
	RuleZipHeaderMismatch = "ZIP-HEADER-MISMATCH"
	RuleZipFlags          = "ZIP-FLAGS"
	RuleZipOverlap        = "ZIP-OVERLAP"
	RuleZipPrefixData     = "ZIP-PREFIX-DATA"
	RuleZipNoCentralDir   = "ZIP-NO-CENTRAL-DIRECTORY"
	RuleZipBadLocal       = "ZIP-BAD-LOCAL-HEADER"
	RuleZipMethod         = "ZIP-METHOD"
	RuleZipCRC            = "ZIP-CRC-MISMATCH"

	RuleTorchOutside        = "TORCH-MEMBER-OUTSIDE"
	RuleTorchPickleStorage  = "TORCH-PICKLE-IN-STORAGE"
	RuleTorchScriptCode     = "TORCH-TORCHSCRIPT-CODE"
	RuleTorchScriptSetstate = "TORCH-TORCHSCRIPT-SETSTATE"
	RuleTorchWeightsOnly    = "TORCH-WEIGHTS-ONLY"

	RuleNpyHeader   = "NPY-HEADER"
	RuleNpyTrailing = "NPY-TRAILING-DATA"

	RuleSafetensorsHeader   = "SAFETENSORS-HEADER"
	RuleSafetensorsLayout   = "SAFETENSORS-LAYOUT"
	RuleSafetensorsMetadata = "SAFETENSORS-METADATA"
	RuleSafetensorsPolyglot = "SAFETENSORS-POLYGLOT"

	RuleGGUFHeader             = "GGUF-HEADER"
	RuleGGUFTemplateInjection  = "GGUF-TEMPLATE-INJECTION"
	RuleGGUFTemplateUnparsable = "GGUF-TEMPLATE-UNPARSABLE"

	RuleONNXExternalData = "ONNX-EXTERNAL-DATA-PATH"
	RuleONNXCustomDomain = "ONNX-CUSTOM-DOMAIN"

	RuleTFLiteCustomOp = "TFLITE-CUSTOM-OP"

	RuleSentencePieceMalformed    = "SENTENCEPIECE-MALFORMED"
	RuleSentencePieceUnknownField = "SENTENCEPIECE-UNKNOWN-FIELD"
	RuleSentencePieceEmbedded     = "SENTENCEPIECE-EMBEDDED"

	RuleFlaxMalformed = "FLAX-MSGPACK-MALFORMED"
	RuleFlaxExtType   = "FLAX-MSGPACK-EXT-TYPE"
	RuleFlaxDtype     = "FLAX-MSGPACK-DTYPE"

	RuleArrowPyExtension = "ARROW-PY-EXTENSION-TYPE"
	RuleArrowMalformed   = "ARROW-MALFORMED"
	RuleParquetMalformed = "PARQUET-MALFORMED"

	RuleKerasLambda       = "KERAS-LAMBDA"
	RuleKerasCustomObject = "KERAS-CUSTOM-OBJECT"

	RuleTFDangerousOp = "TF-DANGEROUS-OP"
	RuleTFUnknownOp   = "TF-UNKNOWN-OP"

	RuleHFRemoteCode = "HF-REMOTE-CODE"

	RuleJoblibSidecar = "JOBLIB-SIDECAR-PATH"

	RuleTensorDataRange = "TENSOR-DATA-RANGE"

	RuleCoreMLCustomLayer  = "COREML-CUSTOM-LAYER"
	RuleCoreMLLinkedModel  = "COREML-LINKED-MODEL"
	RuleCoreMLWeightPath   = "COREML-WEIGHT-PATH"
	RuleCoreMLMalformed    = "COREML-MALFORMED"
	RuleCoreMLUnknownField = "COREML-UNKNOWN-FIELD"
	RuleCoreMLEmbedded     = "COREML-EMBEDDED"

	RuleNativeCode = "NATIVE-CODE"

	RulePolicySuppressionExpired = "POLICY-SUPPRESSION-EXPIRED"
)

// Rules lists every finding kind the pickle engine and the scan engine emit,
// with the severity they usually carry. `modelgate rules` prints it.
var Rules = []finding.Rule{
	rule(RuleDangerousCall, finding.Critical, "Load-time call of a known-dangerous callable",
		"The pickle calls a global that the catalogue lists as dangerous (it runs code, starts processes, touches files or the network, or resolves arbitrary callables). Loading the file does this.",
		"https://docs.python.org/3/library/pickle.html#restricting-globals"),
	rule(RuleDangerousGlobal, finding.Critical, "Reference to a known-dangerous global",
		"The pickle imports a known-dangerous global without calling it directly. It can still be called indirectly (passed to a helper, registered as an extension, stored for later), so the reference alone is reported at the catalogue severity.",
		"https://github.com/trailofbits/fickling/security/advisories/GHSA-mxhj-88fx-4pcv"),
	rule(RuleUnknownCall, finding.High, "Load-time call of a callable that is not known safe",
		"The pickle calls a global that is not on the allowlist of callables known to be safe at load time. Denylists are always incomplete; an unknown call is treated as code execution until someone vouches for it.",
		"https://arxiv.org/abs/2508.19774"),
	rule(RuleComputedCall, finding.High, "Load-time call of a computed value",
		"The pickle calls something that is not a plain global: the result of another call, a value from the memo that could not be resolved, or an operand the scanner could not follow. Real models never need this.",
		"https://github.com/mmaitre314/picklescan/issues/14"),
	rule(RuleGlobalMutation, finding.High, "A global object is changed at load time",
		"BUILD, APPEND, SETITEM or ADDITEMS is applied to an imported module, class or function itself (monkey-patching, sys.path or os.environ edits).",
		"https://docs.python.org/3/library/pickle.html#pickling-class-instances"),
	rule(RuleUnknownGlobal, finding.Medium, "Import of a global that is not known safe",
		"The pickle imports or instantiates a class that is not on the allowlist (for example a whole-module pickle of __main__.Net). Importing runs the module's import-time code; the class's __setstate__ runs on BUILD.",
		"https://pytorch.org/docs/stable/generated/torch.load.html"),
	rule(RuleNonStringGlobal, finding.Medium, "STACK_GLOBAL with operands that are not strings",
		"CPython refuses these, but scanners built on pickletools.genops crash or give up on them, hiding what follows.",
		"https://github.com/mmaitre314/picklescan/issues/14"),
	rule(RuleMemoMiss, finding.Medium, "Memo lookup of an index that was never stored",
		"The real unpickler raises here; everything before this point has already run. Scanners with a simplified memo model disagree with the loader on such streams.",
		"https://github.com/protectai/modelscan/issues/85"),
	rule(RuleFrameDivergence, finding.High, "FRAME length disagrees with the opcodes",
		"An opcode crosses the end of its frame, a frame starts inside another, or a frame is longer than the data. CPython's C and pure-Python unpicklers and every scanner then decode different opcode streams: CPython 3.11's C unpickler reading from a file drops the rest of a frame when an argument crosses its end and decodes bytes hidden inside that argument as opcodes (which is how such a file runs a call no static view shows). Reported high because code can hide in the difference.",
		"https://github.com/trailofbits/fickling"),
	rule(RuleTrailingData, finding.Medium, "Bytes after the last STOP",
		"Data after the final STOP is not part of any pickle; a loader that calls load() again, or another program, may read it.",
		"https://github.com/mmaitre314/picklescan/issues/33"),
	rule(RuleLoaderError, finding.Medium, "The real loader raises at this point",
		"pickle.load would stop with an error here (stack underflow, unsupported protocol, unregistered extension, bad operand). Everything before it has already run when the error is raised.",
		"https://github.com/mmaitre314/picklescan/issues/33"),
	rule(RuleMalformed, finding.Medium, "The stream cannot be decoded further",
		"An unknown opcode or a truncated argument ends the decoding before the end of the data. Findings before this point are kept; the rest of the data was not analysed.",
		"https://docs.python.org/3/library/pickletools.html"),
	rule(RuleLimit, finding.Medium, "A resource limit of the analyser was reached",
		"Huge lengths, deep nesting, memo floods or an excessive opcode count: the analysis stopped at the limit, as it should for a hostile file.",
		"https://docs.python.org/3/library/pickle.html"),
	rule(RuleDuplicateProto, finding.Low, "More than one PROTO opcode in a pickle",
		"Accepted by the loader, but unusual: pickle writers emit PROTO once.",
		"https://github.com/python/cpython/blob/main/Lib/pickletools.py"),
	rule(RuleOldProtocol, finding.Low, "Pickle protocol 0 or 1",
		"Text-era protocols are rare in modern model files and are where fix_imports name mapping applies.",
		"https://docs.python.org/3/library/pickle.html#data-stream-format"),
	rule(RulePersistentID, finding.Info, "Persistent IDs",
		"The pickle asks the loader's persistent_load for external objects (PyTorch storages use this).",
		"https://docs.python.org/3/library/pickle.html#persistence-of-external-objects"),
	rule(RuleMultiplePickles, finding.Info, "Several pickles in one stream",
		"A loader calling pickle.load repeatedly reads them all; every one was analysed.",
		"https://github.com/protectai/modelscan"),
	rule(RuleSummary, finding.Info, "What the pickle contains",
		"Protocol, opcode count and every global the pickle imports.",
		""),
	rule(RuleCompressed, finding.Info, "Compressed stream",
		"The file is a compressed stream; its content was decompressed (within budget) and analysed.",
		""),
	rule(RuleScanLimit, finding.Medium, "A scan budget was reached",
		"Nesting depth, decompressed size or compression ratio exceeded the budget (an archive bomb or a very deep nesting). The part beyond the budget was not analysed.",
		"https://en.wikipedia.org/wiki/Zip_bomb"),
	rule(RuleFormatSummary, finding.Info, "What the container is",
		"Format, version and member counts, so that a clean file still shows it was understood.",
		""),
	rule(RuleZipDuplicateName, finding.Medium, "Duplicate zip member names",
		"Two members share a name. A loader and a validator may pick different ones, so a scanner can be shown the harmless copy while the loader reads the other. Every copy is analysed.",
		"https://nvd.nist.gov/vuln/detail/CVE-2025-10156"),
	rule(RuleZipNameMismatch, finding.Medium, "Local and central zip headers name a member differently",
		"Streaming readers use the local header, directory-based readers the central directory: they see different file names.",
		"https://nvd.nist.gov/vuln/detail/CVE-2025-10156"),
	rule(RuleZipHeaderMismatch, finding.Medium, "Local and central zip headers disagree",
		"Sizes, CRC or compression method differ between the two headers of a member, or the member count differs from the end record.",
		"https://nvd.nist.gov/vuln/detail/CVE-2025-1944"),
	rule(RuleZipFlags, finding.Medium, "Zip member with encryption or patch flag bits",
		"Python's zipfile refuses such members while PyTorch's reader loads them: a zipfile-based scanner skips what torch.load runs.",
		"https://nvd.nist.gov/vuln/detail/CVE-2025-1945"),
	rule(RuleZipOverlap, finding.Medium, "Overlapping zip members",
		"Members share or overlap their data (a zip-bomb and polyglot technique).",
		"https://www.bamsoftware.com/hacks/zipbomb/"),
	rule(RuleZipPrefixData, finding.Medium, "Data before the zip archive",
		"The archive's offsets are shifted: something was prepended (a polyglot file that is also another format).",
		"https://docs.python.org/3/library/zipfile.html"),
	rule(RuleZipNoCentralDir, finding.Medium, "Zip without a central directory",
		"Members were found by walking local headers (a truncated or streamed archive).",
		"https://pkwaredownloads.blob.core.windows.net/pem/APPNOTE.txt"),
	rule(RuleZipBadLocal, finding.Medium, "Zip member without a local header",
		"The central directory points at no local header; the member cannot be read.",
		"https://pkwaredownloads.blob.core.windows.net/pem/APPNOTE.txt"),
	rule(RuleZipMethod, finding.Low, "Unusual zip compression method",
		"Model archives store or deflate their members; other methods are unusual.",
		""),
	rule(RuleZipCRC, finding.Medium, "Zip member CRC mismatch",
		"A pickle member's CRC-32 does not match: PyTorch's reader loads it anyway while validators refuse the file.",
		"https://nvd.nist.gov/vuln/detail/CVE-2025-10156"),
	rule(RuleTorchOutside, finding.Medium, "Member outside the PyTorch archive folder",
		"torch.load reads only the folder of the first member; anything else is ignored by torch and may be read by other tools. Such members are analysed too.",
		"https://github.com/pytorch/pytorch/blob/main/caffe2/serialize/inline_container.cc"),
	rule(RuleTorchPickleStorage, finding.Medium, "A PyTorch storage member holds a pickle",
		"Tensor storages are raw bytes; a pickle in one is hidden from tools that trust member roles. It was analysed.",
		""),
	rule(RuleTorchScriptCode, finding.Info, "TorchScript code",
		"TorchScript archives carry code (code/**/*.py) that torch.jit.load compiles and runs as TorchScript; its pickles were analysed.",
		"https://pytorch.org/docs/stable/jit.html"),
	rule(RuleTorchScriptSetstate, finding.High, "TorchScript __setstate__ runs at load",
		"A TorchScript class in code/ defines __setstate__; torch.jit.load (and torch.load of a TorchScript file) runs it while unpickling, with every TorchScript op available (torch.from_file creates files, for one).",
		"https://pytorch.org/docs/stable/jit.html"),
	rule(RuleTorchWeightsOnly, finding.Info, "Verdict of torch.load(weights_only=True)",
		"Whether torch.load(weights_only=True) would load the checkpoint, by torch 1.13's allowlist of globals and opcodes, and if not the first global or opcode it refuses. A refusal is not a threat by itself (1.13 refuses every float, for one), and an acceptance is only as good as that allowlist: TorchScript archives bypass it entirely before torch 2.6.",
		"https://github.com/pytorch/pytorch/blob/v1.13.1/torch/_weights_only_unpickler.py"),
	rule(RuleNpyHeader, finding.Medium, "Unusual NumPy header",
		"The .npy header is larger than NumPy accepts by default, or malformed.",
		"https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html"),
	rule(RuleNpyTrailing, finding.Medium, "Data after the NumPy array",
		"Bytes follow the array data that np.load never reads.",
		"https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html"),
	rule(RuleSafetensorsHeader, finding.Medium, "Malformed safetensors header",
		"The header length or JSON is out of bounds or invalid (the header is capped at 100 MB, parsed strictly).",
		"https://github.com/huggingface/safetensors"),
	rule(RuleSafetensorsLayout, finding.Medium, "safetensors tensor layout is inconsistent",
		"Tensor offsets fall outside the data, overlap, or disagree with dtype \u00d7 shape: loaders and validators may read different bytes.",
		"https://github.com/huggingface/safetensors"),
	rule(RuleSafetensorsMetadata, finding.Low, "safetensors __metadata__ is not string to string",
		"The format requires string values in __metadata__.",
		"https://github.com/huggingface/safetensors"),
	rule(RuleSafetensorsPolyglot, finding.High, "A safetensors file that is also a pickle",
		"The header-length bytes or the whole file also decode as a pickle: loaded with pickle/torch.load it runs code while safetensors tools see weights.",
		"https://github.com/promptfoo/modelaudit/pull/1612"),
	rule(RuleGGUFHeader, finding.Medium, "Malformed GGUF header",
		"Counts, lengths or value types in the GGUF header are out of bounds or invalid.",
		"https://github.com/ggerganov/ggml/blob/master/docs/gguf.md"),
	rule(RuleGGUFTemplateInjection, finding.Critical, "Server-side template injection in a GGUF chat template",
		"The Jinja chat template reaches Python internals (__class__, __globals__, __builtins__, __subclasses__, cycler/joiner/namespace internals): rendering it runs code in servers that use jinja2 without a sandbox (CVE-2024-34359).",
		"https://nvd.nist.gov/vuln/detail/CVE-2024-34359"),
	rule(RuleGGUFTemplateUnparsable, finding.Medium, "GGUF chat template that cannot be parsed",
		"The template could not be parsed, so it could not be checked.",
		"https://nvd.nist.gov/vuln/detail/CVE-2024-34359"),
	rule(RuleONNXExternalData, finding.High, "ONNX external data outside the model directory",
		"An external_data location is absolute or climbs out with '..': loading reads (or, when saving, writes) files anywhere.",
		"https://github.com/onnx/onnx/security/advisories/GHSA-ffxj-547x-5j7c"),
	rule(RuleONNXCustomDomain, finding.Medium, "ONNX operators from custom domains",
		"Operators outside the standard domains need a custom-op library loaded into the runtime (native code).",
		"https://onnxruntime.ai/docs/reference/operators/add-custom-op.html"),
	rule(RuleTFLiteCustomOp, finding.Medium, "TFLite custom operators",
		"Custom operators need native code registered in the interpreter.",
		"https://www.tensorflow.org/lite/guide/ops_custom"),
	rule(RuleSentencePieceMalformed, finding.Medium, "SentencePiece model that does not follow sentencepiece_model.proto",
		"The ModelProto does not parse to its end (truncated, trailing bytes, bad wire data), a known field has the wrong wire type, a string is not UTF-8, or a check of the real loader fails (empty piece, no or several <unk>, precompiled_charsmap layout): a file the sentencepiece library refuses or reads differently is not the tokenizer it claims to be.",
		"https://github.com/google/sentencepiece/blob/master/src/sentencepiece_model.proto"),
	rule(RuleSentencePieceUnknownField, finding.Low, "SentencePiece model with fields outside the schema",
		"Fields the schema does not define (extensions 200 and up included) or oversized strings: the loader keeps them but never uses them, so they are room for a payload; medium from 1 KiB. Their content is analysed as a nested input.",
		"https://github.com/google/sentencepiece/blob/master/src/sentencepiece_model.proto"),
	rule(RuleSentencePieceEmbedded, finding.Medium, "A pickle or zip inside a SentencePiece model",
		"A field, or the bytes after the model, starts like a pickle or a zip archive: sentencepiece ignores it, but it is a payload staged for other code; it is analysed as a nested input, whose own findings say what it would do.",
		"https://github.com/google/sentencepiece/blob/master/src/sentencepiece_model.proto"),
	rule(RuleFlaxMalformed, finding.Medium, "Flax msgpack checkpoint that flax.serialization cannot restore as written",
		"The msgpack stream is truncated, has bytes after the top-level map, invalid bytes or UTF-8, non-string map keys, or an ndarray payload whose (shape, dtype, bytes) disagree: msgpack_restore refuses it or returns something other than the tensors it claims.",
		"https://github.com/google/flax/blob/main/flax/serialization.py"),
	rule(RuleFlaxExtType, finding.High, "Flax msgpack with an ext type flax does not define",
		"flax.serialization decodes ext codes 1 (ndarray), 2 (complex) and 3 (numpy scalar) and returns any other code as an inert msgpack.ExtType; a loader with its own ext_hook (msgpack-numpy style) may instead rebuild objects from it, which can run code. The payload is analysed as a nested input.",
		"https://github.com/google/flax/blob/main/flax/serialization.py"),
	rule(RuleFlaxDtype, finding.Medium, "Flax ndarray with a dtype that is not plain numeric",
		"flax writes only numeric dtypes (it refuses object and structured arrays); an object dtype is high (np.frombuffer refuses it, but object arrays are how pickles hide in array formats), other non-numeric dtypes are medium.",
		"https://github.com/google/flax/blob/main/flax/serialization.py"),
	rule(RuleArrowPyExtension, finding.High, "Arrow field of the extension type arrow.py_extension_type",
		"A field of an Arrow schema (an Arrow IPC file or stream, a Feather v2 file, a datasets .arrow cache file, or the ARROW:schema a Parquet file stores) has ARROW:extension:name = arrow.py_extension_type, pyarrow.PyExtensionType: pyarrow 0.14.0 to 14.0.0 rebuilds that type with pickle.loads of the field's ARROW:extension:metadata as soon as the file is opened (CVE-2023-47248); 14.0.1 and later, or pyarrow-hotfix, refuse it unless auto-loading is turned back on. The pickle is analysed as a nested input, whose own findings say what it would run. Old releases of the datasets library wrote their ArrayND features this way; no current writer does.",
		"https://nvd.nist.gov/vuln/detail/CVE-2023-47248"),
	rule(RuleArrowMalformed, finding.Medium, "Arrow IPC metadata that pyarrow cannot read as written",
		"An Arrow IPC file, stream or schema message is truncated, has a reference or length out of bounds, an unknown type id or metadata version, duplicate extension keys, a second schema, or bytes after the end-of-stream marker: Arrow readers refuse it or may read it differently. The walk of the flatbuffers keeps what it found before the fault.",
		"https://github.com/apache/arrow/blob/main/format/Schema.fbs"),
	rule(RuleParquetMalformed, finding.Medium, "Parquet footer that Parquet readers cannot read as written",
		"The Parquet magic, footer length or Thrift FileMetaData is truncated, out of bounds or invalid, a required field is missing, the ARROW:schema is not base64 or appears more than once: readers refuse the file or may read it differently. Only the footer is read, never column data.",
		"https://github.com/apache/parquet-format/blob/master/src/main/thrift/parquet.thrift"),
	rule(RuleKerasLambda, finding.High, "Keras Lambda layer",
		"A Lambda layer carries marshalled Python bytecode that runs when the model is loaded or called (safe_mode=False).",
		"https://nvd.nist.gov/vuln/detail/CVE-2024-3660"),
	rule(RuleKerasCustomObject, finding.Medium, "Keras custom object outside the Keras namespaces",
		"The config names a class or function from a module outside Keras: loading imports that module.",
		"https://keras.io/guides/serialization_and_saving/"),
	rule(RuleTFDangerousOp, finding.High, "TensorFlow op that touches files, runs Python or loads libraries",
		"ReadFile, WriteFile, PyFunc, EagerPyFunc, LoadLibrary-style ops in a graph run with the model.",
		"https://github.com/tensorflow/tensorflow/blob/master/SECURITY.md"),
	rule(RuleTFUnknownOp, finding.Medium, "Unknown or custom TensorFlow op",
		"An op outside TensorFlow's standard set needs a custom library.",
		"https://www.tensorflow.org/guide/create_op"),
	rule(RuleHFRemoteCode, finding.High, "Loading requires trust_remote_code=True",
		"config.json / tokenizer_config.json / preprocessor_config.json auto_map entries point to Python files in the repository that transformers imports and runs.",
		"https://huggingface.co/docs/transformers/custom_models"),
	rule(RuleJoblibSidecar, finding.High, "joblib sidecar file outside the model directory",
		"joblib 0.8–0.9 array wrappers name a file that joblib.load opens with np.load(allow_pickle=True); an absolute name or '..' makes it load any file on the machine, including a pickle.",
		"https://github.com/joblib/joblib/blob/main/joblib/numpy_pickle_compat.py"),
	rule(RuleTensorDataRange, finding.Medium, "Raw tensor data and the model that references it disagree",
		"A raw tensor-data file (ONNX external data, OpenVINO IR weights, TF.js weight shards) is referenced by its sibling model, but a range it names does not fit the file: an ONNX external_data offset/length or an OpenVINO Const layer's offset/size runs past the end of the file or is not a byte count, or a TF.js weight group needs more bytes than its shards hold (low when the shards hold more than the weights take). The loader fails or reads a short tensor; the bytes are still never interpreted as code. OpenVINO IR: https://docs.openvino.ai/2024/documentation/openvino-ir-format/operation-sets/operation-specs/infrastructure/constant-1.html; TF.js model.json: https://www.tensorflow.org/js/guide/save_load.",
		"https://onnx.ai/onnx/repo-docs/ExternalData.html"),
	rule(RuleNativeCode, finding.High, "Native executable or shared library",
		"An ELF, PE or Mach-O file: machine code, never a model. It runs when a program loads it (tf.load_op_library and torch.ops.load_library for custom ops, ctypes, a Python extension module on sys.path) or executes it, and its code cannot be analysed. Custom-op libraries in model repositories are exactly this; lower the severity in the policy only for binaries you trust.",
		"https://www.tensorflow.org/guide/create_op#use_the_op_in_python"),
	rule(RuleCoreMLCustomLayer, finding.Medium, "Core ML model that names native code the app must supply",
		"A neural network's custom layer (CustomLayerParams.className) or a custom model (CustomModel.className) names an Objective-C/Swift class conforming to MLCustomLayer or MLCustomModel: Core ML instantiates it at load and runs it on every prediction. The file cannot carry that code, but it says which code it expects to run; the class names are quoted.",
		"https://developer.apple.com/documentation/coreml/mlcustomlayer"),
	rule(RuleCoreMLLinkedModel, finding.Medium, "Core ML linked model",
		"A LinkedModel names another compiled model (linkedModelFileName) that Core ML loads from a search path (linkedModelSearchPath, relative, absolute, $BUNDLE_MAIN or $BUNDLE_IDENTIFIER(id)). The linked file is not part of this one and was not analysed: info when it stays beside the model or in the app bundle, medium when the name or a search path is absolute or climbs out with '..'.",
		"https://github.com/apple/coremltools/blob/main/mlmodel/format/LinkedModel.proto"),
	rule(RuleCoreMLWeightPath, finding.Medium, "Core ML ML-program weights outside the model package",
		"A BlobFileValue names its weight file by an absolute path or one with '..' instead of @model_path/weights/…: Core ML reads weights from outside the package, from a file that was not analysed.",
		"https://github.com/apple/coremltools/blob/main/mlmodel/format/MIL.proto"),
	rule(RuleCoreMLMalformed, finding.Medium, "Core ML model or weight file that does not follow its format",
		"The Model protobuf does not parse to its end (truncated, trailing bytes, bad wire data, nesting past protobuf's limit), a known field has the wrong wire type, the model has no or several model types, a weight reference does not land on blob metadata, or the weight file's header, sentinels or blob ranges are wrong: Core ML refuses the file or reads it differently than a scanner.",
		"https://github.com/apple/coremltools/tree/main/mlmodel/format"),
	rule(RuleCoreMLUnknownField, finding.Low, "Core ML model with fields outside the schema",
		"Fields that the Core ML schema does not define, or oversized strings: Core ML keeps them but never uses them, so they are room for a payload; medium from 1 KiB. Their content is analysed as a nested input.",
		"https://github.com/apple/coremltools/tree/main/mlmodel/format"),
	rule(RuleCoreMLEmbedded, finding.Medium, "A pickle or zip inside a Core ML model",
		"A field, a string, or the bytes after the model start like a pickle or a zip archive: Core ML ignores them, but they are a payload staged for other code; they are analysed as nested inputs, whose own findings say what they would do.",
		"https://github.com/apple/coremltools/tree/main/mlmodel/format"),
	rule(RulePolicySuppressionExpired, finding.Medium, "A policy suppression for this file has expired",
		"The policy suppressed a rule for this exact file (by SHA-256) until a date that has passed: the findings it covered count again. Review the file and renew the suppression with a new expiry date, or remove it.",
		""),
}

// RuleByID returns the rule with the given id.
func RuleByID(id string) (finding.Rule, bool) {
	for _, r := range Rules {
		if r.ID == id {
			return r, true
		}
	}
	return finding.Rule{}, false
}

func rule(id string, sev finding.Severity, title, description, reference string) finding.Rule {
	return finding.Rule{ID: id, Severity: sev, Title: title, Description: description, Reference: reference}
}
