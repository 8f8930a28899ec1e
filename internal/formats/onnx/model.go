package onnx

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers from onnx/onnx.proto (onnx 1.12, Debian's python3-onnx,
// /usr/lib/python3/dist-packages/onnx/onnx.proto; unchanged in later
// releases). Only the fields that lead to operators and tensors are
// decoded; everything else, tensor payloads above all, is skipped by offset.
const (
	// ModelProto
	modelIRVersion       = 1  // int64 ir_version
	modelProducerName    = 2  // string producer_name
	modelProducerVersion = 3  // string producer_version
	modelDomain          = 4  // string domain
	modelModelVersion    = 5  // int64 model_version
	modelGraph           = 7  // GraphProto graph
	modelOpsetImport     = 8  // repeated OperatorSetIdProto opset_import
	modelMetadataProps   = 14 // repeated StringStringEntryProto metadata_props
	modelTrainingInfo    = 20 // repeated TrainingInfoProto training_info
	modelFunctions       = 25 // repeated FunctionProto functions

	// OperatorSetIdProto
	opsetDomain  = 1 // string domain
	opsetVersion = 2 // int64 version

	// TrainingInfoProto
	trainingInitialization = 1 // GraphProto initialization
	trainingAlgorithm      = 2 // GraphProto algorithm

	// GraphProto
	graphNode              = 1  // repeated NodeProto node
	graphInitializer       = 5  // repeated TensorProto initializer
	graphSparseInitializer = 15 // repeated SparseTensorProto sparse_initializer

	// NodeProto
	nodeOpType    = 4 // string op_type
	nodeAttribute = 5 // repeated AttributeProto attribute
	nodeDomain    = 7 // string domain

	// AttributeProto: tensors and subgraphs (If/Loop/Scan bodies) hide here.
	attrName          = 1  // string name
	attrS             = 4  // bytes s
	attrT             = 5  // TensorProto t
	attrG             = 6  // GraphProto g
	attrTensors       = 10 // repeated TensorProto tensors
	attrGraphs        = 11 // repeated GraphProto graphs
	attrSparseTensor  = 22 // SparseTensorProto sparse_tensor
	attrSparseTensors = 23 // repeated SparseTensorProto sparse_tensors

	// TensorProto
	tensorName         = 8  // string name
	tensorRawData      = 9  // bytes raw_data: skipped, never read
	tensorExternalData = 13 // repeated StringStringEntryProto external_data
	tensorDataLocation = 14 // DataLocation data_location (EXTERNAL = 1)

	// SparseTensorProto
	sparseValues  = 1 // TensorProto values
	sparseIndices = 2 // TensorProto indices

	// StringStringEntryProto
	entryKey   = 1 // string key
	entryValue = 2 // string value

	// FunctionProto
	functionName   = 1  // string name
	functionNode   = 7  // repeated NodeProto node
	functionDomain = 10 // string domain

	dataLocationExternal = 1
)

// opKey identifies an operator: a node's (domain, op_type), or a local
// function's (domain, name).
type opKey struct{ domain, op string }

// opStat is what is remembered about one operator.
type opStat struct {
	count int
	off   int64 // first node using it
	// attrs are the string attributes of the first node, kept for the
	// operators that name Python code (PyOp, PythonOp).
	attrs []strAttr
}

type strAttr struct{ name, value string }

// extRef is one external_data location and the tensors that use it.
type extRef struct {
	location  string
	truncated bool
	off       int64 // offset of the first location value
	tensor    string
	count     int
	notExtern bool // data_location was not EXTERNAL: loaders ignore it
}

type opset struct {
	domain  string
	version int64
}

// model collects what the walk finds in one ModelProto. Scalars follow
// protobuf's rule (the last occurrence wins); repeated and embedded
// messages are visited every time they occur, which is how protobuf merges
// a message field that appears twice.
type model struct {
	w *walker

	irVersion        int64
	hasIRVersion     bool
	producer         string
	producerVersion  string
	domain           string
	modelVersion     int64
	opsets           []opset
	metadataProps    int
	nodes            int // in the main graph
	subgraphNodes    int // in If/Loop/Scan bodies and training graphs
	functionNodes    int
	subgraphs        int
	trainingGraphs   int
	initializers     int
	sparse           int
	hasGraph         bool
	graphDepth       int
	inFunction       bool
	ops              map[opKey]*opStat
	opOrder          []opKey
	functions        map[opKey]bool
	ext              map[string]*extRef
	extOrder         []string
	externalTensors  int
	functionsDefined int
	stored           int // bytes of strings kept, against maxStored
	// collect makes walkTensor keep every external tensor's entries in
	// tensors, for ExternalTensors; Analyze does not need them.
	collect bool
	tensors []ExternalTensor
}

// keep accounts for strings kept until the report.
func (m *model) keep(ss ...string) error {
	for _, s := range ss {
		m.stored += len(s)
	}
	if m.stored > maxStored {
		return fmt.Errorf("more than %d bytes of names and locations to remember: %w", maxStored, errLimit)
	}
	return nil
}

func newModel(w *walker) *model {
	return &model{w: w, ops: map[opKey]*opStat{}, functions: map[opKey]bool{}, ext: map[string]*extRef{}}
}

func isBytes(f field, num protowire.Number) bool {
	return f.num == num && f.typ == protowire.BytesType
}

func isVarint(f field, num protowire.Number) bool {
	return f.num == num && f.typ == protowire.VarintType
}

// walkModel decodes a ModelProto spanning [start, end). A field whose wire
// type does not match onnx.proto is an unknown field to protobuf, and is
// skipped here too.
func (m *model) walkModel(start, end int64) error {
	return m.w.message(start, end, func(f field) error {
		var err error
		switch {
		case isVarint(f, modelIRVersion):
			m.irVersion, m.hasIRVersion = int64(f.val), true
		case isBytes(f, modelProducerName):
			m.producer, _, err = m.w.str(f, maxName)
		case isBytes(f, modelProducerVersion):
			m.producerVersion, _, err = m.w.str(f, maxName)
		case isBytes(f, modelDomain):
			m.domain, _, err = m.w.str(f, maxName)
		case isVarint(f, modelModelVersion):
			m.modelVersion = int64(f.val)
		case isBytes(f, modelGraph):
			m.hasGraph = true
			err = m.walkGraph(f)
		case isBytes(f, modelOpsetImport):
			err = m.walkOpset(f)
		case isBytes(f, modelMetadataProps):
			m.metadataProps++
		case isBytes(f, modelTrainingInfo):
			err = m.w.message(f.start, f.end, func(g field) error {
				if isBytes(g, trainingInitialization) || isBytes(g, trainingAlgorithm) {
					m.trainingGraphs++
					return m.walkSubgraph(g)
				}
				return nil
			})
		case isBytes(f, modelFunctions):
			err = m.walkFunction(f)
		}
		return err
	})
}

func (m *model) walkOpset(f field) error {
	var o opset
	err := m.w.message(f.start, f.end, func(g field) error {
		var err error
		switch {
		case isBytes(g, opsetDomain):
			o.domain, _, err = m.w.str(g, maxName)
		case isVarint(g, opsetVersion):
			o.version = int64(g.val)
		}
		return err
	})
	if len(m.opsets) < 1000 {
		m.opsets = append(m.opsets, o)
	}
	return err
}

func (m *model) walkGraph(f field) error {
	return m.w.message(f.start, f.end, func(g field) error {
		switch {
		case isBytes(g, graphNode):
			return m.walkNode(g)
		case isBytes(g, graphInitializer):
			m.initializers++
			return m.walkTensor(g)
		case isBytes(g, graphSparseInitializer):
			m.sparse++
			return m.walkSparse(g)
		}
		return nil
	})
}

// walkSubgraph walks a graph held by an attribute or a TrainingInfoProto.
func (m *model) walkSubgraph(f field) error {
	m.graphDepth++
	defer func() { m.graphDepth-- }()
	return m.walkGraph(f)
}

func (m *model) walkFunction(f field) error {
	var id opKey
	m.inFunction = true
	defer func() { m.inFunction = false }()
	err := m.w.message(f.start, f.end, func(g field) error {
		var err error
		switch {
		case isBytes(g, functionName):
			id.op, _, err = m.w.str(g, maxName)
		case isBytes(g, functionDomain):
			id.domain, _, err = m.w.str(g, maxName)
		case isBytes(g, functionNode):
			err = m.walkNode(g)
		}
		return err
	})
	m.functionsDefined++
	if len(m.functions) >= maxDistinct {
		return errors.Join(err, fmt.Errorf("more than %d local functions: %w", maxDistinct, errLimit))
	}
	m.functions[id] = true
	return errors.Join(err, m.keep(id.domain, id.op))
}

func (m *model) walkNode(f field) error {
	var op opKey
	var attrs []strAttr
	err := m.w.message(f.start, f.end, func(g field) error {
		var err error
		switch {
		case isBytes(g, nodeOpType):
			op.op, _, err = m.w.str(g, maxName)
		case isBytes(g, nodeDomain):
			op.domain, _, err = m.w.str(g, maxName)
		case isBytes(g, nodeAttribute):
			err = m.walkAttribute(g, &attrs)
		}
		return err
	})
	switch {
	case m.inFunction:
		m.functionNodes++
	case m.graphDepth > 0:
		m.subgraphNodes++
	default:
		m.nodes++
	}
	// A node cut short by an error is still recorded: what was read of it
	// may be what matters.
	if st := m.ops[op]; st != nil {
		st.count++
		return err
	}
	if len(m.ops) >= maxDistinct {
		return errors.Join(err, fmt.Errorf("more than %d distinct operators: %w", maxDistinct, errLimit))
	}
	st := &opStat{count: 1, off: f.off}
	kept := []string{op.domain, op.op}
	if pythonOps[op.op] {
		st.attrs = attrs
		for _, a := range attrs {
			kept = append(kept, a.name, a.value)
		}
	}
	m.ops[op] = st
	m.opOrder = append(m.opOrder, op)
	return errors.Join(err, m.keep(kept...))
}

func (m *model) walkAttribute(f field, attrs *[]strAttr) error {
	var a strAttr
	hasS := false
	err := m.w.message(f.start, f.end, func(g field) error {
		var err error
		switch {
		case isBytes(g, attrName):
			a.name, _, err = m.w.str(g, maxName)
		case isBytes(g, attrS):
			a.value, _, err = m.w.str(g, maxName)
			hasS = true
		case isBytes(g, attrT), isBytes(g, attrTensors):
			err = m.walkTensor(g)
		case isBytes(g, attrSparseTensor), isBytes(g, attrSparseTensors):
			err = m.walkSparse(g)
		case isBytes(g, attrG), isBytes(g, attrGraphs):
			m.subgraphs++
			err = m.walkSubgraph(g)
		}
		return err
	})
	if hasS && len(*attrs) < 16 {
		*attrs = append(*attrs, a)
	}
	return err
}

func (m *model) walkSparse(f field) error {
	return m.w.message(f.start, f.end, func(g field) error {
		if isBytes(g, sparseValues) || isBytes(g, sparseIndices) {
			return m.walkTensor(g)
		}
		return nil
	})
}

// walkTensor reads a tensor's name and external_data; raw_data and the
// typed data arrays are skipped without being read.
func (m *model) walkTensor(f field) error {
	var name string
	var dataLocation uint64
	type loc struct {
		value     string
		truncated bool
		off       int64
	}
	var locs []loc
	// The entries a loader uses: the last of each key (onnx's
	// ExternalDataInfo sets an attribute per entry, in order).
	var last loc
	var offset, length extEntry
	err := m.w.message(f.start, f.end, func(g field) error {
		var err error
		switch {
		case isBytes(g, tensorName):
			name, _, err = m.w.str(g, maxName)
		case isVarint(g, tensorDataLocation):
			dataLocation = g.val
		case isBytes(g, tensorExternalData):
			var key, value string
			var truncated bool
			var off int64
			err = m.w.message(g.start, g.end, func(h field) error {
				var err error
				switch {
				case isBytes(h, entryKey):
					key, _, err = m.w.str(h, maxName)
				case isBytes(h, entryValue):
					value, truncated, err = m.w.str(h, maxLocation)
					off = h.start
				}
				return err
			})
			// Loaders take the last "location" entry; every one is checked.
			switch {
			case key == "location":
				last = loc{value, truncated, off}
				if len(locs) < 64 {
					locs = append(locs, last)
				}
			case key == "offset" && m.collect:
				offset = extEntry{value, truncated, true}
			case key == "length" && m.collect:
				length = extEntry{value, truncated, true}
			}
		}
		return err
	})
	if len(locs) > 0 {
		m.externalTensors++
	}
	if m.collect && len(locs) > 0 {
		if e := m.collectTensor(name, last.value, last.truncated, last.off, dataLocation == dataLocationExternal, offset, length); e != nil {
			return errors.Join(err, e)
		}
	}
	for _, l := range locs {
		if r := m.ext[l.value]; r != nil {
			r.count++
			continue
		}
		if len(m.ext) >= maxDistinct {
			return errors.Join(err, fmt.Errorf("more than %d distinct external data locations: %w", maxDistinct, errLimit))
		}
		m.ext[l.value] = &extRef{location: l.value, truncated: l.truncated, off: l.off, tensor: name, count: 1,
			notExtern: dataLocation != dataLocationExternal}
		m.extOrder = append(m.extOrder, l.value)
		if e := m.keep(l.value, name); e != nil {
			return errors.Join(err, e)
		}
	}
	return err
}
