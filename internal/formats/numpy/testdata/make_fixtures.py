#!/usr/bin/python3
"""Regenerate the NumPy .npy/.npz fixtures of internal/formats/numpy.

    /usr/bin/python3 internal/formats/numpy/testdata/make_fixtures.py          # write + prove
    /usr/bin/python3 internal/formats/numpy/testdata/make_fixtures.py --check  # prove committed

Needs Debian bookworm's Python 3.11 with python3-numpy (1.24).  Writes testdata/malicious/*,
testdata/benign/* and testdata/manifest.json (old fixture files are removed first), then PROVES
every fixture: each file is loaded with the REAL numpy.load(path, allow_pickle=True) (for an .npz,
every member is then read: dict(np.load(...))) in a child process whose working directory is a
fresh temporary directory (HOME and TMPDIR point there, stdin is /dev/null).
  * malicious, "proven": true -> the harmless payload must have created ./marker there (a few
    fixtures make the load raise AFTER the payload ran; the description says so);
  * benign                    -> the load must succeed and create no marker.
--check does the same for the files already committed (nothing is written) and also compares the
committed manifest.json with the one this script would write.  Exit status is non-zero if any
proof fails.

Payloads are harmless: each one only creates ./marker (relative to the loader's cwd).
"""

import io
import json
import os
import pickle
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

warnings.simplefilter("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
MARKER = "marker"
CMD = "touch marker"

FIXTURES = []


class Reduce:
    """Object whose pickle is fn(*args): lets numpy's pickler emit a payload."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def evil():
    return Reduce(os.system, (CMD,))      # pickles as posix.system('touch marker')


# --------------------------------------------------------------------------------------------
# writers
# --------------------------------------------------------------------------------------------
def npy(arr, version=None):
    """np.lib.format.write_array (what np.save calls); version None = oldest that fits."""
    b = io.BytesIO()
    np.lib.format.write_array(b, np.asanyarray(arr), version=version, allow_pickle=True)
    return b.getvalue()


class _FixedTime:
    """zipfile stamps members written through ZipFile.open(name, 'w') with the current local
    time; np.savez is made deterministic by giving zipfile 1980-01-01 00:00:00 instead."""

    @staticmethod
    def time():
        return 0.0

    @staticmethod
    def localtime(t=None):
        return time.struct_time((1980, 1, 1, 0, 0, 0, 1, 1, 0))


def savez(compressed=False, **arrays):
    b = io.BytesIO()
    real = zipfile.time
    zipfile.time = _FixedTime
    try:
        (np.savez_compressed if compressed else np.savez)(b, **arrays)
    finally:
        zipfile.time = real
    return b.getvalue()


def zipbuild(entries):
    """A minimal hand-written zip (DOS time 1980-01-01 00:00).
    entry: dict(name, data, [crc], [method]=0|8)."""
    out, central = bytearray(), bytearray()
    for e in entries:
        data, name = e["data"], e["name"].encode()
        method = e.get("method", 0)
        comp = data
        if method == 8:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            comp = c.compress(data) + c.flush()
        crc = e.get("crc", zlib.crc32(data))
        off = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034b50, 20, 0, method, 0, 0x21, crc, len(comp),
                           len(data), len(name), 0) + name + comp
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 20, 20, 0, method, 0, 0x21,
                               crc, len(comp), len(data), len(name), 0, 0, 0, 0, 0, off) + name
    cd = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, len(entries), len(entries), len(central), cd,
                       0)
    return bytes(out)


# --------------------------------------------------------------------------------------------
# registration
# --------------------------------------------------------------------------------------------
def mal(file, data, threat, sev, evidence, desc, fmt, proven=True):
    FIXTURES.append(dict(file="malicious/" + file, data=data, expect="malicious", threat=threat,
                         min_severity=sev, evidence=evidence, proven=proven, description=desc,
                         format=fmt, verify="marker" if proven else "fails"))


def ben(file, data, desc, fmt):
    FIXTURES.append(dict(file="benign/" + file, data=data, expect="benign", description=desc,
                         format=fmt, verify="loads"))


# ============================================================================================
# Benign fixtures
# ============================================================================================
def dtype_arrays():
    rng = np.random.RandomState(0)
    return {
        "float64": rng.rand(3, 4),
        "float32": rng.rand(5).astype(np.float32),
        "float16": np.arange(4, dtype=np.float16),
        "int8": np.arange(-4, 4, dtype=np.int8),
        "int64": np.arange(6, dtype=np.int64).reshape(2, 3),
        "uint16": np.arange(5, dtype=np.uint16),
        "bool": np.array([True, False, True]),
        "complex128": np.array([1 + 2j, 3 - 4j]),
        "datetime64": np.array(["2024-01-01", "2024-06-30"], dtype="datetime64[D]"),
        "unicode": np.array(["alpha", "beta"], dtype="<U5"),
        "bytes": np.array([b"abc", b"de"], dtype="S3"),
        "big-endian": np.arange(4, dtype=">f8"),
        "scalar-0d": np.array(7.5),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }


def benign():
    arrays = dtype_arrays()
    for name, a in arrays.items():
        ben(f"{name}.npy", npy(a),
            f"np.save of a small {a.dtype.str} array, shape {a.shape}, format version 1.0 "
            f"(magic \\x93NUMPY\\x01\\x00, uint16 header length, header padded to 64 bytes)",
            "npy")
    fort = np.asfortranarray(np.arange(12, dtype=np.int32).reshape(3, 4))
    ben("fortran-order.npy", npy(fort),
        "Fortran-ordered int32 3x4 array: header 'fortran_order': True, data column-major",
        "npy")
    st = np.array([(1, 2.5, b"ab"), (3, 4.5, b"cd")],
                  dtype=[("id", "<i4"), ("score", "<f8"), ("tag", "S2")])
    ben("structured.npy", npy(st), "structured dtype [id <i4, score <f8, tag S2], version 1.0",
        "npy")
    ben("structured-v2.npy", npy(st, version=(2, 0)),
        "the same structured array forced to format version 2.0 "
        "(np.lib.format.write_array(version=(2, 0)): magic \\x93NUMPY\\x02\\x00, uint32 header "
        "length)", "npy")
    ben("float32-v3.npy", npy(arrays["float32"], version=(3, 0)),
        "float32 array forced to format version 3.0 (uint32 header length, UTF-8 header)", "npy")
    utf8 = np.zeros(2, dtype=[("température", "<f4"), ("温度", "<i2")])
    ben("structured-utf8-names-v3.npy", npy(utf8),
        "structured dtype whose field names are not latin-1: np.save picks version 3.0 on its "
        "own (UTF-8 header)", "npy")
    big = np.zeros(1, dtype=[(f"f{i:04d}", "u1") for i in range(4000)])
    data = npy(big)
    assert data[6:8] == b"\x02\x00", data[6:8]
    ben("structured-large-header-v2.npy", data,
        "structured dtype with 4000 uint8 fields: the header is > 65535 bytes so np.save picks "
        "version 2.0 on its own; numpy >= 1.24.2 only loads headers > 10000 chars with "
        "allow_pickle=True or a larger max_header_size", "npy")
    objs = np.array([1, 2, "three", "four", None, 5.5], dtype=object)
    ben("object-ints-strings.npy", npy(objs),
        "object-dtype array of plain ints/strings/None/float: the header says '|O' and a "
        "protocol-3 pickle of the array follows (numpy.core.multiarray._reconstruct, "
        "numpy.ndarray, numpy.dtype); benign", "npy")
    members = dict(float64=arrays["float64"], int8=arrays["int8"], unicode=arrays["unicode"],
                   fortran=fort, structured=st, objects=objs)
    ben("arrays-stored.npz", savez(**members),
        "np.savez of float64, int8, <U5, Fortran int32, structured and object arrays: a zip of "
        "stored .npy members (zip64 extra fields, as numpy forces zip64)", "npz")
    ben("arrays-deflated.npz", savez(compressed=True, **members),
        "np.savez_compressed of the same arrays: deflated .npy members", "npz")


# ============================================================================================
# Malicious fixtures
# ============================================================================================
def malicious():
    objarr = np.array([1, "two", evil()], dtype=object)
    mal("23-object-array-posix-system.npy", npy(objarr), 23, "critical", "posix.system(",
        "np.save of an object array holding an object whose __reduce__ is os.system: after the "
        "v1.0 header ('descr': '|O') the protocol-3 pickle calls posix.system('touch marker')",
        "npy")
    mal("23-object-array-header-v3.npy", npy(objarr, version=(3, 0)), 23, "critical",
        "posix.system(", "the same payload after a version 3.0 header", "npy")
    hdr = io.BytesIO()
    np.lib.format.write_array_header_1_0(hdr, {"descr": "|O", "fortran_order": False,
                                               "shape": (1,)})
    p0 = pickle.dumps(evil(), protocol=0)
    assert not p0.startswith(b"\x80")
    mal("23-crafted-header-protocol0-pickle.npy", hdr.getvalue() + p0, 23, "critical",
        "posix.system(",
        "header written with np.lib.format.write_array_header_1_0 ('|O', shape (1,)), then a "
        "hand-made text protocol-0 pickle (no \\x80) that is only posix.system('touch marker'); "
        "np.load returns its result", "npy")
    st = np.array([(1.5, "ok"), (2.5, evil())], dtype=[("x", "<f4"), ("payload", "O")])
    mal("23-structured-object-field.npy", npy(st), 23, "critical", "posix.system(",
        "structured dtype [x <f4, payload O]: any object field makes the whole array a pickle; "
        "the payload sits in the second record", "npy")
    rng = np.random.RandomState(3)
    members = dict(weights=rng.rand(4, 4).astype(np.float32), bias=np.zeros(4),
                   labels=np.array(["neg", "pos"]), meta=objarr)
    mal("23-npz-stored.npz", savez(**members), 23, "critical", "posix.system(",
        "np.savez: three plain arrays and 'meta.npy', an object array with the payload (last "
        "member, stored)", "npz")
    mal("23-npz-deflated.npz", savez(compressed=True, **members), 23, "critical",
        "posix.system(", "np.savez_compressed of the same members (deflated)", "npz")
    mal("19-npz-member-not-npy-name.npz",
        zipbuild([dict(name="weights.npy", data=npy(members["weights"])),
                  dict(name="tokenizer.bin", data=npy(objarr), method=8)]), 19, "critical",
        "posix.system(",
        "npz whose payload member is named 'tokenizer.bin' (deflated): NpzFile lists every "
        "member, and any member that starts with the .npy magic is parsed as .npy (with the "
        "pickle) whatever its name", "npz")
    mal("20-plain-pickle.npy", pickle.dumps(evil(), protocol=2), 20, "critical",
        "posix.system(",
        "no .npy header at all: a protocol-2 pickle named .npy; np.load(allow_pickle=True) falls "
        "back to pickle.load for anything that is neither a zip nor an .npy", "pickle")
    big = npy(np.array([evil(), b"\0" * 300_000], dtype=object))
    mal("18-npz-bad-crc-payload-runs-first.npz",
        zipbuild([dict(name="weights.npy", data=npy(members["weights"])),
                  dict(name="meta.npy", data=big, method=8, crc=0x12345678)]), 18, "critical",
        "posix.system(",
        "deflated member 'meta.npy' with a wrong CRC-32 whose object pickle (payload first, then "
        "300 kB of zero bytes, ~1 kB compressed) decompresses past the unpickler's 128 KiB "
        "prefetch: Python's zipfile checks the CRC only at the end of the member, so the payload "
        "runs and THEN np.load raises BadZipFile('Bad CRC-32'). A scanner that drops members "
        "with bad CRCs misses it", "npz")


# ============================================================================================
# Proofs
# ============================================================================================
CHILD = r"""
import os, sys, warnings
warnings.simplefilter("ignore")
path = sys.argv[1]
import numpy as np
try:
    r = np.load(path, allow_pickle=True)
    if isinstance(r, np.lib.npyio.NpzFile):
        r = dict(r)
    status = "LOADED " + type(r).__name__
except BaseException as e:
    status = "RAISED %s: %s" % (type(e).__name__, str(e).strip()[:120].replace("\n", " "))
sys.stdout.flush()
print("\n@@RESULT@@ %s" % status)
sys.stdout.flush()
os._exit(0)
"""


def prove(fx, path):
    tmp = tempfile.mkdtemp(prefix="mg-proof-")
    try:
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, "LANG": "C.UTF-8",
               "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            r = subprocess.run([sys.executable, "-c", CHILD, path], cwd=tmp, env=env,
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
        out.append({k: fx[k] for k in keys})
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
        if not ok:
            failed.append(fx["file"])
    return failed


def build():
    benign()
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
    print(f"(info) committed bytes differ from a fresh build for: {sorted(differ)}")
    print(f"checked committed fixtures; {len(failed)} failed: {failed}")
    return 1 if failed else 0


def main():
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
