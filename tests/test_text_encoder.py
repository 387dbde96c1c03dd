"""The MiniLM text encoder: a float graph for what is stored, an int8 graph for queries (models/minilm.py)."""

from __future__ import annotations

import numpy as np

from framefind.models.minilm import QUERY_GRAPH, MiniLM

TEXTS = ["a cup of coffee", "a cat sleeping on a sofa", "snowy mountains at sunset", "a red tram in a city street",
         "quarterly budget review 2024", "ankle boots", "the part where she explains the budget", "Welcome to Lisbon"]


def test_query_graph_agrees_with_the_float_graph():
    encoder = MiniLM()
    stored, queries = encoder.embed(TEXTS), encoder.embed_query(TEXTS)
    assert queries.shape == stored.shape == (len(TEXTS), 384) and queries.dtype == np.float32
    assert np.allclose(np.linalg.norm(queries, axis=1), 1, atol=1e-5)
    cosine = np.sum(stored * queries, axis=1)
    assert cosine.min() > 0.98, cosine  # measured: 0.993 on average (bench_startup.py)
    # Each query's nearest stored text is its own: the int8 graph ranks as the float one does.
    assert (np.argmax(queries @ stored.T, axis=1) == np.arange(len(TEXTS))).all()
    assert (encoder.directory / QUERY_GRAPH).stat().st_size < 0.4 * (encoder.directory / "text.onnx").stat().st_size


def test_query_graph_is_rebuilt_when_missing():
    encoder = MiniLM()
    path = encoder.directory / QUERY_GRAPH
    before = encoder.embed_query(TEXTS[:2])
    path.unlink()
    fresh = MiniLM()
    assert np.allclose(fresh.embed_query(TEXTS[:2]), before, atol=1e-6)
    assert path.exists() and not list(path.parent.glob(".*.tmp"))
