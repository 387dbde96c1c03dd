"""The all-MiniLM-L6-v2 text graph, written from its safetensors weights without torch or transformers.

What convert.py's torch export of ``transformers.BertModel`` + pooling computed: word + token-type (all
zero) + position embeddings, LayerNorm; per layer, 12-head self-attention over the unmasked tokens,
residual + LayerNorm, a GELU (erf) feed-forward, residual + LayerNorm; then the mean of the unmasked
tokens' states, L2-normalised. Inputs ``input_ids`` and ``attention_mask`` (int64, batch x tokens),
output ``embedding`` (batch x 384). The operators are those the export used (opset 17), in the same
order, so ONNX Runtime runs the same kernels; node names follow its names for readability.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from framefind.errors import FrameFindError
from framefind.models.onnx_graphs import GraphBuilder, read_safetensors

FLOAT, INT64, BOOL = 1, 7, 9  # ONNX element types


def minilm_graph(directory: Path):
    """The ONNX model of the BERT encoder in ``directory`` (model.safetensors and config.json)."""
    config = json.loads((directory / "config.json").read_text())
    weights = read_safetensors(directory / "model.safetensors")
    weights = {key.removeprefix("bert."): value for key, value in weights.items()}
    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    if config.get("hidden_act", "gelu") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
        raise FrameFindError(f"{directory}: only BERT with GELU and absolute positions is supported")
    eps = float(config.get("layer_norm_eps", 1e-12))
    g = GraphBuilder()
    x = _embeddings(g, weights, eps)
    bias = _attention_bias(g)
    for layer in range(int(config["num_hidden_layers"])):
        x = _layer(g, weights, x, bias, layer, (hidden, heads, eps))
    _pool(g, x)

    inputs = [g.tensor(name, INT64, ["n", "t"]) for name in ("input_ids", "attention_mask")]
    return g.model(inputs, [g.tensor("embedding", FLOAT, ["n", hidden])], "all_minilm_l6_v2")


def _w(weights: dict, name: str) -> np.ndarray:
    try:
        return weights[name]
    except KeyError:
        raise FrameFindError(f"MiniLM weights: {name} is missing") from None


def _embeddings(g: GraphBuilder, weights: dict, eps: float) -> str:
    """Word + token type 0 + position embeddings (positions 0..t-1), LayerNorm."""
    p = "/bert/embeddings"
    words = g.op("Gather", f"{p}/word_embeddings/Gather",
                 [g.const("embeddings.word_embeddings.weight", _w(weights, "embeddings.word_embeddings.weight")),
                  "input_ids"])
    token_type = _w(weights, "embeddings.token_type_embeddings.weight")[0]  # every token is segment 0
    x = g.op("Add", f"{p}/Add", [words, g.const("embeddings.token_type_embeddings.0", token_type)])
    length = g.op("Shape", f"{p}/Shape", ["input_ids"], start=1, end=2)
    positions = g.op("Slice", f"{p}/position_embeddings/Slice",
                     [g.const("embeddings.position_embeddings.weight",
                              _w(weights, "embeddings.position_embeddings.weight")),
                      g.const("zero_1d", [0], np.int64), length, g.const("zero_1d", [0], np.int64)])
    x = g.op("Add", f"{p}/Add_1", [x, positions])
    return _layer_norm(g, weights, x, "embeddings.LayerNorm", f"{p}/LayerNorm", eps)


def _attention_bias(g: GraphBuilder) -> str:
    """0 where a key token is real, -inf where it is padding: (batch, 1, 1, tokens), added to scores."""
    mask = g.op("Cast", "/bert/Cast", ["attention_mask"], to=BOOL)
    mask = g.op("Unsqueeze", "/bert/Unsqueeze", [mask, g.const("axes_1_2", [1, 2], np.int64)])
    return g.op("Where", "/bert/Where", [mask, g.const("zero", [0.0]), g.const("minus_inf", [-np.inf])])


def _layer(g: GraphBuilder, weights: dict, x: str, bias: str, layer: int, shape: tuple[int, int, float]) -> str:
    """One encoder layer; ``shape`` is (hidden size, heads, LayerNorm epsilon)."""
    hidden, heads, eps = shape
    p, w = f"/bert/encoder/layer.{layer}", f"encoder.layer.{layer}"
    context = _self_attention(g, weights, x, bias, f"{p}/attention/self", f"{w}.attention.self", hidden, heads)
    out = _linear(g, weights, context, f"{w}.attention.output.dense", f"{p}/attention/output/dense")
    out = g.op("Add", f"{p}/attention/output/Add", [out, x])
    x = _layer_norm(g, weights, out, f"{w}.attention.output.LayerNorm", f"{p}/attention/output/LayerNorm", eps)
    inner = _linear(g, weights, x, f"{w}.intermediate.dense", f"{p}/intermediate/dense")
    inner = _gelu(g, inner, f"{p}/intermediate/intermediate_act_fn")
    out = _linear(g, weights, inner, f"{w}.output.dense", f"{p}/output/dense")
    out = g.op("Add", f"{p}/output/Add", [out, x])
    return _layer_norm(g, weights, out, f"{w}.output.LayerNorm", f"{p}/output/LayerNorm", eps)


def _self_attention(g: GraphBuilder, weights: dict, x: str, bias: str, p: str, w: str, hidden: int,
                    heads: int) -> str:
    """softmax(q k^T / sqrt(d) + bias) v per head; the scale split as sqrt(scale) on q and on k, as
    torch's scaled_dot_product_attention exports it; a row with every key masked gives zeros."""
    size = hidden // heads
    split = g.const(f"shape_heads_{heads}_{size}", [0, 0, heads, size], np.int64)
    root_scale = g.const("attention_root_scale", np.float32(math.sqrt(1.0 / math.sqrt(size))))
    parts = {}
    for part, perm in (("query", [0, 2, 1, 3]), ("key", [0, 2, 3, 1]), ("value", [0, 2, 1, 3])):
        y = _linear(g, weights, x, f"{w}.{part}", f"{p}/{part}")
        y = g.op("Reshape", f"{p}/{part}/Reshape", [y, split])
        y = g.op("Transpose", f"{p}/{part}/Transpose", [y], perm=perm)
        parts[part] = g.op("Mul", f"{p}/{part}/Mul", [y, root_scale]) if part != "value" else y
    scores = g.op("MatMul", f"{p}/MatMul", [parts["query"], parts["key"]])
    scores = g.op("Add", f"{p}/Add", [scores, bias])
    probs = g.op("Softmax", f"{p}/Softmax", [scores], axis=-1)
    probs = g.op("Where", f"{p}/Where", [g.op("IsNaN", f"{p}/IsNaN", [probs]), g.const("zero", [0.0]), probs])
    context = g.op("MatMul", f"{p}/MatMul_1", [probs, parts["value"]])
    context = g.op("Transpose", f"{p}/Transpose", [context], perm=[0, 2, 1, 3])
    return g.op("Reshape", f"{p}/Reshape", [context, g.const(f"shape_hidden_{hidden}", [0, 0, hidden], np.int64)])


def _linear(g: GraphBuilder, weights: dict, x: str, w: str, p: str) -> str:
    """x W^T + b, as MatMul then Add (the export's order)."""
    weight = g.const(f"{w}.weight.T", np.ascontiguousarray(_w(weights, f"{w}.weight").T))
    y = g.op("MatMul", f"{p}/MatMul", [x, weight])
    return g.op("Add", f"{p}/Add", [g.const(f"{w}.bias", _w(weights, f"{w}.bias")), y])


def _gelu(g: GraphBuilder, x: str, p: str) -> str:
    """x * (1 + erf(x / sqrt 2)) * 0.5, spelled as the export spelled it."""
    y = g.op("Div", f"{p}/Div", [x, g.const("sqrt2", np.float32(math.sqrt(2.0)))])
    y = g.op("Erf", f"{p}/Erf", [y])
    y = g.op("Add", f"{p}/Add", [y, g.const("one", 1.0)])
    y = g.op("Mul", f"{p}/Mul", [x, y])
    return g.op("Mul", f"{p}/Mul_1", [y, g.const("half", 0.5)])


def _layer_norm(g: GraphBuilder, weights: dict, x: str, w: str, p: str, eps: float) -> str:
    return g.op("LayerNormalization", f"{p}/LayerNormalization",
                [x, g.const(f"{w}.weight", _w(weights, f"{w}.weight")), g.const(f"{w}.bias", _w(weights, f"{w}.bias"))],
                axis=-1, epsilon=eps)


def _pool(g: GraphBuilder, x: str) -> str:
    """Mean of the unmasked tokens' states (count clamped at 1e-9), divided by max(norm, 1e-12)."""
    mask = g.op("Unsqueeze", "/Unsqueeze", ["attention_mask", g.const("axes_last", [-1], np.int64)])
    mask = g.op("Cast", "/Cast", [mask], to=FLOAT)
    axis = g.const("axes_1", [1], np.int64)
    total = g.op("ReduceSum", "/ReduceSum", [g.op("Mul", "/Mul", [x, mask]), axis], keepdims=0)
    count = g.op("ReduceSum", "/ReduceSum_1", [mask, axis], keepdims=0)
    count = g.op("Clip", "/Clip", [count, g.const("count_min", 1e-9), ""])
    mean = g.op("Div", "/Div", [total, count])
    norm = g.op("ReduceL2", "/ReduceL2", [mean], axes=[1], keepdims=1)
    norm = g.op("Clip", "/Clip_1", [norm, g.const("norm_min", 1e-12), ""])
    return g.op("Div", "/Div_1", [mean, norm], output="embedding")
