package convert

import "fmt"

// DType is an element type, named as safetensors names it.
type DType struct {
	Name string // "F32", "BF16", ...; complex types use C64 / C128
	Size int    // bytes per element
	// Complex marks types safetensors cannot hold (C128) or that convert
	// refuses (C64): Verify still compares them.
	Complex bool
}

func (d DType) String() string { return d.Name }

// The element types. Every dtype safetensors can hold that torch or NumPy
// writes, plus complex types for Verify.
var (
	F64     = DType{Name: "F64", Size: 8}
	F32     = DType{Name: "F32", Size: 4}
	F16     = DType{Name: "F16", Size: 2}
	BF16    = DType{Name: "BF16", Size: 2}
	F8E4M3  = DType{Name: "F8_E4M3", Size: 1}
	F8E5M2  = DType{Name: "F8_E5M2", Size: 1}
	I64     = DType{Name: "I64", Size: 8}
	I32     = DType{Name: "I32", Size: 4}
	I16     = DType{Name: "I16", Size: 2}
	I8      = DType{Name: "I8", Size: 1}
	U64     = DType{Name: "U64", Size: 8}
	U32     = DType{Name: "U32", Size: 4}
	U16     = DType{Name: "U16", Size: 2}
	U8      = DType{Name: "U8", Size: 1}
	Bool    = DType{Name: "BOOL", Size: 1}
	C64     = DType{Name: "C64", Size: 8, Complex: true}
	C128    = DType{Name: "C128", Size: 16, Complex: true}
	allDTyp = []DType{F64, F32, F16, BF16, F8E4M3, F8E5M2, I64, I32, I16, I8, U64, U32, U16, U8, Bool, C64, C128}
)

// dtypeByName finds a safetensors dtype name.
func dtypeByName(name string) (DType, bool) {
	for _, d := range allDTyp {
		if d.Name == name {
			return d, true
		}
	}
	return DType{}, false
}

// storageDTypes maps torch's typed storage classes (the class in a
// persistent id ('storage', torch.FloatStorage, key, location, numel)) to
// element types. Quantized storages (QInt8Storage, ...) are absent: their
// tensors are rebuilt by _rebuild_qtensor, which is not allowed.
var storageDTypes = map[string]DType{
	"DoubleStorage":        F64,
	"FloatStorage":         F32,
	"HalfStorage":          F16,
	"BFloat16Storage":      BF16,
	"Float8_e4m3fnStorage": F8E4M3,
	"Float8_e5m2Storage":   F8E5M2,
	"LongStorage":          I64,
	"IntStorage":           I32,
	"ShortStorage":         I16,
	"CharStorage":          I8,
	"ByteStorage":          U8,
	"UInt16Storage":        U16,
	"UInt32Storage":        U32,
	"UInt64Storage":        U64,
	"BoolStorage":          Bool,
	"UntypedStorage":       U8,
	"ComplexFloatStorage":  C64,
	"ComplexDoubleStorage": C128,
}

// npyDType maps a NumPy descr ('<f4', '|b1', '>i8') to an element type and
// whether its bytes must be swapped to little-endian.
func npyDType(descr string) (DType, bool, error) {
	if len(descr) < 2 {
		return DType{}, false, fmt.Errorf("unsupported NumPy dtype %q", descr)
	}
	order, code := descr[0], descr[1:]
	var d DType
	switch code {
	case "f8":
		d = F64
	case "f4":
		d = F32
	case "f2":
		d = F16
	case "i8":
		d = I64
	case "i4":
		d = I32
	case "i2":
		d = I16
	case "i1":
		d = I8
	case "u8":
		d = U64
	case "u4":
		d = U32
	case "u2":
		d = U16
	case "u1":
		d = U8
	case "b1":
		d = Bool
	case "c8":
		d = C64
	case "c16":
		d = C128
	default:
		return DType{}, false, fmt.Errorf("unsupported NumPy dtype %q (only bool, integer, float and complex arrays are tensors)", descr)
	}
	switch order {
	case '<', '|', '=':
		return d, false, nil
	case '>':
		return d, d.Size > 1, nil
	}
	return DType{}, false, fmt.Errorf("unsupported NumPy dtype %q", descr)
}
