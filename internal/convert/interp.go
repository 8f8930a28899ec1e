package convert

import (
	"fmt"
	"io"
	"strconv"

	"github.com/modelgate/modelgate/internal/pickle"
)

// RefusedError says why a file is not converted: something in it is outside
// the allowlisted rebuild graph (a global, a call, an opcode), or its
// structure is not what torch.save / NumPy writes. convert never removes
// such parts to "clean" a file: it refuses the whole file.
type RefusedError struct {
	Reason string
	// Member is the archive member the reason is in ("" for the file).
	Member string
	// Offset is the byte offset in the member or file, or -1.
	Offset int64
}

func (e *RefusedError) Error() string {
	s := "refused: " + e.Reason
	if e.Offset >= 0 {
		s += fmt.Sprintf(" at offset %d", e.Offset)
	}
	if e.Member != "" {
		s += fmt.Sprintf(" in %q", e.Member)
	}
	return s
}

func refuse(member string, off int64, format string, args ...any) *RefusedError {
	return &RefusedError{Reason: fmt.Sprintf(format, args...), Member: member, Offset: off}
}

// callables are the only globals a converted pickle may call: the functions
// torch.save's reducers name for tensors and parameters, and the containers
// state dicts are made of. Calling them rebuilds data and runs nothing else.
var callables = map[string]bool{
	"torch._utils._rebuild_tensor_v2":            true,
	"torch._utils._rebuild_tensor":               true,
	"torch._utils._rebuild_parameter":            true,
	"torch._utils._rebuild_parameter_with_state": true,
	"torch.nn.parameter.Parameter":               true,
	"collections.OrderedDict":                    true,
	"torch.Size":                                 true,
}

// allowedImport reports whether a global may be imported: a callable above,
// or a typed storage class, which may only appear as the type in a storage
// persistent id (it is never called).
func allowedImport(g *pickle.Global) bool {
	if callables[g.Path()] {
		return true
	}
	_, ok := storageDTypes[g.Name]
	return ok && g.Module == "torch"
}

// storageRef is a storage named by a persistent id.
type storageRef struct {
	key      string
	dtype    DType
	numel    int64
	location string
	pos      int64 // of the persistent id, for messages
}

// tensorRef is a tensor rebuilt by _rebuild_tensor(_v2).
type tensorRef struct {
	st     *storageRef
	offset int64
	shape  []int64
	stride []int64
}

// dictNode is a dict or OrderedDict in file order.
type dictNode struct {
	keys []pickle.Value
	vals []any
}

// listNode is a list or tuple.
type listNode struct{ items []any }

// leafNode is a non-tensor value: None, bool, int, float, str, bytes.
type leafNode struct{ kind string }

// pickleRun is what interpreting one stream found.
type pickleRun struct {
	stops    map[int]pickle.Value // value returned by each pickle
	items    map[*pickle.Object][]pickle.Value
	storages map[string]*storageRef
	end      int64
}

// interp checks a pickle stream against the allowlist while the VM runs,
// then evaluates the returned object graph.
type interp struct {
	member   string
	lim      Limits
	refusal  *RefusedError
	run      *pickleRun
	nitems   int
	cache    map[*pickle.Object]any
	visiting map[*pickle.Object]bool
}

func (in *interp) fail(off int64, format string, args ...any) {
	if in.refusal == nil {
		in.refusal = refuse(in.member, off, format, args...)
	}
}

var render = pickle.Renderer{}

// runPickles decodes up to maxPickles pickles of [start, end) and returns
// their values; every event must be allowlisted.
func runPickles(r io.ReaderAt, start, end int64, maxPickles int, member string, lim Limits) (*pickleRun, *interp, error) {
	in := &interp{member: member, lim: lim, run: &pickleRun{stops: map[int]pickle.Value{},
		items: map[*pickle.Object][]pickle.Value{}, storages: map[string]*storageRef{}},
		cache: map[*pickle.Object]any{}, visiting: map[*pickle.Object]bool{}}
	pl := pickle.DefaultLimits()
	pl.MaxOpcodes = lim.MaxOpcodes
	pl.KeepItems = lim.MaxItems
	pl.KeepBytes = maxName
	pl.MaxAnomalies = 8
	res := pickle.Run(r, start, end, pickle.Options{
		Limits:     pl,
		MaxPickles: maxPickles,
		OnEvent:    in.event,
		OnStop: func(p int, _ int64, v pickle.Value) {
			in.run.stops[p] = v
		},
		OnItems: in.onItems,
	})
	in.run.end = res.End
	if in.refusal != nil {
		return nil, in, in.refusal
	}
	if len(res.Anomalies) > 0 {
		a := res.Anomalies[0]
		return nil, in, refuse(member, a.Pos, "pickle anomaly (%s): %s", a.Kind, a.Detail)
	}
	if res.Err != nil {
		return nil, in, refuse(member, res.End, "pickle: %v", res.Err)
	}
	if len(res.Pickles) < maxPickles {
		return nil, in, refuse(member, res.End, "stream ends after %d of %d pickles", len(res.Pickles), maxPickles)
	}
	return in.run, in, nil
}

// event judges one thing a real load would do.
func (in *interp) event(e *pickle.Event) {
	if in.refusal != nil {
		return
	}
	op := opName(e.Op)
	switch e.Kind {
	case pickle.EventImport:
		if !allowedImport(e.Global) {
			in.fail(e.Pos, "global %s (%s) is not in the allowlist of the torch rebuild graph", e.Global.Path(), op)
		}
	case pickle.EventCall:
		if e.Global == nil || !callables[e.Global.Path()] {
			in.fail(e.Pos, "%s calls %s, which is not an allowlisted rebuild function", op, render.Render(e.Func))
		}
	case pickle.EventNew:
		in.fail(e.Pos, "%s instantiates %s: objects are not rebuilt", op, render.Render(e.Func))
	case pickle.EventBuild:
		if g := e.Global; g == nil || g.Path() != "collections.OrderedDict" || e.Args.Kind != pickle.KindDict {
			in.fail(e.Pos, "BUILD sets the state of %s: only an OrderedDict's attributes may be set", render.Render(e.Func))
		}
	case pickle.EventMutate:
		in.fail(e.Pos, "%s changes the global %s", op, render.Render(e.Func))
	case pickle.EventPersistentID:
		// Judged when the object graph is evaluated.
	}
}

func (in *interp) onItems(op byte, pos int64, target pickle.Value, items []pickle.Value) {
	if in.refusal != nil {
		return
	}
	switch target.Kind {
	case pickle.KindDict, pickle.KindList:
		// The VM keeps them (KeepItems is MaxItems); only count.
	case pickle.KindCall:
		if g := classOf(target); g == nil || g.Path() != "collections.OrderedDict" || (op != opSetitem && op != opSetitems) {
			in.fail(pos, "%s adds items to %s", opName(op), render.Render(target))
			return
		}
		o := target.Obj
		in.run.items[o] = append(in.run.items[o], items...)
	default:
		in.fail(pos, "%s adds items to %s", opName(op), render.Render(target))
		return
	}
	in.nitems += len(items)
	if in.nitems > in.lim.MaxItems {
		in.fail(pos, "more than %d container items", in.lim.MaxItems)
	}
}

func classOf(v pickle.Value) *pickle.Global {
	if v.Obj != nil && v.Obj.Func.Kind == pickle.KindGlobal && v.Obj.Func.Obj != nil {
		return v.Obj.Func.Obj.Global
	}
	return nil
}

// Opcodes named in messages (the VM keeps its table private).
const (
	opSetitem  = 's'
	opSetitems = 'u'
)

var opNames = map[byte]string{
	'R': "REDUCE", 'i': "INST", 'o': "OBJ", 0x81: "NEWOBJ", 0x92: "NEWOBJ_EX", 'b': "BUILD",
	'c': "GLOBAL", 0x93: "STACK_GLOBAL", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4",
	'a': "APPEND", 'e': "APPENDS", 's': "SETITEM", 'u': "SETITEMS", 0x90: "ADDITEMS",
	'P': "PERSID", 'Q': "BINPERSID",
}

func opName(op byte) string {
	if n, ok := opNames[op]; ok {
		return n
	}
	return fmt.Sprintf("opcode 0x%02x", op)
}

// maxDepth caps the nesting of the evaluated object graph.
const maxDepth = 64

// maxName caps keys and storage names (bytes kept per string).
const maxName = 64 << 10

// eval turns a symbolic value into the converter's tree. Everything the
// event checks let through is interpreted here by its structure, and
// anything unexpected is refused.
func (in *interp) eval(v pickle.Value, depth int) (any, error) {
	if depth > maxDepth {
		return nil, refuse(in.member, v.Pos, "object graph nested deeper than %d", maxDepth)
	}
	switch v.Kind {
	case pickle.KindNone:
		return leafNode{"None"}, nil
	case pickle.KindBool:
		return leafNode{"bool"}, nil
	case pickle.KindInt, pickle.KindBigInt:
		return leafNode{"int"}, nil
	case pickle.KindFloat:
		return leafNode{"float"}, nil
	case pickle.KindStr:
		return leafNode{"str"}, nil
	case pickle.KindBytes:
		return leafNode{"bytes"}, nil
	}
	o := v.Obj
	if o == nil {
		return nil, refuse(in.member, v.Pos, "unsupported value %s", render.Render(v))
	}
	if r, ok := in.cache[o]; ok {
		return r, nil
	}
	if in.visiting[o] {
		return nil, refuse(in.member, v.Pos, "the object graph is recursive")
	}
	in.visiting[o] = true
	defer delete(in.visiting, o)
	r, err := in.evalObj(v, depth)
	if err != nil {
		return nil, err
	}
	in.cache[o] = r
	return r, nil
}

func (in *interp) evalObj(v pickle.Value, depth int) (any, error) {
	o := v.Obj
	switch v.Kind {
	case pickle.KindTuple, pickle.KindList:
		if int64(len(o.Items)) != o.Count {
			return nil, refuse(in.member, v.Pos, "container of %d items is over the limit of %d", o.Count, in.lim.MaxItems)
		}
		return in.evalList(o.Items, depth)
	case pickle.KindDict:
		if int64(len(o.Items)) != 2*o.Count {
			return nil, refuse(in.member, v.Pos, "dict of %d items is over the limit of %d", o.Count, in.lim.MaxItems)
		}
		return in.evalDict(v.Pos, o.Items, depth)
	case pickle.KindCall:
		g := classOf(v)
		if g == nil {
			return nil, refuse(in.member, v.Pos, "call of %s", render.Render(o.Func))
		}
		args, all := o.Args.TupleItems()
		if !all || o.Args.Kind != pickle.KindTuple {
			return nil, refuse(in.member, v.Pos, "%s called with %s", g.Path(), render.Render(o.Args))
		}
		return in.evalCall(v, g, args, depth)
	case pickle.KindPersistent:
		return nil, refuse(in.member, v.Pos, "a storage (%s) outside of a tensor rebuild", render.Render(v))
	}
	return nil, refuse(in.member, v.Pos, "unsupported value %s", render.Render(v))
}

func (in *interp) evalList(items []pickle.Value, depth int) (any, error) {
	l := &listNode{items: make([]any, 0, len(items))}
	for _, it := range items {
		x, err := in.eval(it, depth+1)
		if err != nil {
			return nil, err
		}
		l.items = append(l.items, x)
	}
	return l, nil
}

func (in *interp) evalDict(pos int64, items []pickle.Value, depth int) (any, error) {
	if len(items)%2 != 0 {
		return nil, refuse(in.member, pos, "dict with an odd number of items")
	}
	d := &dictNode{}
	seen := map[string]int{}
	for i := 0; i < len(items); i += 2 {
		val, err := in.eval(items[i+1], depth+1)
		if err != nil {
			return nil, err
		}
		k := items[i]
		// A later equal key replaces the value of the earlier one and
		// keeps its place, as in Python.
		if id, ok := keyID(k); ok {
			if j, dup := seen[id]; dup {
				d.vals[j] = val
				continue
			}
			seen[id] = len(d.keys)
		}
		d.keys = append(d.keys, k)
		d.vals = append(d.vals, val)
	}
	return d, nil
}

// keyID identifies str and int (and bool: True == 1) keys for duplicate
// detection.
func keyID(k pickle.Value) (string, bool) {
	switch k.Kind {
	case pickle.KindStr:
		if s, ok := k.AsString(); ok {
			return "s" + s, true
		}
	case pickle.KindInt, pickle.KindBool:
		return "i" + strconv.FormatInt(k.Int, 10), true
	}
	return "", false
}

func (in *interp) evalCall(v pickle.Value, g *pickle.Global, args []pickle.Value, depth int) (any, error) {
	o := v.Obj
	path := g.Path()
	if o.Built && path != "collections.OrderedDict" {
		return nil, refuse(in.member, v.Pos, "BUILD on %s", path)
	}
	switch path {
	case "collections.OrderedDict":
		if len(args) != 0 {
			return nil, refuse(in.member, v.Pos, "OrderedDict called with arguments %s", render.Render(o.Args))
		}
		if o.Built {
			// torch's state dicts carry _metadata (module versions): plain
			// data, checked like any value and then dropped.
			if _, err := in.eval(o.State, depth+1); err != nil {
				return nil, err
			}
		}
		return in.evalDict(v.Pos, in.run.items[o], depth)
	case "torch.Size":
		if len(args) != 1 || args[0].Kind != pickle.KindTuple {
			return nil, refuse(in.member, v.Pos, "torch.Size called with %s", render.Render(o.Args))
		}
		return in.eval(args[0], depth+1)
	case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
		return in.rebuildTensor(v, path, args, depth)
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state", "torch.nn.parameter.Parameter":
		return in.rebuildParameter(v, path, args, depth)
	}
	return nil, refuse(in.member, v.Pos, "call of %s", path)
}

// rebuildTensor interprets _rebuild_tensor_v2(storage, storage_offset,
// size, stride, requires_grad, backward_hooks[, metadata]) and
// _rebuild_tensor(storage, storage_offset, size, stride).
func (in *interp) rebuildTensor(v pickle.Value, path string, args []pickle.Value, depth int) (any, error) {
	bad := func(format string, a ...any) error {
		return refuse(in.member, v.Pos, "%s: %s", path, fmt.Sprintf(format, a...))
	}
	switch {
	case path == "torch._utils._rebuild_tensor" && len(args) != 4:
		return nil, bad("%d arguments (want 4)", len(args))
	case path == "torch._utils._rebuild_tensor_v2" && len(args) != 6 && len(args) != 7:
		return nil, bad("%d arguments (want 6 or 7)", len(args))
	}
	st, err := in.storage(args[0])
	if err != nil {
		return nil, err
	}
	if args[1].Kind != pickle.KindInt {
		return nil, bad("storage offset %s is not an int", render.Render(args[1]))
	}
	shape, err := in.ints(args[2], depth)
	if err != nil {
		return nil, bad("size: %v", err)
	}
	stride, err := in.ints(args[3], depth)
	if err != nil {
		return nil, bad("stride: %v", err)
	}
	if len(args) >= 6 {
		if args[4].Kind != pickle.KindBool && args[4].Kind != pickle.KindInt {
			return nil, bad("requires_grad %s is not a bool", render.Render(args[4]))
		}
		if err := in.emptyHooks(args[5], depth); err != nil {
			return nil, bad("%v", err)
		}
	}
	if len(args) == 7 {
		// metadata: a dict of plain values (torch._utils.set_tensor_metadata).
		if _, err := in.eval(args[6], depth+1); err != nil {
			return nil, err
		}
	}
	return &tensorRef{st: st, offset: args[1].Int, shape: shape, stride: stride}, nil
}

// rebuildParameter interprets _rebuild_parameter(data, requires_grad,
// backward_hooks), _rebuild_parameter_with_state(..., state) and the old
// Parameter(data, requires_grad): the tensor is the data.
func (in *interp) rebuildParameter(v pickle.Value, path string, args []pickle.Value, depth int) (any, error) {
	want := map[string][2]int{
		"torch._utils._rebuild_parameter":            {3, 3},
		"torch._utils._rebuild_parameter_with_state": {4, 4},
		"torch.nn.parameter.Parameter":               {1, 2},
	}[path]
	if len(args) < want[0] || len(args) > want[1] {
		return nil, refuse(in.member, v.Pos, "%s: %d arguments", path, len(args))
	}
	data, err := in.eval(args[0], depth+1)
	if err != nil {
		return nil, err
	}
	if _, ok := data.(*tensorRef); !ok {
		return nil, refuse(in.member, v.Pos, "%s of something that is not a tensor", path)
	}
	if len(args) > 1 && args[1].Kind != pickle.KindBool && args[1].Kind != pickle.KindInt {
		return nil, refuse(in.member, v.Pos, "%s: requires_grad %s is not a bool", path, render.Render(args[1]))
	}
	if len(args) > 2 {
		if err := in.emptyHooks(args[2], depth); err != nil {
			return nil, refuse(in.member, v.Pos, "%s: %v", path, err)
		}
	}
	if len(args) > 3 {
		// state: None or a dict of plain attributes.
		if _, err := in.eval(args[3], depth+1); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// emptyHooks accepts backward_hooks that are an empty OrderedDict or dict.
func (in *interp) emptyHooks(v pickle.Value, depth int) error {
	x, err := in.eval(v, depth+1)
	if err != nil {
		return err
	}
	if d, ok := x.(*dictNode); ok && len(d.keys) == 0 {
		return nil
	}
	return fmt.Errorf("backward_hooks %s is not empty", render.Render(v))
}

// ints reads a tuple (or torch.Size) of ints.
func (in *interp) ints(v pickle.Value, depth int) ([]int64, error) {
	if v.Kind == pickle.KindCall {
		if g := classOf(v); g != nil && g.Path() == "torch.Size" {
			if args, all := v.Obj.Args.TupleItems(); all && len(args) == 1 {
				v = args[0]
			}
		}
	}
	items, all := v.TupleItems()
	if !all {
		return nil, fmt.Errorf("%s is not a tuple", render.Render(v))
	}
	if len(items) > maxDims {
		return nil, fmt.Errorf("%d dimensions (at most %d)", len(items), maxDims)
	}
	out := make([]int64, len(items))
	for i, it := range items {
		if it.Kind != pickle.KindInt {
			return nil, fmt.Errorf("%s is not an int", render.Render(it))
		}
		out[i] = it.Int
	}
	return out, nil
}

// storage interprets a persistent id ('storage', torch.XStorage, key,
// location, numel[, view_metadata]) — the only kind convert accepts.
func (in *interp) storage(v pickle.Value) (*storageRef, error) {
	if v.Kind != pickle.KindPersistent {
		return nil, refuse(in.member, v.Pos, "tensor storage %s is not a persistent id", render.Render(v))
	}
	pid := v.Obj.Args
	items, all := pid.TupleItems()
	if !all || len(items) < 5 || len(items) > 6 {
		return nil, refuse(in.member, v.Pos, "persistent id %s is not ('storage', type, key, location, numel)", render.Render(pid))
	}
	if s, ok := items[0].AsString(); !ok || s != "storage" {
		return nil, refuse(in.member, v.Pos, "persistent id of kind %s: only 'storage' is converted", render.Render(items[0]))
	}
	if items[1].Kind != pickle.KindGlobal {
		return nil, refuse(in.member, v.Pos, "storage type %s is not a torch storage class", render.Render(items[1]))
	}
	g := items[1].Obj.Global
	dt, ok := storageDTypes[g.Name]
	if !ok || g.Module != "torch" {
		return nil, refuse(in.member, v.Pos, "storage type %s is not supported", g.Path())
	}
	key, ok1 := items[2].AsString()
	loc, ok2 := items[3].AsString()
	if !ok1 || !ok2 || items[4].Kind != pickle.KindInt || items[4].Int < 0 {
		return nil, refuse(in.member, v.Pos, "malformed storage persistent id %s", render.Render(pid))
	}
	if len(items) == 6 && items[5].Kind != pickle.KindNone {
		return nil, refuse(in.member, v.Pos, "storage views (view_metadata %s) are not supported", render.Render(items[5]))
	}
	numel := items[4].Int
	if numel > maxTensorBytes {
		return nil, refuse(in.member, v.Pos, "storage of %d elements is too large", numel)
	}
	if old, ok := in.run.storages[key]; ok {
		if old.dtype != dt || old.numel != numel {
			return nil, refuse(in.member, v.Pos, "storage %q is declared as %s[%d] and as %s[%d]", key, old.dtype, old.numel, dt, numel)
		}
		return old, nil
	}
	if len(in.run.storages) >= in.lim.MaxTensors {
		return nil, refuse(in.member, v.Pos, "more than %d storages", in.lim.MaxTensors)
	}
	st := &storageRef{key: key, dtype: dt, numel: numel, location: loc, pos: v.Pos}
	in.run.storages[key] = st
	return st, nil
}

// keyName renders a dict key as a tensor name component: str as is, int in
// decimal; other keys cannot name a tensor.
func keyName(k pickle.Value) (string, bool) {
	switch k.Kind {
	case pickle.KindStr:
		return k.AsString()
	case pickle.KindInt:
		return strconv.FormatInt(k.Int, 10), true
	}
	return "", false
}
