// Package tensorflow reads TensorFlow SavedModels (saved_model.pb), frozen
// GraphDefs (*.pb) and the files beside them (variables/ checkpoints,
// fingerprint.pb) without TensorFlow: a streaming protobuf walk over an
// io.ReaderAt lists every op of the graph and of every function in its
// library, and judges each op against internal/knowledge's TensorFlow tables.
// Tensor bytes (Const values, checkpoint data) are skipped by offset, never
// read.
//
// Only the fields the judgement needs are decoded, by hand with protowire;
// field numbers are cited from TensorFlow's .proto files next to their
// constants.
package tensorflow

import (
	"context"
	"fmt"
	"path"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// Field numbers of tensorflow/core/protobuf/{saved_model,meta_graph,saver}.proto.
const (
	savedModelSchemaVersion = 1 // SavedModel.saved_model_schema_version: int64
	savedModelMetaGraphs    = 2 // SavedModel.meta_graphs: repeated MetaGraphDef

	metaInfoDef     = 1 // MetaGraphDef.meta_info_def: MetaInfoDef
	metaGraphDef    = 2 // MetaGraphDef.graph_def: GraphDef
	metaSaverDef    = 3 // MetaGraphDef.saver_def: SaverDef
	metaAssetFileDf = 6 // MetaGraphDef.asset_file_def: repeated AssetFileDef

	infoTags      = 4 // MetaInfoDef.tags: repeated string
	infoTFVersion = 5 // MetaInfoDef.tensorflow_version: string

	saverFilenameTensor = 1 // SaverDef.filename_tensor_name: string

	assetTensorInfo = 1 // AssetFileDef.tensor_info: TensorInfo
	assetFilename   = 2 // AssetFileDef.filename: string
	tensorInfoName  = 1 // TensorInfo.name: string
)

// SavedModelAnalyzer handles saved_model.pb.
type SavedModelAnalyzer struct{}

// Format implements analyzer.Analyzer.
func (SavedModelAnalyzer) Format() string { return "tf-savedmodel" }

// Match implements analyzer.Analyzer: protobuf has no magic, so a .pb name
// and a head that decodes as a SavedModel are both required.
func (SavedModelAnalyzer) Match(name string, head []byte) bool {
	return hasExt(name, ".pb") && looksLikeSavedModel(head)
}

// Analyze lists and judges the ops of every meta graph.
func (SavedModelAnalyzer) Analyze(ctx context.Context, in analyzer.Input, _ analyzer.Limits, out *analyzer.Output) error {
	w := newWireReader(in.R, in.Size)
	d := newDecoder(ctx, w)
	j := newJudge()
	var metas []string
	schema := uint64(0)
	err := w.each(0, in.Size, func(f *field) error {
		switch {
		case f.num == savedModelSchemaVersion && f.typ == protowire.VarintType:
			schema = f.v
		case f.num == savedModelMetaGraphs && f.typ == protowire.BytesType:
			if len(metas) >= maxMetaGraphs {
				return fmt.Errorf("more than %d meta graphs: the rest was not analysed", maxMetaGraphs)
			}
			label := ""
			if len(metas) > 0 {
				label = fmt.Sprintf("meta graph %d ", len(metas))
			}
			desc, err := metaGraph(d, j, f.lo, f.hi, label, out)
			metas = append(metas, desc)
			return err
		}
		return nil
	})
	j.finish()
	out.Findings = append(out.Findings, j.out...)
	msg := fmt.Sprintf("TensorFlow SavedModel (schema %d), %d meta %s", schema, len(metas), plural(len(metas), "graph"))
	if len(metas) > 0 {
		msg += ": " + strings.Join(metas, "; ")
	}
	summary(out, j, msg)
	return limitErr(out, err)
}

// metaGraph decodes one MetaGraphDef and judges its graph. The loader feeds
// the saver's filename tensor and the asset tensors, so constants there are
// not the graph's own paths.
func metaGraph(d *decoder, j *judge, lo, hi int64, label string, out *analyzer.Output) (string, error) {
	var tags []string
	var version string
	fed := map[string]bool{}
	var prog *program
	var progErr error
	err := d.w.each(lo, hi, func(f *field) error {
		if f.typ != protowire.BytesType {
			return nil
		}
		switch f.num {
		case metaInfoDef:
			return d.w.each(f.lo, f.hi, func(g *field) error {
				if g.typ != protowire.BytesType {
					return nil
				}
				switch {
				case g.num == infoTags && len(tags) < maxStrings:
					s, _, err := d.w.str(g, maxName)
					tags = append(tags, s)
					return err
				case g.num == infoTFVersion:
					var err error
					version, _, err = d.w.str(g, maxName)
					return err
				}
				return nil
			})
		case metaGraphDef:
			if prog != nil {
				return malformed(f.tag, "second graph_def in one meta graph")
			}
			// A broken graph ends only the graph: the saver and asset
			// fields after it still say which tensors the loader feeds.
			prog, progErr = d.graphDef(f.lo, f.hi)
		case metaSaverDef:
			return d.w.each(f.lo, f.hi, func(g *field) error {
				if g.num == saverFilenameTensor && g.typ == protowire.BytesType {
					s, _, err := d.w.str(g, maxName)
					fed[tensorName(s)] = true
					return err
				}
				return nil
			})
		case metaAssetFileDf:
			return asset(d, f, fed, label, out)
		}
		return nil
	})
	if err == nil {
		err = progErr
	}
	desc := "tags " + strings.Join(tags, ",")
	if len(tags) == 0 {
		desc = "no tags"
	}
	if version != "" {
		desc += ", TensorFlow " + version
	}
	if prog != nil {
		j.program(prog, label, fed)
		desc += ", " + describe(prog)
	}
	return desc, err
}

// asset reads one AssetFileDef: its tensor is fed by the loader with the path
// of assets/FILENAME, so a filename that climbs out of assets/ makes the
// graph's file ops read elsewhere.
func asset(d *decoder, f *field, fed map[string]bool, label string, out *analyzer.Output) error {
	var tensor, filename string
	err := d.w.each(f.lo, f.hi, func(g *field) error {
		if g.typ != protowire.BytesType {
			return nil
		}
		var err error
		switch g.num {
		case assetTensorInfo:
			err = d.w.each(g.lo, g.hi, func(h *field) error {
				if h.num == tensorInfoName && h.typ == protowire.BytesType {
					var err error
					tensor, _, err = d.w.str(h, maxName)
					return err
				}
				return nil
			})
		case assetFilename:
			filename, _, err = d.w.str(g, maxStringLen)
		}
		return err
	})
	if tensor != "" {
		fed[tensorName(tensor)] = true
	}
	if unusualPath(pathValue{s: filename, leading: true}) {
		out.Add(finding.Finding{RuleID: knowledge.RuleTFDangerousOp, Severity: finding.High, Offset: f.lo,
			Message: fmt.Sprintf("%sasset file %s lies outside the SavedModel's assets/ directory: the loader feeds that path to tensor %q, and the graph's file ops read it",
				label, pyStr(filename), tensor),
			Evidence: fmt.Sprintf("asset_file_def(filename=%s)", pyStr(filename))})
	}
	return err
}

// tensorName normalises "x" to "x:0".
func tensorName(s string) string {
	if strings.Contains(s, ":") {
		return s
	}
	return s + ":0"
}

// GraphDefAnalyzer handles frozen GraphDefs (*.pb).
type GraphDefAnalyzer struct{}

// Format implements analyzer.Analyzer.
func (GraphDefAnalyzer) Format() string { return "tf-graphdef" }

// Match implements analyzer.Analyzer: a .pb name and a head whose first field
// is a NodeDef with a name and an op.
func (GraphDefAnalyzer) Match(name string, head []byte) bool {
	return hasExt(name, ".pb") && looksLikeGraphDef(head)
}

// Analyze lists and judges the ops of the graph and its library.
func (GraphDefAnalyzer) Analyze(ctx context.Context, in analyzer.Input, _ analyzer.Limits, out *analyzer.Output) error {
	w := newWireReader(in.R, in.Size)
	d := newDecoder(ctx, w)
	j := newJudge()
	prog, err := d.graphDef(0, in.Size)
	j.program(prog, "", nil)
	j.finish()
	out.Findings = append(out.Findings, j.out...)
	summary(out, j, "TensorFlow GraphDef: "+describe(prog))
	return limitErr(out, err)
}

func describe(p *program) string {
	s := fmt.Sprintf("graph of %d %s", len(p.graph.nodes), plural(len(p.graph.nodes), "node"))
	if p.hasProducer {
		s += fmt.Sprintf(" (producer %d)", p.producer)
	}
	n := 0
	for _, f := range p.functions {
		n += len(f.nodes)
	}
	return s + fmt.Sprintf(", %d %s with %d %s", len(p.functions), plural(len(p.functions), "function"), n, plural(n, "node"))
}

func summary(out *analyzer.Output, j *judge, msg string) {
	out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset,
		Message:  fmt.Sprintf("%s; %d distinct ops", msg, len(j.ops)),
		Evidence: j.histogram()})
}

// limitErr turns a budget of this package into a SCAN-LIMIT finding; the
// error is returned either way (the file was not fully analysed).
func limitErr(out *analyzer.Output, err error) error {
	if err != nil && isLimit(err) {
		out.Add(finding.Finding{RuleID: knowledge.RuleScanLimit, Severity: finding.Medium, Offset: finding.NoOffset, Message: err.Error()})
	}
	return err
}

func hasExt(name, ext string) bool {
	return strings.EqualFold(path.Ext(strings.ReplaceAll(name, `\`, "/")), ext)
}

// looksLikeSavedModel: an optional small schema version (field 1), then a
// meta graph (field 2) whose first field is a MetaGraphDef message field
// (1..7), itself starting with a valid field.
func looksLikeSavedModel(head []byte) bool {
	b := head
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return false
	}
	if num == savedModelSchemaVersion && typ == protowire.VarintType {
		v, m := protowire.ConsumeVarint(b[n:])
		if m < 0 || v > 16 {
			return false
		}
		b = b[n+m:]
		if num, typ, n = protowire.ConsumeTag(b); n < 0 {
			return false
		}
	}
	if num != savedModelMetaGraphs || typ != protowire.BytesType {
		return false
	}
	meta, ok := payload(b[n:])
	if !ok || len(meta) == 0 {
		return false
	}
	num, typ, n = protowire.ConsumeTag(meta)
	if n < 0 || num < 1 || num > 7 || typ != protowire.BytesType {
		return false
	}
	inner, ok := payload(meta[n:])
	if !ok || len(inner) == 0 {
		return ok // an empty message, or cut by the head
	}
	num, typ, n = protowire.ConsumeTag(inner)
	return n > 0 && num >= 1 && num <= 20 && (typ == protowire.BytesType || typ == protowire.VarintType)
}

// looksLikeGraphDef: the first field is a node whose first two fields are a
// plausible node name and op name.
func looksLikeGraphDef(head []byte) bool {
	num, typ, n := protowire.ConsumeTag(head)
	if n < 0 || num != graphNode || typ != protowire.BytesType {
		return false
	}
	nd, ok := payload(head[n:])
	if !ok {
		return false
	}
	for _, want := range []protowire.Number{nodeName, nodeOp} {
		num, typ, n := protowire.ConsumeTag(nd)
		if n < 0 || num != want || typ != protowire.BytesType {
			return false
		}
		l, m := protowire.ConsumeVarint(nd[n:])
		if m < 0 || l == 0 || l > maxName || uint64(len(nd)-n-m) < l || !plausibleName(nd[n+m:n+m+int(l)]) {
			return false
		}
		nd = nd[n+m+int(l):]
	}
	return true
}

// payload returns the bytes of a length-delimited value, cut to what the
// head holds; ok is false when the length does not decode.
func payload(b []byte) ([]byte, bool) {
	l, m := protowire.ConsumeVarint(b)
	if m < 0 {
		return nil, false
	}
	b = b[m:]
	if uint64(len(b)) > l {
		b = b[:l]
	}
	return b, true
}

// plausibleName accepts the characters of TensorFlow node and op names
// (letters, digits, and _ . - / >) and function names' extras.
func plausibleName(b []byte) bool {
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("_.-/>[]:", c) >= 0:
		default:
			return false
		}
	}
	return true
}
