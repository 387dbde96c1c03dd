"""Where things live: the library directory and the model cache, from flags, environment or defaults."""

from __future__ import annotations

import os
from pathlib import Path

LIBRARY_ENV = "FRAMEFIND_LIBRARY"
CACHE_ENV = "FRAMEFIND_CACHE"
DEFAULT_MODEL = "effnet-conse"


def default_library_dir() -> Path:
    """``$FRAMEFIND_LIBRARY``, else ``$XDG_DATA_HOME/framefind``, else ``~/.local/share/framefind``."""
    if os.environ.get(LIBRARY_ENV):
        return Path(os.environ[LIBRARY_ENV]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "framefind"


def model_cache_dir() -> Path:
    """ONNX files converted from the packaged weights: shared by every library of this user."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "framefind"
