"""framefind: local-first semantic search for image and video libraries."""

from framefind.errors import FrameFindError
from framefind.library import Library
from framefind.search.query import Filters, Query, Term
from framefind.search.results import Result, ResultKey

__all__ = ["FrameFindError", "Filters", "Library", "Query", "Result", "ResultKey", "Term"]
__version__ = "0.2.0"
