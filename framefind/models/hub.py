"""Where a ``clip:``/``siglip:`` checkpoint comes from: a directory, the Hugging Face cache, or the hub.

Well-known names map to Hugging Face-format releases. OpenCLIP's LAION weights are offered through
the ``laion/CLIP-*`` repositories, which carry ``transformers`` weights beside the ``open_clip`` ones:
the ``open_clip`` package itself needs torchvision, which has no CPU wheel where framefind runs.

Resolution is local first, and never touches the network when the weights are already here:
a directory path; else the Hugging Face cache (``$HF_HUB_CACHE``, ``$HF_HOME/hub`` or
``~/.cache/huggingface/hub``), looked up with ``local_files_only``; else, unless
``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` is set, a download into that cache. Offline without
the weights, the error is one line that names what to download and where to put it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from framefind.errors import FrameFindError

NAMES: dict[str, dict[str, str]] = {
    "clip": {
        "ViT-B-32": "openai/clip-vit-base-patch32",
        "ViT-B-16": "openai/clip-vit-base-patch16",
        "ViT-L-14": "openai/clip-vit-large-patch14",
        "ViT-L-14-336": "openai/clip-vit-large-patch14-336",
        "ViT-B-32-laion2b": "laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
        "ViT-L-14-laion2b": "laion/CLIP-ViT-L-14-laion2B-s32B-b82K",
        "ViT-H-14-laion2b": "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
    },
    "siglip": {
        "base": "google/siglip-base-patch16-224",
        "base-384": "google/siglip-base-patch16-384",
        "large": "google/siglip-large-patch16-256",
        "so400m": "google/siglip-so400m-patch14-384",
    },
}
# What a checkpoint needs: configs, vocabularies and one copy of the weights (never TF/Flax/open_clip files).
NEEDED = ["*.json", "*.txt", "*.model"]
TIMEOUT = 10.0  # seconds a hub request may wait: a machine without a network fails in one line, not a hang
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Source:
    """A checkpoint as the user named it: a local directory, or a hub repository."""

    family: str
    name: str  # what follows ``family:``, e.g. ``ViT-B-32``, a directory, or ``owner/repo``
    directory: Path | None = None
    repo: str | None = None


def parse(family: str, name: str, saved_class: str) -> Source:
    """A directory (made absolute, so any working directory names the same one), a well-known name
    or an ``owner/repo`` hub id; anything else fails in one line. Cheap: no file is read."""
    if not name:
        raise FrameFindError(f"{family}: give a name ({', '.join(NAMES[family])}), a checkpoint directory "
                             f"(saved with {saved_class}.save_pretrained) or a hub id")
    path = Path(name).expanduser()
    if path.is_dir():
        return Source(family, name, directory=path.resolve())
    if name in NAMES[family]:
        return Source(family, name, repo=NAMES[family][name])
    if name.startswith(("/", ".", "~")) or name.count("/") != 1:
        known = ", ".join(NAMES[family])
        raise FrameFindError(f"{family}:{name}: no such checkpoint directory, and not a known name ({known}) "
                             "or an owner/repo hub id")
    return Source(family, name, repo=name)


def require_conversion_packages(name: str) -> None:
    """Converting a checkpoint traces it with torch and transformers, which a plain install leaves out
    (7 GB; the default model needs neither): the ``hub`` extra brings them. One line, before any download."""
    import importlib.util

    missing = [package for package in ("torch", "transformers") if importlib.util.find_spec(package) is None]
    if missing:
        raise FrameFindError(f"{name}: converting a checkpoint to ONNX needs {' and '.join(missing)}: "
                             "pip install 'framefind[hub]'")


def hub_cache_dir() -> Path:
    """The Hugging Face cache, read from the environment now (huggingface_hub reads it once, at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"
    return Path(home).expanduser() / "hub"


def offline() -> bool:
    return any(os.environ.get(name, "").strip().lower() in _TRUE for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def cached_snapshot(repo: str) -> Path | None:
    """The cached snapshot directory of ``repo``'s main revision, if it holds a config; no network."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        found = Path(snapshot_download(repo, cache_dir=hub_cache_dir(), local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None
    return found if (found / "config.json").is_file() else None


def download(source: Source, saved_class: str) -> Path:
    """Fetch what the checkpoint needs (safetensors weights if the repo has them) into the cache.

    One metadata request first, which fails at once without a network (listing files would retry
    for half a minute); then only the files a checkpoint needs, never TF/Flax/open_clip copies."""
    from huggingface_hub import HfApi, snapshot_download

    assert source.repo is not None
    print(f"framefind: downloading {source.repo} into {hub_cache_dir()} (once)", file=sys.stderr)
    try:
        files = {sibling.rfilename for sibling in HfApi().model_info(source.repo, timeout=TIMEOUT).siblings or []}
        weights = "model.safetensors" if "model.safetensors" in files else "pytorch_model.bin"
        return Path(snapshot_download(source.repo, cache_dir=hub_cache_dir(), allow_patterns=[weights, *NEEDED]))
    except Exception as exc:  # network, authentication, a missing repo: all end the same way, in one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FrameFindError(missing_message(source, saved_class, f"download failed ({reason})")) from None


def missing_message(source: Source, saved_class: str, why: str = "weights not found offline") -> str:
    repo = source.repo
    return (f"{source.family}:{source.name}: {why}; download {repo!r} (hf download {repo}) "
            f"into the Hugging Face cache ({hub_cache_dir()}) or save it with {saved_class}.save_pretrained "
            f"into a directory and pass {source.family}:DIR")


def checkpoint_dir(source: Source, saved_class: str) -> Path:
    """The local checkpoint directory: as given, cached, or downloaded (only when online)."""
    if source.directory is not None:
        return source.directory
    assert source.repo is not None
    found = cached_snapshot(source.repo)
    if found is not None:
        return found
    if offline():
        raise FrameFindError(missing_message(source, saved_class))
    return download(source, saved_class)
