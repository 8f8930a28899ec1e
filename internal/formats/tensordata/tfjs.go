package tensordata

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

const (
	// maxModelJSON caps model.json, which is decoded whole. A layers
	// model's is a few KiB; a graph model's holds its GraphDef as JSON,
	// rarely past 10 MiB.
	maxModelJSON = 64 << 20
	// maxShards caps the other shards of a group opened to learn their
	// sizes (each is a stat, or a HEAD request on a remote repository).
	maxShards = 1024
)

// tfjsGroup is one weightsManifest entry: the shards are concatenated, in
// order, and the weights cut from the result in order.
type tfjsGroup struct {
	Paths   []string     `json:"paths"`
	Weights []tfjsWeight `json:"weights"`
}

type tfjsWeight struct {
	Name         string    `json:"name"`
	Shape        []float64 `json:"shape"`
	Dtype        string    `json:"dtype"`
	Quantization *struct {
		Dtype string `json:"dtype"`
	} `json:"quantization"`
}

// tfjsItemSize is tfjs-core's DTYPE_VALUE_SIZE_MAP (io/types.ts), which
// decodeWeights uses for plain and quantized (uint8, uint16, float16)
// weights. string weights are a 4-byte length and the bytes per element.
var tfjsItemSize = map[string]int64{
	"float32": 4, "int32": 4, "uint16": 2, "uint8": 1, "bool": 1, "complex64": 8, "float16": 2,
}

// checkTFJS confirms that model.json lists the file among the paths of a
// weightsManifest group. On the group's first shard it also compares what
// the weights take (product of shape × item size, in order) with what the
// group's shards hold: tf.loadLayersModel / loadGraphModel fetch every
// shard, concatenate them and slice the weights out, failing when the
// bytes run short (model.json format:
// https://www.tensorflow.org/js/guide/save_load). Checking on one shard
// keeps the cost linear in the number of shards.
func checkTFJS(ctx context.Context, name string, size int64, sib sibling, open opener) (claim, bool, string) {
	if sib.size > maxModelJSON {
		return claim{}, false, fmt.Sprintf("%s is %d bytes, more than a TF.js model.json is read (%d)", sib.name, sib.size, maxModelJSON)
	}
	raw, err := io.ReadAll(io.NewSectionReader(sib.r, 0, sib.size))
	if err != nil {
		return claim{}, false, fmt.Sprintf("%s could not be read (%v)", sib.name, err)
	}
	// The top-level key is matched exactly, as JSON.parse does
	// (encoding/json alone would also take "WeightsManifest"). The keys
	// inside are matched without case: at worst that confirms a shard tfjs
	// would not load, which is as inert.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return claim{}, false, fmt.Sprintf("%s is not a JSON object (%v)", sib.name, err)
	}
	var groups []tfjsGroup
	if m, ok := top["weightsManifest"]; !ok {
		return claim{}, false, fmt.Sprintf("%s has no weightsManifest: not a TF.js model", sib.name)
	} else if err := json.Unmarshal(m, &groups); err != nil {
		return claim{}, false, fmt.Sprintf("%s: weightsManifest is not a TF.js weights manifest (%v)", sib.name, err)
	}
	gi, pi := -1, -1
	for i, g := range groups {
		for j, p := range g.Paths {
			if sameFile(p, name) {
				gi, pi = i, j
				break
			}
		}
		if gi >= 0 {
			break
		}
	}
	if gi < 0 {
		return claim{}, false, fmt.Sprintf("%s's weightsManifest does not list it", sib.name)
	}
	if err := ctx.Err(); err != nil {
		return claim{}, false, err.Error()
	}
	g := groups[gi]
	what := fmt.Sprintf("TF.js weights, shard %d of %d of weight group %d", pi+1, len(g.Paths), gi+1)
	need, exact, notes := groupBytes(g.Weights)
	detail := fmt.Sprintf("the group's %s take %s bytes", count(len(g.Weights), "weight"), atLeast(need, exact))
	var out []finding.Finding
	if pi == 0 {
		held, why := shardBytes(g.Paths, name, size, open)
		switch {
		case why != "":
			notes = append(notes, why)
		case need > held:
			out = append(out, finding.Finding{RuleID: knowledge.RuleTensorDataRange, Severity: finding.Medium, Offset: finding.NoOffset,
				Message:  fmt.Sprintf("the weights of group %d in %s take %s bytes but its %s hold %d: TF.js fails to load the model", gi+1, sib.name, atLeast(need, exact), count(len(g.Paths), "shard"), held),
				Evidence: fmt.Sprintf("%s: paths %s", sib.name, list(quoted(g.Paths)))})
		case need < held && exact:
			out = append(out, finding.Finding{RuleID: knowledge.RuleTensorDataRange, Severity: finding.Low, Offset: finding.NoOffset,
				Message:  fmt.Sprintf("the %s of group %d in %s hold %d bytes, %d more than its weights take: TF.js never reads them", count(len(g.Paths), "shard"), gi+1, sib.name, held, held-need),
				Evidence: fmt.Sprintf("%s: paths %s", sib.name, list(quoted(g.Paths)))})
		default:
			detail += fmt.Sprintf(", its %s hold %d", count(len(g.Paths), "shard"), held)
		}
	} else {
		detail += " (compared with the shards' sizes on the group's first shard)"
	}
	if len(notes) > 0 {
		detail += "; " + strings.Join(notes, "; ")
	}
	return claim{sibling: sib.name, what: what, detail: detail, issues: out}, true, ""
}

// groupBytes adds up what a group's weights take. exact is false when a
// string weight (whose size is in the data) or a weight that cannot be
// sized makes the total a lower bound.
func groupBytes(ws []tfjsWeight) (total int64, exact bool, notes []string) {
	exact = true
	var odd []string
	for _, w := range ws {
		elems, ok := elements(w.Shape)
		dtype := w.Dtype
		if w.Quantization != nil {
			dtype = w.Quantization.Dtype
		}
		item, known := tfjsItemSize[dtype]
		switch {
		case !ok:
			exact = false
			odd = append(odd, fmt.Sprintf("%q has shape %v", clip(w.Name), clipShape(w.Shape)))
		case dtype == "string":
			// Each element is a uint32 length and that many bytes.
			exact = false
			total = addSat(total, mulSat(elems, 4))
		case !known:
			exact = false
			odd = append(odd, fmt.Sprintf("%q has dtype %q, which TF.js does not decode", clip(w.Name), clip(dtype)))
		default:
			total = addSat(total, mulSat(elems, item))
		}
	}
	if len(odd) > 0 {
		notes = append(notes, "weights not sized: "+list(odd))
	}
	return total, exact, notes
}

// elements is the product of a shape's dimensions (1 for a scalar); ok is
// false when a dimension is not a non-negative integer.
func elements(shape []float64) (int64, bool) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 || d != math.Trunc(d) || d > 1<<53 {
			return 0, false
		}
		n = mulSat(n, int64(d))
	}
	return n, true
}

// shardBytes adds up the sizes of a group's shards; why says why it could
// not. The shard being analysed is not opened again.
func shardBytes(paths []string, name string, size int64, open opener) (int64, string) {
	if len(paths) > maxShards {
		return 0, fmt.Sprintf("%d shards: sizes not compared", len(paths))
	}
	var held int64
	for _, p := range paths {
		if sameFile(p, name) {
			held = addSat(held, size)
			continue
		}
		_, n, closeFn, err := open(p)
		if err != nil {
			return 0, fmt.Sprintf("shard %q could not be opened (%v): sizes not compared", clip(p), err)
		}
		if closeFn != nil {
			_ = closeFn()
		}
		held = addSat(held, n)
	}
	return held, ""
}

const saturated = math.MaxInt64 / 2

func mulSat(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > saturated/b {
		return saturated
	}
	return a * b
}

func addSat(a, b int64) int64 { return min(a+b, saturated) }

func atLeast(n int64, exact bool) string {
	if exact {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("at least %d", n)
}

func quoted(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", clip(s))
	}
	return out
}

func clipShape(s []float64) []float64 {
	if len(s) > maxListed {
		return s[:maxListed]
	}
	return s
}
