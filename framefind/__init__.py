"""framefind: local-first semantic search for image and video libraries."""

import os

# framefind's own matrix products are small (a batch against 1000 class vectors, one query against a
# few hundred vectors); a multi-threaded BLAS only burns the cores that decoding, ONNX Runtime and a
# server's other requests need (measured: a search cost 15.6 ms of CPU with OpenBLAS threads, 13.4
# without). Set before numpy loads; an explicit setting of the user's wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from framefind.errors import FrameFindError  # noqa: E402
from framefind.library import Library  # noqa: E402
from framefind.search.query import Filters, Query, Term  # noqa: E402
from framefind.search.results import Result, ResultKey, SearchPage  # noqa: E402

__all__ = ["FrameFindError", "Filters", "Library", "Query", "Result", "ResultKey", "SearchPage", "Term"]
__version__ = "0.6.0"
