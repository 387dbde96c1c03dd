"""framefind: local-first semantic search for image and video libraries.

The public names are imported on first use (PEP 562): importing any submodule runs this file first,
and ``import framefind.config`` (or the CLI's start-up) must not pay for FAISS, Pillow and the models
that ``Library`` pulls in.
"""

import os
from importlib import import_module
from typing import TYPE_CHECKING

# framefind's own matrix products are small (a batch against 1000 class vectors, one query against a
# few hundred vectors); a multi-threaded BLAS only burns the cores that decoding, ONNX Runtime and a
# server's other requests need (measured: a search cost 15.6 ms of CPU with OpenBLAS threads, 13.4
# without). Set before numpy loads; an explicit setting of the user's wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

_PUBLIC = {
    "FrameFindError": "framefind.errors",
    "Filters": "framefind.search.query",
    "IndexEvents": "framefind.store.events",
    "Library": "framefind.library",
    "Query": "framefind.search.query",
    "Result": "framefind.search.results",
    "ResultKey": "framefind.search.results",
    "SearchPage": "framefind.search.results",
    "Term": "framefind.search.query",
}
__all__ = ["FrameFindError", "Filters", "IndexEvents", "Library", "Query", "Result", "ResultKey", "SearchPage",
           "Term"]
__version__ = "0.8.0"

if TYPE_CHECKING:
    from framefind.errors import FrameFindError
    from framefind.library import Library
    from framefind.search.query import Filters, Query, Term
    from framefind.search.results import Result, ResultKey, SearchPage
    from framefind.store.events import IndexEvents


def __getattr__(name: str) -> object:
    """``framefind.Library`` and the other public names, imported when first asked for."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'framefind' has no attribute {name!r}")
    value = getattr(import_module(_PUBLIC[name]), name)
    globals()[name] = value  # asked once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
