#!/usr/bin/python3
"""Regenerate the Keras fixtures of internal/formats/keras.

    /usr/bin/python3 internal/formats/keras/testdata/make_fixtures.py          # write + prove
    /usr/bin/python3 internal/formats/keras/testdata/make_fixtures.py --check  # prove committed

Needs Debian bookworm's Python 3.11 with python3-h5py (3.7) and python3-numpy (1.24).  Neither
TensorFlow nor Keras is installable here, so the model configs are written by hand, modelled on
what Keras 2.2.4, tf.keras 2.x and Keras 3.x write (model.to_json() / get_config()).  Everything
else is made by the real libraries:
  * Lambda code: marshal.dumps(fn.__code__), base64-encoded as Keras' func_dump does
    (codecs.encode(raw, "base64"), 76-character lines);
  * .h5 models: h5py, root attributes model_config / training_config / keras_version / backend as
    Keras 2's save_model writes them (h5py str -> variable-length strings), plus the
    model_weights group with datasets; default libver, libver="latest", a 512-byte user block,
    fixed-length strings, and dense attribute storage (more than 8 root attributes under
    libver="latest"; a model_config over 4 KiB then becomes a "huge" fractal-heap object);
  * .keras archives: zipfile with metadata.json, config.json and model.weights.h5 (h5py) or
    model.weights.npz (np.savez), in the order Keras 3 writes them, timestamps pinned.

PROOFS (malicious fixtures marked "proven"): in a child process whose working directory is a
fresh temporary directory, the fixture is opened the way Keras opens it (h5py root attribute /
zip member), the Lambda's function is rebuilt exactly as Keras' func_load does (base64 decode,
marshal.loads, types.FunctionType) and called, as the model does when it is built; it must create
./marker.  A model.weights.npz payload is proven with np.load(allow_pickle=True); a
TorchModuleWrapper blob with pickle.loads (what torch.load(weights_only=False) runs first on a
non-zip blob).  Benign fixtures are opened the same way and must not create the marker.
--check proves the committed files and compares manifest.json (the manifest, same schema as
the other formats' manifest.json); nothing is written.
"""

import base64
import codecs
import io
import json
import marshal
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CMD = "touch marker"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
FIXTURES = []


# --- code as Keras' func_dump writes it -----------------------------------------------------

def func_dump(fn):
    raw = marshal.dumps(fn.__code__)
    return codecs.encode(raw, "base64").decode("ascii")


EVIL_CODE = func_dump(lambda x: __import__("os").system("touch marker") or x)
HARMLESS_CODE = func_dump(lambda x: x * 2.0)


class Reduce:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def evil_pickle():
    return pickle.dumps(Reduce(os.system, (CMD,)), protocol=2)  # posix.system('touch marker')


# --- Keras 2 configs (keras 2.2.4 / tf.keras 2.x get_config shapes) --------------------------

def init_k2(cls="VarianceScaling"):
    if cls == "VarianceScaling":
        return {"class_name": "VarianceScaling",
                "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}}
    return {"class_name": cls, "config": {}}


def dense_k2(name, units, input_shape=None, activation="relu"):
    cfg = {"name": name, "trainable": True}
    if input_shape:
        cfg["batch_input_shape"] = [None] + list(input_shape)
        cfg["dtype"] = "float32"
    cfg.update({"units": units, "activation": activation, "use_bias": True,
                "kernel_initializer": init_k2(), "bias_initializer": init_k2("Zeros"),
                "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
                "kernel_constraint": None, "bias_constraint": None})
    return {"class_name": "Dense", "config": cfg}


def lambda_k2(name, code, tf_keras=False):
    cfg = {"name": name, "trainable": True}
    if tf_keras:
        cfg["dtype"] = "float32"
    cfg.update({"function": [code, None, None], "function_type": "lambda"})
    if tf_keras:
        cfg["module"] = "__main__"
    cfg.update({"output_shape": None, "output_shape_type": "raw", "arguments": {}})
    if tf_keras:
        cfg["output_shape_module"] = None
    return {"class_name": "Lambda", "config": cfg}


def lstm_k2(name, units):
    return {"class_name": "LSTM", "config": {
        "name": name, "trainable": True, "return_sequences": False, "return_state": False,
        "go_backwards": False, "stateful": False, "unroll": False, "units": units,
        "activation": "tanh", "recurrent_activation": "hard_sigmoid", "use_bias": True,
        "kernel_initializer": init_k2(), "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": None}},
        "bias_initializer": init_k2("Zeros"), "unit_forget_bias": True, "kernel_regularizer": None,
        "recurrent_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
        "kernel_constraint": None, "recurrent_constraint": None, "bias_constraint": None,
        "dropout": 0.0, "recurrent_dropout": 0.0, "implementation": 1}}


def sequential_k2(name, layers, as_list=False):
    if as_list:  # Keras 2.0/2.1: the Sequential config is the list of layers
        return {"class_name": "Sequential", "config": layers}
    return {"class_name": "Sequential", "config": {"name": name, "layers": layers}}


def node(layer, *inputs):
    layer = dict(layer)
    layer["name"] = layer["config"]["name"]
    layer["inbound_nodes"] = [[[i, 0, 0, {}] for i in inputs]] if inputs else []
    return layer


def input_k2(name, shape):
    return {"class_name": "InputLayer", "config": {"batch_input_shape": [None] + list(shape),
                                                    "dtype": "float32", "sparse": False, "name": name}}


def functional_k2(name, layers, inputs, outputs, cls="Model"):
    return {"class_name": cls, "config": {"name": name, "layers": layers,
                                          "input_layers": [[i, 0, 0] for i in inputs],
                                          "output_layers": [[o, 0, 0] for o in outputs]}}


TRAINING_K2 = {"optimizer_config": {"class_name": "Adam", "config": {
    "lr": 0.0010000000474974513, "beta_1": 0.8999999761581421, "beta_2": 0.9990000128746033,
    "decay": 0.0, "epsilon": 1e-07, "amsgrad": False}},
    "loss": "binary_crossentropy", "metrics": ["accuracy"], "sample_weight_mode": None,
    "loss_weights": None}


def nested_functional_k2(inner_layer):
    """A Functional model whose second layer is a nested Sequential model holding inner_layer."""
    inner = sequential_k2("inner", [dense_k2("dense_1", 8, (8,)), inner_layer])
    inner = dict(inner)
    return functional_k2("model_1", [
        node(input_k2("input_1", (8,))),
        dict(inner, name="inner", inbound_nodes=[[["input_1", 0, 0, {}]]]),
        node(dense_k2("dense_2", 1, activation="sigmoid"), "inner"),
    ], ["input_1"], ["dense_2"])


def time_distributed_k2(name, layer):
    return {"class_name": "TimeDistributed", "config": {"name": name, "trainable": True, "layer": layer}}


def bidirectional_k2(name, layer, backward=None):
    cfg = {"name": name, "trainable": True, "layer": layer, "merge_mode": "concat"}
    if backward:
        cfg["backward_layer"] = backward
    return {"class_name": "Bidirectional", "config": cfg}


# --- Keras 3 configs ---------------------------------------------------------------------------

def policy_k3():
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}


def obj_k3(module, cls, config, **extra):
    o = {"module": module, "class_name": cls, "config": config, "registered_name": None}
    o.update(extra)
    return o


def dense_k3(name, units, activation="relu"):
    return obj_k3("keras.layers", "Dense", {
        "name": name, "trainable": True, "dtype": policy_k3(), "units": units,
        "activation": activation, "use_bias": True,
        "kernel_initializer": obj_k3("keras.initializers", "GlorotUniform", {"seed": None}),
        "bias_initializer": obj_k3("keras.initializers", "Zeros", {}),
        "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None,
        "bias_constraint": None}, build_config={"input_shape": [None, 4]})


def lambda_k3(name, code):
    return obj_k3("keras.layers", "Lambda", {
        "name": name, "trainable": True, "dtype": policy_k3(),
        "function": {"class_name": "__lambda__", "config": {"code": code, "defaults": None, "closure": None}},
        "arguments": {}}, build_config={"input_shape": [None, 4]})


def input_k3(name, shape):
    return obj_k3("keras.layers", "InputLayer", {"batch_shape": [None] + list(shape), "dtype": "float32",
                                                  "sparse": False, "name": name})


def sequential_k3(name, layers):
    return obj_k3("keras", "Sequential", {"name": name, "trainable": True, "dtype": policy_k3(),
                                           "layers": [input_k3("input_layer", (4,))] + layers},
                  build_config={"input_shape": [None, 4]})


def k3_tensor(history):
    return {"class_name": "__keras_tensor__", "config": {"shape": [None, 4], "dtype": "float32",
                                                          "keras_history": history}}


def fnode(layer, inp):
    layer = dict(layer)
    layer["name"] = layer["config"]["name"]
    layer["inbound_nodes"] = [{"args": [k3_tensor([inp, 0, 0])], "kwargs": {}}] if inp else []
    return layer


def functional_k3(name, layers, inputs, outputs):
    return obj_k3("keras", "Functional", {
        "name": name, "trainable": True, "layers": layers,
        "input_layers": [[i, 0, 0] for i in inputs], "output_layers": [[o, 0, 0] for o in outputs]},
        registered_name="Functional", build_config={"input_shape": None},
        compile_config={"optimizer": obj_k3("keras.optimizers", "Adam", {
            "name": "adam", "learning_rate": 0.0010000000474974513, "weight_decay": None,
            "clipnorm": None, "global_clipnorm": None, "clipvalue": None, "use_ema": False,
            "ema_momentum": 0.99, "ema_overwrite_frequency": None, "loss_scale_factor": None,
            "gradient_accumulation_steps": None, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
            "amsgrad": False}),
            "loss": "mean_squared_error", "loss_weights": None, "metrics": None,
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1,
            "jit_compile": False})


def nested_functional_k3(inner_layer):
    inner = sequential_k3("inner", [dense_k3("dense", 4), inner_layer])
    return functional_k3("functional", [
        fnode(input_k3("input_layer", (4,)), None),
        fnode(inner, "input_layer"),
        fnode(dense_k3("dense_1", 1, "sigmoid"), "inner"),
    ], ["input_layer"], ["dense_1"])


METADATA_K3 = {"keras_version": "3.3.3", "date_saved": "2024-05-02@10:11:12"}


# --- writers -----------------------------------------------------------------------------------

def write_h5(path, model_config, keras_version="2.2.4", backend="tensorflow", libver=None,
             userblock=0, fixed=False, extra_attrs=0, weights=True, training=True):
    kw = {}
    if libver:
        kw["libver"] = libver
    if userblock:
        kw["userblock_size"] = userblock
    with h5py.File(path, "w", **kw) as f:
        def put(name, value):
            if fixed:
                f.attrs.create(name, np.bytes_(value.encode("utf-8")))
            else:
                f.attrs[name] = value
        put("keras_version", keras_version)
        put("backend", backend)
        if model_config is not None:
            put("model_config", json.dumps(model_config))
        if training:
            put("training_config", json.dumps(TRAINING_K2))
        for i in range(extra_attrs):
            f.attrs["note_%02d" % i] = "attribute %d" % i
        if weights:
            g = f.create_group("model_weights")
            g.attrs["layer_names"] = np.array([b"dense_1"])
            d = g.create_group("dense_1").create_group("dense_1")
            d.create_dataset("kernel:0", data=np.zeros((4, 8), dtype="float32"))
            d.create_dataset("bias:0", data=np.zeros((8,), dtype="float32"))


def weights_h5_bytes():
    """A Keras 3 model.weights.h5: groups per layer with vars datasets, no root attributes."""
    tmp = tempfile.NamedTemporaryFile(suffix=".h5", delete=False)
    tmp.close()
    try:
        with h5py.File(tmp.name, "w") as f:
            v = f.create_group("layers").create_group("dense").create_group("vars")
            v.create_dataset("0", data=np.zeros((4, 4), dtype="float32"))
            v.create_dataset("1", data=np.zeros((4,), dtype="float32"))
            f.create_group("optimizer").create_group("vars")
        with open(tmp.name, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(tmp.name)


def npz_bytes(arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def write_zip(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED if name.endswith((".h5", ".npz")) else zipfile.ZIP_DEFLATED
            z.writestr(info, data)


def write_keras(path, config, weights=None, extra=()):
    members = [("metadata.json", json.dumps(METADATA_K3)), ("config.json", json.dumps(config))]
    members.append(("model.weights.h5", weights if weights is not None else weights_h5_bytes()))
    members.extend(extra)
    write_zip(path, members)


def fixture(file, expect, description, fmt, writer, threat=27, min_severity=None, evidence=None, proof=None):
    FIXTURES.append(dict(file=file, expect=expect, description=description, format=fmt,
                         writer=writer, threat=threat, min_severity=min_severity,
                         evidence=evidence, proof=proof))


# --- the fixtures ------------------------------------------------------------------------------

def define():
    seq = sequential_k2("sequential_1", [dense_k2("dense_1", 8, (4,)), dense_k2("dense_2", 1, activation="sigmoid")])
    fixture("benign/k2-sequential-dense.h5", "benign",
            "Keras 2.2.4-style Sequential of two Dense layers, h5py default libver (superblock 0, v1 object headers), vlen string attributes",
            "keras-h5", lambda p: write_h5(p, seq))
    fixture("benign/k2-sequential-list-config.h5", "benign",
            "Keras 2.0/2.1-style Sequential whose config is a bare list of layers",
            "keras-h5", lambda p: write_h5(p, sequential_k2("s", seq["config"]["layers"], as_list=True), keras_version="2.1.6"))
    fixture("benign/k2-functional-nested-model-latest.h5", "benign",
            "tf.keras-style Functional model with a nested Sequential model as a layer, libver='latest' (superblock 3, v2 object headers)",
            "keras-h5", lambda p: write_h5(p, nested_functional_k2(dense_k2("dense_x", 8)), keras_version="2.4.0", libver="latest"))
    bi = sequential_k2("sequential_1", [
        {"class_name": "Embedding", "config": {"name": "embedding_1", "trainable": True, "batch_input_shape": [None, 10],
                                               "dtype": "float32", "input_dim": 100, "output_dim": 8,
                                               "embeddings_initializer": {"class_name": "RandomUniform", "config": {"minval": -0.05, "maxval": 0.05, "seed": None}},
                                               "embeddings_regularizer": None, "activity_regularizer": None,
                                               "embeddings_constraint": None, "mask_zero": False, "input_length": 10}},
        bidirectional_k2("bidirectional_1", lstm_k2("lstm_1", 4), backward=lstm_k2("backward_lstm_1", 4)),
        time_distributed_k2("time_distributed_1", dense_k2("dense_1", 2)),
    ])
    fixture("benign/k2-bidirectional-lstm-userblock.h5", "benign",
            "Sequential with Embedding and Bidirectional(LSTM) with a backward_layer, written after a 512-byte user block",
            "keras-h5", lambda p: write_h5(p, bi, userblock=512))
    fixture("benign/k2-sequential-fixed-strings.h5", "benign",
            "the same Sequential with fixed-length (numpy bytes) string attributes instead of variable-length ones",
            "keras-h5", lambda p: write_h5(p, seq, fixed=True))
    fixture("benign/k2-dense-attribute-storage.h5", "benign",
            "libver='latest' with 14 root attributes: the HDF5 library moves them to dense storage (fractal heap + v2 B-tree name index)",
            "keras-h5", lambda p: write_h5(p, seq, libver="latest", extra_attrs=10))
    fixture("benign/k2-weights-only.h5", "benign",
            "a weights-only HDF5 file (save_weights layout: no model_config)",
            "hdf5", lambda p: write_h5(p, None, training=False))

    lam = lambda_k2("lambda_1", EVIL_CODE)
    fixture("malicious/27-k2-lambda-os-system.h5", "malicious",
            "Keras 2 Sequential with a Lambda layer whose marshalled code runs __import__('os').system('touch marker')",
            "keras-h5", lambda p: write_h5(p, sequential_k2("sequential_1", [dense_k2("dense_1", 8, (4,)), lam])),
            min_severity="critical", evidence="system", proof="lambda")
    deep = nested_functional_k2(time_distributed_k2("time_distributed_1", lambda_k2("lambda_1", EVIL_CODE, tf_keras=True)))
    fixture("malicious/27-k2-timedistributed-lambda-in-nested-model.h5", "malicious",
            "tf.keras Functional model > nested Sequential > TimeDistributed > Lambda with the os.system code, libver='latest'",
            "keras-h5", lambda p: write_h5(p, deep, keras_version="2.4.0", libver="latest"),
            min_severity="critical", evidence="system", proof="lambda")
    bi_evil = sequential_k2("sequential_1", [bidirectional_k2("bidirectional_1", lstm_k2("lstm_1", 4),
                                                               backward=lambda_k2("backward_lambda", EVIL_CODE))])
    fixture("malicious/27-k2-bidirectional-backward-lambda-userblock.h5", "malicious",
            "Bidirectional whose backward_layer is the os.system Lambda, after a 512-byte user block",
            "keras-h5", lambda p: write_h5(p, bi_evil, userblock=512),
            min_severity="critical", evidence="system", proof="lambda")
    fixture("malicious/27-k2-lambda-harmless-code.h5", "malicious",
            "a Lambda with harmless code (x * 2.0): still executable code in the model, reported high",
            "keras-h5", lambda p: write_h5(p, sequential_k2("s", [dense_k2("dense_1", 8, (4,)), lambda_k2("lambda_1", HARMLESS_CODE)])),
            min_severity="high", evidence="<lambda>")
    named = {"class_name": "Lambda", "config": {"name": "lambda_1", "trainable": True, "function": "system",
                                                "function_type": "function", "module": "os", "output_shape": None,
                                                "output_shape_type": "raw", "arguments": {}}}
    fixture("malicious/27-k2-lambda-named-function-os-system.h5", "malicious",
            "a Lambda with function_type 'function' naming os.system (Keras 2 looks the name up in sys.modules['os'])",
            "keras-h5", lambda p: write_h5(p, sequential_k2("s", [dense_k2("dense_1", 8, (4,)), named])),
            min_severity="critical", evidence="os.system")
    fixture("malicious/27-k2-lambda-fixed-strings-dense-huge.h5", "malicious",
            "libver='latest', 14 root attributes in dense storage and a fixed-length model_config of over 64 KiB padded with 200 Dense layers: "
            "the config is a 'huge' fractal-heap object found through the huge-object B-tree",
            "keras-h5", lambda p: write_h5(p, sequential_k2("s", [dense_k2("dense_%d" % i, 8, (4,) if i == 0 else None) for i in range(200)] + [lam]),
                                           libver="latest", fixed=True, extra_attrs=10),
            min_severity="critical", evidence="system", proof="lambda")

    # Keras 3 .keras archives
    fixture("benign/k3-sequential-dense.keras", "benign",
            "Keras 3 Sequential with a Dense layer: metadata.json, config.json, model.weights.h5",
            "keras", lambda p: write_keras(p, sequential_k3("sequential", [dense_k3("dense", 4)])))
    fixture("benign/k3-functional-nested.keras", "benign",
            "Keras 3 Functional model with a nested Sequential as a layer and a compile_config",
            "keras", lambda p: write_keras(p, nested_functional_k3(dense_k3("dense_2", 4))))
    fixture("benign/k3-weights-npz.keras", "benign",
            "a .keras archive whose weights are a model.weights.npz of plain float arrays",
            "keras", lambda p: write_zip(p, [("metadata.json", json.dumps(METADATA_K3)),
                                             ("config.json", json.dumps(sequential_k3("sequential", [dense_k3("dense", 4)]))),
                                             ("model.weights.npz", npz_bytes({"dense_0": np.zeros((4, 4), "float32")}))]))
    fixture("malicious/27-k3-lambda-os-system.keras", "malicious",
            "Keras 3 Sequential with a Lambda whose function is a __lambda__ with the os.system code",
            "keras", lambda p: write_keras(p, sequential_k3("sequential", [dense_k3("dense", 4), lambda_k3("lambda", EVIL_CODE)])),
            min_severity="critical", evidence="system", proof="lambda")
    td = obj_k3("keras.layers", "TimeDistributed", {"name": "time_distributed", "trainable": True, "dtype": policy_k3(),
                                                     "layer": lambda_k3("lambda", EVIL_CODE)})
    fixture("malicious/27-k3-timedistributed-lambda-in-nested-model.keras", "malicious",
            "Keras 3 Functional > nested Sequential > TimeDistributed > Lambda (__lambda__ code)",
            "keras", lambda p: write_keras(p, nested_functional_k3(td)),
            min_severity="critical", evidence="system", proof="lambda")
    act = dense_k3("dense", 4)
    act["config"]["activation"] = {"module": "os", "class_name": "function", "config": "system", "registered_name": "function"}
    fixture("malicious/27-k3-activation-os-system.keras", "malicious",
            "Keras 3 Dense whose activation is the serialized function os.system (module 'os'): Keras before 3.9 imports it (CVE-2025-1550)",
            "keras", lambda p: write_keras(p, sequential_k3("sequential", [act])),
            min_severity="critical", evidence="os.system")
    unsafe = obj_k3("keras.config", "function", "enable_unsafe_deserialization")
    unsafe["registered_name"] = "function"
    act2 = dense_k3("dense", 4)
    act2["config"]["activation"] = unsafe
    fixture("malicious/27-k3-enable-unsafe-deserialization.keras", "malicious",
            "Keras 3 config naming keras.config.enable_unsafe_deserialization as an activation, before a Lambda (CVE-2025-9906 shape)",
            "keras", lambda p: write_keras(p, sequential_k3("sequential", [act2, lambda_k3("lambda", HARMLESS_CODE)])),
            min_severity="high", evidence="enable_unsafe_deserialization")
    wrapper = obj_k3("keras.layers", "TorchModuleWrapper", {"name": "torch_module_wrapper", "trainable": True,
                                                             "dtype": policy_k3(),
                                                             "module": base64.b64encode(evil_pickle()).decode("ascii"),
                                                             "output_shape": None})
    fixture("malicious/27-k3-torch-module-wrapper-pickle.keras", "malicious",
            "Keras 3 TorchModuleWrapper whose base64 module blob is a pickle calling posix.system (torch.load(weights_only=False) unpickles it)",
            "keras", lambda p: write_keras(p, sequential_k3("sequential", [wrapper])),
            min_severity="critical", evidence="system", proof="torch-wrapper")
    fixture("malicious/27-k3-config-only-zip.keras", "malicious",
            "a zip with only config.json (no metadata.json): keras.models.load_model still reads the config; Lambda with os.system",
            "zip", lambda p: write_zip(p, [("config.json", json.dumps(sequential_k3("sequential", [lambda_k3("lambda", EVIL_CODE)])))]),
            min_severity="critical", evidence="system", proof="lambda")
    obj_arr = np.empty((1,), dtype=object)
    obj_arr[0] = Reduce(os.system, (CMD,))
    fixture("malicious/26-k3-weights-npz-pickle.keras", "malicious",
            "a .keras archive whose model.weights.npz holds an object array: np.load(allow_pickle=True) unpickles posix.system (modelscan PR #262)",
            "keras", lambda p: write_zip(p, [("metadata.json", json.dumps(METADATA_K3)),
                                             ("config.json", json.dumps(sequential_k3("sequential", [dense_k3("dense", 4)]))),
                                             ("model.weights.npz", npz_bytes({"dense_0": obj_arr}))]),
            threat=26, min_severity="critical", evidence="system", proof="npz")
    fixture("malicious/26-k3-pickle-member.keras", "malicious",
            "a .keras archive with an extra pickle member (assets/tokenizer.pkl) calling posix.system",
            "keras", lambda p: write_keras(p, sequential_k3("sequential", [dense_k3("dense", 4)]),
                                           extra=[("assets/tokenizer.pkl", evil_pickle())]),
            threat=26, min_severity="critical", evidence="system", proof="pickle-member")


# --- proofs ------------------------------------------------------------------------------------

# The child rebuilds every Lambda function exactly as Keras' func_load does and calls it, the
# way the model calls the layer while it is rebuilt.
CHILD = r'''
import base64, binascii, codecs, io, json, marshal, pickle, sys, types, zipfile
path, kind = sys.argv[1], sys.argv[2]

def func_load(code, defaults=None, closure=None):
    if isinstance(code, (tuple, list)):
        code, defaults, closure = code
    try:
        raw = codecs.decode(code.encode("ascii"), "base64")
    except (UnicodeEncodeError, binascii.Error):
        raw = code.encode("raw_unicode_escape")
    c = marshal.loads(raw)
    return types.FunctionType(c, globals(), name=c.co_name, argdefs=defaults, closure=closure)

def lambdas(o):
    if isinstance(o, dict):
        if o.get("class_name") == "Lambda":
            f = o["config"]["function"]
            if isinstance(f, list):
                yield f
            elif isinstance(f, dict) and f.get("class_name") == "__lambda__":
                yield [f["config"]["code"], f["config"]["defaults"], f["config"]["closure"]]
        for v in o.values():
            yield from lambdas(v)
    elif isinstance(o, list):
        for v in o:
            yield from lambdas(v)

def configs():
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            yield json.loads(z.read("config.json"))
    else:
        import h5py
        with h5py.File(path, "r") as f:
            if "model_config" in f.attrs:
                mc = f.attrs["model_config"]
                yield json.loads(mc.decode("utf-8") if isinstance(mc, bytes) else mc)

if kind == "lambda":
    for cfg in configs():
        for code in lambdas(cfg):
            func_load(code)(1.0)
elif kind == "npz":
    import numpy as np
    with zipfile.ZipFile(path) as z:
        data = z.read("model.weights.npz")
    dict(np.load(io.BytesIO(data), allow_pickle=True))
elif kind == "torch-wrapper":
    with zipfile.ZipFile(path) as z:
        cfg = json.loads(z.read("config.json"))
    def find(o):
        if isinstance(o, dict):
            if o.get("class_name") == "TorchModuleWrapper":
                return o["config"]["module"]
            for v in o.values():
                r = find(v)
                if r: return r
        elif isinstance(o, list):
            for v in o:
                r = find(v)
                if r: return r
    pickle.loads(base64.b64decode(find(cfg).encode("ascii")))
elif kind == "pickle-member":
    with zipfile.ZipFile(path) as z:
        for n in z.namelist():
            if n.endswith(".pkl"):
                pickle.loads(z.read(n))
elif kind == "open":
    for cfg in configs():
        pass
'''


def prove(path, kind):
    """Runs the child in a fresh directory; True when it created ./marker."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, HOME=d, TMPDIR=d)
        r = subprocess.run([sys.executable, "-c", CHILD, path, kind], cwd=d, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        made = os.path.exists(os.path.join(d, "marker"))
        if r.returncode != 0 and not made:
            print("  child failed:", r.stderr.strip().splitlines()[-1:] if r.stderr else r.returncode)
        return made


def manifest():
    out = []
    for f in sorted(FIXTURES, key=lambda f: f["file"]):
        e = {"file": f["file"], "expect": f["expect"], "description": f["description"], "format": f["format"]}
        if f["expect"] == "malicious":
            e["threat"] = f["threat"]
            e["min_severity"] = f["min_severity"]
            if f["evidence"]:
                e["evidence"] = f["evidence"]
            e["proven"] = bool(f["proof"])
        out.append(e)
    return json.dumps(out, indent=1) + "\n"


def main():
    check = "--check" in sys.argv[1:]
    define()
    if not check:
        for sub in ("benign", "malicious"):
            shutil.rmtree(os.path.join(HERE, sub), ignore_errors=True)
            os.makedirs(os.path.join(HERE, sub))
        for f in FIXTURES:
            f["writer"](os.path.join(HERE, f["file"]))
        with open(os.path.join(HERE, "manifest.json"), "w") as fh:
            fh.write(manifest())
    failed = 0
    for f in FIXTURES:
        path = os.path.join(HERE, f["file"])
        if f["expect"] == "benign":
            ok = not prove(path, "open")
        elif f["proof"]:
            ok = prove(path, f["proof"])
        else:
            continue
        if not ok:
            failed += 1
            print("PROOF FAILED:", f["file"])
    if check:
        with open(os.path.join(HERE, "manifest.json")) as fh:
            if fh.read() != manifest():
                failed += 1
                print("manifest.json differs from what this script writes")
    proven = sum(1 for f in FIXTURES if f["expect"] == "malicious" and f["proof"])
    print("%d fixtures, %d malicious proven, %d failures" % (len(FIXTURES), proven, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
