"""Vector arithmetic shared by models, video pooling, search and evaluation."""

from __future__ import annotations

import numpy as np


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero), as float32: inner product is then cosine."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """The first two principal components of the rows, each scaled to [0, 1] (a map of a collection)."""
    if len(vectors) < 2:
        return np.full((len(vectors), 2), 0.5)
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T if vt.shape[0] >= 2 else np.c_[centred @ vt[:1].T, np.zeros(len(vectors))]
    return (xy - xy.min(axis=0)) / np.maximum(xy.max(axis=0) - xy.min(axis=0), 1e-9)
