"""framefind: local-first semantic search for image and video libraries."""

from framefind.errors import FrameFindError
from framefind.library import Library
from framefind.search.engine import Result

__all__ = ["FrameFindError", "Library", "Result"]
__version__ = "0.1.0"
