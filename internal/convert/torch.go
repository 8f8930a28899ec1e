package convert

import (
	"encoding/binary"
	"io"
	"strings"

	"github.com/modelgate/modelgate/internal/formats/pytorch"
	"github.com/modelgate/modelgate/internal/formats/zipfile"
	"github.com/modelgate/modelgate/internal/pickle"
)

// openTorchZip reads a torch.save zip: <top>/data.pkl is interpreted, and
// each storage key names the member <top>/data/<key>, looked up without
// regard to case as torch's reader does.
func openTorchZip(a *zipfile.Archive, names []string, opts Options, lim Limits) (*Model, error) {
	layout, ok := pytorch.DetectZip(names)
	if !ok {
		return nil, refuse("", -1, "zip archive is neither a torch.save checkpoint nor an .npz")
	}
	if layout.Format != "pytorch-zip" {
		return nil, refuse("", -1, "%s archives are not converted (TorchScript code runs when they are loaded)", layout.Format)
	}
	prefix := strings.ToLower(layout.Top) + "/"
	byName := map[string]*zipfile.Entry{}
	for _, e := range a.Entries {
		ln := strings.ToLower(e.Name)
		if !strings.HasPrefix(ln, prefix) {
			return nil, refuse(e.Name, -1, "member outside the archive folder %q (torch refuses the file)", layout.Top)
		}
		if _, dup := byName[ln]; dup {
			return nil, refuse(e.Name, -1, "two members named %q (differing in case only)", e.Name)
		}
		byName[ln] = e
	}
	pklEntry := byName[prefix+"data.pkl"]
	pkl, err := openMember(a, pklEntry)
	if err != nil {
		return nil, refuse(pklEntry.Name, -1, "%v", err)
	}
	swap := false
	if bo := byName[prefix+"byteorder"]; bo != nil {
		order, err := smallMember(a, bo)
		if err != nil {
			return nil, err
		}
		switch order {
		case "little":
		case "big":
			swap = true
		default:
			return nil, refuse(bo.Name, -1, "unknown byte order %q", order)
		}
	}
	run, in, err := runPickles(pkl, 0, pkl.size, 1, pklEntry.Name, lim)
	if err != nil {
		return nil, err
	}
	root, err := in.eval(run.stops[0], 0)
	if err != nil {
		return nil, err
	}
	m := &Model{Format: layout.Format}
	tr := &tree{m: m, storages: map[*storageRef]*storage{}, lim: lim}
	for _, ref := range run.storages {
		e := byName[prefix+"data/"+strings.ToLower(ref.key)]
		if e == nil {
			return nil, refuse(pklEntry.Name, ref.pos, "storage %q has no member %sdata/%s", ref.key, layout.Top+"/", ref.key)
		}
		mem, err := openMember(a, e)
		if err != nil {
			return nil, refuse(e.Name, -1, "%v", err)
		}
		if err := storageKind(ref, pklEntry.Name); err != nil {
			return nil, err
		}
		need := ref.numel * int64(ref.dtype.Size)
		if mem.size < need {
			return nil, refuse(e.Name, -1, "storage %q needs %d bytes but the member has %d", ref.key, need, mem.size)
		}
		tr.storages[ref] = &storage{key: ref.key, r: mem, size: need, dtype: ref.dtype, swap: swap && ref.dtype.Size > 1}
	}
	if err := tr.build(root, opts.Key); err != nil {
		return nil, err
	}
	return finish(m, lim)
}

// storageKind refuses storages that are not on the CPU: their location
// string is what torch.load's map_location sees, and only "cpu" and
// device names are ordinary.
func storageKind(ref *storageRef, member string) error {
	loc := ref.location
	if loc == "cpu" || strings.HasPrefix(loc, "cuda") || strings.HasPrefix(loc, "mps") || strings.HasPrefix(loc, "xpu") || loc == "meta" {
		if loc == "meta" {
			return refuse(member, ref.pos, "storage %q is on the meta device: it has no data", ref.key)
		}
		return nil
	}
	return refuse(member, ref.pos, "storage %q has unknown location %q", ref.key, loc)
}

// smallMember reads a short text member (version, byteorder).
func smallMember(a *zipfile.Archive, e *zipfile.Entry) (string, error) {
	mem, err := openMember(a, e)
	if err != nil {
		return "", refuse(e.Name, -1, "%v", err)
	}
	if mem.size > 64 {
		return "", refuse(e.Name, -1, "member of %d bytes where a short text is expected", mem.size)
	}
	b := make([]byte, mem.size)
	if err := readFull(mem, b, 0); err != nil {
		return "", refuse(e.Name, -1, "%v", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// openLegacy reads torch.save(..., _use_new_zipfile_serialization=False):
// five pickles (magic number, protocol version, sys_info, the object, the
// storage keys) and then, for each key in that order, an int64 element
// count and the raw elements.
func openLegacy(r io.ReaderAt, size int64, opts Options, lim Limits) (*Model, error) {
	run, in, err := runPickles(r, 0, size, 5, "", lim)
	if err != nil {
		return nil, err
	}
	if v := run.stops[0]; v.Kind != pickle.KindBigInt || v.Str != legacyMagicDecimal {
		return nil, refuse("", v.Pos, "first pickle is not torch's magic number")
	}
	if v := run.stops[1]; v.Kind != pickle.KindInt || v.Int != 1001 {
		return nil, refuse("", v.Pos, "legacy protocol version %s (want 1001)", render.Render(v))
	}
	if err := legacySysInfo(run.stops[2]); err != nil {
		return nil, err
	}
	root, err := in.eval(run.stops[3], 0)
	if err != nil {
		return nil, err
	}
	keysV := run.stops[4]
	kl, err := in.eval(keysV, 0)
	if err != nil {
		return nil, err
	}
	list, ok := kl.(*listNode)
	if !ok || keysV.Kind != pickle.KindList {
		return nil, refuse("", keysV.Pos, "storage key list is %s", render.Render(keysV))
	}
	keys := keysV.Obj.Items
	m := &Model{Format: "pytorch-legacy"}
	tr := &tree{m: m, storages: map[*storageRef]*storage{}, lim: lim}
	off := run.end
	seen := map[string]bool{}
	for i := range list.items {
		key, ok := keys[i].AsString()
		if !ok {
			return nil, refuse("", keys[i].Pos, "storage key %s is not a str", render.Render(keys[i]))
		}
		ref := run.storages[key]
		if ref == nil {
			return nil, refuse("", keys[i].Pos, "storage key %q is not used by any tensor (torch fails on it)", key)
		}
		if seen[key] {
			return nil, refuse("", keys[i].Pos, "storage key %q is listed twice", key)
		}
		seen[key] = true
		if err := storageKind(ref, ""); err != nil {
			return nil, err
		}
		var nb [8]byte
		if off > size-8 {
			return nil, refuse("", off, "file ends before storage %q", key)
		}
		if err := readFull(r, nb[:], off); err != nil {
			return nil, refuse("", off, "storage %q: %v", key, err)
		}
		numel := int64(binary.LittleEndian.Uint64(nb[:]))
		if numel != ref.numel {
			return nil, refuse("", off, "storage %q has %d elements in the file but %d in its persistent id (torch fails on it)", key, numel, ref.numel)
		}
		need := numel * int64(ref.dtype.Size)
		if need > size-off-8 {
			return nil, refuse("", off, "storage %q of %d bytes runs past the end of the file", key, need)
		}
		tr.storages[ref] = &storage{key: key, r: io.NewSectionReader(r, off+8, need), size: need, dtype: ref.dtype}
		off += 8 + need
	}
	for key, ref := range run.storages {
		if !seen[key] {
			return nil, refuse("", ref.pos, "storage %q is not in the storage key list: torch would leave it uninitialised", key)
		}
	}
	if off != size {
		return nil, refuse("", off, "%d bytes after the last storage", size-off)
	}
	if err := tr.build(root, opts.Key); err != nil {
		return nil, err
	}
	return finish(m, lim)
}

// legacySysInfo accepts little-endian files only; big-endian legacy files
// (written on a big-endian machine) are refused rather than guessed at.
func legacySysInfo(v pickle.Value) error {
	if v.Kind != pickle.KindDict || v.Obj == nil {
		return refuse("", v.Pos, "sys_info is %s, not a dict", render.Render(v))
	}
	items := v.Obj.Items
	for i := 0; i+1 < len(items); i += 2 {
		if k, _ := items[i].AsString(); k == "little_endian" {
			if items[i+1].Kind == pickle.KindBool && items[i+1].Int == 1 {
				return nil
			}
			return refuse("", items[i+1].Pos, "legacy file written on a big-endian machine: not supported")
		}
	}
	return refuse("", v.Pos, "sys_info does not say the byte order")
}
