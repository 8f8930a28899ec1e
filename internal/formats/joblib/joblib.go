// Package joblib knows how joblib.dump lays out NumPy arrays inside a
// pickle: after the BUILD of each joblib.numpy_pickle.NumpyArrayWrapper the
// array's raw bytes follow (after an alignment padding in joblib >= 1.2's
// layout), or, for arrays of Python objects, a separate pickle. joblib's
// unpickler reads them straight from the file and then goes on unpickling,
// so a scanner that does not skip them stops at the first array and misses
// every opcode after it.
package joblib

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/modelgate/modelgate/internal/pickle"
)

// wrapperClasses are the globals whose BUILD is followed by array data.
var wrapperClasses = map[string]bool{
	"joblib.numpy_pickle.NumpyArrayWrapper": true,
	// Vendored copies, e.g. sklearn.externals.joblib in old scikit-learn.
	"sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper": true,
}

// sidecarClasses are joblib 0.8–0.9's wrappers: the array lives in a
// separate file whose name the pickle gives, and joblib.load opens it
// (np.load with allow_pickle=True for NDArrayWrapper).
var sidecarClasses = map[string]bool{
	"joblib.numpy_pickle.NDArrayWrapper":         true,
	"joblib.numpy_pickle.ZNDArrayWrapper":        true,
	"joblib.numpy_pickle_compat.NDArrayWrapper":  true,
	"joblib.numpy_pickle_compat.ZNDArrayWrapper": true,
}

// Inline tracks the arrays found in one pickle stream.
type Inline struct {
	Arrays      int   // arrays skipped
	ObjectArray int   // arrays stored as a nested pickle
	Bytes       int64 // array bytes skipped, not read
	// Sidecars are the file names old joblib wrappers load; Escaping are
	// those that leave the pickle's directory.
	Sidecars []string
	Escaping []string
}

// AfterBuild implements pickle.Options.AfterBuild.
func (in *Inline) AfterBuild(_ int64, inst, state pickle.Value) (pickle.Inline, error) {
	if inst.Obj == nil || inst.Obj.Func.Kind != pickle.KindGlobal {
		return pickle.Inline{}, nil
	}
	class := inst.Obj.Func.Obj.Global.Path()
	if sidecarClasses[class] {
		in.sidecar(state)
		return pickle.Inline{}, nil
	}
	if !wrapperClasses[class] {
		return pickle.Inline{}, nil
	}
	st, err := readState(state)
	if err != nil {
		return pickle.Inline{}, fmt.Errorf("joblib NumpyArrayWrapper: %w", err)
	}
	if st.object {
		in.ObjectArray++
		return pickle.Inline{Pickle: true}, nil
	}
	n := st.count * st.itemSize
	in.Arrays++
	in.Bytes += n
	// Aligned arrays start with one byte giving the padding length.
	return pickle.Inline{PadByte: st.aligned, Skip: n}, nil
}

type wrapperState struct {
	count    int64
	itemSize int64
	object   bool
	aligned  bool
}

// readState extracts shape, dtype and alignment from the wrapper's state
// dict: {'subclass': ..., 'shape': (..), 'order': 'C', 'dtype': dtype(...),
// 'allow_mmap': ..., 'numpy_array_alignment_bytes': 16}.
func readState(state pickle.Value) (wrapperState, error) {
	var st wrapperState
	if state.Kind != pickle.KindDict || state.Obj == nil || int64(len(state.Obj.Items)/2) != state.Obj.Count {
		return st, errors.New("state is not a complete dict")
	}
	var haveShape, haveDtype bool
	for i := 0; i+1 < len(state.Obj.Items); i += 2 {
		key, _ := state.Obj.Items[i].AsString()
		v := state.Obj.Items[i+1]
		switch key {
		case "shape":
			c, err := count(v)
			if err != nil {
				return st, err
			}
			st.count, haveShape = c, true
		case "dtype":
			size, object, err := dtypeSize(v)
			if err != nil {
				return st, err
			}
			st.itemSize, st.object, haveDtype = size, object, true
		case "numpy_array_alignment_bytes":
			st.aligned = v.Kind != pickle.KindNone
		}
	}
	if !haveShape || !haveDtype {
		return st, errors.New("state lacks shape or dtype")
	}
	if !st.object && st.itemSize > 0 && st.count > (1<<62)/st.itemSize {
		return st, errors.New("array size overflows")
	}
	return st, nil
}

func count(shape pickle.Value) (int64, error) {
	items, all := shape.TupleItems()
	if !all {
		return 0, errors.New("shape is not a complete tuple")
	}
	n := int64(1)
	for _, d := range items {
		if d.Kind != pickle.KindInt || d.Int < 0 {
			return 0, fmt.Errorf("shape has a non-integer dimension")
		}
		if d.Int != 0 && n > (1<<62)/d.Int {
			return 0, errors.New("shape overflows")
		}
		n *= d.Int
	}
	return n, nil
}

// dtypeSize reads numpy.dtype(code, align, copy) with its BUILD state
// (version, byteorder, subarray, names, fields, elsize, alignment, flags).
func dtypeSize(v pickle.Value) (int64, bool, error) {
	if v.Kind != pickle.KindCall || v.Obj == nil || v.Obj.Func.Kind != pickle.KindGlobal || v.Obj.Func.Obj.Global.Path() != "numpy.dtype" {
		return 0, false, errors.New("dtype is not numpy.dtype(...)")
	}
	args, _ := v.Obj.Args.TupleItems()
	if len(args) == 0 {
		return 0, false, errors.New("numpy.dtype without a type code")
	}
	code, ok := args[0].AsString()
	if !ok || code == "" {
		return 0, false, errors.New("numpy.dtype type code is not a string")
	}
	var elsize, flags int64 = -1, 0
	if v.Obj.Built {
		if st, _ := v.Obj.State.TupleItems(); len(st) >= 8 {
			if st[5].Kind == pickle.KindInt {
				elsize = st[5].Int
			}
			if st[7].Kind == pickle.KindInt {
				flags = st[7].Int
			}
		}
	}
	// NPY_ITEM_HASOBJECT: a structured dtype with an object field.
	object := code[0] == 'O' || flags&0x01 != 0
	if object {
		return 0, true, nil
	}
	if elsize > 0 {
		return elsize, false, nil
	}
	n, err := strconv.ParseInt(strings.TrimLeft(code[1:], "<>|="), 10, 64)
	if err != nil || n <= 0 {
		return 0, false, fmt.Errorf("numpy.dtype(%q): unknown item size", code)
	}
	if code[0] == 'U' {
		n *= 4
	}
	return n, false, nil
}

// sidecar records the file an old wrapper will open: joblib joins it to the
// pickle's directory, so an absolute name or ".." reads anywhere.
func (in *Inline) sidecar(state pickle.Value) {
	if state.Kind != pickle.KindDict || state.Obj == nil {
		return
	}
	for i := 0; i+1 < len(state.Obj.Items); i += 2 {
		if key, _ := state.Obj.Items[i].AsString(); key != "filename" {
			continue
		}
		name := state.Obj.Items[i+1].Str
		if len(in.Sidecars) < 64 {
			in.Sidecars = append(in.Sidecars, name)
		}
		if strings.HasPrefix(name, "/") || strings.HasPrefix(name, "\\") || strings.Contains(name, ":") ||
			slices.Contains(strings.FieldsFunc(name, func(r rune) bool { return r == '/' || r == '\\' }), "..") {
			in.Escaping = append(in.Escaping, name)
		}
	}
}
