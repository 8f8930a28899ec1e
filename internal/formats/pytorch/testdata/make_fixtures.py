#!/usr/bin/python3
"""Regenerate the PyTorch fixtures of internal/formats/pytorch.

    /usr/bin/python3 internal/formats/pytorch/testdata/make_fixtures.py          # write + prove
    /usr/bin/python3 internal/formats/pytorch/testdata/make_fixtures.py --check  # prove committed

Needs Debian bookworm's Python 3.11 with python3-torch (1.13).  Writes testdata/malicious/*,
testdata/benign/* and testdata/manifest.json (old fixture files are removed first), then PROVES
every fixture: each file is loaded with the REAL loader (torch.load(path), weights_only=False as is
the 1.13 default, or torch.jit.load(path) for TorchScript) in a child process whose working
directory is a fresh temporary directory (HOME and TMPDIR point there, stdin is /dev/null).
  * malicious, "proven": true  -> the harmless payload must have created ./marker there;
  * malicious, "proven": false -> the load must raise and create no marker (the reason is in the
    description);
  * malformed                  -> torch refuses the file: the load must raise, no marker;
  * benign                     -> the load must succeed and create no marker.
Every fixture is also loaded with torch.load(path, weights_only=True) in the same kind of child,
and the outcome is recorded in the manifest ("weights_only": accept/reject, torch's error text,
whether torch.load handed the file to torch.jit.load, whether ./marker appeared): the scanner's
weights-only verdict is tested against it.  The weights-only fixtures (benign/wo-*) are ordinary
checkpoints that torch 1.13's weights-only unpickler accepts or refuses for a specific reason.
--check does the same for the files already committed (nothing is written) and also compares the
committed manifest.json with the one this script would write.  Exit status is non-zero if any
proof fails.

Payloads are harmless: each one only creates ./marker (relative to the loader's cwd).
"""

import io
import json
import os
import pickle
import pickletools
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
import zipfile
import zlib
from typing import Tuple

import torch
from torch import nn

warnings.simplefilter("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.abspath(__file__)
MARKER = "marker"
CMD = "touch marker"

FIXTURES = []

# Classes that the benign "whole module" fixtures pickle by reference (module __main__ when this
# script runs).  The proof child imports this file and copies them into its own __main__.
MAIN_CLASSES = ("TinyNet",)


class Reduce:
    """Object whose pickle is fn(*args): lets the standard pickler / torch.save emit a payload."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def evil():
    return Reduce(os.system, (CMD,))      # pickles as posix.system('touch marker')


class TinyNet(nn.Module):
    """Linear -> BatchNorm -> ReLU -> Linear: parameters plus float and int64 buffers."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc2(self.act(self.bn(self.fc1(x))))


class FromFileNet(nn.Module):
    """TorchScript module whose __setstate__ (run by torch.jit.load) calls torch.from_file with
    shared=True: the MapAllocator opens the path with O_CREAT, so loading creates ./marker."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(2))

    def forward(self, x):
        return x * self.w

    @torch.jit.export
    def __getstate__(self) -> Tuple[torch.Tensor, bool]:
        return (self.w, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, bool]) -> None:
        t = torch.from_file("marker", True, 1, dtype=torch.uint8)
        self.w = state[0]
        self.training = state[1] and t.numel() == 1


def tiny_net():
    torch.manual_seed(0)
    return TinyNet()


# --------------------------------------------------------------------------------------------
# writers
# --------------------------------------------------------------------------------------------
def torch_save(obj, **kw):
    """torch.save into a buffer: the zip's top folder is 'archive'."""
    b = io.BytesIO()
    torch.save(obj, b, **kw)
    return b.getvalue()


def torch_save_path(obj, stem, **kw):
    """torch.save to <tmp>/<stem>.pt: torch names the zip's top folder after the file stem."""
    d = tempfile.mkdtemp(prefix="mg-save-")
    try:
        p = os.path.join(d, stem + ".pt")
        torch.save(obj, p, **kw)
        with open(p, "rb") as fh:
            return fh.read()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def jit_save(m):
    b = io.BytesIO()
    torch.jit.save(m, b)
    return b.getvalue()


def records(zdata):
    """[(name without the top folder, bytes)] in archive order, and the top folder."""
    z = zipfile.ZipFile(io.BytesIO(zdata))
    top = z.infolist()[0].filename.split("/", 1)[0]
    return [(i.filename.split("/", 1)[1], z.read(i)) for i in z.infolist()], top


def torch_zip(recs):
    """Write records with torch's own zip writer (PyTorchFileWriter: 64-byte aligned stored
    entries, data descriptors, top folder 'archive'); 'version' is added if missing."""
    b = io.BytesIO()
    w = torch._C.PyTorchFileWriter(b)
    for name, data in recs:
        w.write_record(name, data, len(data))
    w.write_end_of_file()
    return b.getvalue()


def zipbuild(entries):
    """A minimal hand-written zip (no data descriptors, DOS time 1980-01-01 00:00).
    entry: dict(name, data, [lname]=local-header name, [crc], [flag], [method]=0|8)."""
    out, central = bytearray(), bytearray()
    for e in entries:
        data, name = e["data"], e["name"].encode()
        lname = e.get("lname", e["name"]).encode()
        method = e.get("method", 0)
        comp = data
        if method == 8:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            comp = c.compress(data) + c.flush()
        crc = e.get("crc", zlib.crc32(data))
        flag = e.get("flag", 0)
        off = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034b50, 20, flag, method, 0, 0x21, crc, len(comp),
                           len(data), len(lname), 0) + lname + comp
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 20, 20, flag, method, 0, 0x21,
                               crc, len(comp), len(data), len(name), 0, 0, 0, 0, 0, off) + name
    cd = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, len(entries), len(entries), len(central), cd,
                       0)
    return bytes(out)


def split_pickles(data, n):
    """Byte spans of the first n pickles of a stream (legacy torch.save has five)."""
    f = io.BytesIO(data)
    spans = []
    for _ in range(n):
        s = f.tell()
        for _op in pickletools.genops(f):
            pass
        spans.append((s, f.tell()))
    return spans


class _Stub:
    """Stand-in for every class while recording a legacy object pickle (nothing is imported)."""

    def __init__(self, *a, **k):
        pass

    def __call__(self, *a, **k):
        return _Stub()

    def __setstate__(self, state):
        pass

    def __setitem__(self, k, v):
        pass

    def append(self, x):
        pass

    def extend(self, x):
        pass


def legacy_storages(obj_pickle):
    """{storage key: element size} in the order the object pickle first references them."""
    found = {}

    class Rec(pickle.Unpickler):
        def find_class(self, mod, name):
            if mod == "torch" and name.endswith("Storage"):
                return ("storage-type", name)
            return _Stub

        def persistent_load(self, pid):
            if pid[0] == "storage":
                found.setdefault(pid[2], torch._utils._element_size(getattr(torch, pid[1][1]).dtype))
            return _Stub              # a type: 'module' ids stand for classes (NEWOBJ)

    Rec(io.BytesIO(obj_pickle)).load()
    return found


def legacy_save(obj):
    """torch.save(_use_new_zipfile_serialization=False), protocol 2: magic-number pickle,
    protocol-version pickle, sys-info pickle, the object pickle, the storage-key list pickle
    (sorted), then raw storages in that order (int64 element count + bytes each).  torch names
    storages by memory address (str(storage._cdata)), so the names and the order vary per run;
    the keys are renamed '0','1',... (order of first use in the object pickle), and the key
    list and raw storages are re-sorted the way torch sorts them, so that the output is
    deterministic (torch treats the keys as opaque strings)."""
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


def legacy_parts(data):
    spans = split_pickles(data, 5)
    return [data[s:e] for s, e in spans], data[spans[4][1]:]


def tar_member(name, data):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mtime, ti.mode, ti.uid, ti.gid, ti.uname, ti.gname = len(data), 0, 0o644, 0, 0, "", ""
    return ti


class _PID:
    def __init__(self, key):
        self.key = key


class _PidPickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.key if isinstance(obj, _PID) else None


def _pk(obj):
    b = io.BytesIO()
    _PidPickler(b, protocol=2).dump(obj)
    return b.getvalue()


def tar_save(result, tensors, override=None):
    """The oldest torch format (before 0.4?), which torch 1.13 still reads in
    serialization._legacy_load -> legacy_load(): a tar (PAX) with members 'sys_info' (not read
    by 1.13), 'pickle' (the object, tensors as persistent ids = tensor keys), 'tensors' and
    'storages'.  'storages': pickle(count), then per storage pickle((key, location, storage
    class)) + int64 element count + raw little-endian data, then pickle(list of views).
    'tensors': pickle(count), then per tensor pickle((key, storage key, tensor class)) + int32
    ndim + 4 bytes + sizes (int64 each) + strides + int64 storage offset.
    tensors: {name: tensor}; result: object with _PID(name) where a tensor goes."""
    st = _pk(len(tensors))
    te = _pk(len(tensors))
    for i, (name, t) in enumerate(tensors.items()):
        t = t.contiguous()
        st += _pk((i, "cpu", getattr(torch, t.storage().pickle_storage_type())))
        st += struct.pack("<q", t.numel()) + t.numpy().tobytes()
        te += _pk((100 + i, i, torch.FloatTensor))
        te += struct.pack("<i", t.dim()) + b"\0" * 4
        te += struct.pack(f"<{t.dim()}q", *t.shape) + struct.pack(f"<{t.dim()}q", *t.stride())
        te += struct.pack("<q", 0)
    st += _pk([])
    members = {
        "sys_info": _pk(dict(protocol_version=1001, little_endian=True,
                             type_sizes=dict(short=2, int=4, long=4))),
        "pickle": _pk(result),
        "tensors": te,
        "storages": st,
    }
    members.update(override or {})
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members.items():
            tf.addfile(tar_member(name, data), io.BytesIO(data))
    return b.getvalue()


# --------------------------------------------------------------------------------------------
# registration
# --------------------------------------------------------------------------------------------
def mal(file, data, threat, sev, evidence, desc, fmt, proven=True, loader="torch"):
    FIXTURES.append(dict(file="malicious/" + file, data=data, expect="malicious", threat=threat,
                         min_severity=sev, evidence=evidence, proven=proven, description=desc,
                         format=fmt, loader=loader, verify="marker" if proven else "fails",
                         main=False))


def malformed(file, data, threat, desc, fmt, loader="torch"):
    FIXTURES.append(dict(file="malicious/" + file, data=data, expect="malformed", threat=threat,
                         min_severity="", evidence="", proven=False, description=desc, format=fmt,
                         loader=loader, verify="fails", main=False))


def ben(file, data, desc, fmt, loader="torch", main=False):
    FIXTURES.append(dict(file="benign/" + file, data=data, expect="benign", description=desc,
                         format=fmt, loader=loader, verify="loads", main=main))


# ============================================================================================
# Benign fixtures
# ============================================================================================
def benign():
    sd = tiny_net().state_dict()
    ben("state-dict.pt", torch_save(sd),
        "torch.save(TinyNet().state_dict()) (Linear/BatchNorm1d/Linear: float32 params, "
        "running stats, int64 num_batches_tracked), zip format, data.pkl protocol 2, top folder "
        "'archive'", "pytorch-zip")
    ben("state-dict-p4.pt", torch_save(sd, pickle_protocol=4),
        "the same state_dict saved with pickle_protocol=4 (data.pkl has PROTO 4 and FRAME)",
        "pytorch-zip")
    ben("state-dict-p1-no-proto.pt", torch_save(sd, pickle_protocol=1),
        "the same state_dict saved with pickle_protocol=1: data.pkl starts with '}' (EMPTY_DICT), "
        "no \\x80 PROTO opcode, binary opcodes; torch.load reads it", "pytorch-zip")
    ben("state-dict-legacy.pt", legacy_save(sd),
        "the same state_dict with _use_new_zipfile_serialization=False: five pickles (magic "
        "number, protocol 1001, sys_info, object, storage keys) + raw storages; storage keys "
        "renamed from memory addresses to '0'..", "pytorch-legacy")
    ben("state-dict-renamed-top-folder.pt", torch_save_path(sd, "model_v2.final"),
        "the same state_dict saved by torch.save('model_v2.final.pt'): torch names the zip's top "
        "folder after the file stem ('model_v2.final/'), any single top folder is accepted",
        "pytorch-zip")
    recs, _ = records(torch_save(sd))
    ben("state-dict-rezipped-deflate.pt",
        zipbuild([dict(name="archive/" + n, data=d, method=8) for n, d in recs]),
        "the same state_dict re-zipped by another tool: every member deflated, no 64-byte "
        "alignment, no data descriptors; torch's miniz reader inflates it", "pytorch-zip")
    ben("whole-module.pt", torch_save(tiny_net()),
        "torch.save(TinyNet()) of a whole nn.Module whose class is defined in the saving script "
        "(__main__.TinyNet): the pickle imports __main__.TinyNet and torch.nn classes; an "
        "unknown-class (medium) finding, still benign at the default threshold", "pytorch-zip",
        main=True)
    ben("whole-module-legacy.pt", legacy_save(tiny_net()),
        "legacy torch.save(TinyNet()): each nn.Module class is a persistent id ('module', class, "
        "source file, source code) so the class source text is embedded; __main__.TinyNet",
        "pytorch-legacy", main=True)

    net = tiny_net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(5, 4)).sum().backward()
    opt.step()
    ben("checkpoint-adam.pt",
        torch_save({"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
                    "loss": 0.4321, "config": {"lr": 1e-3, "betas": (0.9, 0.999)}}),
        "training checkpoint {model, optimizer (Adam after one step: step, exp_avg, exp_avg_sq), "
        "epoch, loss, config}", "pytorch-zip")
    net = tiny_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10)
    net(torch.randn(5, 4)).sum().backward()
    opt.step()
    sched.step()
    ben("checkpoint-sgd-scheduler.pt",
        torch_save({"model": net.state_dict(), "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(), "epoch": 1, "loss": 1.5}),
        "training checkpoint with SGD momentum buffers and a StepLR scheduler state",
        "pytorch-zip")

    dtypes = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.complex64,
              torch.complex128, torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8,
              torch.bool]
    every = {str(dt).split(".")[1]: torch.arange(4).reshape(2, 2).to(dt) for dt in dtypes}
    ben("all-dtypes.pt", torch_save(every),
        "state dict with one 2x2 tensor of every dtype torch.save supports in 1.13 (float32/64/16, "
        "bfloat16, complex64/128, int8/16/32/64, uint8, bool): FloatStorage, DoubleStorage, "
        "HalfStorage, BFloat16Storage, ComplexFloatStorage, ... (complex32 cannot be saved)",
        "pytorch-zip")
    ben("all-dtypes-legacy.pt", legacy_save(every),
        "the same every-dtype dict in the legacy format", "pytorch-legacy")
    special = {
        "qint8": torch.quantize_per_tensor(torch.tensor([0.5, 1.0]), 0.1, 0, torch.qint8),
        "quint8": torch.quantize_per_tensor(torch.tensor([0.5, 1.0]), 0.1, 2, torch.quint8),
        "qint32": torch.quantize_per_tensor(torch.tensor([0.5]), 0.1, 0, torch.qint32),
        "per_channel": torch.quantize_per_channel(torch.ones(2, 2), torch.tensor([0.1, 0.2]),
                                                  torch.tensor([0, 1]), 0, torch.qint8),
        "sparse_coo": torch.eye(3).to_sparse(),
        "param": nn.Parameter(torch.ones(2)),
        "no_grad_param": nn.Parameter(torch.ones(2), requires_grad=False),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 3),
        "size": torch.Size([2, 3]),
        "dtype": torch.float16,
        "device": torch.device("cpu"),
    }
    ben("special-tensors.pt", torch_save(special),
        "quantized tensors (per-tensor qint8/quint8/qint32, per-channel; _rebuild_qtensor, "
        "torch.per_tensor_affine/per_channel_affine), sparse COO (_rebuild_sparse_tensor), "
        "nn.Parameter (_rebuild_parameter), 0-dim and empty tensors, torch.Size, dtype, device",
        "pytorch-zip")
    torch.manual_seed(0)
    w = torch.randn(4, 3)
    ben("tied-weights-and-views.pt",
        torch_save({"embed.weight": w, "head.weight": w, "rows_1_to_3": w[1:], "transposed":
                    w.t(), "flat": w.view(-1), "column": w[:, 1]}),
        "shared storage: two keys hold the same tensor (tied weights) and four views of it "
        "(offset slice, transpose, flat view, strided column) all point at storage data/0",
        "pytorch-zip")

    torch.manual_seed(0)
    ben("torchscript-scripted.pt", jit_save(torch.jit.script(TinyNet())),
        "torch.jit.save(torch.jit.script(TinyNet())): data.pkl + constants.pkl (read by the C++ "
        "unpickler), code/__torch__/*.py TorchScript source, *.debug_pkl, version",
        "torchscript", loader="jit")
    torch.manual_seed(0)
    ben("torchscript-traced.pt", jit_save(torch.jit.trace(TinyNet().eval(), torch.zeros(2, 4))),
        "torch.jit.save(torch.jit.trace(TinyNet().eval(), zeros(2, 4)))", "torchscript",
        loader="jit")

    torch.manual_seed(0)
    t = {"weight": torch.randn(2, 3), "bias": torch.randn(2)}
    ben("state-dict-tar.pt", tar_save({"weight": _PID(100), "bias": _PID(101)}, t),
        "the oldest torch format (tar with sys_info, pickle, tensors, storages), built by hand "
        "from serialization._legacy_load's tar branch; torch.load(path) reads it", "pytorch-tar")


# ============================================================================================
# Malicious fixtures
# ============================================================================================
def malicious():
    torch.manual_seed(0)
    w = torch.randn(2, 3)
    evil_sd = {"weight": w, "bias": torch.zeros(2), "hook": evil()}

    # --- threat 1: payload via __reduce__ in data.pkl
    mal("01-data-pkl-reduce.pt", torch_save(evil_sd), 1, "critical", "posix.system(",
        "torch.save of a state dict holding an object whose __reduce__ is os.system: data.pkl "
        "(protocol 2) calls posix.system('touch marker')", "pytorch-zip")
    mal("01-data-pkl-reduce-p4.pt", torch_save(evil_sd, pickle_protocol=4), 1, "critical",
        "posix.system(", "the same with pickle_protocol=4 (FRAME, STACK_GLOBAL)", "pytorch-zip")
    net = tiny_net()
    opt = torch.optim.Adam(net.parameters())
    osd = opt.state_dict()
    osd["param_groups"][0]["hook"] = evil()
    mal("01-checkpoint-payload-in-optimizer.pt",
        torch_save({"model": net.state_dict(), "optimizer": osd, "epoch": 7, "loss": 0.1}), 1,
        "critical", "posix.system(",
        "realistic checkpoint {model, optimizer, epoch, loss}; the payload is nested in "
        "optimizer['param_groups'][0]['hook']", "pytorch-zip")
    mal("20-pytorch_model.bin", torch_save(evil_sd), 20, "critical", "posix.system(",
        "torch zip named like a Hugging Face checkpoint (pytorch_model.bin); sniff content",
        "pytorch-zip")

    # --- threat 19: renamed top folder, pickles without \x80, misleading member name
    mal("19-renamed-top-folder.pt", torch_save_path(evil_sd, "model-weights"), 19, "critical",
        "posix.system(",
        "torch.save to 'model-weights.pt': top folder 'model-weights/' (not 'archive/'); torch "
        "reads '<first entry's top folder>/data.pkl'", "pytorch-zip")
    recs, _ = records(torch_save({"weight": w}))
    p0 = pickle.dumps({"epoch": 3, "hook": evil()}, protocol=0)
    assert not p0.startswith(b"\x80")
    mal("19-data-pkl-protocol0.pt",
        torch_zip([("data.pkl", p0)] + [r for r in recs if r[0] != "data.pkl"]), 19, "critical",
        "posix.system(",
        "data.pkl rewritten as a text protocol-0 pickle (starts with '(dp0', no \\x80): "
        "{'epoch': 3, 'hook': posix.system('touch marker')}; data/0 is left unreferenced; "
        "written with torch's own PyTorchFileWriter", "pytorch-zip")
    mal("19-data-pkl-protocol1.pt", torch_save(evil_sd, pickle_protocol=1), 19, "critical",
        "posix.system(",
        "torch.save(pickle_protocol=1): binary data.pkl without PROTO (starts with '}'), real "
        "tensors via BINPERSID, plus the payload", "pytorch-zip")
    erecs, _ = records(torch_save(evil_sd))
    mal("19-data-pkl-uppercase-name.pt",
        torch_zip([("DATA.PKL" if n == "data.pkl" else n, d) for n, d in erecs]), 19,
        "critical", "posix.system(",
        "the pickle member is named 'archive/DATA.PKL': torch's record lookup (miniz) ignores "
        "case, so torch.load unpickles it as data.pkl; a scanner matching the exact name "
        "'data.pkl' misses it (the top folder itself must match exactly)", "pytorch-zip")

    # --- threat 18: zip anomalies torch's miniz reader accepts
    base = [dict(name="archive/" + n, data=d) for n, d in erecs]
    e = [dict(x) for x in base]
    e[0]["crc"] = 0xDEADBEEF
    mal("18-bad-crc-data-pkl.pt", zipbuild(e), 18, "critical", "posix.system(",
        "data.pkl's CRC-32 is 0xDEADBEEF in both headers: torch 1.13's reader (miniz) does not "
        "verify it and runs the payload; Python's zipfile raises BadZipFile('Bad CRC-32') when "
        "the member is read", "pytorch-zip")
    e = [dict(x) for x in base]
    e[0]["lname"] = "archive/data.bin"
    mal("18-local-name-mismatch.pt", zipbuild(e), 18, "critical", "posix.system(",
        "central directory says 'archive/data.pkl', the local header says 'archive/data.bin': "
        "torch uses the central name; Python's zipfile raises BadZipFile('File name in directory "
        "... and header ... differ')", "pytorch-zip")
    bd = dict(records(torch_save({"weight": w}))[0])
    ed = dict(records(torch_save({"weight": w, "hook": evil()}))[0])
    dup = [dict(name="archive/data.pkl", data=ed["data.pkl"]),
           dict(name="archive/data.pkl", data=bd["data.pkl"]),
           dict(name="archive/version", data=bd["version"]),
           dict(name="archive/data/0", data=bd["data/0"])]
    assert zipfile.ZipFile(io.BytesIO(zipbuild(dup))).read("archive/data.pkl") == bd["data.pkl"]
    mal("18-duplicate-data-pkl.pt", zipbuild(dup), 18, "critical", "posix.system(",
        "two members named 'archive/data.pkl' (malicious first, benign second, then version, "
        "data/0): with this layout torch's miniz lookup (heap-sorted central directory + binary "
        "search; which duplicate wins depends on the layout) finds the FIRST and runs the "
        "payload, while Python's zipfile.read('archive/data.pkl') returns the LAST (benign). "
        "Scan every member of that name", "pytorch-zip")
    for flag, what in ((0x1, "encrypted"), (0x20, "compressed patched data"),
                       (0x40, "strong encryption")):
        e = [dict(x) for x in base] + [dict(name="archive/extra/notes.txt", data=b"notes\n",
                                            flag=flag)]
        mal(f"18-flag-0x{flag:x}-unread-member.pt", zipbuild(e), 18, "critical", "posix.system(",
            f"malicious data.pkl plus an extra member 'archive/extra/notes.txt' with general "
            f"purpose flag 0x{flag:x} ({what}): torch never reads that member and loads the "
            f"payload; Python's zipfile raises when a scanner reads every member", "pytorch-zip")
        e = [dict(x) for x in base]
        e[0]["flag"] = flag
        malformed(f"18-flag-0x{flag:x}-data-pkl.pt", zipbuild(e), 18,
                  f"malicious data.pkl with flag 0x{flag:x} ({what}): torch refuses it "
                  f"('failed retrieving file meta-data for data.pkl'), so does Python's zipfile",
                  "pytorch-zip")
    e = [dict(x) for x in base]
    e[0]["method"] = 8
    mal("18-deflated-data-pkl.pt", zipbuild(e), 18, "critical", "posix.system(",
        "data.pkl is deflate-compressed (method 8; torch.save always stores): torch inflates and "
        "runs it; a scanner that reads stored bytes at the local header offset sees only "
        "deflate data", "pytorch-zip")

    # --- threat 21: legacy format, payload in later pickles
    leg = legacy_save({"weight": w, "bias": torch.zeros(2)})
    (magic, proto, sysinfo, obj, keys), raw = legacy_parts(leg)

    def popped(payload_then):
        """PROTO 2, posix.system(...) , POP, then the body of another protocol-2 pickle."""
        return pickle.dumps(evil(), protocol=2)[:-1] + b"0" + payload_then[2:]

    mal("21-legacy-payload-protocol-pickle.pt",
        magic + popped(proto) + sysinfo + obj + keys + raw, 21, "critical", "posix.system(",
        "legacy format; the 2nd pickle (protocol version 1001) first calls posix.system and POPs "
        "the result: the load succeeds", "pytorch-legacy")
    si = pickle.loads(sysinfo)
    si["hook"] = evil()
    mal("21-legacy-payload-sys-info.pt",
        magic + proto + pickle.dumps(si, protocol=2) + obj + keys + raw, 21, "critical",
        "posix.system(",
        "legacy format; the 3rd pickle (sys_info dict, read and discarded by torch) holds the "
        "payload", "pytorch-legacy")
    mal("21-legacy-payload-model-pickle.pt", legacy_save(evil_sd), 21, "critical",
        "posix.system(",
        "legacy torch.save of the malicious state dict: the 4th pickle (the object) holds the "
        "payload", "pytorch-legacy")
    mal("21-legacy-payload-storage-keys.pt", magic + proto + sysinfo + obj + popped(keys) + raw,
        21, "critical", "posix.system(",
        "legacy format; the 5th pickle (storage key list) first calls posix.system and POPs the "
        "result, then builds the key list: the load succeeds", "pytorch-legacy")
    t = {"weight": w}
    mal("21-tar-payload-pickle-member.pt",
        tar_save({"weight": _PID(100), "hook": evil()}, t), 21, "critical", "posix.system(",
        "oldest tar format built by hand; the 'pickle' member holds the payload", "pytorch-tar")
    tar_st = _pk(Reduce(os.system, (CMD,)))[:-1] + b"0" + _pk(1)[2:]
    st = tar_save({"weight": _PID(100)}, t)
    tf = tarfile.open(fileobj=io.BytesIO(st))
    orig = tf.extractfile("storages").read()
    mal("21-tar-payload-storages-member.pt",
        tar_save({"weight": _PID(100)}, t, {"storages": tar_st + orig[len(_pk(1)):]}), 21,
        "critical", "posix.system(",
        "oldest tar format; the FIRST pickle of the 'storages' member (the storage count) calls "
        "posix.system, POPs it, then returns 1: the load succeeds", "pytorch-tar")

    # --- TorchScript
    torch.manual_seed(0)
    tsr, _ = records(jit_save(torch.jit.script(TinyNet())))
    mal("19-torchscript-data-pkl-posix-system.pt",
        torch_zip([(n, pickle.dumps(evil(), protocol=2) if n == "data.pkl" else d)
                   for n, d in tsr]), 19, "critical", "posix.system(",
        "TorchScript archive whose data.pkl is a posix.system pickle. NOT PROVEN: torch.jit.load "
        "(and torch.load, which dispatches to it when constants.pkl exists) uses the C++ "
        "unpickler, which only resolves torch/__torch__ types and fails with \"Unknown type name "
        "'posix.system'\"; a Python unpickler of the member would run it", "torchscript",
        proven=False, loader="jit")
    mal("19-torchscript-constants-pkl-posix-system.pt",
        torch_zip([(n, pickle.dumps((evil(),), protocol=2) if n == "constants.pkl" else d)
                   for n, d in tsr]), 19, "critical", "posix.system(",
        "TorchScript archive whose constants.pkl is (posix.system('touch marker'),). NOT PROVEN: "
        "the C++ unpickler fails with \"Unknown type name 'posix.system'\"", "torchscript",
        proven=False, loader="jit")
    mal("14-torchscript-setstate-from-file.pt", jit_save(torch.jit.script(FromFileNet())), 14,
        "high", "torch.from_file(",
        "real torch.jit.save of a scripted module whose TorchScript __setstate__ (code/"
        "__torch__.py) calls torch.from_file('marker', True, 1): torch.jit.load (and torch.load, "
        "which dispatches to it) runs __setstate__ while unpickling data.pkl and the shared "
        "MapAllocator creates ./marker (O_CREAT). No Python global in any pickle: the gadget is "
        "TorchScript code", "torchscript", loader="jit")


# ============================================================================================
# Proofs
# ============================================================================================
CHILD = r"""
import os, sys, warnings
warnings.simplefilter("ignore")
path, loader, script = sys.argv[1], sys.argv[2], sys.argv[3]
if script != "-":
    import importlib.util, __main__
    spec = importlib.util.spec_from_file_location("mg_fixture_classes", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for n in mod.MAIN_CLASSES:
        setattr(__main__, n, getattr(mod, n))
import torch
status = "LOADED"
try:
    if loader == "jit":
        r = torch.jit.load(path)
    else:
        r = torch.load(path)
    status = "LOADED " + type(r).__name__
except BaseException as e:
    status = "RAISED %s: %s" % (type(e).__name__, str(e).strip()[:120].replace("\n", " "))
sys.stdout.flush()
print("\n@@RESULT@@ %s" % status)
sys.stdout.flush()
os._exit(0)
"""


CHILD_WO = r"""
import json, os, sys, warnings
path = sys.argv[1]
import torch
wo = {"result": "accept", "error": "", "jit": False}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        torch.load(path, weights_only=True)
    except BaseException as e:
        msg = str(e).strip().replace("\n", " ")
        wo = {"result": "reject", "error": msg.split("WeightsUnpickler error: ", 1)[-1][:160]}
wo["jit"] = any("dispatching to 'torch.jit.load'" in str(w.message) for w in caught)
sys.stdout.flush()
print("\n@@RESULT@@ %s" % json.dumps(wo))
sys.stdout.flush()
os._exit(0)
"""


def prove_weights_only(path):
    """torch.load(path, weights_only=True) in a fresh child and directory: what torch 1.13 does,
    for the scanner's weights-only verdict.  "marker" says whether a payload ran anyway."""
    tmp = tempfile.mkdtemp(prefix="mg-wo-")
    try:
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, "LANG": "C.UTF-8",
               "PYTHONDONTWRITEBYTECODE": "1"}
        r = subprocess.run([sys.executable, "-c", CHILD_WO, path], cwd=tmp, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
        out = r.stdout.decode(errors="replace")
        if "@@RESULT@@" not in out:
            raise SystemExit("weights_only child failed for %s: %s" % (path, r.stderr[-300:]))
        wo = json.loads(out.rsplit("@@RESULT@@", 1)[1])
        time.sleep(0.2)
        wo["marker"] = os.path.exists(os.path.join(tmp, MARKER))
        return {k: wo[k] for k in ("result", "error", "jit", "marker")}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def prove(fx, path):
    tmp = tempfile.mkdtemp(prefix="mg-proof-")
    try:
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, "LANG": "C.UTF-8",
               "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            r = subprocess.run([sys.executable, "-c", CHILD, path, fx["loader"],
                                SCRIPT if fx["main"] else "-"], cwd=tmp, env=env,
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
            out = r.stdout.decode(errors="replace")
            res = out.rsplit("@@RESULT@@", 1)[1].strip() if "@@RESULT@@" in out else \
                "no result (rc=%d) %s" % (r.returncode, r.stderr.decode(errors="replace")[-200:])
        except subprocess.TimeoutExpired:
            res = "timeout"
        marker = os.path.join(tmp, MARKER)
        deadline = time.time() + 5
        while fx["verify"] == "marker" and not os.path.exists(marker) and time.time() < deadline:
            time.sleep(0.1)
        exists = os.path.exists(marker)
        if fx["verify"] == "marker":
            return exists, res
        if fx["verify"] == "fails":
            return (not exists and res.startswith("RAISED")), res
        return (not exists and res.startswith("LOADED")), res          # "loads"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def manifest_entries():
    out = []
    for fx in sorted(FIXTURES, key=lambda f: f["file"]):
        if fx["expect"] == "benign":
            keys = ("file", "expect", "description", "format")
        else:
            keys = ("file", "expect", "threat", "min_severity", "evidence", "proven",
                    "description", "format")
        e = {k: fx[k] for k in keys}
        if "weights_only" in fx:
            e["weights_only"] = fx["weights_only"]
        out.append(e)
    return out


def label(fx, ok):
    if fx["verify"] == "marker":
        return "proven      " if ok else "PROOF FAILED"
    if fx["verify"] == "fails":
        return "load fails  " if ok else "CHECK FAILED"
    return "benign loads" if ok else "LOAD FAILED "


def run_proofs(base):
    failed = []
    for fx in sorted(FIXTURES, key=lambda f: f["file"]):
        ok, res = prove(fx, os.path.join(base, fx["file"]))
        print(f"{label(fx, ok)}  {fx['file']}  [{res}]")
        fx["weights_only"] = prove_weights_only(os.path.join(base, fx["file"]))
        print(f"    weights_only=True: {fx['weights_only']}")
        if not ok:
            failed.append(fx["file"])
    return failed


def weights_only():
    """Checkpoints that torch 1.13's weights-only unpickler accepts or refuses, each for one
    reason.  All load with weights_only=False; none carries a payload."""
    import argparse
    import collections
    import numpy as np
    torch.manual_seed(0)
    ben("wo-accept-containers.pt",
        torch_save({"w": nn.Parameter(torch.ones(2)), "t": torch.arange(3),
                    "meta": {"epoch": 3, "name": "tiny", "flags": [True, False, None],
                             "shape": (2, 3), "big": 2 ** 70, "neg": -5},
                    "size": torch.Size([2, 3]), "dtype": torch.float32,
                    "od": collections.OrderedDict(a=1)}),
        "weights_only=True accepts it: nn.Parameter (_rebuild_parameter), tensors, nested "
        "dict/list/tuple of ints (BININT*, LONG1), str, bool, None, torch.Size, a dtype global, "
        "an OrderedDict (REDUCE + BUILD of its __dict__)", "pytorch-zip")
    ben("wo-reject-numpy-scalar.pt",
        torch_save({"w": torch.zeros(2), "best_acc": np.float64(0.5)}),
        "weights_only=True refuses it: a NumPy scalar pickles as numpy.core.multiarray.scalar, "
        "not on torch 1.13's allowlist (benign, but not allowlisted)", "pytorch-zip")
    ben("wo-reject-argparse-namespace.pt",
        torch_save({"w": torch.zeros(2), "args": argparse.Namespace(epochs=3, name="run")}),
        "weights_only=True refuses it: argparse.Namespace (NEWOBJ + BUILD) is not on the "
        "allowlist (benign, but not allowlisted)", "pytorch-zip")
    ben("wo-reject-counter.pt",
        torch_save({"w": torch.zeros(2), "vocab": collections.Counter(a=2, b=1)}),
        "weights_only=True in torch 1.13 refuses collections.Counter (torch 2.x allows it)",
        "pytorch-zip")
    ben("wo-reject-device.pt", torch_save({"w": torch.zeros(2), "device": torch.device("cpu")}),
        "weights_only=True in torch 1.13 refuses torch.device (torch 2.x allows it)",
        "pytorch-zip")
    ben("wo-reject-set.pt", torch_save({"w": torch.zeros(2), "labels": {"cat", "dog"}}),
        "a Python set at pickle protocol 2 is REDUCE of __builtin__.set (the pickler's "
        "fix_imports name); torch 1.13's weights-only GLOBAL does no name mapping and refuses it "
        "(torch 2.x maps it to builtins.set and allows it)", "pytorch-zip")
    ben("wo-reject-float.pt", torch_save({"w": torch.zeros(2), "loss": 0.25}),
        "weights_only=True in torch 1.13 refuses every Python float: BINFLOAT is not among its "
        "opcodes ('Unsupported operand 71'; torch 2.x accepts it)", "pytorch-zip")


def build():
    benign()
    weights_only()
    malicious()
    files = [f["file"] for f in FIXTURES]
    dups = {f for f in files if files.count(f) > 1}
    assert not dups, dups


def check():
    """--check: prove the committed fixtures (nothing is written)."""
    build()
    failed = run_proofs(HERE)
    with open(os.path.join(HERE, "manifest.json")) as fh:
        committed = json.load(fh)
    if committed != manifest_entries():
        print("manifest.json differs from what this script would write")
        failed.append("manifest.json")
    differ = []
    for fx in FIXTURES:
        with open(os.path.join(HERE, fx["file"]), "rb") as fh:
            if fh.read() != fx["data"]:
                differ.append(fx["file"])
                if os.environ.get("MG_FRESH_DIR"):             # keep the fresh bytes to compare
                    dst = os.path.join(os.environ["MG_FRESH_DIR"], fx["file"])
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    with open(dst, "wb") as out:
                        out.write(fx["data"])
    print(f"(info) committed bytes differ from a fresh build for: {sorted(differ)}")
    print(f"checked committed fixtures; {len(failed)} failed: {failed}")
    return 1 if failed else 0


def main():
    if os.environ.get("PYTHONHASHSEED") != "0":
        # torch.jit.save emits module constants in set order: fix the hash seed
        os.execve(sys.executable, [sys.executable, SCRIPT] + sys.argv[1:],
                  dict(os.environ, PYTHONHASHSEED="0"))
    if sys.argv[1:] == ["--check"]:
        return check()
    build()
    for sub in ("malicious", "benign"):
        d = os.path.join(HERE, sub)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    for fx in FIXTURES:
        assert len(fx["data"]) < 100_000, (fx["file"], len(fx["data"]))
        with open(os.path.join(HERE, fx["file"]), "wb") as fh:
            fh.write(fx["data"])
    failed = run_proofs(HERE)
    with open(os.path.join(HERE, "manifest.json"), "w") as fh:
        json.dump(manifest_entries(), fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    total = sum(len(f["data"]) for f in FIXTURES)
    print(f"{len(FIXTURES)} fixtures, {total} bytes; {len(failed)} failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
