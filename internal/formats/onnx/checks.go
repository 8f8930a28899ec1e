package onnx

import "strings"

// standardDomains are the operator sets defined by ONNX itself; every
// runtime implements them without extra code. "" and "ai.onnx" are the
// same domain.
var standardDomains = map[string]bool{
	"":                         true,
	"ai.onnx":                  true,
	"ai.onnx.ml":               true,
	"ai.onnx.training":         true,
	"ai.onnx.preview.training": true,
}

// onnxruntimeDomains are the operator sets whose kernels ship inside
// onnxruntime itself (include/onnxruntime/core/graph/constants.h:
// kMSDomain, kMSExperimentalDomain, kMSNchwcDomain, kMSInternalNHWCDomain).
// Exporters and onnxruntime's own optimiser write them routinely, and
// running them loads no library beyond onnxruntime, so they are reported
// as information, not as custom operators. org.pytorch.aten is not here:
// its ATen operator calls into PyTorch and exists only in training builds.
var onnxruntimeDomains = map[string]bool{
	"com.microsoft":              true,
	"com.microsoft.experimental": true,
	"com.microsoft.nchwc":        true,
	"com.ms.internal.nhwc":       true,
}

// pythonOps name operators that call Python code chosen by the model, in
// any domain: onnxruntime's language-interop PyOp (module and class_name
// attributes; builds with --enable_language_interop_ops) and the training
// build's com.microsoft PythonOp/PythonOpGrad (a torch.autograd.Function
// looked up by name). Both need the code on the Python path already, so
// they are reported with the custom operators, with their attributes.
var pythonOps = map[string]bool{"PyOp": true, "PythonOp": true, "PythonOpGrad": true}

// domainClass says how an operator's domain is judged.
type domainClass int

const (
	classStandard    domainClass = iota
	classOnnxruntime             // built into onnxruntime: info
	classCustom                  // needs a registered custom-op library: medium
)

func classify(op opKey) domainClass {
	switch {
	case pythonOps[op.op] && (op.op == "PyOp" || op.domain == "com.microsoft"):
		return classCustom
	case standardDomains[op.domain]:
		return classStandard
	case onnxruntimeDomains[op.domain]:
		return classOnnxruntime
	default:
		return classCustom
	}
}

// memoryAddressTag is the location onnxruntime gives tensors whose data it
// keeps in memory (kTensorProtoMemoryAddressTag): the "offset" entry is then
// a raw pointer. OpenVINO's ONNX frontend honours it for models read from
// files too, so a file carrying it makes the loader read process memory.
const memoryAddressTag = "*/_ORT_MEM_ADDR_/*"

// escapes says why an external_data location reaches outside the model's
// directory, or "" when it stays inside. Loaders join it to the model's
// directory (os.path.join in onnx, std::filesystem in onnxruntime), so an
// absolute path replaces the directory and ".." climbs out of it. Both "/"
// and "\" separate components: a model is loaded on Windows too.
func escapes(loc string) string {
	switch {
	case loc == memoryAddressTag:
		return "onnxruntime's in-memory tag: the offset entry is used as a memory address"
	case strings.HasPrefix(loc, `\\`) || strings.HasPrefix(loc, "//"):
		return "a network (UNC) path"
	case strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, `\`):
		return "an absolute path"
	case len(loc) >= 2 && loc[1] == ':' && isLetter(loc[0]):
		return "a Windows drive path"
	}
	for _, c := range strings.FieldsFunc(loc, func(r rune) bool { return r == '/' || r == '\\' }) {
		// Windows drops trailing dots and spaces from a component, so
		// "... " and ".. " are ".." there.
		if strings.Contains(c, "..") && strings.TrimRight(c, ". ") == "" {
			return `a path that climbs out with ".."`
		}
	}
	return ""
}

func isLetter(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }
