#!/usr/bin/python3
"""Regenerate the fixtures of internal/convert.

    /usr/bin/python3 internal/convert/testdata/make_fixtures.py          # write + prove
    /usr/bin/python3 internal/convert/testdata/make_fixtures.py --check  # prove committed files

Needs Debian bookworm's Python 3.11 with python3-torch (1.13) and python3-numpy.  Writes
testdata/benign/*, testdata/malicious/* and testdata/expected.json (old fixture files are removed
first), then PROVES every fixture:
  * benign    -> torch.load(path) (or np.load) succeeds in a child process and creates no marker;
                 expected.json holds, per file (and per --key), every tensor's dtype, shape and
                 the SHA-256 of its contiguous little-endian bytes, computed from what torch.load /
                 np.load returns, plus the non-tensor leaves convert must report as skipped;
  * malicious -> torch.load(path) in a child process whose working directory is a fresh temporary
                 directory (HOME, TMPDIR there, stdin /dev/null) creates ./marker (the harmless
                 payload is `touch marker`).  convert must refuse these files.
--check does the same for the committed files (nothing is written), compares expected.json with
what the committed files load as, and, when a modelgate binary is given (MODELGATE=path, or `go`
is on PATH and the script runs inside the repository), converts every benign fixture with
`modelgate convert` and checks the safetensors output with plain Python (json + numpy, no
safetensors library: Debian has no python3-safetensors) against torch.load's tensors, bit for
bit.  Exit status is non-zero if any proof or check fails.
"""

import hashlib
import io
import json
import os
import pickle
import pickletools
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
import zlib

import numpy as np
import torch
from torch import nn

warnings.simplefilter("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
MARKER = "marker"
FIXTURES = []      # dict(file, data, kind=benign|malicious, loader=torch|numpy, keys=[...], why)


class Reduce:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def evil():
    return Reduce(os.system, ("touch " + MARKER,))     # pickles as posix.system('touch marker')


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)
        self.fc2 = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc2(torch.relu(self.bn(self.fc1(x))))


# --------------------------------------------------------------------------------------------
# writers (legacy_save is copied from internal/formats/pytorch/testdata/make_fixtures.py)
# --------------------------------------------------------------------------------------------
def torch_save(obj, **kw):
    b = io.BytesIO()
    torch.save(obj, b, **kw)
    return b.getvalue()


def split_pickles(data, n):
    f = io.BytesIO(data)
    spans = []
    for _ in range(n):
        s = f.tell()
        for _op in pickletools.genops(f):
            pass
        spans.append((s, f.tell()))
    return spans


class _Stub:
    def __init__(self, *a, **k):
        pass

    def __call__(self, *a, **k):
        return _Stub()

    def __setstate__(self, state):
        pass

    def __setitem__(self, k, v):
        pass


def legacy_storages(obj_pickle):
    found = {}

    class Rec(pickle.Unpickler):
        def find_class(self, mod, name):
            if mod == "torch" and name.endswith("Storage"):
                return ("storage-type", name)
            return _Stub

        def persistent_load(self, pid):
            if pid[0] == "storage":
                found.setdefault(pid[2], torch._utils._element_size(getattr(torch, pid[1][1]).dtype))
            return _Stub

    Rec(io.BytesIO(obj_pickle)).load()
    return found


def legacy_save(obj):
    """torch.save(_use_new_zipfile_serialization=False) with storage keys renamed from memory
    addresses to '0','1',... (order of first use) and re-sorted as torch sorts them, so that the
    output is deterministic."""
    data = torch_save(obj, _use_new_zipfile_serialization=False)
    spans = split_pickles(data, 5)
    (s4, e4), (s5, e5) = spans[3], spans[4]
    elsize = legacy_storages(data[s4:e4])
    mapping = {k: str(i) for i, k in enumerate(elsize)}
    old_keys = pickle.loads(data[s5:e5])
    assert sorted(old_keys) == sorted(mapping), (old_keys, mapping)
    raw, off = {}, e5
    for k in old_keys:
        n, = struct.unpack("<q", data[off:off + 8])
        size = 8 + n * elsize[k]
        raw[mapping[k]] = data[off:off + size]
        off += size
    assert off == len(data)
    obj_pickle = bytearray()
    last = s4
    for op, arg, pos in pickletools.genops(io.BytesIO(data[s4:e4])):
        if op.name == "BINUNICODE" and arg in mapping:
            new = mapping[arg]
            p = s4 + pos
            obj_pickle += data[last:p] + b"X" + struct.pack("<I", len(new)) + new.encode()
            last = p + 5 + len(arg.encode())
    obj_pickle += data[last:e4]
    keys = sorted(mapping.values())
    return (data[:s4] + bytes(obj_pickle) + pickle.dumps(keys, protocol=2)
            + b"".join(raw[k] for k in keys))


def rezip_deflate(zdata):
    """Re-zip every member deflated (another tool's zip: no alignment, no data descriptors)."""
    src = zipfile.ZipFile(io.BytesIO(zdata))
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        for i in src.infolist():
            zi = zipfile.ZipInfo(i.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, src.read(i))
    return b.getvalue()


def npy(arr):
    b = io.BytesIO()
    np.save(b, arr, allow_pickle=False)
    return b.getvalue()


def npz(compressed=False, **arrays):
    b = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(b, **arrays)
    # np.savez stamps members with the current time: rewrite with a fixed one.
    src = zipfile.ZipFile(io.BytesIO(b.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for i in src.infolist():
            zi = zipfile.ZipInfo(i.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = i.compress_type
            z.writestr(zi, src.read(i))
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# registration
# --------------------------------------------------------------------------------------------
def ben(file, data, why, loader="torch", keys=("",)):
    FIXTURES.append(dict(file="benign/" + file, data=data, kind="benign", loader=loader,
                         keys=list(keys), why=why))


def mal(file, data, why, refusal):
    FIXTURES.append(dict(file="malicious/" + file, data=data, kind="malicious", loader="torch",
                         keys=[""], why=why, refusal=refusal))


def every_dtype():
    torch.manual_seed(0)
    base = torch.randn(2, 3) * 100
    d = {
        "f64": base.double(), "f32": base.float(), "f16": base.half(), "bf16": base.bfloat16(),
        "i64": base.long() * 1000003, "i32": base.int() * 1009, "i16": base.short(),
        "i8": base.to(torch.int8), "u8": base.abs().to(torch.uint8), "bool": base > 0,
        "scalar": torch.tensor(3.25), "empty": torch.zeros(0, 3),
        "special": torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0, 1e-45]),
    }
    return d


def views():
    torch.manual_seed(1)
    w = torch.randn(5, 6)
    cube = torch.arange(24, dtype=torch.int32).reshape(2, 3, 4)
    return {
        "embed.weight": w, "head.weight": w,              # tied: the same tensor twice
        "rows_1_to_3": w[1:4],                             # storage offset
        "transposed": w.t(),                               # strides (1, 6)
        "column": w[:, 2],                                 # offset 2, stride 6
        "stepped": w[::2, 1::2],                           # offset 1, strides (12, 2)
        "flat": w.view(-1),
        "broadcast": torch.ones(3, 1).expand(3, 4),        # stride 0
        "cube.permuted": cube.permute(2, 0, 1),            # 3-D strides (1, 12, 4)
        "cube": cube,
    }


def benign():
    dt = every_dtype()
    ben("every-dtype.pt", torch_save(dt),
        "torch.save of one tensor per dtype safetensors holds (F64 F32 F16 BF16 I64 I32 I16 I8 U8 "
        "BOOL; torch 1.13 has no float8), a 0-dim scalar, an empty (0,3) tensor and NaN/Inf/-0/"
        "subnormal values; zip format, protocol 2")
    ben("every-dtype-legacy.pt", legacy_save(dt),
        "the same with _use_new_zipfile_serialization=False (legacy: five pickles + raw storages)")
    v = views()
    ben("views-and-tied.pt", torch_save(v),
        "one 5x6 storage behind a tied pair (embed.weight/head.weight), an offset slice, a "
        "transpose, a strided column, a stepped 2-D slice, a flat view; an expanded (stride 0) "
        "tensor; a permuted 3-D int32 tensor and its base")
    ben("views-and-tied-legacy.pt", legacy_save(v), "the same in the legacy format")
    torch.manual_seed(2)
    net = TinyNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(5, 4)).sum().backward()
    opt.step()
    ckpt = {"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
            "loss": 0.4321, "config": {"lr": 1e-3, "betas": (0.9, 0.999), "name": "tiny"}}
    ben("checkpoint.pt", torch_save(ckpt),
        "training checkpoint {model: TinyNet state_dict (OrderedDict with _metadata), "
        "optimizer: Adam state (int keys), epoch, loss, config}: flattened with dotted names, or "
        "--key model", keys=("", "model", "optimizer.state.0"))
    ben("checkpoint-p4.pt", torch_save(ckpt, pickle_protocol=4),
        "the same checkpoint with pickle_protocol=4 (FRAME, STACK_GLOBAL, MEMOIZE)",
        keys=("model",))
    ben("checkpoint-legacy.pt", legacy_save(ckpt), "the same checkpoint, legacy format",
        keys=("model",))
    ben("checkpoint-deflated.pt", rezip_deflate(torch_save(ckpt)),
        "the same checkpoint re-zipped by Python's zipfile with every member deflated",
        keys=("model",))
    torch.manual_seed(3)
    params = {"weight": nn.Parameter(torch.randn(3, 2)),
              "frozen": nn.Parameter(torch.randn(2), requires_grad=False)}
    ben("parameters.pt", torch_save(params),
        "nn.Parameter values: torch._utils._rebuild_parameter(_rebuild_tensor_v2(...), ...)")

    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    ben("array.npy", npy(a), "np.save of a float32 3x4 array (C order)", loader="numpy")
    ben("fortran.npy", npy(np.asfortranarray(rng.standard_normal((3, 5)))),
        "np.save of a Fortran-ordered float64 3x5 array: column-major data", loader="numpy")
    ben("bigendian.npy", npy(np.arange(6, dtype=">i4").reshape(2, 3)),
        "np.save of a big-endian int32 array ('>i4'): converted to little-endian", loader="numpy")
    ben("arrays.npz", npz(weight=a, bias=np.arange(4, dtype=np.int64),
                          mask=np.array([True, False, True]), u16=np.arange(3, dtype=np.uint16),
                          half=a.astype(np.float16)),
        "np.savez of float32, int64, bool, uint16 and float16 arrays (stored members)",
        loader="numpy")
    ben("arrays-compressed.npz", npz(True, weight=a, idx=np.arange(10, dtype=np.int8)),
        "np.savez_compressed (deflated members)", loader="numpy")
    ben("complex.pt", torch_save({"z": torch.tensor([1 + 2j, 3 - 4j])}),
        "a complex64 tensor: benign, but convert refuses it (safetensors has no complex dtype "
        "torch loads); verify still compares it", keys=())


def malicious():
    torch.manual_seed(0)
    sd = {"weight": torch.randn(2, 3), "bias": torch.zeros(2), "hook": evil()}
    mal("state-dict-posix-system.pt", torch_save(sd),
        "torch.save of a state dict holding an object whose __reduce__ is os.system: data.pkl "
        "calls posix.system('touch marker') next to real tensors", "posix.system")
    mal("legacy-posix-system.pt", legacy_save(sd),
        "the same state dict in the legacy format", "posix.system")
    net = TinyNet()
    msd = net.state_dict()
    msd._metadata[""]["note"] = evil()
    mal("metadata-posix-system.pt", torch_save(msd),
        "a clean-looking state dict whose OrderedDict _metadata (restored by BUILD) hides "
        "posix.system('touch marker'): every tensor is ordinary", "posix.system")


# --------------------------------------------------------------------------------------------
# expectations, computed from what the real loaders return
# --------------------------------------------------------------------------------------------
DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16",
          torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32", torch.int16: "I16",
          torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL", torch.complex64: "C64",
          torch.complex128: "C128"}
NP_DTYPES = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64",
             "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "uint16": "U16",
             "uint32": "U32", "uint64": "U64", "bool": "BOOL"}


def tensor_bytes(t):
    """Contiguous little-endian bytes of a tensor (this machine is little-endian)."""
    assert sys.byteorder == "little"
    t = t.detach().contiguous()
    if t.numel() == 0:
        return b""
    return t.reshape(-1).view(torch.uint8).numpy().tobytes()


def flatten(obj, name, tensors, skipped, root="tensor"):
    """Mirror of convert's naming: dotted dict keys (str, or int in decimal), list/tuple
    indices; a top-level tensor is named after --key (or 'tensor'); other leaves are skipped
    with their type."""
    if isinstance(obj, torch.Tensor):
        tensors[name or root] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(k, str) or (isinstance(k, int) and not isinstance(k, bool)):
                flatten(v, f"{name}.{k}" if name else str(k), tensors, skipped)
            else:
                skipped.append([f"{name}[{k!r}]", "entry with a key that cannot name a tensor"])
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            flatten(v, f"{name}.{i}" if name else str(i), tensors, skipped)
    else:
        skipped.append([name, "None" if obj is None else type(obj).__name__])


def select(obj, key):
    for part in key.split(".") if key else []:
        obj = obj[int(part)] if isinstance(obj, (list, tuple)) or (
            isinstance(obj, dict) and part not in obj and part.isdigit()) else obj[part]
    return obj


def load(path, loader):
    if loader == "numpy":
        z = np.load(path, allow_pickle=False)
        if isinstance(z, np.ndarray):
            return {"array": z}
        with z:
            return {k: z[k].copy() for k in z.files}
    return torch.load(path)


def describe(obj):
    if isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        return NP_DTYPES[a.dtype.name], list(a.shape), a.tobytes()
    return DTYPES[obj.dtype], list(obj.shape), tensor_bytes(obj)


def expectations(path, fx):
    obj = load(path, fx["loader"])
    out = {}
    for key in fx["keys"]:
        tensors, skipped = {}, []
        if fx["loader"] == "numpy":
            tensors = obj
        else:
            flatten(select(obj, key), "", tensors, skipped, key or "tensor")
        exp = {}
        for name, t in tensors.items():
            dt, shape, raw = describe(t)
            exp[name] = dict(dtype=dt, shape=shape, sha256=hashlib.sha256(raw).hexdigest())
        out[key] = dict(tensors=exp, skipped=skipped)
    return out


def expected_json(base):
    doc = {}
    for fx in sorted(FIXTURES, key=lambda f: f["file"]):
        e = dict(kind=fx["kind"], description=fx["why"])
        if fx["kind"] == "benign":
            e["keys"] = expectations(os.path.join(base, fx["file"]), fx)
        else:
            e["refusal"] = fx["refusal"]
        doc[fx["file"]] = e
    return doc


# --------------------------------------------------------------------------------------------
# proofs (each load runs in a child in a fresh directory)
# --------------------------------------------------------------------------------------------
CHILD = r"""
import os, sys
path, loader = sys.argv[1], sys.argv[2]
status = "LOADED"
try:
    if loader == "numpy":
        import numpy as np
        r = np.load(path, allow_pickle=False)
    else:
        import torch
        r = torch.load(path)
    status = "LOADED " + type(r).__name__
except BaseException as e:
    status = "RAISED %s: %s" % (type(e).__name__, str(e).strip()[:120].replace("\n", " "))
print("\n@@RESULT@@ %s" % status)
sys.stdout.flush()
os._exit(0)
"""


def prove(fx, path):
    tmp = tempfile.mkdtemp(prefix="mg-proof-")
    try:
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, "LANG": "C.UTF-8",
               "PYTHONDONTWRITEBYTECODE": "1"}
        r = subprocess.run([sys.executable, "-c", CHILD, path, fx["loader"]], cwd=tmp, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
        out = r.stdout.decode(errors="replace")
        res = out.rsplit("@@RESULT@@", 1)[1].strip() if "@@RESULT@@" in out else "no result"
        marker = os.path.join(tmp, MARKER)
        deadline = time.time() + 5
        while fx["kind"] == "malicious" and not os.path.exists(marker) and time.time() < deadline:
            time.sleep(0.1)
        exists = os.path.exists(marker)
        if fx["kind"] == "malicious":
            return exists, res
        return (not exists and res.startswith("LOADED")), res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_proofs(base):
    failed = []
    for fx in sorted(FIXTURES, key=lambda f: f["file"]):
        ok, res = prove(fx, os.path.join(base, fx["file"]))
        label = ("proven      " if ok else "PROOF FAILED") if fx["kind"] == "malicious" else \
            ("benign loads" if ok else "LOAD FAILED ")
        print(f"{label}  {fx['file']}  [{res}]")
        if not ok:
            failed.append(fx["file"])
    return failed


# --------------------------------------------------------------------------------------------
# checking modelgate's outputs with plain Python (no safetensors library)
# --------------------------------------------------------------------------------------------
def read_safetensors(path):
    with open(path, "rb") as fh:
        data = fh.read()
    n, = struct.unpack("<Q", data[:8])
    assert n % 8 == 0, "header not padded to 8 bytes"
    hdr = json.loads(data[8:8 + n])
    body = data[8 + n:]
    meta = hdr.pop("__metadata__", {})
    out, ends = {}, []
    for name, e in hdr.items():
        b, end = e["data_offsets"]
        ends.append((b, end))
        out[name] = (e["dtype"], e["shape"], body[b:end])
    ends.sort()
    pos = 0
    for b, end in ends:                      # contiguous, no gaps or overlaps (as safetensors checks)
        assert b == pos, (b, pos)
        pos = end
    assert pos == len(body), (pos, len(body))
    return meta, out


def modelgate_binary():
    if os.environ.get("MODELGATE"):
        return os.environ["MODELGATE"], None
    if shutil.which("go") is None and not os.path.exists("/usr/local/go/bin/go"):
        return None, None
    go = shutil.which("go") or "/usr/local/go/bin/go"
    d = tempfile.mkdtemp(prefix="mg-bin-")
    exe = os.path.join(d, "modelgate")
    subprocess.run([go, "build", "-o", exe, "./cmd/modelgate"], cwd=REPO, check=True)
    return exe, d


def check_outputs(base):
    exe, tmpbin = modelgate_binary()
    if exe is None:
        print("(info) no modelgate binary (set MODELGATE=path or install go): outputs not checked")
        return []
    failed = []
    work = tempfile.mkdtemp(prefix="mg-conv-")
    try:
        for fx in sorted(FIXTURES, key=lambda f: f["file"]):
            path = os.path.join(base, fx["file"])
            keys = fx["keys"] if fx["kind"] == "benign" else [""]
            for key in keys or [""]:
                out = os.path.join(work, "out.safetensors")
                if os.path.exists(out):
                    os.remove(out)
                cmd = [exe, "convert", path, "-o", out] + (["--key", key] if key else [])
                r = subprocess.run(cmd, capture_output=True, cwd=work)
                want_ok = fx["kind"] == "benign" and fx["keys"]
                tag = f"{fx['file']}{' --key ' + key if key else ''}"
                if not want_ok:
                    ok = r.returncode == 1 and not os.path.exists(out)
                    print(f"{'refused     ' if ok else 'NOT REFUSED '}  {tag}  (exit {r.returncode})")
                    if not ok:
                        failed.append(tag)
                    continue
                if r.returncode != 0:
                    print(f"CONVERT FAIL  {tag}: {r.stdout.decode()[-300:]} {r.stderr.decode()[-300:]}")
                    failed.append(tag)
                    continue
                meta, got = read_safetensors(out)
                obj = load(path, fx["loader"])
                tensors, skipped = {}, []
                if fx["loader"] == "numpy":
                    tensors = obj
                else:
                    flatten(select(obj, key), "", tensors, skipped, key or "tensor")
                bad = []
                if sorted(got) != sorted(tensors):
                    bad.append(f"names {sorted(got)} != {sorted(tensors)}")
                for name, t in tensors.items():
                    if name in got and got[name] != describe(t):
                        bad.append(f"tensor {name}: {got[name][:2]} vs {describe(t)[:2]}")
                with open(path, "rb") as fh:
                    sha = hashlib.sha256(fh.read()).hexdigest()
                if meta.get("format") != "pt" or meta.get("source_sha256") != sha:
                    bad.append(f"metadata {meta}")
                print(f"{'output ok   ' if not bad else 'OUTPUT BAD  '}  {tag}  "
                      f"({len(got)} tensors) {'; '.join(bad)}")
                if bad:
                    failed.append(tag)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if tmpbin:
            shutil.rmtree(tmpbin, ignore_errors=True)
    return failed


def main():
    benign()
    malicious()
    if sys.argv[1:] == ["--check"]:
        failed = run_proofs(HERE)
        with open(os.path.join(HERE, "expected.json")) as fh:
            committed = json.load(fh)
        if committed != expected_json(HERE):
            print("expected.json differs from what the committed files load as")
            failed.append("expected.json")
        differ = []
        for fx in FIXTURES:
            with open(os.path.join(HERE, fx["file"]), "rb") as fh:
                if fh.read() != fx["data"]:
                    differ.append(fx["file"])
        print(f"(info) committed bytes differ from a fresh build for: {sorted(differ)}")
        failed += check_outputs(HERE)
        print(f"checked committed fixtures; {len(failed)} failed: {failed}")
        return 1 if failed else 0
    for sub in ("benign", "malicious"):
        shutil.rmtree(os.path.join(HERE, sub), ignore_errors=True)
        os.makedirs(os.path.join(HERE, sub))
    for fx in FIXTURES:
        assert len(fx["data"]) < 60_000, (fx["file"], len(fx["data"]))
        with open(os.path.join(HERE, fx["file"]), "wb") as fh:
            fh.write(fx["data"])
    failed = run_proofs(HERE)
    with open(os.path.join(HERE, "expected.json"), "w") as fh:
        json.dump(expected_json(HERE), fh, indent=1, sort_keys=True)
        fh.write("\n")
    total = sum(len(f["data"]) for f in FIXTURES)
    print(f"{len(FIXTURES)} fixtures, {total} bytes; {len(failed)} failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
