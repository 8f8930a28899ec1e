package tensordata

import (
	"context"
	"fmt"

	"github.com/modelgate/modelgate/internal/formats/onnx"
)

// checkONNX confirms that an ONNX model names the data file in a tensor's
// external_data and checks every (offset, length) it gives against the
// file's size. onnx.load seeks to offset and reads length bytes (to the
// end of the file without a length), then fails on a short tensor;
// onnxruntime refuses a range past the end of the file outright
// (external data docs: https://onnx.ai/onnx/repo-docs/ExternalData.html).
// Only tensors whose data_location is EXTERNAL count: loaders ignore the
// entries of the others.
func checkONNX(ctx context.Context, name string, size int64, sib sibling, _ opener) (claim, bool, string) {
	tensors, err := onnx.ExternalTensors(ctx, sib.r, sib.size)
	if err != nil {
		return claim{}, false, fmt.Sprintf("%s could not be read as an ONNX model (%v)", sib.name, err)
	}
	var refs []onnx.ExternalTensor
	var others []string // the other files, for the reason given when none is this one
	seen := map[string]bool{}
	for _, t := range tensors {
		switch {
		case !t.External || t.Truncated:
		case sameFile(t.Location, name):
			refs = append(refs, t)
		case !seen[t.Location] && len(seen) < 1000:
			seen[t.Location] = true
			others = append(others, fmt.Sprintf("%q", clip(t.Location)))
		}
	}
	if len(refs) == 0 {
		why := fmt.Sprintf("%s does not reference it", sib.name)
		if len(others) > 0 {
			why += " (its external data is in " + list(others) + ")"
		}
		return claim{}, false, why
	}
	var is issues
	spans := make([]span, 0, len(refs))
	for _, t := range refs {
		evidence := fmt.Sprintf("%s@%d: tensor %q location=%q", sib.name, t.At, clip(t.Name), clip(t.Location))
		switch {
		case t.Bad != "":
			is.add(rangeIssue(t.Offset, size, fmt.Sprintf("tensor %q of %s: external data %s: onnx.load raises and onnxruntime refuses the model",
				clip(t.Name), sib.name, t.Bad), evidence))
		case t.Length < 0 && t.Offset > size:
			is.add(rangeIssue(-1, size, fmt.Sprintf("tensor %q of %s starts at byte %d, past the end of this %d-byte file: its loader reads nothing there and fails",
				clip(t.Name), sib.name, t.Offset, size), fmt.Sprintf("%s offset=%d", evidence, t.Offset)))
		case t.Length < 0:
			spans = append(spans, span{t.Offset, size})
		case t.Offset > size || t.Length > size-t.Offset:
			is.add(rangeIssue(t.Offset, size, fmt.Sprintf("tensor %q of %s takes bytes %d to %d, past the end of this %d-byte file: onnx.load reads a short tensor and fails, onnxruntime refuses the model",
				clip(t.Name), sib.name, t.Offset, uint64(t.Offset)+uint64(t.Length), size), fmt.Sprintf("%s offset=%d length=%d", evidence, t.Offset, t.Length)))
		default:
			spans = append(spans, span{t.Offset, t.Offset + t.Length})
		}
	}
	detail := fmt.Sprintf("%s, %d of the file's %d bytes referenced", count(len(refs), "tensor"), coverage(spans, size), size)
	return claim{sibling: sib.name, what: "ONNX external data", detail: detail, issues: is.findings("tensors")}, true, ""
}
