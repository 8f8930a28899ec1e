#!/usr/bin/python3
"""Regenerate the raw tensor-data fixtures of internal/formats/tensordata.

    /usr/bin/python3 internal/formats/tensordata/testdata/make_fixtures.py          # write + prove
    /usr/bin/python3 internal/formats/tensordata/testdata/make_fixtures.py --check  # rebuild in a temp dir, compare, prove

Every fixture is a folder: the data file and the sibling that references it.

  * ONNX: written by Debian's python3-onnx (1.12) with
    onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location=..., size_threshold=0)
    (model.onnx_data as optimum and transformers.js name it, model.onnx.data as onnxruntime-genai
    and torch.onnx do, weights.data as any onnx.save caller may), and transformers.js-style shards
    (model.onnx_data + model.onnx_data_1) through onnx.external_data_helper.set_external_data.
    PROVED with onnx.load(path), which reads the external data: every initializer round-trips, and
    onnx.checker.check_model(path) accepts the model. ONNX serialisation is deterministic, so
    --check compares bytes.
  * OpenVINO IR v11 and TF.js: neither OpenVINO nor tensorflowjs_converter is installable here
    (OpenVINO's wheels and its npm package's runtime download are out of reach), so the files are
    written by hand in the layout those tools write. The IR is PROVED by an independent reading
    (xml.etree + numpy.frombuffer at each Const's offset/size gives the model's W and B). The
    TF.js shards are PROVED with tensorflowjs's own sharding rule (concatenate, cut every
    shard_size bytes) and, when @tensorflow/tfjs is installed for node (see README.md), by the
    real tf.loadLayersModel reading model.json's weightsManifest and predicting.
  * malicious: a protocol-4 posix.system pickle named model.onnx_data next to a real model.onnx
    (PROVED: pickle.load in a child process creates ./marker), and the pytorch package's proven
    torch.save payload (malicious/01-data-pkl-reduce.pt) copied as openvino_model.bin next to a real IR.
  * malformed: a data file with no sibling model, a .bin with no .xml or model.json, a data file
    the sibling model does not reference, and external data cut short (PROVED: onnx.load reads a
    short tensor, which numpy_helper.to_array refuses).
Payloads are harmless: each one only creates ./marker relative to the loader's cwd.
"""

import filecmp
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import set_external_data

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
CMD = "touch marker"
TORCH_PAYLOAD = os.path.join(ROOT, "internal", "formats", "pytorch", "testdata", "malicious", "01-data-pkl-reduce.pt")

# The one model of every fixture: Y = X @ W + B.
W = (np.arange(12, dtype=np.float32).reshape(4, 3) - 5.5) / 4
B = np.array([0.5, -1.0, 2.0], dtype=np.float32)
X = np.array([[1.0, 2.0, 3.0, 4.0]], dtype=np.float32)
Y = X @ W + B


class Reduce:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


# ---- ONNX (real library) ----------------------------------------------------------------------
def onnx_model():
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["XW"], name="matmul"),
         helper.make_node("Add", ["XW", "B"], ["Y"], name="add")],
        "tiny",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "B")])
    m = helper.make_model(graph, producer_name="modelgate-fixtures", opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def save_onnx(folder, location):
    os.makedirs(folder, exist_ok=True)
    onnx.save_model(onnx_model(), os.path.join(folder, "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location=location, size_threshold=0)


def save_onnx_shards(folder):
    """transformers.js numbering: the first tensor in model.onnx_data, the next in model.onnx_data_1."""
    os.makedirs(folder, exist_ok=True)
    m = onnx_model()
    for t, loc in zip(m.graph.initializer, ["model.onnx_data", "model.onnx_data_1"]):
        set_external_data(t, loc)
        t.data_location = TensorProto.EXTERNAL
    onnx.save_model(m, os.path.join(folder, "model.onnx"))


def prove_onnx(folder, expect_ok=True):
    path = os.path.join(folder, "model.onnx")
    try:
        m = onnx.load(path)  # loads the external data
        got = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
        onnx.checker.check_model(path)
        ok = np.array_equal(got["W"], W) and np.array_equal(got["B"], B)
        err = None
    except Exception as e:  # noqa: BLE001 - any refusal proves a malformed fixture
        ok, err = False, e
    if expect_ok:
        return ok, "" if ok else f"onnx.load/check failed: {err!r}"
    return not ok, f"refused: {type(err).__name__}" if err else "accepted"


# ---- OpenVINO IR v11 (hand-written, OpenVINO 2024 serializer layout) --------------------------
def ir_xml(w_off, w_size, b_off, b_size):
    def dims(*ds):
        return "".join(f"\n\t\t\t\t\t<dim>{d}</dim>" for d in ds)

    return f"""<?xml version="1.0"?>
<net name="tiny" version="11">
	<layers>
		<layer id="0" name="X" type="Parameter" version="opset1">
			<data shape="1,4" element_type="f32" />
			<output>
				<port id="0" precision="FP32" names="X">{dims(1, 4)}
				</port>
			</output>
		</layer>
		<layer id="1" name="W" type="Const" version="opset1">
			<data element_type="f32" shape="4, 3" offset="{w_off}" size="{w_size}" />
			<output>
				<port id="0" precision="FP32">{dims(4, 3)}
				</port>
			</output>
		</layer>
		<layer id="2" name="matmul" type="MatMul" version="opset1">
			<data transpose_a="false" transpose_b="false" />
			<input>
				<port id="0" precision="FP32">{dims(1, 4)}
				</port>
				<port id="1" precision="FP32">{dims(4, 3)}
				</port>
			</input>
			<output>
				<port id="2" precision="FP32" names="XW">{dims(1, 3)}
				</port>
			</output>
		</layer>
		<layer id="3" name="B" type="Const" version="opset1">
			<data element_type="f32" shape="1, 3" offset="{b_off}" size="{b_size}" />
			<output>
				<port id="0" precision="FP32">{dims(1, 3)}
				</port>
			</output>
		</layer>
		<layer id="4" name="add" type="Add" version="opset1">
			<data auto_broadcast="numpy" />
			<input>
				<port id="0" precision="FP32">{dims(1, 3)}
				</port>
				<port id="1" precision="FP32">{dims(1, 3)}
				</port>
			</input>
			<output>
				<port id="2" precision="FP32" names="Y">{dims(1, 3)}
				</port>
			</output>
		</layer>
		<layer id="5" name="Y/sink_port_0" type="Result" version="opset1">
			<input>
				<port id="0" precision="FP32">{dims(1, 3)}
				</port>
			</input>
		</layer>
	</layers>
	<edges>
		<edge from-layer="0" from-port="0" to-layer="2" to-port="0" />
		<edge from-layer="1" from-port="0" to-layer="2" to-port="1" />
		<edge from-layer="2" from-port="2" to-layer="4" to-port="0" />
		<edge from-layer="3" from-port="0" to-layer="4" to-port="1" />
		<edge from-layer="4" from-port="2" to-layer="5" to-port="0" />
	</edges>
	<rt_info>
		<Runtime_version value="2024.4.0-16579-c3152d32c9c-releases/2024/4" />
		<conversion_parameters>
			<framework value="onnx" />
			<is_python_object value="False" />
		</conversion_parameters>
	</rt_info>
</net>
"""


def save_openvino(folder):
    os.makedirs(folder, exist_ok=True)
    w, b = W.tobytes(), B.tobytes()
    with open(os.path.join(folder, "openvino_model.xml"), "w") as f:
        f.write(ir_xml(0, len(w), len(w), len(b)))
    with open(os.path.join(folder, "openvino_model.bin"), "wb") as f:
        f.write(w + b)


def prove_openvino(folder):
    """An independent reading of the IR: what read_model does with each Const."""
    root = ET.parse(os.path.join(folder, "openvino_model.xml")).getroot()
    with open(os.path.join(folder, "openvino_model.bin"), "rb") as f:
        binary = f.read()
    if root.tag != "net" or root.get("version") != "11":
        return False, "root is not <net version=11>"
    consts = {}
    for layer in root.iter("layer"):
        if layer.get("type") == "Const":
            d = layer.find("data")
            off, size = int(d.get("offset")), int(d.get("size"))
            shape = tuple(int(x) for x in d.get("shape").split(","))
            if off + size > len(binary):
                return False, f"{layer.get('name')} out of range"
            consts[layer.get("name")] = np.frombuffer(binary[off:off + size], dtype="<f4").reshape(shape)
    y = X @ consts["W"] + consts["B"]
    ok = np.array_equal(consts["W"], W) and np.array_equal(consts["B"].reshape(3), B) and np.array_equal(y, Y)
    return ok, "" if ok else "constants differ"


# ---- TF.js layers model (hand-written, tensorflowjs_converter 4.x layout) ---------------------
TFJS_SHARD = 32  # tensorflowjs writes 4 MiB shards; 32 bytes makes two of the 60


def tfjs_model_json(paths):
    topology = {
        "class_name": "Sequential",
        "config": {"name": "sequential", "layers": [
            {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32",
                                                    "sparse": False, "ragged": False, "name": "dense_input"}},
            {"class_name": "Dense", "config": {
                "name": "dense", "trainable": True, "dtype": "float32", "units": 3, "activation": "linear",
                "use_bias": True,
                "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
                "bias_initializer": {"class_name": "Zeros", "config": {}},
                "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
                "kernel_constraint": None, "bias_constraint": None}}]},
        "keras_version": "2.15.0", "backend": "tensorflow"}
    return {
        "format": "layers-model",
        "generatedBy": "keras v2.15.0",
        "convertedBy": "TensorFlow.js Converter v4.22.0",
        "modelTopology": {"keras_version": "2.15.0", "backend": "tensorflow", "model_config": topology},
        "weightsManifest": [{"paths": paths, "weights": [
            {"name": "dense/kernel", "shape": [4, 3], "dtype": "float32"},
            {"name": "dense/bias", "shape": [3], "dtype": "float32"}]}],
    }


def save_tfjs(folder):
    """write_weights.py: concatenate the group's weights, cut every shard_size bytes, name
    'group%d-shard%dof%d.bin'; model.json written with json.dumps as the converter does."""
    os.makedirs(folder, exist_ok=True)
    data = W.tobytes() + B.tobytes()
    n = -(-len(data) // TFJS_SHARD)
    paths = [f"group1-shard{i + 1}of{n}.bin" for i in range(n)]
    for i, p in enumerate(paths):
        with open(os.path.join(folder, p), "wb") as f:
            f.write(data[i * TFJS_SHARD:(i + 1) * TFJS_SHARD])
    with open(os.path.join(folder, "model.json"), "w") as f:
        json.dump(tfjs_model_json(paths), f)


def prove_tfjs(folder):
    """decodeWeights' reading (tfjs-core io_utils.ts), then the real tfjs when installed."""
    with open(os.path.join(folder, "model.json")) as f:
        mj = json.load(f)
    group = mj["weightsManifest"][0]
    buf = b"".join(open(os.path.join(folder, p), "rb").read() for p in group["paths"])
    off, got = 0, {}
    for w in group["weights"]:
        n = int(np.prod(w["shape"])) * 4
        got[w["name"]] = np.frombuffer(buf[off:off + n], dtype="<f4").reshape(w["shape"])
        off += n
    ok = off == len(buf) and np.array_equal(got["dense/kernel"], W) and np.array_equal(got["dense/bias"], B)
    if not ok:
        return False, "weights differ"
    modules = os.environ.get("TFJS_NODE_MODULES", "/tmp/tfjs/node_modules")
    if not shutil.which("node") or not os.path.isdir(os.path.join(modules, "@tensorflow", "tfjs")):
        return True, "real tfjs not installed: decodeWeights reading only"
    r = subprocess.run(["node", os.path.join(HERE, "prove_tfjs.js"), folder, json.dumps(X.tolist())],
                       env=dict(os.environ, NODE_PATH=modules), capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return False, "tfjs: " + r.stderr.strip()[-300:]
    y = np.array(json.loads(r.stdout.strip().splitlines()[-1]), dtype=np.float32)
    ok = np.allclose(y, Y, rtol=0, atol=1e-6)
    return ok, "tf.loadLayersModel + predict agree" if ok else f"tfjs predicted {y.tolist()}, want {Y.tolist()}"


# ---- pickles -----------------------------------------------------------------------------------
PICKLE_LOAD = "import pickle,sys; pickle.load(open(sys.argv[1],'rb'))"


def runs(path):
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, "-c", PICKLE_LOAD, os.path.abspath(path)], cwd=d,
                       capture_output=True, timeout=60)
        return os.path.exists(os.path.join(d, "marker"))


# ---- the fixture set ---------------------------------------------------------------------------
def build(out):
    """Writes every fixture under out and returns the manifest."""
    j = lambda *p: os.path.join(out, *p)  # noqa: E731
    manifest = []

    def entry(file, expect, description, fmt, **kw):
        manifest.append(dict(file=file, expect=expect, description=description, format=fmt, **kw))

    save_onnx(j("benign", "onnx"), "model.onnx_data")
    entry("benign/onnx/model.onnx", "benign", "onnx.save_model(save_as_external_data=True, location='model.onnx_data', size_threshold=0): the model, with no tensor bytes in it", "onnx")
    entry("benign/onnx/model.onnx_data", "benign", "its external data, as optimum and transformers.js name it: W and B as raw float32 at the offsets model.onnx names", "tensor-data")
    save_onnx(j("benign", "onnx-dot-data"), "model.onnx.data")
    entry("benign/onnx-dot-data/model.onnx.data", "benign", "external data named model.onnx.data, as onnxruntime-genai and torch.onnx write it", "tensor-data")
    save_onnx_shards(j("benign", "onnx-shards"))
    entry("benign/onnx-shards/model.onnx_data", "benign", "first of transformers.js-style numbered external data files (W)", "tensor-data")
    entry("benign/onnx-shards/model.onnx_data_1", "benign", "second numbered external data file (B)", "tensor-data")
    save_onnx(j("benign", "onnx-custom-location"), "weights.data")
    entry("benign/onnx-custom-location/weights.data", "benign", "external data under a name of the caller's choosing (no weights.onnx): confirmed through model.onnx", "tensor-data")

    save_openvino(j("benign", "openvino"))
    entry("benign/openvino/openvino_model.bin", "benign", "OpenVINO IR v11 weights: two Const layers of openvino_model.xml index W and B in it", "tensor-data")

    save_tfjs(j("benign", "tfjs"))
    entry("benign/tfjs/group1-shard1of2.bin", "benign", "TF.js layers-model weights, first shard of group 1 (sizes of the group's shards checked here)", "tensor-data")
    entry("benign/tfjs/group1-shard2of2.bin", "benign", "TF.js layers-model weights, second shard of group 1", "tensor-data")

    save_onnx(j("malicious", "pickle-onnx-data"), "model.onnx_data")
    with open(j("malicious", "pickle-onnx-data", "model.onnx_data"), "wb") as f:
        f.write(pickle.dumps(Reduce(os.system, (CMD,)), protocol=4))
    entry("malicious/pickle-onnx-data/model.onnx_data", "malicious", "a protocol-4 posix.system pickle named model.onnx_data next to a real model.onnx that references that name: the content analysers come first, so it is a pickle", "pickle",
          min_severity="critical", evidence="touch marker", proven=True)
    save_openvino(j("malicious", "torch-openvino"))
    shutil.copyfile(TORCH_PAYLOAD, j("malicious", "torch-openvino", "openvino_model.bin"))
    entry("malicious/torch-openvino/openvino_model.bin", "malicious", "torch.save of an os.system payload (the pytorch package's proven 01-data-pkl-reduce.pt) named openvino_model.bin next to a real IR: analysed as a PyTorch zip", "pytorch-zip",
          min_severity="critical", evidence="posix.system(", proven=True)

    os.makedirs(j("malformed", "no-sibling"))
    with open(j("malformed", "no-sibling", "model.onnx_data"), "wb") as f:
        f.write(W.tobytes() + B.tobytes())
    entry("malformed/no-sibling/model.onnx_data", "malformed", "external data with no model.onnx next to it: nothing vouches for it, so it is not analysed", "unknown")
    with open(j("malformed", "no-sibling", "weights.bin"), "wb") as f:
        f.write(W.tobytes() + B.tobytes())
    entry("malformed/no-sibling/weights.bin", "malformed", "a .bin with neither weights.xml nor model.json next to it: not analysed, as before", "unknown")
    save_onnx(j("malformed", "unreferenced"), "weights.data")
    os.remove(j("malformed", "unreferenced", "weights.data"))
    with open(j("malformed", "unreferenced", "model.onnx_data"), "wb") as f:
        f.write(W.tobytes() + B.tobytes())
    entry("malformed/unreferenced/model.onnx_data", "malformed", "model.onnx_data next to a model.onnx whose tensors are in weights.data: no sibling references it", "unknown")
    # Cut short: confirmed (model.onnx references it) with TENSOR-DATA-RANGE, not in the manifest's
    # terms (a medium finding passes at the default threshold): tensordata_test.go checks it.
    save_onnx(j("malformed", "range"), "model.onnx_data")
    with open(j("malformed", "range", "model.onnx_data"), "r+b") as f:
        f.truncate(40)
    return manifest


def prove(folder_of, manifest):
    good = True
    checks = [
        ("benign/onnx", lambda: prove_onnx(folder_of("benign/onnx"))),
        ("benign/onnx-dot-data", lambda: prove_onnx(folder_of("benign/onnx-dot-data"))),
        ("benign/onnx-shards", lambda: prove_onnx(folder_of("benign/onnx-shards"))),
        ("benign/onnx-custom-location", lambda: prove_onnx(folder_of("benign/onnx-custom-location"))),
        ("benign/openvino", lambda: prove_openvino(folder_of("benign/openvino"))),
        ("benign/tfjs", lambda: prove_tfjs(folder_of("benign/tfjs"))),
        ("malicious/pickle-onnx-data/model.onnx_data",
         lambda: (runs(os.path.join(folder_of("malicious/pickle-onnx-data"), "model.onnx_data")), "pickle.load creates ./marker")),
        ("malicious/torch-openvino/openvino_model.bin",
         lambda: (filecmp.cmp(TORCH_PAYLOAD, os.path.join(folder_of("malicious/torch-openvino"), "openvino_model.bin"), shallow=False),
                  "byte-equal to the pytorch package's proven payload")),
        ("malformed/range", lambda: prove_onnx(folder_of("malformed/range"), expect_ok=False)),
    ]
    for name, fn in checks:
        ok, why = fn()
        print(("ok   " if ok else "FAIL ") + name + (f" ({why})" if why else ""))
        good = good and ok
    return good


def tree(d):
    out = []
    for base, _, files in os.walk(d):
        out += [os.path.relpath(os.path.join(base, f), d) for f in files]
    return sorted(out)


def main():
    check = "--check" in sys.argv
    dirs = ("benign", "malicious", "malformed")
    with tempfile.TemporaryDirectory() as tmp:
        manifest = build(tmp)
        text = json.dumps(manifest, indent=1) + "\n"
        good = True
        if check:
            with open(os.path.join(HERE, "manifest.json")) as f:
                if f.read() != text:
                    print("FAIL manifest.json differs from what this script writes")
                    good = False
            fresh = tree(tmp)
            committed = [p for p in tree(HERE) if p.split(os.sep)[0] in dirs]
            if fresh != committed:
                print(f"FAIL the committed files differ in name from a fresh build: {sorted(set(fresh) ^ set(committed))}")
                good = False
            for p in fresh:
                if p in committed and not filecmp.cmp(os.path.join(tmp, p), os.path.join(HERE, p), shallow=False):
                    print("FAIL " + p + " differs from what this script writes")
                    good = False
        else:
            for d in dirs:
                shutil.rmtree(os.path.join(HERE, d), ignore_errors=True)
                shutil.copytree(os.path.join(tmp, d), os.path.join(HERE, d))
            with open(os.path.join(HERE, "manifest.json"), "w") as f:
                f.write(text)
    good = prove(lambda rel: os.path.join(HERE, rel), manifest) and good
    sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
