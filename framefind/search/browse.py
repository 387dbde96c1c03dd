"""What a person looks at besides a ranked list: thumbnails of results and a 2-D map of the library.

Both only read (a server or a search must work on a library it cannot lock): an image indexed by
0.1.0, which stored no thumbnail, gets one made from its file until the next ``index`` stores it
(store/annotate.py).
"""

from __future__ import annotations

import numpy as np

from framefind.errors import MediaError
from framefind.linalg import pca_2d
from framefind.models.base import Model
from framefind.search.moments import on_disk
from framefind.search.results import ResultKey
from framefind.store.catalog import Catalog, ItemInfo


def thumbnail(catalog: Catalog, model: Model, model_id: str, key: ResultKey, at: float | None) -> bytes | None:
    """A small JPEG: of an image, or of a video moment's frame nearest to ``at`` (default: the moment's start)."""
    at = at if at is not None else key.start
    jpeg = catalog.thumbnail(key.content, at or 0.0, key.start, key.end)
    return jpeg or _image_thumbnail(catalog, model, model_id, key.content)


def _image_thumbnail(catalog: Catalog, model: Model, model_id: str, content: str) -> bytes | None:
    from framefind.media.images import load_image

    for info in catalog.content_items(content, model_id)[:1]:
        if info.kind != "image":
            return None
        try:
            return load_image(info.paths[0], model.image_size, thumbnail=True)[2]
        except MediaError:
            return None
    return None


def library_map(catalog: Catalog, model: Model, model_id: str, limit: int,
                seed: int) -> list[tuple[ItemInfo, float, float]]:
    """A 2-D map (PCA of image-space vectors, in [-1, 1]) of up to ``limit`` items on disk, sampled evenly."""
    space = model.image_space
    ids = catalog.vector_ids(model_id, space)
    if len(ids) > limit:
        ids = np.sort(np.random.default_rng(seed).choice(ids, limit, replace=False))
    infos = on_disk(catalog.item_infos(ids.tolist()))
    ids, vectors = catalog.vectors(model_id, space, sorted(infos))
    xy = pca_2d(vectors) * 2 - 1
    return [(infos[int(i)], float(x), float(y)) for i, (x, y) in zip(ids, xy, strict=True)]
