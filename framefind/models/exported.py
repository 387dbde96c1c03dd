"""Models that run from an ONNX export directory: the layout every CLIP/SigLIP conversion writes.

An export directory holds:

- ``image.onnx``: input ``pixels``, uint8 ``(n, size, size, 3)`` RGB decoded as ``model.json`` says;
  output ``(n, dim)`` embeddings (normalising pixels is the graph's job);
- ``text.onnx``: input ``input_ids`` int64 ``(n, t)``, and ``attention_mask`` if the graph takes one;
  output ``(n, dim)``;
- ``tokenizer.json``: a ``tokenizers`` tokenizer with its padding and truncation set;
- ``model.json``: ``{"dim": 512, "space": "clip", "preprocess": {"size", "fit", "mean", "std"}}``.

``onnx:DIR`` runs such a directory as it is (a conversion in framefind's model cache, or one made
elsewhere); ``clip:`` and ``siglip:`` write one from a checkpoint first (clip.py). Outputs are
L2-normalised here too, so an export whose graph does not normalise still searches by cosine.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np

from framefind.errors import FrameFindError
from framefind.linalg import l2_normalize
from framefind.models.base import Model, Preprocess, embed_text_batches, ensure_file, onnx_session
from framefind.models.identity import files_digest

EXPORT_FILES = ("image.onnx", "text.onnx", "tokenizer.json", "model.json")
META = "model.json"  # written last by a conversion: its presence means every other file is complete


class ExportedModel(Model):
    """Embeds through an export directory's two ONNX graphs; subclasses say where it is and how it is made."""

    directory: Path

    def _build(self) -> None:
        """Write the export into ``self.directory`` (called once, under a lock, when ``model.json`` is missing)."""
        raise FrameFindError(f"{self.name}: {self.directory / META} is missing")

    @cached_property
    def _meta(self) -> dict:
        try:
            return json.loads(ensure_file(self.directory / META, self._build).read_text())
        except (ValueError, OSError) as exc:
            raise FrameFindError(f"{self.name}: unreadable {META} ({exc})") from None

    @property
    def space(self) -> str:
        return str(self._meta.get("space") or self.family)

    @property
    def words_space(self) -> str:  # type: ignore[override]
        return self.space

    @property
    def image_space(self) -> str:  # type: ignore[override]
        return self.space

    @property
    def spaces(self) -> dict[str, int]:  # type: ignore[override]
        return {self.space: int(self._meta["dim"])}

    @cached_property
    def preprocess(self) -> Preprocess:  # type: ignore[override]
        return Preprocess.from_dict(self._meta["preprocess"])

    @property
    def image_size(self) -> int:  # type: ignore[override]
        return self.preprocess.size

    @cached_property
    def _image_session(self):
        _ = self._meta
        return onnx_session(self.directory / "image.onnx", accelerate=True)

    @cached_property
    def _text_session(self):
        _ = self._meta
        return onnx_session(self.directory / "text.onnx")

    @cached_property
    def _tokenizer(self):
        from tokenizers import Tokenizer

        _ = self._meta
        # tokenizer.json carries the padding (pad token, fixed length for SigLIP) and truncation settings;
        # an export made elsewhere without padding still gets rectangular batches.
        tokenizer = Tokenizer.from_file(str(self.directory / "tokenizer.json"))
        if tokenizer.padding is None:
            tokenizer.enable_padding()
        return tokenizer

    def embed_images(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        return {self.space: l2_normalize(self._image_session.run(None, {"pixels": pixels})[0])}

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        return l2_normalize(embed_text_batches(self._text_session, self._tokenizer, texts, self.spaces[self.space]))


class OnnxExportModel(ExportedModel):
    """``onnx:DIR``: an export directory used in place, identified by its files' contents."""

    family = "onnx"

    def __init__(self, source: str, options: dict | None = None) -> None:
        path = Path(source).expanduser()
        if not source or not path.is_dir():
            raise FrameFindError(f"onnx:{source}: no such export directory (it holds {', '.join(EXPORT_FILES)})")
        missing = [name for name in EXPORT_FILES if not (path / name).is_file()]
        if missing:
            raise FrameFindError(f"onnx:{source}: not an ONNX export (missing {', '.join(missing)})")
        self.directory = path.resolve()
        self.name = f"onnx:{self.directory}"
        super().__init__(options)

    @cached_property
    def digest(self) -> str:
        return files_digest([self.directory / name for name in EXPORT_FILES])

    def weights(self) -> dict:
        return {"export": self.digest}
