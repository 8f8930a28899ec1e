// Package tflite reads TensorFlow Lite models: a flatbuffer with the file
// identifier "TFL3". Only the Model table and what hangs off it that says
// which code the interpreter must run are read — the schema version, the
// operator codes (builtin or custom), the subgraph and operator counts, the
// metadata names — never the weights. The flatbuffer is read by hand with
// every offset checked; no generated code.
//
// TFLite has no deserialisation hook that runs code on load; the risk is in
// custom operators, which need native kernels registered in the
// interpreter, and in Flex ("Select TF") operators, which run TensorFlow
// kernels — some of which read and write files.
package tflite

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/modelgate/modelgate/internal/analyzer"
	"github.com/modelgate/modelgate/internal/finding"
	"github.com/modelgate/modelgate/internal/formats/picklefile"
	"github.com/modelgate/modelgate/internal/knowledge"
)

// Identifier is the flatbuffer file identifier of TFLite schema v3, at
// offset 4.
var Identifier = []byte("TFL3")

const (
	// builtinCustom is BuiltinOperator.CUSTOM in schema.fbs.
	builtinCustom = 32
	// deprecatedPlaceholder is PLACEHOLDER_FOR_GREATER_OP_CODES: codes past
	// 127 live in builtin_code only.
	deprecatedPlaceholder = 127
	// Caps on counts read from the file (real models have a few hundred
	// operator codes at most); past them the model is reported malformed.
	maxOpCodes   = 1 << 16
	maxSubgraphs = 1 << 14
	maxMetadata  = 1 << 12
	// maxName caps the bytes kept of a custom op or metadata name.
	maxName = 256
	// maxDesc caps the bytes kept of the model description.
	maxDesc = 200
)

// Model fields (schema.fbs, table Model).
const (
	modelVersion = iota
	modelOperatorCodes
	modelSubgraphs
	modelDescription
	modelBuffers
	modelMetadataBuffer
	modelMetadata
	modelSignatureDefs
)

// OpCode is one entry of Model.operator_codes.
type OpCode struct {
	Builtin int32  // max(builtin_code, deprecated_builtin_code), as TFLite's GetBuiltinCode
	Custom  string // custom_code, for Builtin == CUSTOM
	Version int32
	Offset  int64 // of the custom_code string, or of the table
}

// IsCustom reports whether the op needs a custom kernel.
func (o OpCode) IsCustom() bool { return o.Builtin == builtinCustom }

// Model is what was read of the Model table.
type Model struct {
	Version     uint32
	OpCodes     []OpCode
	Subgraphs   int64
	Operators   int64 // over every subgraph
	Buffers     int64
	Signatures  int64
	Description string
	Metadata    []string // metadata names
}

// Analyzer handles TFLite flatbuffers.
type Analyzer struct{}

// Format implements analyzer.Analyzer.
func (Analyzer) Format() string { return "tflite" }

// Match implements analyzer.Analyzer: "TFL3" at offset 4, and a root table
// offset past the identifier and aligned as flatbuffers write it.
func (Analyzer) Match(_ string, head []byte) bool {
	if len(head) < 12 || !bytes.Equal(head[4:8], Identifier) {
		return false
	}
	root := binary.LittleEndian.Uint32(head)
	return root >= 8 && root%4 == 0
}

// Analyze reads the model's tables and reports custom operators. The file
// is also decoded as a pickle: "TFL3" at offset 4 is easy to put in a pickle
// (a string argument), and a pickle claimed as TFLite must not escape the
// pickle audit.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input, lim analyzer.Limits, out *analyzer.Output) error {
	if pr := picklefile.ReadAsPickle(in.R, in.Size, picklefile.Options{Limits: lim.Pickle, Catalogue: lim.Catalogue}); len(pr.Acts) > 0 {
		out.Findings = append(out.Findings, pr.Audit.Findings...)
		out.Nested = append(out.Nested, pr.Audit.Nested...)
	}
	m, err := Read(in.R, in.Size)
	if m != nil {
		// A model read only in part still reports its custom operators;
		// the summary is for models read whole.
		report(m, out, err == nil)
	}
	if err != nil {
		return fmt.Errorf("tflite: %w", err)
	}
	return nil
}

// Read parses the Model table of the flatbuffer in r. On error the model
// read so far is returned with it (nil when not even the root table could
// be read).
func Read(r io.ReaderAt, size int64) (*Model, error) {
	b := newFbuf(r, size)
	root, err := b.deref(0)
	if err != nil {
		return nil, fmt.Errorf("root offset: %w", err)
	}
	t, err := b.tableAt(root)
	if err != nil {
		return nil, fmt.Errorf("model table: %w", err)
	}
	m := &Model{}
	if m.Version, err = t.u32(modelVersion, 0); err != nil {
		return nil, fmt.Errorf("model version: %w", err)
	}
	if err := m.readOpCodes(b, t); err != nil {
		return m, err
	}
	if err := m.readSubgraphs(b, t); err != nil {
		return m, err
	}
	if _, n, _, err := t.vector(modelBuffers, 4); err != nil {
		return m, fmt.Errorf("buffers: %w", err)
	} else {
		m.Buffers = n
	}
	if _, n, _, err := t.vector(modelSignatureDefs, 4); err != nil {
		return m, fmt.Errorf("signature defs: %w", err)
	} else {
		m.Signatures = n
	}
	if s, full, _, _, err := t.str(modelDescription, maxDesc); err != nil {
		return m, fmt.Errorf("description: %w", err)
	} else {
		m.Description = clip(s, full)
	}
	return m, m.readMetadata(b, t)
}

func (m *Model) readOpCodes(b *fbuf, t table) error {
	start, n, _, err := t.vector(modelOperatorCodes, 4)
	if err != nil {
		return fmt.Errorf("operator codes: %w", err)
	}
	if n > maxOpCodes {
		return fmt.Errorf("%d operator codes: more than the cap of %d", n, maxOpCodes)
	}
	for k := range n {
		oc, err := b.tableElem(start, k)
		if err != nil {
			return fmt.Errorf("operator code %d: %w", k, err)
		}
		dep, err := oc.i8(0, 0)
		if err != nil {
			return fmt.Errorf("operator code %d: %w", k, err)
		}
		code, err := oc.i32(3, 0)
		if err != nil {
			return fmt.Errorf("operator code %d: %w", k, err)
		}
		ver, err := oc.i32(2, 1)
		if err != nil {
			return fmt.Errorf("operator code %d: %w", k, err)
		}
		op := OpCode{Builtin: max(code, int32(dep)), Version: ver, Offset: oc.pos}
		if op.IsCustom() {
			s, full, pos, ok, err := oc.str(1, maxName)
			if err != nil {
				return fmt.Errorf("operator code %d: custom code: %w", k, err)
			}
			op.Custom = clip(s, full)
			if ok {
				op.Offset = pos
			}
		}
		m.OpCodes = append(m.OpCodes, op)
	}
	return nil
}

func (m *Model) readSubgraphs(b *fbuf, t table) error {
	start, n, _, err := t.vector(modelSubgraphs, 4)
	if err != nil {
		return fmt.Errorf("subgraphs: %w", err)
	}
	if n > maxSubgraphs {
		return fmt.Errorf("%d subgraphs: more than the cap of %d", n, maxSubgraphs)
	}
	m.Subgraphs = n
	for k := range n {
		sg, err := b.tableElem(start, k)
		if err != nil {
			return fmt.Errorf("subgraph %d: %w", k, err)
		}
		_, ops, _, err := sg.vector(3, 4)
		if err != nil {
			return fmt.Errorf("subgraph %d operators: %w", k, err)
		}
		m.Operators += ops
	}
	return nil
}

func (m *Model) readMetadata(b *fbuf, t table) error {
	start, n, _, err := t.vector(modelMetadata, 4)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if n > maxMetadata {
		return fmt.Errorf("%d metadata entries: more than the cap of %d", n, maxMetadata)
	}
	for k := range n {
		md, err := b.tableElem(start, k)
		if err != nil {
			return fmt.Errorf("metadata %d: %w", k, err)
		}
		s, full, _, _, err := md.str(0, maxName)
		if err != nil {
			return fmt.Errorf("metadata %d name: %w", k, err)
		}
		m.Metadata = append(m.Metadata, clip(s, full))
	}
	return nil
}

// clip marks a string that was cut at its cap.
func clip(s string, full int64) string {
	if int64(len(s)) < full {
		return s + "…"
	}
	return s
}

// flexFileOps are TensorFlow ops that read, write or delete files; as Flex
// ops ("Flex" + name, run by the Select TF ops delegate) a model carrying
// them touches the filesystem when it runs. Save*, Restore* and
// MergeV2Checkpoints are on the Flex delegate's own allowlist.
var flexFileOps = map[string]bool{
	"ReadFile": true, "WriteFile": true, "MatchingFiles": true,
	"Save": true, "SaveV2": true, "SaveSlices": true,
	"Restore": true, "RestoreV2": true, "RestoreSlice": true,
	"MergeV2Checkpoints": true, "ShardedFilename": true,
	"PyFunc": true, "PyFuncStateless": true, "EagerPyFunc": true,
}

// report turns the model into findings.
func report(m *Model, out *analyzer.Output, whole bool) {
	var custom, dangerous []string
	firstCustom, firstDanger := finding.NoOffset, finding.NoOffset
	builtins := map[int32]bool{}
	seen := map[string]bool{}
	for _, op := range m.OpCodes {
		if !op.IsCustom() {
			builtins[op.Builtin] = true
			continue
		}
		if seen[op.Custom] {
			continue
		}
		seen[op.Custom] = true
		if tf, ok := strings.CutPrefix(op.Custom, "Flex"); ok && flexFileOps[tf] {
			dangerous = append(dangerous, op.Custom)
			if firstDanger == finding.NoOffset {
				firstDanger = op.Offset
			}
			continue
		}
		custom = append(custom, op.Custom)
		if firstCustom == finding.NoOffset {
			firstCustom = op.Offset
		}
	}
	if len(dangerous) > 0 {
		out.Add(finding.Finding{RuleID: knowledge.RuleTFDangerousOp, Severity: finding.High, Offset: firstDanger,
			Message:  "Flex (Select TF) operators that touch files or run Python: with the Flex delegate linked, running the model runs these TensorFlow kernels",
			Evidence: quoteList(dangerous)})
	}
	if len(custom) > 0 {
		msg := fmt.Sprintf("%s: the interpreter runs them only through native kernels registered by the application (an op resolver or delegate), outside TFLite's builtin set", plural(len(custom), "custom operator"))
		if slices.ContainsFunc(custom, func(s string) bool { return strings.HasPrefix(s, "Flex") }) {
			msg += "; Flex ops run TensorFlow kernels through the Select TF ops delegate"
		}
		out.Add(finding.Finding{RuleID: knowledge.RuleTFLiteCustomOp, Severity: finding.Medium, Offset: firstCustom,
			Message: msg, Evidence: quoteList(custom)})
	}
	if !whole {
		return
	}
	var codes []string
	for _, c := range slices.Sorted(maps.Keys(builtins)) {
		codes = append(codes, BuiltinName(c))
	}
	msg := fmt.Sprintf("TFLite schema version %d: %s (%d builtin, %d custom), %s, %s, %s (not read), %s",
		m.Version, plural(len(m.OpCodes), "operator code"), len(builtins), len(custom)+len(dangerous),
		plural(m.Subgraphs, "subgraph"), plural(m.Operators, "operator"), plural(m.Buffers, "buffer"), plural(m.Signatures, "signature"))
	if len(codes) > 0 {
		msg += "; builtin " + strings.Join(codes, ", ")
	}
	if m.Description != "" {
		msg += "; description " + strconv.Quote(m.Description)
	}
	if len(m.Metadata) > 0 {
		msg += "; metadata " + quoteList(m.Metadata)
	}
	out.Add(finding.Finding{RuleID: knowledge.RuleFormatSummary, Severity: finding.Info, Offset: finding.NoOffset, Message: msg})
}

func plural[N int | int64](n N, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
