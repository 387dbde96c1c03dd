"""CLIP (Radford et al., 2021) from a Hugging Face ``transformers`` checkpoint: one joint text-image space.

``clip:PATH`` names a directory saved with ``CLIPModel.save_pretrained`` (plus its tokenizer), or a
hub id when there is internet. It is converted once to ONNX in the model cache (export.py); queries
and indexing then run through ONNX Runtime only, without torch.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np

from framefind.config import model_cache_dir
from framefind.errors import FrameFindError
from framefind.models.base import GRAPH_VERSION, Model, embed_text_batches, ensure_file, onnx_session
from framefind.models.identity import files_digest, text_digest

SPACE = "clip"


class ClipModel(Model):
    family = "clip"
    text_space = SPACE
    image_space = SPACE

    def __init__(self, source: str, options: dict | None = None) -> None:
        if not source:
            raise FrameFindError("clip: give a checkpoint directory or hub id (e.g. clip:~/models/clip-vit-b32)")
        path = Path(source).expanduser()
        if path.is_dir():
            source = str(path.resolve())  # the same checkpoint is found from any working directory
        elif source.startswith(("/", ".", "~")):
            raise FrameFindError(f"clip:{source}: no such checkpoint directory")
        self.source, self.name = source, f"clip:{source}"
        super().__init__(options)

    @cached_property
    def digest(self) -> str:
        """A checkpoint directory by content (every file in it); a hub id by name (it cannot be read offline)."""
        path = Path(self.source)
        if path.is_dir():
            return files_digest(sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")))
        return text_digest([f"hub:{self.source}"])

    def weights(self) -> dict:
        return {"checkpoint": self.digest, "graph": GRAPH_VERSION}

    @cached_property
    def directory(self) -> Path:
        return model_cache_dir() / "models" / f"clip-{self.digest}-g{GRAPH_VERSION}"

    @cached_property
    def _meta(self) -> dict:
        """Dimension, input size and token limit, written by the conversion (run on first use)."""

        def build() -> None:
            from framefind.models.convert import convert_clip

            convert_clip(self.source, self.directory)

        return json.loads(ensure_file(self.directory / "clip.json", build).read_text())

    @property
    def spaces(self) -> dict[str, int]:  # type: ignore[override]
        return {SPACE: int(self._meta["dim"])}

    @property
    def image_size(self) -> int:  # type: ignore[override]
        return int(self._meta["image_size"])

    @cached_property
    def _image_session(self):
        _ = self._meta  # clip.json is written last, so every file beside it is complete
        return onnx_session(self.directory / "image.onnx")

    @cached_property
    def _text_session(self):
        _ = self._meta
        return onnx_session(self.directory / "text.onnx")

    @cached_property
    def _tokenizer(self):
        from tokenizers import Tokenizer

        _ = self._meta
        # tokenizer.json carries the padding (pad token) and truncation (max_position_embeddings) settings.
        return Tokenizer.from_file(str(self.directory / "tokenizer.json"))

    def embed_images(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        return {SPACE: self._image_session.run(None, {"pixels": pixels})[0]}

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        return embed_text_batches(self._text_session, self._tokenizer, texts, self.spaces[SPACE])
