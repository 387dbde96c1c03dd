"""Model identity: an id that changes whenever anything that changes the vectors changes.

A library keys its vectors by (model id, space). The id is a digest of the model's *spec*: the
weights (hashed by content, never by path), the preprocessing version, and every option that shapes
a vector (ConSE's top-T and label texts, video sampling). Two libraries made with the same spec get
the same id; an upgrade that changes any part of it gets a new id, and the next ``index`` re-embeds
instead of mixing old and new vectors.

Hashing 90 MB of weights costs ~0.1 s, too much for every search: digests are cached per
(path, size, mtime) in the model cache, so a warm check is one ``stat`` per file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Iterable
from pathlib import Path

from framefind.config import model_cache_dir
from framefind.fsutil import atomic_write_text

_CACHE_NAME = "digests.json"
_lock = threading.Lock()


def spec_id(family: str, spec: dict) -> str:
    """``family-<10 hex>``: readable, and distinct for every distinct spec."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return f"{family}-{hashlib.blake2b(canonical.encode(), digest_size=5).hexdigest()}"


def text_digest(texts: Iterable[str]) -> str:
    return hashlib.blake2b("\n".join(texts).encode(), digest_size=8).hexdigest()


def files_digest(paths: Iterable[Path]) -> str:
    """One digest over several files' contents (in the given order), e.g. a checkpoint directory."""
    combined = hashlib.blake2b(digest_size=8)
    for path in paths:
        combined.update(file_digest(path).encode())
    return combined.hexdigest()


def file_digest(path: Path) -> str:
    """BLAKE2b-64 of a file's bytes, cached by (resolved path, size, mtime_ns)."""
    path = Path(path).resolve()
    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    with _lock:
        cache = _read_cache()
        if key in cache:
            return cache[key]
    digest = hashlib.blake2b(digest_size=8)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    value = digest.hexdigest()
    with _lock:
        cache = _read_cache()
        cache[key] = value
        with contextlib.suppress(OSError):  # a read-only cache only costs the hashing again next time
            atomic_write_text(model_cache_dir() / _CACHE_NAME, json.dumps(cache, indent=0))
    return value


def _read_cache() -> dict[str, str]:
    try:
        data = json.loads((model_cache_dir() / _CACHE_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
