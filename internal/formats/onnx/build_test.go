package onnx_test

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// msg builds protobuf messages field by field, the way the onnx library
// serialises them (fields in number order when the caller writes them so).
type msg []byte

func (m msg) varint(num protowire.Number, v uint64) msg {
	return protowire.AppendVarint(protowire.AppendTag(m, num, protowire.VarintType), v)
}

func (m msg) bytes(num protowire.Number, b []byte) msg {
	return protowire.AppendBytes(protowire.AppendTag(m, num, protowire.BytesType), b)
}

func (m msg) str(num protowire.Number, s string) msg { return m.bytes(num, []byte(s)) }

// Field numbers as in onnx.proto (see model.go for the citations).
const (
	fModelIR, fModelProducer, fModelProducerVersion, fModelGraph, fModelOpset, fModelFunctions = 1, 2, 3, 7, 8, 25
	fOpsetDomain, fOpsetVersion                                                                = 1, 2
	fGraphNode, fGraphName, fGraphInit, fGraphInput, fGraphOutput                              = 1, 2, 5, 11, 12
	fNodeInput, fNodeOutput, fNodeName, fNodeOp, fNodeAttr, fNodeDomain                        = 1, 2, 3, 4, 5, 7
	fAttrName, fAttrI, fAttrS, fAttrT, fAttrG, fAttrType                                       = 1, 3, 4, 5, 6, 20
	fTensorDims, fTensorType, fTensorName, fTensorRaw, fTensorExt, fTensorLoc                  = 1, 2, 8, 9, 13, 14
	fFuncName, fFuncInput, fFuncOutput, fFuncNode, fFuncOpset, fFuncDomain                     = 1, 4, 5, 7, 9, 10
	attrTypeString, attrTypeTensor, attrTypeGraph                                              = 3, 4, 5
	floatType                                                                                  = 1
)

// valueInfo is a float tensor input or output of shape [n].
func valueInfo(name string, n uint64) msg { return typedValueInfo(name, floatType, n) }

// typedValueInfo is a tensor input or output of shape [n].
func typedValueInfo(name string, elem, n uint64) msg {
	dim := msg{}.varint(1, n)                       // Dimension.dim_value
	shape := msg{}.bytes(1, dim)                    // TensorShapeProto.dim
	tensor := msg{}.varint(1, elem).bytes(2, shape) // TypeProto.Tensor elem_type, shape
	typ := msg{}.bytes(1, tensor)                   // TypeProto.tensor_type
	return msg{}.str(1, name).bytes(2, typ)         // ValueInfoProto name, type
}

type nodeSpec struct {
	op, domain string
	in, out    []string
	attrs      []msg
}

func node(n nodeSpec) msg {
	m := msg{}
	for _, s := range n.in {
		m = m.str(fNodeInput, s)
	}
	for _, s := range n.out {
		m = m.str(fNodeOutput, s)
	}
	m = m.str(fNodeName, n.op+"_node").str(fNodeOp, n.op)
	for _, a := range n.attrs {
		m = m.bytes(fNodeAttr, a)
	}
	if n.domain != "" {
		m = m.str(fNodeDomain, n.domain)
	}
	return m
}

func graphAttr(name string, g msg) msg {
	return msg{}.str(fAttrName, name).bytes(fAttrG, g).varint(fAttrType, attrTypeGraph)
}

func stringAttr(name, v string) msg {
	return msg{}.str(fAttrName, name).str(fAttrS, v).varint(fAttrType, attrTypeString)
}

func tensorAttr(name string, t msg) msg {
	return msg{}.str(fAttrName, name).bytes(fAttrT, t).varint(fAttrType, attrTypeTensor)
}

// rawTensor is a float tensor of n elements stored inline.
func rawTensor(name string, n int) msg {
	return msg{}.varint(fTensorDims, uint64(n)).varint(fTensorType, floatType).str(fTensorName, name).bytes(fTensorRaw, make([]byte, 4*n))
}

// externalTensor is a float tensor of n elements whose data lives in a file.
func externalTensor(name, location string, n int) msg {
	entry := func(k, v string) msg { return msg{}.str(1, k).str(2, v) }
	return msg{}.varint(fTensorDims, uint64(n)).varint(fTensorType, floatType).str(fTensorName, name).
		bytes(fTensorExt, entry("location", location)).
		bytes(fTensorExt, entry("length", "16")).
		varint(fTensorLoc, 1)
}

type graphSpec struct {
	name    string
	nodes   []msg
	inits   []msg
	inputs  []msg
	outputs []msg
}

func graph(g graphSpec) msg {
	m := msg{}
	for _, n := range g.nodes {
		m = m.bytes(fGraphNode, n)
	}
	m = m.str(fGraphName, g.name)
	for _, t := range g.inits {
		m = m.bytes(fGraphInit, t)
	}
	for _, v := range g.inputs {
		m = m.bytes(fGraphInput, v)
	}
	for _, v := range g.outputs {
		m = m.bytes(fGraphOutput, v)
	}
	return m
}

type opsetSpec struct {
	domain  string
	version uint64
}

func model(ir uint64, g msg, opsets []opsetSpec, functions ...msg) msg {
	m := msg{}.varint(fModelIR, ir).str(fModelProducer, "modelgate-test").str(fModelProducerVersion, "1").bytes(fModelGraph, g)
	for _, o := range opsets {
		op := msg{}
		if o.domain != "" {
			op = op.str(fOpsetDomain, o.domain)
		}
		m = m.bytes(fModelOpset, op.varint(fOpsetVersion, o.version))
	}
	for _, f := range functions {
		m = m.bytes(fModelFunctions, f)
	}
	return m
}

var onnx17 = []opsetSpec{{"", 17}}

// addGraph is the benign Z = X + Y graph with one inline initializer.
func addGraph(extra ...msg) msg {
	return graph(graphSpec{
		name:    "add",
		nodes:   append([]msg{node(nodeSpec{op: "Add", in: []string{"X", "Y"}, out: []string{"Z"}})}, extra...),
		inits:   []msg{rawTensor("Y", 4)},
		inputs:  []msg{valueInfo("X", 4), valueInfo("Y", 4)},
		outputs: []msg{valueInfo("Z", 4)},
	})
}

// oneNodeGraph computes Z from X with one operator.
func oneNodeGraph(op, domain string, attrs ...msg) msg {
	return graph(graphSpec{
		name:    "g",
		nodes:   []msg{node(nodeSpec{op: op, domain: domain, in: []string{"X"}, out: []string{"Z"}, attrs: attrs})},
		inputs:  []msg{valueInfo("X", 4)},
		outputs: []msg{valueInfo("Z", 4)},
	})
}

// externalGraph adds W (external data at location) to X.
func externalGraph(location string) msg {
	return graph(graphSpec{
		name:    "ext",
		nodes:   []msg{node(nodeSpec{op: "Add", in: []string{"X", "W"}, out: []string{"Z"}})},
		inits:   []msg{externalTensor("W", location, 4)},
		inputs:  []msg{valueInfo("X", 4)},
		outputs: []msg{valueInfo("Z", 4)},
	})
}

// ifGraph branches on a boolean: the then branch runs thenOp from
// thenDomain, the else branch is an Identity.
func ifGraph(thenOp, thenDomain string) msg {
	branch := func(op, domain string) msg {
		return graph(graphSpec{
			name:    op + "_branch",
			nodes:   []msg{node(nodeSpec{op: op, domain: domain, in: []string{"X"}, out: []string{op + "_out"}})},
			outputs: []msg{valueInfo(op+"_out", 4)},
		})
	}
	cond := typedValueInfo("C", 9 /* BOOL */, 1)
	return graph(graphSpec{
		name: "if",
		nodes: []msg{node(nodeSpec{op: "If", in: []string{"C"}, out: []string{"Z"}, attrs: []msg{
			graphAttr("then_branch", branch(thenOp, thenDomain)),
			graphAttr("else_branch", branch("Identity", "")),
		}})},
		inputs:  []msg{cond, valueInfo("X", 4)},
		outputs: []msg{valueInfo("Z", 4)},
	})
}

// function defines domain.name as Z = Relu(X).
func function(domain, name string) msg {
	return msg{}.str(fFuncName, name).str(fFuncInput, "X").str(fFuncOutput, "Z").
		bytes(fFuncNode, node(nodeSpec{op: "Relu", in: []string{"X"}, out: []string{"Z"}})).
		bytes(fFuncOpset, msg{}.varint(fOpsetVersion, 17)).
		str(fFuncDomain, domain)
}

// fixtures are the crafted models committed under testdata/ (regenerate
// with go test ./internal/formats/onnx -run TestFixturesAreCurrent -update).
func fixtures() map[string]msg {
	return map[string]msg{
		"benign/add.onnx":               model(8, addGraph(), onnx17),
		"benign/com-microsoft.onnx":     model(8, oneNodeGraph("Gelu", "com.microsoft"), []opsetSpec{{"", 17}, {"com.microsoft", 1}}),
		"benign/external-relative.onnx": model(8, externalGraph("weights/W.bin"), onnx17),
		"benign/local-function.onnx": model(8, oneNodeGraph("MyRelu", "local.functions"),
			[]opsetSpec{{"", 17}, {"local.functions", 1}}, function("local.functions", "MyRelu")),
		"malicious/custom-domain.onnx":            model(8, oneNodeGraph("Backdoor", "evil.custom"), []opsetSpec{{"", 17}, {"evil.custom", 1}}),
		"malicious/if-subgraph-custom.onnx":       model(8, ifGraph("Backdoor", "evil.custom"), []opsetSpec{{"", 17}, {"evil.custom", 1}}),
		"malicious/external-traversal.onnx":       model(8, externalGraph("../../etc/passwd"), onnx17),
		"malicious/external-absolute.onnx":        model(8, externalGraph("/etc/passwd"), onnx17),
		"malicious/external-inner-traversal.onnx": model(8, externalGraph("weights/../../secret.bin"), onnx17),
		"malicious/external-ort-mem-addr.onnx": model(8, graph(graphSpec{
			name: "mem",
			nodes: []msg{node(nodeSpec{op: "Constant", out: []string{"Z"}, attrs: []msg{
				tensorAttr("value", msg(externalTensor("W", "*/_ORT_MEM_ADDR_/*", 4)).bytes(fTensorExt, msg{}.str(1, "offset").str(2, "4096"))),
			}})},
			outputs: []msg{valueInfo("Z", 4)},
		}), onnx17),
		"malicious/pyop.onnx": model(8, oneNodeGraph("PyOp", "ai.onnx.contrib.py",
			stringAttr("module", "os"), stringAttr("class_name", "system"), stringAttr("compute", "compute")),
			[]opsetSpec{{"", 17}, {"ai.onnx.contrib.py", 1}}),
		"malformed/truncated.onnx": func() msg { m := model(8, addGraph(), onnx17); return m[:len(m)-20] }(),
	}
}
