#!/usr/bin/env python3
"""Writes the ONNX test fixtures of `fpga-host import` (model/tests/fixtures/onnx/).

    python3 -m pip install onnx numpy    # this script's own dependencies, not the build's
    python3 scripts/onnx-fixtures.py

Networks for the 8x8 digits (data/digits), built node by node with onnx.helper in the shapes
that PyTorch's torch.onnx.export and tf2onnx write (names, layouts, Flatten or Reshape,
MatMul + Add or Gemm), so neither framework is needed:

- mlp-torch.onnx      Flatten, Gemm(transB=1), Relu, Gemm             (PyTorch)
- mlp-tf2onnx.onnx    Reshape, MatMul + Add, Relu, MatMul + Add, Softmax  (tf2onnx, Keras)
- mlp-silu.onnx       Gemm, x * Sigmoid(x), Gemm, Dropout, Identity    (PyTorch nn.SiLU)
- cnn-maxpool.onnx    Conv, Relu, MaxPool, Flatten, Gemm              (PyTorch)
- cnn-batchnorm.onnx  Conv (no bias), BatchNormalization, Relu, AveragePool, Flatten, Gemm
- cnn-tf2onnx.onnx    cnn-maxpool's weights as tf2onnx writes a Keras CNN: a channel-last
                      image, Transposes around Conv and MaxPool, Reshape, MatMul + Add, Softmax
- refused-*.onnx      an unsupported op, a dilated convolution, a residual connection, a
                      dangling name, a weight of the wrong shape: each refused by name

mlp-weights.npz holds the MLPs' weights as `fpga-host import` reads .npz archives (w0, b0,
w1, b1; PyTorch layout), so the tests import the same network both ways. reference.npz holds
20 test images (pixels 0..16) and, for every importable fixture, the logits that ONNX's own
reference evaluator (onnx.reference) computes for them: the tests compare the imported
network's float logits with those.

The MLP is trained here with numpy (full-batch Adam, fixed seed); the CNNs have random
convolutions and a dense layer fitted by least squares on their features. Deterministic
for a given numpy: the same command writes the same networks.
"""

import gzip
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "model", "tests", "fixtures", "onnx")
MAX = 16.0  # digits pixels are 0..16


def digits():
    with gzip.open(os.path.join(ROOT, "data", "digits", "digits.csv.gz"), "rt") as f:
        rows = np.array([[int(v) for v in line.split(",")] for line in f if line.strip()])
    pixels, labels = rows[:, :64].astype(np.uint8), rows[:, 64]
    test = np.arange(len(rows)) % 5 == 0  # the split of fs_model::data::load_digits
    return pixels[~test], labels[~test], pixels[test], labels[test]


def train_mlp(x, y, hidden=32, epochs=400, seed=0):
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal((hidden, 64)) * np.sqrt(2 / 64)
    w1 = rng.standard_normal((10, hidden)) * np.sqrt(2 / hidden)
    params = [w0, np.zeros(hidden), w1, np.zeros(10)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    onehot = np.eye(10)[y]
    for t in range(1, epochs + 1):
        w0, b0, w1, b1 = params
        h = np.maximum(x @ w0.T + b0, 0)
        z = h @ w1.T + b1
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        dz = (p - onehot) / len(x)
        dh = (dz @ w1) * (h > 0)
        grads = [dh.T @ x, dh.sum(0), dz.T @ h, dz.sum(0)]
        for i, g in enumerate(grads):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            params[i] = params[i] - 0.01 * (m[i] / (1 - 0.9**t)) / (np.sqrt(v[i] / (1 - 0.999**t)) + 1e-8)
    return [p.astype(np.float32) for p in params]


def conv2d(x, w, pad):
    """x [n, c, h, w], w [o, c, k, k], stride 1."""
    k = w.shape[2]
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    h, wd = x.shape[2] - k + 1, x.shape[3] - k + 1
    out = np.zeros((x.shape[0], w.shape[0], h, wd))
    for dy in range(k):
        for dx in range(k):
            out += np.einsum("nchw,oc->nohw", x[:, :, dy : dy + h, dx : dx + wd], w[:, :, dy, dx])
    return out


def fit_dense(features, y):
    """Least squares of one-hot targets on the features (ridge), as [10, f] and [10]."""
    f = np.hstack([features, np.ones((len(features), 1))])
    coef = np.linalg.solve(f.T @ f + 1e-2 * np.eye(f.shape[1]), f.T @ np.eye(10)[y])
    return coef[:-1].T.astype(np.float32), coef[-1].astype(np.float32)


def tensor(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def image_input(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def model(nodes, inputs, output, initializers, producer, opset):
    graph = helper.make_graph(
        nodes, "main_graph", inputs, [image_input(output, ["batch", 10])], initializers
    )
    m = helper.make_model(graph, producer_name=producer, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def torch_mlp(w, silu=False):
    w0, b0, w1, b1 = w
    act = (
        [
            helper.make_node("Sigmoid", ["/fc1/Gemm_output_0"], ["/act/Sigmoid_output_0"], name="/act/Sigmoid"),
            helper.make_node("Mul", ["/fc1/Gemm_output_0", "/act/Sigmoid_output_0"], ["/act/Mul_output_0"], name="/act/Mul"),
        ]
        if silu
        else [helper.make_node("Relu", ["/fc1/Gemm_output_0"], ["/act/Mul_output_0"], name="/act/Relu")]
    )
    tail = (
        [
            helper.make_node("Dropout", ["/act/Mul_output_0"], ["/drop/Dropout_output_0"], name="/drop/Dropout"),
            helper.make_node("Identity", ["/drop/Dropout_output_0"], ["/id/Identity_output_0"], name="/id/Identity"),
        ]
        if silu
        else []
    )
    hidden = tail[-1].output[0] if tail else "/act/Mul_output_0"
    nodes = (
        [
            helper.make_node("Flatten", ["input"], ["/flatten/Flatten_output_0"], name="/flatten/Flatten", axis=1),
            helper.make_node("Gemm", ["/flatten/Flatten_output_0", "fc1.weight", "fc1.bias"], ["/fc1/Gemm_output_0"], name="/fc1/Gemm", alpha=1.0, beta=1.0, transB=1),
        ]
        + act
        + tail
        + [helper.make_node("Gemm", [hidden, "fc2.weight", "fc2.bias"], ["logits"], name="/fc2/Gemm", alpha=1.0, beta=1.0, transB=1)]
    )
    inits = [tensor("fc1.weight", w0), tensor("fc1.bias", b0), tensor("fc2.weight", w1), tensor("fc2.bias", b1)]
    return model(nodes, [image_input("input", ["batch", 1, 8, 8])], "logits", inits, "pytorch", 17)


def tf2onnx_mlp(w):
    w0, b0, w1, b1 = w
    k0 = "sequential/dense/MatMul/ReadVariableOp:0"
    k1 = "sequential/dense_1/MatMul/ReadVariableOp:0"
    nodes = [
        helper.make_node("Reshape", ["input_1", "const_fold_opt__12"], ["sequential/flatten/Reshape:0"], name="sequential/flatten/Reshape"),
        helper.make_node("MatMul", ["sequential/flatten/Reshape:0", k0], ["sequential/dense/MatMul:0"], name="sequential/dense/MatMul"),
        helper.make_node("Add", ["sequential/dense/MatMul:0", "sequential/dense/BiasAdd/ReadVariableOp:0"], ["sequential/dense/BiasAdd:0"], name="sequential/dense/BiasAdd"),
        helper.make_node("Relu", ["sequential/dense/BiasAdd:0"], ["sequential/dense/Relu:0"], name="sequential/dense/Relu"),
        helper.make_node("MatMul", ["sequential/dense/Relu:0", k1], ["sequential/dense_1/MatMul:0"], name="sequential/dense_1/MatMul"),
        # tf2onnx writes the bias first when Keras does.
        helper.make_node("Add", ["sequential/dense_1/BiasAdd/ReadVariableOp:0", "sequential/dense_1/MatMul:0"], ["sequential/dense_1/BiasAdd:0"], name="sequential/dense_1/BiasAdd"),
        helper.make_node("Softmax", ["sequential/dense_1/BiasAdd:0"], ["dense_1"], name="sequential/dense_1/Softmax", axis=-1),
    ]
    inits = [
        tensor("const_fold_opt__12", np.array([-1, 64], dtype=np.int64)),
        tensor(k0, w0.T),
        tensor("sequential/dense/BiasAdd/ReadVariableOp:0", b0),
        tensor(k1, w1.T),
        tensor("sequential/dense_1/BiasAdd/ReadVariableOp:0", b1),
    ]
    return model(nodes, [image_input("input_1", ["unk__18", 8, 8])], "dense_1", inits, "tf2onnx", 13)


def cnn(x_train, y_train, batchnorm, rng):
    channels = 6
    wc = (rng.standard_normal((channels, 1, 3, 3)) * np.sqrt(2 / 9)).astype(np.float32)
    bc = (rng.standard_normal(channels) * 0.1).astype(np.float32)
    maps = conv2d(x_train.reshape(-1, 1, 8, 8), wc, 1)
    if batchnorm:
        mean = maps.mean((0, 2, 3)).astype(np.float32)
        var = maps.var((0, 2, 3)).astype(np.float32)
        gamma = (1 + 0.1 * rng.standard_normal(channels)).astype(np.float32)
        beta = (0.2 + 0.1 * rng.standard_normal(channels)).astype(np.float32)
        maps = (maps - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
        maps = maps * gamma[None, :, None, None] + beta[None, :, None, None]
    else:
        maps = maps + bc[None, :, None, None]
    act = np.maximum(maps, 0).reshape(-1, channels, 4, 2, 4, 2)
    pooled = act.mean((3, 5)) if batchnorm else act.max((3, 5))
    wd, bd = fit_dense(pooled.reshape(len(x_train), -1), y_train)
    nodes = []
    if batchnorm:
        nodes += [
            helper.make_node("Conv", ["input", "conv1.weight"], ["/conv1/Conv_output_0"], name="/conv1/Conv", dilations=[1, 1], group=1, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
            helper.make_node("BatchNormalization", ["/conv1/Conv_output_0", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"], ["/bn1/BatchNormalization_output_0"], name="/bn1/BatchNormalization", epsilon=1e-5, momentum=0.9),
            helper.make_node("Relu", ["/bn1/BatchNormalization_output_0"], ["/relu/Relu_output_0"], name="/relu/Relu"),
            helper.make_node("AveragePool", ["/relu/Relu_output_0"], ["/pool/Pool_output_0"], name="/pool/AveragePool", ceil_mode=0, kernel_shape=[2, 2], pads=[0, 0, 0, 0], strides=[2, 2]),
        ]
        inits = [tensor("conv1.weight", wc), tensor("bn1.weight", gamma), tensor("bn1.bias", beta), tensor("bn1.running_mean", mean), tensor("bn1.running_var", var)]
    else:
        nodes += [
            helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["/conv1/Conv_output_0"], name="/conv1/Conv", dilations=[1, 1], group=1, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
            helper.make_node("Relu", ["/conv1/Conv_output_0"], ["/relu/Relu_output_0"], name="/relu/Relu"),
            helper.make_node("MaxPool", ["/relu/Relu_output_0"], ["/pool/Pool_output_0"], name="/pool/MaxPool", ceil_mode=0, kernel_shape=[2, 2], pads=[0, 0, 0, 0], strides=[2, 2]),
        ]
        inits = [tensor("conv1.weight", wc), tensor("conv1.bias", bc)]
    nodes += [
        helper.make_node("Flatten", ["/pool/Pool_output_0"], ["/flatten/Flatten_output_0"], name="/flatten/Flatten", axis=1),
        helper.make_node("Gemm", ["/flatten/Flatten_output_0", "fc.weight", "fc.bias"], ["logits"], name="/fc/Gemm", alpha=1.0, beta=1.0, transB=1),
    ]
    inits += [tensor("fc.weight", wd), tensor("fc.bias", bd)]
    m = model(nodes, [image_input("input", ["batch", 1, 8, 8])], "logits", inits, "pytorch", 17)
    return m, (wc, bc, wd, bd)


def tf2onnx_cnn(weights):
    """The max-pooled CNN as tf2onnx writes a Keras model: a channel-last image, Transposes
    around the channel-first Conv and MaxPool, and the dense kernel over the maps flattened
    channel-last ([y, x, c] rows)."""
    wc, bc, wd, bd = weights
    c, h, w = wc.shape[0], 4, 4
    # Keras Flatten order: row (y * w + x) * c + ch holds the PyTorch column (ch * h + y) * w + x.
    kernel = np.empty((c * h * w, wd.shape[0]), np.float32)
    for y in range(h):
        for x in range(w):
            for ch in range(c):
                kernel[(y * w + x) * c + ch] = wd[:, (ch * h + y) * w + x]
    nodes = [
        helper.make_node("Transpose", ["input_1"], ["sequential/conv2d/Conv2D__6:0"], name="sequential/conv2d/Conv2D__6", perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["sequential/conv2d/Conv2D__6:0", "sequential/conv2d/Conv2D/ReadVariableOp:0", "sequential/conv2d/BiasAdd/ReadVariableOp:0"], ["sequential/conv2d/BiasAdd:0"], name="sequential/conv2d/BiasAdd", dilations=[1, 1], group=1, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["sequential/conv2d/BiasAdd:0"], ["sequential/conv2d/Relu:0"], name="sequential/conv2d/Relu"),
        helper.make_node("MaxPool", ["sequential/conv2d/Relu:0"], ["sequential/max_pooling2d/MaxPool:0"], name="sequential/max_pooling2d/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Transpose", ["sequential/max_pooling2d/MaxPool:0"], ["sequential/max_pooling2d/MaxPool__10:0"], name="sequential/max_pooling2d/MaxPool__10", perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["sequential/max_pooling2d/MaxPool__10:0", "const_fold_opt__20"], ["sequential/flatten/Reshape:0"], name="sequential/flatten/Reshape"),
        helper.make_node("MatMul", ["sequential/flatten/Reshape:0", "sequential/dense/MatMul/ReadVariableOp:0"], ["sequential/dense/MatMul:0"], name="sequential/dense/MatMul"),
        helper.make_node("Add", ["sequential/dense/MatMul:0", "sequential/dense/BiasAdd/ReadVariableOp:0"], ["sequential/dense/BiasAdd:0"], name="sequential/dense/BiasAdd"),
        helper.make_node("Softmax", ["sequential/dense/BiasAdd:0"], ["dense"], name="sequential/dense/Softmax", axis=-1),
    ]
    inits = [
        tensor("sequential/conv2d/Conv2D/ReadVariableOp:0", wc),
        tensor("sequential/conv2d/BiasAdd/ReadVariableOp:0", bc),
        tensor("const_fold_opt__20", np.array([-1, c * h * w], dtype=np.int64)),
        tensor("sequential/dense/MatMul/ReadVariableOp:0", kernel),
        tensor("sequential/dense/BiasAdd/ReadVariableOp:0", bd),
    ]
    return model(nodes, [image_input("input_1", ["unk__24", 8, 8, 1])], "dense", inits, "tf2onnx", 13)


def refused(good_mlp, good_cnn):
    """Graphs the importer must refuse, each for one named reason."""
    out = {}

    m = onnx.ModelProto()
    m.CopyFrom(good_mlp)
    relu = next(n for n in m.graph.node if n.op_type == "Relu")
    relu.op_type, relu.name = "LeakyRelu", "/act/LeakyRelu"
    relu.attribute.append(helper.make_attribute("alpha", 0.01))
    out["refused-op"] = m

    m = onnx.ModelProto()
    m.CopyFrom(good_cnn)
    conv = next(n for n in m.graph.node if n.op_type == "Conv")
    for a in conv.attribute:
        if a.name == "dilations":
            a.ints[:] = [2, 2]
    out["refused-attribute"] = m

    # A residual connection: the second layer's output plus the first layer's.
    m = onnx.ModelProto()
    m.CopyFrom(good_mlp)
    g = m.graph
    hidden = next(n for n in g.node if n.op_type == "Relu").output[0]
    g.node.insert(3, helper.make_node("Gemm", [hidden, "fc1b.weight", "fc1b.bias"], ["/fc1b/Gemm_output_0"], name="/fc1b/Gemm", transB=1))
    g.node.insert(4, helper.make_node("Relu", ["/fc1b/Gemm_output_0"], ["/act2/Relu_output_0"], name="/act2/Relu"))
    g.node.insert(5, helper.make_node("Add", ["/act2/Relu_output_0", hidden], ["/res/Add_output_0"], name="/res/Add"))
    g.node[6].input[0] = "/res/Add_output_0"
    g.initializer.extend([tensor("fc1b.weight", np.eye(32, dtype=np.float32)), tensor("fc1b.bias", np.zeros(32, np.float32))])
    out["refused-residual"] = m

    m = onnx.ModelProto()
    m.CopyFrom(good_mlp)
    m.graph.node[1].input[2] = "fc1.bias_missing"
    out["refused-dangling"] = m

    m = onnx.ModelProto()
    m.CopyFrom(good_mlp)
    w = next(t for t in m.graph.initializer if t.name == "fc1.weight")
    w.CopyFrom(tensor("fc1.weight", numpy_helper.to_array(w)[:, :63]))
    out["refused-shape"] = m
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    x_train, y_train, x_test, y_test = digits()
    xf = x_train.astype(np.float64) / MAX
    weights = train_mlp(xf, y_train)
    rng = np.random.default_rng(1)
    cnn_maxpool, cnn_weights = cnn(xf, y_train, False, rng)
    good = {
        "mlp-torch": torch_mlp(weights),
        "mlp-tf2onnx": tf2onnx_mlp(weights),
        "mlp-silu": torch_mlp(weights, silu=True),
        "cnn-maxpool": cnn_maxpool,
        "cnn-batchnorm": cnn(xf, y_train, True, rng)[0],
        "cnn-tf2onnx": tf2onnx_cnn(cnn_weights),
    }
    pixels = x_test[:20]
    reference = {"pixels": pixels}
    for name, m in good.items():
        onnx.checker.check_model(m, full_check=True)
        onnx.save(m, os.path.join(OUT, f"{name}.onnx"))
        feed_name = m.graph.input[0].name
        dims = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
        x = (x_test.astype(np.float32) / MAX).reshape([-1] + dims[1:])
        # The logits before a final Softmax, which the importer drops.
        last = m.graph.node[-1]
        wanted = last.input[0] if last.op_type == "Softmax" else m.graph.output[0].name
        logits = ReferenceEvaluator(m).run([wanted], {feed_name: x})[0]
        reference[name] = logits[:20].astype(np.float32)
        accuracy = float((logits.argmax(1) == y_test).mean())
        print(f"{name}.onnx: float accuracy {accuracy:.4f} on the {len(y_test)} digits test images")
    for name, m in refused(good["mlp-torch"], cnn_maxpool).items():
        onnx.save(m, os.path.join(OUT, f"{name}.onnx"))
        print(f"{name}.onnx")
    np.savez(os.path.join(OUT, "reference.npz"), **reference)
    np.savez(os.path.join(OUT, "mlp-weights.npz"), w0=weights[0], b0=weights[1], w1=weights[2], b1=weights[3])
    print(f"wrote {OUT}")


if __name__ == "__main__":
    sys.exit(main())
