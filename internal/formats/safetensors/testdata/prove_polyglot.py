#!/usr/bin/env python3
"""Prove the malicious/ fixtures: each is a safetensors file that the
safetensors loader accepts AND a pickle that pickle.load runs.

Usage: /usr/bin/python3 prove_polyglot.py   (from any directory)

For every malicious/*.safetensors:
  1. pickle.load runs in a child process in an empty temporary directory;
     the payload is posix.system('touch marker'), so the proof is that the
     file `marker` appears there.
  2. The safetensors framing is checked with a transcription of the
     safetensors crate's read_metadata/validate (8-byte length <= 100 MB,
     UTF-8 JSON that json.loads accepts, __metadata__ string to string,
     tensors sorted by offsets each starting where the previous ended, byte
     sizes = dtype x shape, the last ending at the end of the file).
  3. If the real `safetensors` Python package is importable, safe_open
     reads every tensor too (it is not a Debian package; the step is
     skipped when it is absent).

Exit status 0 when every file is proven. Nothing here is needed by
`go test`; the Go generator in ../fixtures_test.go writes the files.
"""
import glob
import json
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BITS = {"BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8,
        "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16,
        "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "C64": 64,
        "F64": 64, "I64": 64, "U64": 64}


def check_framing(data):
    n = struct.unpack("<Q", data[:8])[0]
    assert n <= 100_000_000, "header too large"
    header = data[8:8 + n]
    assert len(header) == n, "header truncated"
    meta = json.loads(header.decode("utf-8"))
    assert isinstance(meta, dict)
    md = meta.pop("__metadata__", None)
    assert md is None or all(isinstance(v, str) for v in md.values()), "metadata"
    start = 0
    for name, info in sorted(meta.items(), key=lambda kv: tuple(kv[1]["data_offsets"])):
        s, e = info["data_offsets"]
        assert s == start and e >= s, f"offsets of {name}"
        count = 1
        for d in info["shape"]:
            count *= d
        nbits = count * BITS[info["dtype"]]
        assert nbits % 8 == 0 and e - s == nbits // 8, f"size of {name}"
        start = e
    assert 8 + n + start == len(data), "data section not fully covered"
    return sorted(meta)


def check_real_loader(path):
    try:
        from safetensors import safe_open
    except ImportError:
        return "safetensors package absent: skipped"
    with safe_open(path, framework="numpy") as f:
        return "safe_open read " + ", ".join(f"{k}{f.get_tensor(k).shape}" for k in f.keys())


def check_pickle(path):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-c", "import pickle,sys; pickle.load(open(sys.argv[1],'rb'))", path],
                       cwd=tmp, check=False, capture_output=True)
        return os.path.exists(os.path.join(tmp, "marker"))


def main():
    files = sorted(glob.glob(os.path.join(HERE, "malicious", "*.safetensors")))
    ok = bool(files)
    for path in files:
        with open(path, "rb") as fh:
            data = fh.read()
        name = os.path.relpath(path, HERE)
        try:
            tensors = check_framing(data)
        except Exception as exc:  # noqa: BLE001 - report any framing failure
            print(f"FAIL {name}: not valid safetensors: {exc!r}")
            ok = False
            continue
        ran = check_pickle(path)
        print(f"{'ok  ' if ran else 'FAIL'} {name}: safetensors tensors {tensors}; "
              f"pickle.load ran the payload: {ran}; {check_real_loader(path)}")
        ok = ok and ran
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
