// Package pytorch knows how PyTorch lays out its files: which members of a
// torch.save or TorchScript zip torch.load reads, and the legacy format of
// several pickles followed by raw storage bytes.
package pytorch

import (
	"strings"
)

// Role is what a zip member is to torch.load / torch.jit.load.
type Role int

// Member roles.
const (
	RoleOther    Role = iota // not part of the layout: analysed like any member
	RolePickle               // unpickled by the loader (data.pkl, constants.pkl, *.pkl)
	RoleStorage              // raw tensor bytes (data/N, .data/N): never unpickled
	RoleMetadata             // version, byteorder, .data/serialization_id, .data/version
	RoleCode                 // TorchScript source (code/**.py)
	RoleOutside              // outside the folder torch reads
)

// ZipLayout is a PyTorch zip archive's shape.
type ZipLayout struct {
	Format string // "pytorch-zip" or "torchscript"
	// Top is the folder torch reads: the one of the first member, whatever
	// its name (torch.save writes "archive", but any name is accepted).
	Top string
}

// DetectZip decides from the member names whether a zip is a PyTorch
// archive, the way torch's reader does: the folder of the first member,
// holding data.pkl (torch.save) or constants.pkl / code/ (TorchScript).
func DetectZip(names []string) (ZipLayout, bool) {
	if len(names) == 0 {
		return ZipLayout{}, false
	}
	top, _, ok := strings.Cut(names[0], "/")
	if !ok || top == "" {
		return ZipLayout{}, false
	}
	// torch's reader looks members up case-insensitively (miniz's
	// mz_zip_reader_locate_file without MZ_ZIP_FLAG_CASE_SENSITIVE), so
	// "archive/DATA.PKL" is data.pkl.
	prefix := strings.ToLower(top) + "/"
	var data, constants, code bool
	for _, n := range names {
		n = strings.ToLower(n)
		switch {
		case n == prefix+"data.pkl":
			data = true
		case n == prefix+"constants.pkl":
			constants = true
		case strings.HasPrefix(n, prefix+"code/"):
			code = true
		}
	}
	switch {
	case constants || code:
		return ZipLayout{Format: "torchscript", Top: top}, true
	case data:
		return ZipLayout{Format: "pytorch-zip", Top: top}, true
	}
	return ZipLayout{}, false
}

// Role returns the role of a member in this layout.
func (l ZipLayout) Role(name string) Role {
	rest, ok := strings.CutPrefix(strings.ToLower(name), strings.ToLower(l.Top)+"/")
	if !ok {
		return RoleOutside
	}
	switch {
	case rest == "version" || rest == "byteorder" || rest == ".data/version" || rest == ".data/serialization_id" ||
		rest == "extra/producer_info.json":
		return RoleMetadata
	case strings.HasSuffix(rest, ".pkl") || strings.HasSuffix(rest, ".debug_pkl"):
		return RolePickle
	case strings.HasPrefix(rest, "data/") || strings.HasPrefix(rest, ".data/") || strings.HasPrefix(rest, "constants/"):
		return RoleStorage
	case strings.HasPrefix(rest, "code/"):
		return RoleCode
	}
	return RoleOther
}

// IsTarLayout reports whether tar member names are PyTorch's oldest
// format (before 0.4): sys_info, pickle, storages and tensors.
func IsTarLayout(names []string) bool {
	need := map[string]bool{"sys_info": false, "pickle": false, "storages": false, "tensors": false}
	for _, n := range names {
		if _, ok := need[n]; ok {
			need[n] = true
		}
	}
	for _, seen := range need {
		if !seen {
			return false
		}
	}
	return true
}
