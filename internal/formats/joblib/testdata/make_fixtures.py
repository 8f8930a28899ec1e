#!/usr/bin/python3
"""Regenerate the joblib fixtures of internal/formats/joblib.

    /usr/bin/python3 internal/formats/joblib/testdata/make_fixtures.py          # write + prove
    /usr/bin/python3 internal/formats/joblib/testdata/make_fixtures.py --check  # prove committed

Needs Debian bookworm's Python 3.11 with python3-joblib (1.2), python3-numpy (1.24) and
python3-sklearn (1.2).  Writes testdata/malicious/*, testdata/benign/* and testdata/manifest.json
(old fixture files are removed first), then PROVES every fixture: each file is loaded with the
REAL joblib.load(path) in a child process whose working directory is a fresh temporary directory
(HOME and TMPDIR point there, stdin is /dev/null).
  * malicious, "proven": true -> the harmless payload must have created ./marker there;
  * benign                    -> the load must succeed and create no marker.
--check does the same for the files already committed (nothing is written) and also compares the
committed manifest.json with the one this script would write.  Exit status is non-zero if any
proof fails.

Payloads are harmless: each one only creates ./marker (relative to the loader's cwd).
"""

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import joblib
import numpy as np

warnings.simplefilter("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
MARKER = "marker"
CMD = "touch marker"
COMPRESSIONS = ("zlib", "gzip", "bz2", "lzma", "xz")
FORMAT_OF = {None: "joblib", "zlib": "zlib", "gzip": "gzip", "bz2": "bzip2", "lzma": "lzma",
             "xz": "xz"}

FIXTURES = []


class Reduce:
    """Object whose pickle is fn(*args): lets joblib's pickler emit a payload."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def evil():
    return Reduce(os.system, (CMD,))      # pickles as posix.system('touch marker')


class NoSeekSink(io.RawIOBase):
    """A write-only stream whose tell() raises io.UnsupportedOperation (a pipe or socket):
    joblib then records numpy_array_alignment_bytes=None and writes array bytes with NO
    padding, exactly like files written by joblib < 1.2."""

    def __init__(self):
        super().__init__()
        self.buf = bytearray()

    def writable(self):
        return True

    def write(self, b):
        self.buf += b
        return len(b)

    def seekable(self):
        return False

    def tell(self):
        raise io.UnsupportedOperation("not seekable")


def dump(obj, compress=None, protocol=None, seekable=True):
    """joblib.dump to a real file (so that the padding is computed from real offsets) and
    return its bytes.  compress: None (compress=0) or a name, always at level 3."""
    if not seekable:
        sink = NoSeekSink()
        joblib.dump(obj, sink, protocol=protocol)
        return bytes(sink.buf)
    d = tempfile.mkdtemp(prefix="mg-dump-")
    try:
        p = os.path.join(d, "x.joblib")
        joblib.dump(obj, p, compress=(compress, 3) if compress else 0, protocol=protocol)
        with open(p, "rb") as fh:
            return fh.read()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def suffix(c):
    return f"-{c}" if c else ""


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
def arrays_of_dtypes():
    rng = np.random.RandomState(0)
    return [
        rng.rand(3, 4),                                            # float64 C order
        rng.rand(5).astype(np.float32),
        np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),   # Fortran order
        np.arange(-4, 4, dtype=np.int8),
        np.arange(5, dtype=np.int64),
        np.arange(5, dtype=np.uint16),
        np.array([True, False, True]),
        np.array([1 + 2j, 3 - 4j], dtype=np.complex128),
        np.array(["2024-01-01", "2024-06-30"], dtype="datetime64[s]"),
        np.array(["alpha", "beta"], dtype="<U5"),
        np.array([b"abc", b"de"], dtype="S3"),
        np.array([(1, 2.5), (3, 4.5)], dtype=[("id", "<i4"), ("score", "<f8")]),
        np.float64(3.25) * np.ones(()),                           # 0-d array
        np.array([1, "two", 3.0, None, (4, 5)], dtype=object),     # object dtype
        np.arange(6, dtype=">i4"),                                 # big-endian
    ]


def sklearn_models():
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    X, y = make_classification(n_samples=40, n_features=4, n_informative=2, random_state=0)
    forest = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    pipe = Pipeline([("scale", StandardScaler()),
                     ("clf", LogisticRegression(random_state=0))]).fit(X, y)
    labels = np.array(["cat", "dog"], dtype=object)[y]
    pipe_obj = Pipeline([("scale", StandardScaler()),
                         ("clf", LogisticRegression(random_state=0))]).fit(X, labels)
    return forest, pipe, pipe_obj


def benign():
    arrs = arrays_of_dtypes()
    forest, pipe, pipe_obj = sklearn_models()
    for c in (None,) + COMPRESSIONS:
        how = f"compress=('{c}', 3)" if c else "compress=0"
        ben(f"arrays-dtypes{suffix(c)}.joblib", dump(arrs, c),
            f"joblib.dump of a list of 15 arrays ({how}): float64, float32, Fortran-order int32, "
            f"int8, int64, uint16, bool, complex128, datetime64[s], <U5, S3, structured, 0-d, "
            f"object dtype (written as a nested protocol-2 pickle inline), big-endian >i4. "
            f"Each numeric array is NumpyArrayWrapper + BUILD, then 1 padding-length byte, that "
            f"many 0xff bytes (16-byte alignment), then the raw bytes, inside the pickle stream",
            FORMAT_OF[c])
        ben(f"sklearn-random-forest{suffix(c)}.joblib", dump(forest, c),
            f"RandomForestClassifier(n_estimators=3, max_depth=3) fitted on 40x4 ({how}): each "
            f"tree's node array (structured dtype) and value array are inline raw arrays",
            FORMAT_OF[c])
    ben("arrays-dtypes-p2.joblib", dump(arrs, protocol=2),
        "the dtype list dumped with protocol=2 (no FRAME opcodes around the raw array bytes)",
        "joblib")
    ben("arrays-unaligned.joblib", dump(arrs, seekable=False),
        "the dtype list dumped to a non-seekable stream: numpy_array_alignment_bytes=None, so no "
        "padding byte before the raw bytes (the layout of joblib < 1.2 files)", "joblib")
    ben("object-array.joblib", dump(np.array([1, "two", 3.5, None, {"k": [1, 2]}, b"raw"],
                                             dtype=object)),
        "a single object-dtype array of ints/str/float/None/dict/bytes: NumpyArrayWrapper + "
        "BUILD, then a complete protocol-2 pickle of the array (numpy.core.multiarray."
        "_reconstruct), then the outer pickle's STOP", "joblib")
    rng = np.random.RandomState(1)
    ben("dict-of-arrays.joblib",
        dump({"X": rng.rand(8, 3), "y": np.arange(8) % 2, "names": np.array(["a", "b", "c"]),
              "meta": {"version": 2, "created": "2024-01-01"}}),
        "dict {X: float64 8x3, y: int64, names: <U1, meta: plain dict}", "joblib")
    ben("sklearn-pipeline-logreg.joblib", dump(pipe),
        "Pipeline(StandardScaler, LogisticRegression) fitted on 40x4 (compress=0)", "joblib")
    ben("sklearn-pipeline-object-labels.joblib", dump(pipe_obj),
        "the same pipeline fitted on string labels: classes_ is an object-dtype array (nested "
        "pickle inline)", "joblib")


# ============================================================================================
# Malicious fixtures
# ============================================================================================
def malicious():
    for c in (None,) + COMPRESSIONS:
        how = f"compress=('{c}', 3)" if c else "compress=0"
        mal(f"22-payload-after-array{suffix(c)}.joblib", dump([np.arange(1000), evil()], c), 22,
            "critical", "posix.system(",
            f"joblib.dump([np.arange(1000), Evil()]) ({how}): 8000 raw int64 bytes (after the "
            f"padding) sit inline in the pickle stream BEFORE the posix.system call; a generic "
            f"opcode walker stops at the raw bytes", FORMAT_OF[c])
    mal("22-payload-after-array-p2.joblib", dump([np.arange(1000), evil()], protocol=2), 22,
        "critical", "posix.system(", "the same with protocol=2 (no FRAME)", "joblib")
    rng = np.random.RandomState(2)
    mal("22-payload-after-several-arrays.joblib",
        dump({"weights": rng.rand(16, 4).astype(np.float32), "bias": np.zeros(4),
              "labels": np.array(["neg", "pos"]), "ids": np.arange(30, dtype=np.uint16),
              "hook": evil()}), 22, "critical", "posix.system(",
        "dict of four arrays (float32, float64, <U3, uint16) and then the payload", "joblib")
    mal("22-payload-after-unaligned-stop-bytes.joblib",
        dump([np.frombuffer(b"." * 16, dtype=np.uint8), evil()], seekable=False), 22,
        "critical", "posix.system(",
        "dumped to a non-seekable stream (no alignment padding, like joblib < 1.2): the raw "
        "bytes of a uint8 array are 16 '.' (STOP) right after the wrapper's BUILD, so a walker "
        "that treats them as opcodes sees a clean end of pickle; the payload follows in the next "
        "FRAME", "joblib")
    mal("22-payload-in-object-array.joblib",
        dump(np.array([1, "two", evil()], dtype=object)), 22, "critical", "posix.system(",
        "object-dtype array holding the payload: joblib writes it as a nested protocol-2 pickle "
        "inline after the wrapper's BUILD and loads it with pickle.load", "joblib")
    mal("22-payload-in-object-array-after-array.joblib",
        dump([np.arange(100, dtype=np.float64), np.array([evil(), "x"], dtype=object)]), 22,
        "critical", "posix.system(",
        "a raw float64 array, then an object array whose nested pickle holds the payload",
        "joblib")
    mal("22-payload-before-arrays.joblib", dump([evil(), np.arange(10), np.ones(3)]), 22,
        "critical", "posix.system(", "the payload comes first, then two raw arrays", "joblib")
    forest, _, _ = sklearn_models()
    forest.calibration_hook_ = evil()
    for c in (None, "gzip"):
        mal(f"22-payload-in-sklearn-forest{suffix(c)}.joblib", dump(forest, c), 22, "critical",
            "posix.system(",
            "fitted RandomForestClassifier with an extra attribute holding the payload; it comes "
            "after every tree's inline node/value arrays in the instance dict"
            + (" (compress=('gzip', 3))" if c else ""), FORMAT_OF[c])


# ============================================================================================
# Proofs
# ============================================================================================
CHILD = r"""
import os, sys, warnings
warnings.simplefilter("ignore")
path = sys.argv[1]
import joblib
try:
    r = joblib.load(path)
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
