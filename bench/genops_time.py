#!/usr/bin/env python3
"""Time pickletools.genops over each FILE: the opcode loop at the core of
picklescan and modelscan. Prints one line per file: name, seconds (best of
3), bytes, opcodes, MB/s, opcodes/s."""
import pickletools
import sys
import time

for path in sys.argv[1:]:
    best = None
    for _ in range(3):
        with open(path, "rb") as f:
            t = time.perf_counter()
            n = 0
            for _op in pickletools.genops(f):
                n += 1
            dt = time.perf_counter() - t
            size = f.seek(0, 2)
        best = dt if best is None else min(best, dt)
    print(f"genops {path.rsplit('/', 1)[-1]}: {best:.3f} s, {size} bytes, {n} opcodes, "
          f"{size / best / 1e6:.1f} MB/s, {n / best / 1e6:.2f} Mops/s")
