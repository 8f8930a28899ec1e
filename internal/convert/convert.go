// Package convert turns PyTorch checkpoints (the torch.save zip format and
// the legacy format) and NumPy .npy/.npz files into safetensors without
// executing anything, and compares model files tensor by tensor.
//
// A checkpoint's pickle is run on the symbolic VM of internal/pickle and
// judged against a small allowlist: the functions torch.save's reducers
// name to rebuild tensors and parameters (torch._utils._rebuild_tensor_v2
// and friends), storages named by persistent ids, OrderedDict, torch.Size
// and plain dicts, lists, tuples and scalars. Anything else — any other
// global, a call of anything else, BUILD on anything but an OrderedDict,
// NEWOBJ, a structural anomaly — refuses the whole file with a reason that
// names the global or opcode and its offset. A malicious file is never
// "cleaned".
//
// Tensor data is streamed: the safetensors header is computed from shapes
// and written first, then each tensor is copied from its zip member or
// legacy storage through an io.ReaderAt, a chunk at a time. Views (storage
// offsets, strides) are written contiguously; tensors that share a storage
// (tied weights) are each written as their own copy and reported.
package convert

import (
	"bytes"
	"cmp"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/modelgate/modelgate/internal/formats/zipfile"
)

// Limits bound the work and memory of reading one model file.
type Limits struct {
	MaxOpcodes int64 // pickle opcodes
	MaxItems   int   // container items in the pickle, all containers together
	MaxTensors int   // tensors and storages
	MaxMembers int   // zip members
	// ViewCache bounds the memory used to gather one strided view.
	ViewCache int64
}

// DefaultLimits are far beyond real checkpoints (a 70B-parameter state dict
// has a few thousand tensors) and keep a hostile file to a few hundred MB.
func DefaultLimits() Limits {
	return Limits{MaxOpcodes: 50_000_000, MaxItems: 4_000_000, MaxTensors: 1_000_000, MaxMembers: 1_000_000,
		ViewCache: defaultViewCache}
}

// Options configure reading a model file.
type Options struct {
	// Key selects one entry of a nested checkpoint (e.g. "model" or
	// "state_dict", dotted for deeper ones) instead of flattening it all.
	Key    string
	Limits Limits
}

func (o *Options) limits() Limits {
	if o.Limits == (Limits{}) {
		return DefaultLimits()
	}
	return o.Limits
}

// Model is the tensors of a model file, ready to be read.
type Model struct {
	// Format is "pytorch-zip", "pytorch-legacy", "npy", "npz" or "safetensors".
	Format  string
	Tensors []*Tensor
	// Skipped lists values that are not tensors (epoch numbers, config
	// strings, ...): they are not converted.
	Skipped []Skipped
	// Shared lists the tensors that share a storage (tied weights, views
	// of one buffer): each is written as its own copy.
	Shared []SharedGroup
	// Metadata is a safetensors source's __metadata__.
	Metadata map[string]string
}

// Skipped is a non-tensor leaf of a checkpoint.
type Skipped struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // Python type: int, float, str, None, ...
}

// SharedGroup is a set of tensors that read the same storage.
type SharedGroup struct {
	Storage string   `json:"storage"`
	Names   []string `json:"names"`
}

// legacyMagic is torch's MAGIC_NUMBER, the first pickle of a legacy file.
var legacyMagic = []byte{0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

const legacyMagicDecimal = "119547037146038801333356"

// Open reads the structure of a model file (never its tensor data) and
// returns its tensors. A *RefusedError says why a file is not accepted.
func Open(r io.ReaderAt, size int64, opts Options) (*Model, error) {
	head := make([]byte, 64)
	n, _ := r.ReadAt(head, 0)
	head = head[:n]
	lim := opts.limits()
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return openZip(r, size, opts, lim)
	case bytes.HasPrefix(head, []byte("\x93NUMPY")):
		t, err := openNpy(r, size, "array", "")
		if err != nil {
			return nil, err
		}
		return finish(&Model{Format: "npy", Tensors: []*Tensor{t}}, lim)
	case len(head) > 2 && head[0] == 0x80 && bytes.Contains(head, legacyMagic):
		return openLegacy(r, size, opts, lim)
	case isSafetensors(head):
		return openSafetensors(r, size, lim)
	}
	return nil, refuse("", -1, "not a supported model format (torch.save zip or legacy checkpoint, .npy, .npz, safetensors)")
}

func openZip(r io.ReaderAt, size int64, opts Options, lim Limits) (*Model, error) {
	a, err := zipfile.Read(r, size, lim.MaxMembers)
	if err != nil {
		return nil, refuse("", -1, "zip: %v", err)
	}
	for _, an := range a.Anomalies {
		switch an.Kind {
		case zipfile.DuplicateName, zipfile.NameMismatch, zipfile.Overlap, zipfile.BadLocalHeader,
			zipfile.NoCentralDir, zipfile.PrefixData:
			return nil, refuse(an.Entry, an.Offset, "zip anomaly (%s): %s", an.Kind, an.Detail)
		}
	}
	names := make([]string, len(a.Entries))
	npz := len(a.Entries) > 0
	for i, e := range a.Entries {
		names[i] = e.Name
		npz = npz && strings.HasSuffix(e.Name, ".npy")
	}
	if npz {
		return openNpz(a, lim)
	}
	return openTorchZip(a, names, opts, lim)
}

// finish checks every tensor against its storage and reports sharing.
func finish(m *Model, lim Limits) (*Model, error) {
	if len(m.Tensors) > lim.MaxTensors {
		return nil, refuse("", -1, "more than %d tensors", lim.MaxTensors)
	}
	seen := map[string]bool{}
	groups := map[*storage][]string{}
	var order []*storage
	for _, t := range m.Tensors {
		if seen[t.Name] {
			return nil, refuse("", -1, "two tensors are named %q", t.Name)
		}
		seen[t.Name] = true
		if err := t.check(); err != nil {
			return nil, refuse("", -1, "%v", err)
		}
		if _, ok := groups[t.st]; !ok {
			order = append(order, t.st)
		}
		groups[t.st] = append(groups[t.st], t.Name)
	}
	for _, st := range order {
		if len(groups[st]) > 1 {
			m.Shared = append(m.Shared, SharedGroup{Storage: st.key, Names: groups[st]})
		}
	}
	return m, nil
}

// tree turns an evaluated pickle object into named tensors and skipped
// leaves, after selecting opts.Key.
type tree struct {
	root     string // name of a tensor at the top (the key, or "tensor")
	m        *Model
	storages map[*storageRef]*storage
	lim      Limits
}

func (tr *tree) build(root any, key string) error {
	tr.root = "tensor"
	if key != "" {
		tr.root = key
		sel, err := selectKey(root, key)
		if err != nil {
			return err
		}
		root = sel
	}
	return tr.walk(root, "", 0)
}

// selectKey follows a dotted key through dicts (and list indices); a dict
// key that itself contains dots is matched whole first.
func selectKey(root any, key string) (any, error) {
	cur, rest := root, key
	for rest != "" {
		switch n := cur.(type) {
		case *dictNode:
			found := false
			// The longest prefix of rest that is a key of this dict.
			for end := len(rest); end > 0; end = strings.LastIndexByte(rest[:end], '.') {
				if v, ok := n.lookup(rest[:end]); ok {
					cur, rest, found = v, strings.TrimPrefix(rest[end:], "."), true
					break
				}
			}
			if !found {
				return nil, refuse("", -1, "--key %q: no entry %q in the checkpoint (top-level keys: %s)", key, rest, keyList(root))
			}
		case *listNode:
			part, after, _ := strings.Cut(rest, ".")
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(n.items) {
				return nil, refuse("", -1, "--key %q: no index %q", key, part)
			}
			cur, rest = n.items[i], after
		default:
			return nil, refuse("", -1, "--key %q: %q is not inside a dict", key, rest)
		}
	}
	return cur, nil
}

func keyList(root any) string {
	d, ok := root.(*dictNode)
	if !ok {
		return "none: the checkpoint is not a dict"
	}
	var ks []string
	for _, k := range d.keys {
		if len(ks) == 10 {
			ks = append(ks, "…")
			break
		}
		ks = append(ks, render.Render(k))
	}
	return strings.Join(ks, ", ")
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func (tr *tree) walk(n any, name string, depth int) error {
	if depth > maxDepth {
		return refuse("", -1, "checkpoint nested deeper than %d", maxDepth)
	}
	switch n := n.(type) {
	case *tensorRef:
		if name == "" {
			name = tr.root
		}
		if len(tr.m.Tensors) >= tr.lim.MaxTensors {
			return refuse("", -1, "more than %d tensors", tr.lim.MaxTensors)
		}
		st := tr.storages[n.st]
		if st == nil {
			return refuse("", n.st.pos, "storage %q has no data", n.st.key)
		}
		tr.m.Tensors = append(tr.m.Tensors, &Tensor{Name: name, DType: st.dtype, Shape: n.shape, Offset: n.offset,
			Strides: n.stride, st: st})
	case *dictNode:
		for i, k := range n.keys {
			kn, ok := keyName(k)
			if !ok {
				tr.m.Skipped = append(tr.m.Skipped, Skipped{Name: name + "[" + render.Render(k) + "]", Kind: "entry with a key that cannot name a tensor"})
				continue
			}
			if err := tr.walk(n.vals[i], join(name, kn), depth+1); err != nil {
				return err
			}
		}
	case *listNode:
		for i, it := range n.items {
			if err := tr.walk(it, join(name, strconv.Itoa(i)), depth+1); err != nil {
				return err
			}
		}
	case leafNode:
		tr.m.Skipped = append(tr.m.Skipped, Skipped{Name: name, Kind: n.kind})
	default:
		return refuse("", -1, "unexpected value at %q", name)
	}
	return nil
}

// sortedForWrite orders tensors as the safetensors library does: larger
// elements first (so every tensor is aligned to its element size), then by
// name.
func sortedForWrite(ts []*Tensor) []*Tensor {
	out := slices.Clone(ts)
	slices.SortStableFunc(out, func(a, b *Tensor) int {
		if c := cmp.Compare(b.DType.Size, a.DType.Size); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

func (d *dictNode) lookup(name string) (any, bool) {
	for i, k := range d.keys {
		if kn, ok := keyName(k); ok && kn == name {
			return d.vals[i], true
		}
	}
	return nil, false
}
