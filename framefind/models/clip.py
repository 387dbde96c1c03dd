"""CLIP (Radford et al., 2021) and SigLIP (Zhai et al., 2023) from Hugging Face ``transformers`` checkpoints.

``clip:NAME`` and ``siglip:NAME`` name a checkpoint directory (saved with ``save_pretrained``, with
its tokenizer and image processor), a well-known name (``clip:ViT-B-32``, ``siglip:base``) or a hub
id; hub.py finds the weights (directory, Hugging Face cache, download when online). A checkpoint is
converted once to an ONNX export in the model cache (convert.py; layout in exported.py); queries and
indexing then run through ONNX Runtime only, without torch.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from framefind.config import model_cache_dir
from framefind.models import hub
from framefind.models.base import GRAPH_VERSION
from framefind.models.exported import ExportedModel
from framefind.models.identity import files_digest, text_digest


class CheckpointModel(ExportedModel):
    """A ``transformers`` dual encoder, exported to ONNX under a directory named by its weights' digest."""

    family: str
    saved_class: str  # the transformers class a user saves a checkpoint with (named in errors)

    def __init__(self, name: str, options: dict | None = None) -> None:
        self.source = hub.parse(self.family, name, self.saved_class)
        shown = str(self.source.directory) if self.source.directory else name
        self.name = f"{self.family}:{shown}"
        super().__init__(options)

    @cached_property
    def checkpoint(self) -> Path:
        """The local checkpoint directory; finding it may download (online) or fail in one line (offline)."""
        if self.source.directory is None and hub.cached_snapshot(self.source.repo) is None:
            hub.require_conversion_packages(self.name)  # a download this install cannot convert would be wasted
        return hub.checkpoint_dir(self.source, self.saved_class)

    @cached_property
    def digest(self) -> str:
        """A directory by content (every file in it); a cached hub snapshot by repository and commit
        (its directory name), which names the same files without hashing gigabytes."""
        path = self.checkpoint
        if self.source.directory is None:
            return text_digest([f"hub:{self.source.repo}@{path.name}"])
        return files_digest(sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")))

    def weights(self) -> dict:
        return {"checkpoint": self.digest, "graph": GRAPH_VERSION}

    @cached_property
    def directory(self) -> Path:  # type: ignore[override]
        return model_cache_dir() / "models" / f"{self.family}-{self.digest}-g{GRAPH_VERSION}"

    def _build(self) -> None:
        hub.require_conversion_packages(self.name)
        from framefind.models.convert import convert_checkpoint

        convert_checkpoint(self.family, self.checkpoint, self.directory, self.name)


class ClipModel(CheckpointModel):
    family = "clip"
    saved_class = "CLIPModel"


class SiglipModel(CheckpointModel):
    """SigLIP: pictures squashed to the input size, text padded to 64 tokens and read without a mask,
    lower-cased and without punctuation, all as it was trained (convert.py, tokenizer_export.py)."""

    family = "siglip"
    saved_class = "SiglipModel"
