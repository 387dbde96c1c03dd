"""framefind: local-first semantic search for image and video libraries."""

from .errors import FrameFindError
from .library import Library
from .search import Result

__all__ = ["FrameFindError", "Library", "Result"]
__version__ = "0.1.0"
