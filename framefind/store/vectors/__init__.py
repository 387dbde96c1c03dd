"""Vector index backends behind one small interface, chosen by name (FAISS files, Milvus collections)."""

from framefind.store.vectors.base import VectorIndex
from framefind.store.vectors.factory import (
    BACKENDS,
    INDEX_TYPES,
    build_index,
    choose_kind,
    create_index,
    load_index,
    needs_rebuild,
)
from framefind.store.vectors.faiss import FaissIndex

__all__ = [
    "BACKENDS", "INDEX_TYPES", "FaissIndex", "VectorIndex", "build_index", "choose_kind", "create_index",
    "load_index", "needs_rebuild",
]
