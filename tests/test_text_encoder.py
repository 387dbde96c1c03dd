"""The MiniLM text encoder: a float graph for what is stored, an int8 graph for queries (models/minilm.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

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


def test_query_graph_is_rebuilt_when_missing(tmp_path, monkeypatch):
    before = MiniLM().embed_query(TEXTS[:2])
    shared = MiniLM().directory  # the user's cache: other processes may be using its query graph
    monkeypatch.setenv("FRAMEFIND_CACHE", str(tmp_path))
    fresh = MiniLM()
    shutil.copytree(shared, fresh.directory, ignore=shutil.ignore_patterns(QUERY_GRAPH))  # no re-conversion
    path = fresh.directory / QUERY_GRAPH
    assert not path.exists()
    assert np.allclose(fresh.embed_query(TEXTS[:2]), before, atol=1e-6)
    assert path.exists() and sorted(p.name for p in path.parent.iterdir()) == sorted(p.name for p in shared.iterdir())


def test_a_query_in_an_empty_model_cache_converts_both_graphs(tmp_path):
    """A search before anything was converted (a library moved to another machine, a cleared cache): the
    query graph is made from the float graph, both converted under the cache's one lock, which the
    converting thread re-enters (it used to wait for itself forever)."""
    code = "from framefind.models.minilm import MiniLM; print(MiniLM().embed_query(['a cat']).shape)"
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "FRAMEFIND_CACHE": str(tmp_path)},
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0 and done.stdout.strip() == "(1, 384)", done.stderr
    graphs = {p.name for p in tmp_path.rglob("*") if p.suffix in (".onnx", ".ort")}
    assert {"text.onnx", QUERY_GRAPH} <= graphs


def test_searches_embed_queries_with_the_int8_graph(tmp_path, monkeypatch):
    """What is stored goes through the float graph, what is asked through the int8 one (a search must
    not load the float graph: 90 MB and ~0.3 s of a fresh process)."""
    from conftest import skimage_data

    from framefind import Library

    with Library.open(tmp_path / "lib") as library:
        library.index([skimage_data() / "chelsea.png", skimage_data() / "coffee.png"])
    monkeypatch.setattr(MiniLM, "embed", lambda self, texts: pytest.fail(f"{texts}: embedded by the float graph"))
    with Library.open(tmp_path / "lib") as library:
        assert library.search("a cat", k=1, cutoff=False)[0].path.endswith("chelsea.png")
        assert library.search("a cup of coffee -cat", k=1, cutoff=False)[0].path.endswith("coffee.png")
