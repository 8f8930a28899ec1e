package tensorflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/modelgate/modelgate/internal/knowledge"
)

// Bounds of the graph walk. Every count and length read from the file is
// checked against one of these before it is used.
const (
	maxName       = 4096      // bytes kept of a node, op, input, function or attribute name
	maxNodes      = 1_000_000 // nodes decoded per file, graph and functions together
	maxInputs     = 1 << 16   // inputs kept per node
	maxAttrs      = 1 << 12   // attributes examined per node
	maxStrings    = 16        // string values kept per attribute
	maxStringLen  = 4096      // bytes kept of one string value
	maxArgs       = 1 << 12   // input arguments kept per function signature
	maxFunctions  = 1 << 18   // functions per library
	maxMetaGraphs = 64        // meta graphs per SavedModel
)

// errTooManyNodes ends the walk when a file has more nodes than maxNodes.
var errTooManyNodes = fmt.Errorf("more than %d graph nodes: the rest was not analysed", maxNodes)

// Field numbers, from TensorFlow's .proto files
// (tensorflow/core/framework/{graph,node_def,function,op_def,attr_value,tensor,versions}.proto).
const (
	graphNode     = 1 // GraphDef.node: repeated NodeDef
	graphLibrary  = 2 // GraphDef.library: FunctionDefLibrary
	graphVersions = 4 // GraphDef.versions: VersionDef

	versionProducer = 1 // VersionDef.producer: int32

	nodeName   = 1 // NodeDef.name: string
	nodeOp     = 2 // NodeDef.op: string
	nodeInput  = 3 // NodeDef.input: repeated string
	nodeDevice = 4 // NodeDef.device: string
	nodeAttr   = 5 // NodeDef.attr: map<string, AttrValue>

	mapKey   = 1 // map entry key
	mapValue = 2 // map entry value

	libraryFunction = 1 // FunctionDefLibrary.function: repeated FunctionDef

	functionSignature = 1 // FunctionDef.signature: OpDef
	functionNodeDef   = 3 // FunctionDef.node_def: repeated NodeDef

	opDefName     = 1 // OpDef.name: string
	opDefInputArg = 2 // OpDef.input_arg: repeated ArgDef
	argDefName    = 1 // OpDef.ArgDef.name: string

	attrList   = 1  // AttrValue.list: ListValue
	attrS      = 2  // AttrValue.s: bytes
	attrTensor = 8  // AttrValue.tensor: TensorProto
	attrFunc   = 10 // AttrValue.func: NameAttrList

	listS = 2 // AttrValue.ListValue.s: repeated bytes

	nameAttrListName = 1 // NameAttrList.name: string

	tensorStringVal = 8 // TensorProto.string_val: repeated bytes (tensor_content, field 4, is skipped)
)

// node is what the judgement needs of a NodeDef.
type node struct {
	name, op string
	off      int64               // offset of the NodeDef in the file
	inputs   []string            // data inputs as written: "x", "x:1", "fn_call:output:0" (control inputs dropped)
	values   []string            // string constants of a Const node
	attrs    map[string][]string // string attributes the judgement asks for
	callee   string              // the "f" attribute of a call op
}

// scope is the graph itself or one function of its library.
type scope struct {
	function string   // "" for the graph
	args     []string // input argument names of a function
	nodes    []*node
	byName   map[string]int
}

func newScope(function string) *scope {
	return &scope{function: function, byName: map[string]int{}}
}

func (s *scope) lookup(name string) *node {
	if i, ok := s.byName[name]; ok {
		return s.nodes[i]
	}
	return nil
}

func (s *scope) add(n *node) {
	if _, dup := s.byName[n.name]; !dup {
		s.byName[n.name] = len(s.nodes)
	}
	s.nodes = append(s.nodes, n)
}

// program is one decoded GraphDef with its function library.
type program struct {
	graph       *scope
	functions   []*scope
	funcNames   map[string]bool
	producer    int64
	hasProducer bool
}

// decoder decodes graphs from one file, counting nodes against maxNodes.
type decoder struct {
	ctx   context.Context
	w     *wireReader
	nodes int
	ops   map[string]string // interned op names
}

func newDecoder(ctx context.Context, w *wireReader) *decoder {
	return &decoder{ctx: ctx, w: w, ops: map[string]string{}}
}

// graphDef decodes the GraphDef in [lo, hi). On error the program holds what
// was decoded before it.
func (d *decoder) graphDef(lo, hi int64) (*program, error) {
	p := &program{graph: newScope(""), funcNames: map[string]bool{}}
	err := d.w.each(lo, hi, func(f *field) error {
		switch {
		case f.num == graphNode && f.typ == protowire.BytesType:
			n, err := d.node(f.lo, f.hi)
			if n != nil {
				p.graph.add(n)
			}
			return err
		case f.num == graphLibrary && f.typ == protowire.BytesType:
			return d.library(p, f.lo, f.hi)
		case f.num == graphVersions && f.typ == protowire.BytesType:
			return d.w.each(f.lo, f.hi, func(v *field) error {
				if v.num == versionProducer && v.typ == protowire.VarintType {
					p.producer, p.hasProducer = int64(int32(v.v)), true
				}
				return nil
			})
		}
		return nil
	})
	return p, err
}

func (d *decoder) library(p *program, lo, hi int64) error {
	return d.w.each(lo, hi, func(f *field) error {
		if f.num != libraryFunction || f.typ != protowire.BytesType {
			return nil // gradients and registered gradients name functions; they hold no nodes
		}
		if len(p.functions) >= maxFunctions {
			return fmt.Errorf("more than %d functions in the library: the rest was not analysed", maxFunctions)
		}
		s := newScope("")
		p.functions = append(p.functions, s)
		return d.w.each(f.lo, f.hi, func(g *field) error {
			switch {
			case g.num == functionSignature && g.typ == protowire.BytesType:
				if err := d.signature(s, g.lo, g.hi); err != nil {
					return err
				}
				p.funcNames[s.function] = true
			case g.num == functionNodeDef && g.typ == protowire.BytesType:
				n, err := d.node(g.lo, g.hi)
				if n != nil {
					s.add(n)
				}
				return err
			}
			return nil
		})
	})
}

func (d *decoder) signature(s *scope, lo, hi int64) error {
	return d.w.each(lo, hi, func(f *field) error {
		switch {
		case f.num == opDefName && f.typ == protowire.BytesType:
			name, _, err := d.w.str(f, maxName)
			s.function = name
			return err
		case f.num == opDefInputArg && f.typ == protowire.BytesType:
			if len(s.args) >= maxArgs {
				return nil
			}
			var arg string
			err := d.w.each(f.lo, f.hi, func(a *field) error {
				if a.num == argDefName && a.typ == protowire.BytesType {
					var err error
					arg, _, err = d.w.str(a, maxName)
					return err
				}
				return nil
			})
			s.args = append(s.args, arg)
			return err
		}
		return nil
	})
}

// node decodes one NodeDef. Inputs are kept only where the judgement follows
// them; attributes only where it reads them.
func (d *decoder) node(lo, hi int64) (*node, error) {
	if d.nodes >= maxNodes {
		return nil, errTooManyNodes
	}
	d.nodes++
	if d.nodes%4096 == 0 {
		if err := d.ctx.Err(); err != nil {
			return nil, err
		}
	}
	n := &node{off: lo}
	var attrs [][2]int64
	err := d.w.each(lo, hi, func(f *field) error {
		if f.typ != protowire.BytesType {
			return nil
		}
		var err error
		switch f.num {
		case nodeName:
			n.name, _, err = d.w.str(f, maxName)
		case nodeOp:
			var op string
			op, _, err = d.w.str(f, maxName)
			n.op = d.intern(op)
		case nodeInput:
			if len(n.inputs) < maxInputs {
				var in string
				in, _, err = d.w.str(f, maxName)
				if !strings.HasPrefix(in, "^") { // control inputs carry no data
					n.inputs = append(n.inputs, in)
				}
			}
		case nodeAttr:
			if len(attrs) < maxAttrs {
				attrs = append(attrs, [2]int64{f.lo, f.hi})
			}
		case nodeDevice:
			// Device strings place ops; they do not change what an op does.
		}
		return err
	})
	if err != nil {
		return n, err
	}
	want := wantedAttrs(n.op)
	if len(want) > 0 {
		for _, a := range attrs {
			if err := d.attr(n, a[0], a[1], want); err != nil {
				return n, err
			}
		}
	}
	if !keepsInputs(n.op) {
		n.inputs = nil
	}
	return n, nil
}

func (d *decoder) intern(op string) string {
	if s, ok := d.ops[op]; ok {
		return s
	}
	if len(d.ops) < 1<<16 {
		d.ops[op] = op
	}
	return op
}

// callOps call the function named by their "f" attribute with their inputs
// as arguments.
var callOps = map[string]bool{"StatefulPartitionedCall": true, "PartitionedCall": true, "TPUPartitionedCall": true}

// forwardOps pass a string through unchanged (input 0), or combine strings
// (StringJoin, Pack) or choose one (Select): the path resolution follows them.
var forwardOps = map[string]bool{
	"Identity": true, "RefIdentity": true, "StopGradient": true, "Snapshot": true, "PlaceholderWithDefault": true,
	"ShardedFilename": true, "ShardedFilespec": true, "StringJoin": true, "Pack": true, "Select": true, "SelectV2": true,
	"Enter": true, "Switch": true, "Merge": true,
}

// wantedAttrs names the attributes the judgement reads for an op.
func wantedAttrs(op string) []string {
	switch {
	case op == "Const":
		return []string{"value"}
	case callOps[op]:
		return []string{"f"}
	}
	if r, _ := knowledge.LookupTFOp(op); r != nil && r.Attr != "" {
		return []string{r.Attr}
	}
	return nil
}

// keepsInputs tells whether an op's inputs may matter: dangerous ops (their
// path inputs), ops the path resolution walks through, and calls. Unknown
// ops may be calls of library functions, so they keep theirs too.
func keepsInputs(op string) bool {
	if forwardOps[op] || callOps[op] {
		return true
	}
	r, known := knowledge.LookupTFOp(op)
	return r != nil || !known
}

// attr decodes one attribute map entry if its key is wanted.
func (d *decoder) attr(n *node, lo, hi int64, want []string) error {
	var key string
	var val [2]int64
	hasVal := false
	err := d.w.each(lo, hi, func(f *field) error {
		if f.typ != protowire.BytesType {
			return nil
		}
		switch f.num {
		case mapKey:
			var err error
			key, _, err = d.w.str(f, maxName)
			return err
		case mapValue:
			val, hasVal = [2]int64{f.lo, f.hi}, true
		}
		return nil
	})
	if err != nil || !hasVal || !slices.Contains(want, key) {
		return err
	}
	vals, err := d.attrStrings(val[0], val[1])
	if key == "f" {
		if len(vals) > 0 {
			n.callee = vals[0]
		}
		return err
	}
	if n.op == "Const" && key == "value" {
		n.values = vals
		return err
	}
	if n.attrs == nil {
		n.attrs = map[string][]string{}
	}
	n.attrs[key] = vals
	return err
}

// attrStrings returns the strings of an AttrValue: s, list.s, the string_val
// of a tensor, or a function name. Tensor bytes are skipped, never read.
func (d *decoder) attrStrings(lo, hi int64) ([]string, error) {
	var out []string
	add := func(f *field) error {
		if len(out) >= maxStrings || f.typ != protowire.BytesType {
			return nil
		}
		s, truncated, err := d.w.str(f, maxStringLen)
		if truncated {
			s += "…"
		}
		out = append(out, s)
		return err
	}
	err := d.w.each(lo, hi, func(f *field) error {
		if f.typ != protowire.BytesType {
			return nil
		}
		switch f.num {
		case attrS:
			return add(f)
		case attrList:
			return d.w.each(f.lo, f.hi, func(g *field) error {
				if g.num == listS {
					return add(g)
				}
				return nil
			})
		case attrTensor:
			return d.w.each(f.lo, f.hi, func(g *field) error {
				if g.num == tensorStringVal {
					return add(g)
				}
				return nil
			})
		case attrFunc:
			return d.w.each(f.lo, f.hi, func(g *field) error {
				if g.num == nameAttrListName {
					return add(g)
				}
				return nil
			})
		}
		return nil
	})
	return out, err
}

// isLimit tells whether an error is a budget of this package rather than a
// malformed file.
func isLimit(err error) bool { return errors.Is(err, errTooManyNodes) }
