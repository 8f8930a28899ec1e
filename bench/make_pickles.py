#!/usr/bin/env python3
"""Write the two benchmark pickles of issue 2 into DIR (not committed):

payload.pkl  ~1 GiB: 64 distinct 16 MiB bytes objects, protocol 4 — a file
             dominated by large payloads, like a checkpoint's tensor data.
dense.pkl    ~20 MB: 2,000,000 ints and 1,000,000 short strings, protocol 4 —
             millions of small opcodes, the worst case for an opcode walker.
"""
import os
import pickle
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "payload.pkl"), "wb") as f:
    pickle.dump([bytes([i]) * (16 << 20) for i in range(64)], f, protocol=4)
with open(os.path.join(out, "dense.pkl"), "wb") as f:
    pickle.dump(list(range(2_000_000)) + ["s%d" % i for i in range(1_000_000)], f, protocol=4)
