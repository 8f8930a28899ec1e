package tensordata_test

import (
	"context"
	"testing"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/tensordata"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// fuzzCases are the data file and the sibling the fuzzed bytes stand for.
var fuzzCases = []struct{ data, sibling string }{
	{"model.onnx_data", "model.onnx"},
	{"openvino_model.bin", "openvino_model.xml"},
	{"group1-shard1of2.bin", "model.json"},
}

// FuzzTensorData feeds arbitrary bytes as the sibling that vouches for a
// data file (an ONNX model, an OpenVINO IR, a TF.js model.json): every
// length, offset, count, nesting and name comes from the input, and none may
// make the analyser panic, loop, read the data file or report a confirmed
// file with an error (or an unconfirmed one as anything but unknown).
func FuzzTensorData(f *testing.F) {
	for i, seed := range []string{"benign/onnx/model.onnx", "benign/openvino/openvino_model.xml", "benign/tfjs/model.json"} {
		f.Add(uint8(i), uint32(60), read(f, seed))
	}
	f.Add(uint8(0), uint32(100), []byte(onnxModel(tensor("w", true, "location", "model.onnx_data", "offset", "96", "length", "8"))))
	f.Add(uint8(1), uint32(64), ir(irConst(0, "60", "8")))
	f.Add(uint8(2), uint32(32), modelJSON(f, group([]string{"group1-shard1of2.bin", "group1-shard2of2.bin"}, w{"name": "s", "shape": []int{3}, "dtype": "string"})))
	lim := analyzer.DefaultLimits()
	f.Fuzz(func(t *testing.T, which uint8, size uint32, sibling []byte) {
		c := fuzzCases[int(which)%len(fuzzCases)]
		files := map[string][]byte{c.sibling: sibling, "group1-shard2of2.bin": make([]byte, 28)}
		a := tensordata.Analyzer{}
		if !a.Match(c.data, nil) {
			t.Fatalf("%s not matched", c.data)
		}
		var out analyzer.Output
		in := analyzer.Input{Name: c.data, R: noRead{}, Size: int64(size), Budget: analyzer.NewBudget(lim), Open: opener(files)}
		err := a.Analyze(context.Background(), in, lim, &out)
		if err != nil {
			if out.Format != "unknown" || len(out.Findings) > 0 {
				t.Fatalf("unconfirmed with format %q and findings %+v", out.Format, out.Findings)
			}
			return
		}
		summaries := 0
		for _, f := range out.Findings {
			switch {
			case f.RuleID == knowledge.RuleFormatSummary && f.Severity == finding.Info:
				summaries++
			case f.RuleID != knowledge.RuleTensorDataRange || f.Severity > finding.Medium:
				t.Fatalf("unexpected finding %+v", f)
			}
		}
		if out.Format != "" || summaries != 1 || len(out.Findings) > 22 {
			t.Fatalf("confirmed with format %q, findings %+v", out.Format, out.Findings)
		}
	})
}
