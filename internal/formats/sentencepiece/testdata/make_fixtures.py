#!/usr/bin/python3
"""Regenerate the SentencePiece fixtures of internal/formats/sentencepiece.

    /usr/bin/python3 internal/formats/sentencepiece/testdata/make_fixtures.py          # write + prove
    /usr/bin/python3 internal/formats/sentencepiece/testdata/make_fixtures.py --check  # prove committed

Needs Debian bookworm's Python 3.11 with python3-sentencepiece (0.1.97).  The benign models are
trained by the REAL library (spm.SentencePieceTrainer.train, one thread, on a small generated
corpus, with a tiny custom normalization rule TSV so that precompiled_charsmap is a real compiled
charsmap yet small).  Every fixture is then PROVED with the real loader:
  * benign        -> sentencepiece.SentencePieceProcessor(model_file=...) loads it and encodes text;
  * embedded      -> the loader ALSO accepts it (the extension field is ignored), and the pickle
                     inside, given to pickle.loads in a child process, creates ./marker;
  * malformed     -> the loader refuses it;
  * pickle-*      -> not protobuf: the loader refuses it, and pickle.load (child process, fresh
                     temporary directory as cwd) creates ./marker (malicious) or not (benign).
--check does the same for the committed files (nothing is written) and compares manifest.json.
Payloads are harmless: each one only creates ./marker relative to the loader's cwd.
"""

import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
CMD = "touch marker"


class Reduce:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def evil_pickle(protocol=4):
    return pickle.dumps(Reduce(os.system, (CMD,)), protocol=protocol)  # posix.system('touch marker')


def corpus():
    """A deterministic little corpus: enough distinct words for a vocabulary of 100."""
    syll = ["ka", "to", "ri", "mu", "sen", "pi", "ece", "lo", "ad", "ing", "mod", "el", "sca", "ner",
            "tok", "en", "zer", "bpe", "uni", "gram", "cod", "run", "fi", "les", "che", "ck"]
    lines = []
    for i in range(600):
        ws = []
        for k in range(1, 10):
            n = 1 + (i * k) % 3
            ws.append("".join(syll[(i * 7 + k * 13 + j * 5) % len(syll)] for j in range(n)))
        lines.append(" ".join(ws))
    return "\n".join(lines) + "\n"


def train(model_type, workdir):
    with open(os.path.join(workdir, "corpus.txt"), "w") as f:
        f.write(corpus())
    # Custom normalization rules (source code points TAB target code points): compiled by the
    # real Builder into precompiled_charsmap; 'identity' would leave it empty, nmt_nfkc is 240 KB.
    with open(os.path.join(workdir, "rules.tsv"), "w") as f:
        f.write("41\t61\n42\t62\nFF21\t61\n3000\t20\n")
    cwd = os.getcwd()
    os.chdir(workdir)  # relative paths: trainer_spec records input and model_prefix verbatim
    try:
        spm.SentencePieceTrainer.train(
            input="corpus.txt", model_prefix=model_type, vocab_size=100, model_type=model_type,
            num_threads=1, normalization_rule_tsv="rules.tsv", self_test_sample_size=2,
            user_defined_symbols=["<mask>"], minloglevel=2)
        with open(model_type + ".model", "rb") as f:
            return f.read()
    finally:
        os.chdir(cwd)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def ext_field(num, payload):
    """A length-delimited field (wire type 2): what a proto2 extension in 200..max looks like."""
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def zip_with_pickle():
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED) as z:
        info = zipfile.ZipInfo("archive/data.pkl", date_time=(1980, 1, 1, 0, 0, 0))
        z.writestr(info, evil_pickle(2))
    return b.getvalue()


def fixtures():
    work = tempfile.mkdtemp()
    try:
        uni = train("unigram", work)
        bpe = train("bpe", work)
    finally:
        shutil.rmtree(work)
    F = []

    def add(name, data, expect, desc, fmt=None, **kw):
        e = {"file": name, "expect": expect, "description": desc}
        if fmt:
            e["format"] = fmt
        e.update(kw)
        F.append((name, data, e))

    add("benign/unigram.model", uni, "benign",
        "spm.SentencePieceTrainer.train(model_type='unigram', vocab_size=100) with a custom "
        "normalization rule TSV, user-defined symbol <mask>, 2 self-test samples", "sentencepiece")
    add("benign/bpe.model", bpe, "benign",
        "spm.SentencePieceTrainer.train(model_type='bpe', vocab_size=100), same options",
        "sentencepiece")
    add("malicious/embedded-pickle.model", uni + ext_field(200, evil_pickle()), "malicious",
        "unigram.model + extension field 200 holding a posix.system pickle: the sentencepiece "
        "loader accepts the file (extension ignored); the engine analyses the blob as a nested "
        "pickle", "sentencepiece", min_severity="critical", evidence="touch marker")
    add("malicious/tokenizer.model", evil_pickle(), "malicious",
        "a protocol-4 posix.system pickle renamed tokenizer.model: not a ModelProto, analysed "
        "as a pickle", "pickle", min_severity="critical", evidence="touch marker", proven=True)
    add("malicious/spiece.model", zip_with_pickle(), "malicious",
        "a zip whose archive/data.pkl is a posix.system pickle, renamed spiece.model: analysed "
        "as a zip", min_severity="critical", evidence="touch marker")
    add("benign/pickle-sentencepiece.bpe.model", pickle.dumps({"vocab": ["a", "b"]}, protocol=2),
        "benign", "a plain protocol-2 pickle of a dict renamed sentencepiece.bpe.model: analysed "
        "as a pickle, nothing imported", "pickle")
    add("malformed/truncated.model", uni[: len(uni) // 2], "malformed",
        "unigram.model cut in half: the loader refuses it", "sentencepiece")
    add("malformed/trailing-garbage.model", uni + b"\xff\xff\xff\xff garbage", "malformed",
        "unigram.model followed by bytes that are not protobuf: the loader refuses it",
        "sentencepiece")
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


def sp_loads(path):
    try:
        sp = spm.SentencePieceProcessor(model_file=path)
        sp.encode("the model reads tokens", out_type=str)
        return sp.get_piece_size()
    except Exception:
        return None


def prove(name, entry):
    path = os.path.join(HERE, name)
    n = sp_loads(path)
    ok = True
    if entry["expect"] == "benign" and entry.get("format") == "sentencepiece":
        ok = n is not None and n == 100
    elif name == "malicious/embedded-pickle.model":
        with open(path, "rb") as f:
            data = f.read()
        blob = data[data.rindex(b"\x80\x04"):]
        with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as t:
            t.write(blob)
        try:
            ok = n == 100 and child("import pickle,sys; pickle.loads(open(sys.argv[1],'rb').read())", t.name)
        finally:
            os.unlink(t.name)
    elif entry["expect"] == "malformed":
        ok = n is None
    else:  # pickles and the zip: not a model for sentencepiece
        ok = n is None
        if entry.get("format") == "pickle":
            ran = child("import pickle,sys; pickle.load(open(sys.argv[1],'rb'))", path)
            ok = ok and ran == (entry["expect"] == "malicious")
        elif name == "malicious/spiece.model":
            ran = child("import pickle,sys,zipfile; pickle.loads(zipfile.ZipFile(sys.argv[1]).read('archive/data.pkl'))", path)
            ok = ok and ran
    print(("ok   " if ok else "FAIL ") + name + (f" ({n} pieces)" if n else ""))
    return ok


def main():
    check = "--check" in sys.argv
    F = fixtures()
    manifest = [e for _, _, e in sorted(F, key=lambda x: x[0])]
    mpath = os.path.join(HERE, "manifest.json")
    text = json.dumps(manifest, indent=1) + "\n"
    good = True
    if check:
        with open(mpath) as f:
            if f.read() != text:
                print("FAIL manifest.json differs from what this script writes")
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
