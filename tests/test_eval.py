"""``framefind eval`` on real data: Fashion-MNIST classes, a CSV dataset, golden text queries on photos."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import FASHION_CLASSES, run_cli, skimage_data, write_fashion_pngs

from framefind.eval.datasets import Target, Unit, load_dataset
from framefind.eval.runner import Config, leave_one_out, query_set, run_config

PER_CLASS = 8
QUALITY = ("map@10", "map_towhee@10", "mhr@10", "recall@10", "precision@10", "ndcg@10", "mrr@10")


@pytest.fixture(scope="module")
def fashion(tmp_path_factory) -> tuple[Path, list[Path]]:
    """(10 class folders x 8 Fashion-MNIST images, the other images of the first 200 as spares)."""
    base = tmp_path_factory.mktemp("fashion")
    dataset, spares, counts = base / "classes", [], {}
    for path in write_fashion_pngs(base / "raw", 200):
        label = path.stem.split("-", 1)[1]
        if counts.get(label, 0) < PER_CLASS:
            counts[label] = counts.get(label, 0) + 1
            (dataset / label).mkdir(parents=True, exist_ok=True)
            shutil.move(path, dataset / label / path.name)
        else:
            spares.append(path)
    assert sorted(counts) == sorted(FASHION_CLASSES) and set(counts.values()) == {PER_CLASS}
    return dataset, spares


def _quality(result: dict) -> list[dict]:
    return [{key: row[key] for key in (*QUALITY, "config", "index_bytes", "per_group", "pr_curve")}
            for row in result["rows"]]


def test_eval_compares_configurations_deterministically_and_writes_a_report(fashion, tmp_path, models_ready):
    dataset, _ = fashion
    args = ("eval", str(dataset), "--dims", "full,32", "--index", "flat,hnsw,ivf-pq", "--json")
    first = json.loads(run_cli(*args, "--report", str(tmp_path / "a.html")).stdout)
    second = json.loads(run_cli(*args, "--report", str(tmp_path / "b.html")).stdout)

    assert first["split"] == "leave-one-out" and first["gallery"] == 80 and first["queries"] == 80
    configs = [row["config"] for row in first["rows"]]
    dims = ("full", "32 pca", "32 random")
    assert configs == [f"effnet-conse cosine {d} {i}" for d in dims for i in ("flat", "hnsw", "ivf-pq")]
    assert [row["dim"] for row in first["rows"]] == [1280] * 3 + [32] * 6
    # ivf-pq is built as a library builds it (the store's factory): its candidate codes and re-scoring
    assert first["rows"][2]["index_params"] == {"nlist": 2, "nprobe": 2, "m": 64, "refine": "SQ8",
                                                "refine_factor": 20}
    assert first["rows"][1]["index_params"] == {"M": 32, "efSearch": 128}
    for row in first["rows"]:
        assert all(0.0 <= row[key] <= 1.0 for key in QUALITY)
        assert row["mhr@10"] == pytest.approx(row["recall@10"])  # 7 relevant < k: both divide by 7
        assert row["index_bytes"] > 0 and row["latency_ms_p50"] > 0
        assert set(row["per_group"]) == set(FASHION_CLASSES)
    full, pca = first["rows"][0], first["rows"][3]
    assert full["index_bytes"] > 20 * pca["index_bytes"] > 0  # 1280 vs 32 floats per vector
    assert first["rows"][0]["map@10"] > 0.3  # EfficientNet features group Fashion-MNIST classes well above chance
    assert _quality(first) == _quality(second)  # run to run, only latency may differ

    saved = json.loads((tmp_path / "a.json").read_text())
    assert _quality(saved) == _quality(first)
    html = (tmp_path / "a.html").read_text()
    assert "http://" not in html and "https://" not in html and "<link" not in html and "<script" not in html
    assert html.count("<svg") == 3  # PR curve, per-class bars, embedding map
    assert 'class="pr"' in html and 'class="bar"' in html
    assert html.count('class="thumb"') == 80 and html.count("data:image/jpeg;base64,") == 80


def test_csv_dataset_with_missing_file_singleton_class_and_query_set(fashion, tmp_path, models_ready):
    dataset, spares = fashion
    rows = [(f"{i}", str(p), p.parent.name) for i, p in enumerate(sorted(dataset.glob("*/*.png"))) if
            p.parent.name in ("trouser", "bag", "sneaker")]
    rows.append(("90", "missing/nothing.png", "bag"))
    rows.append(("91", str(spares[0]), "only-one"))
    table = tmp_path / "subset.csv"
    with open(table, "w", newline="") as fh:
        csv.writer(fh).writerows([("id", "path", "label"), *rows])
    proc = run_cli("eval", str(table), "-k", "5", "--json", "--report", str(tmp_path / "r.html"))
    result = json.loads(proc.stdout)
    assert "framefind: skipped missing/nothing.png (subset.csv line 26): no such file" in proc.stderr
    assert "class 'only-one' has only one item" in proc.stderr
    assert result["gallery"] == 3 * PER_CLASS + 1 and result["queries"] == 3 * PER_CLASS
    assert set(result["rows"][0]["per_group"]) == {"trouser", "bag", "sneaker"}
    assert any("only one item" in note for note in result["notes"])

    queries = tmp_path / "queries"
    for path in spares[:12]:
        (queries / path.stem.split("-", 1)[1]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, queries / path.stem.split("-", 1)[1] / path.name)
    result = json.loads(run_cli("eval", str(dataset), "--queries", str(queries), "--json",
                                "--report", str(tmp_path / "q.html")).stdout)
    assert result["split"] == "query set" and result["queries"] == 12 and result["gallery"] == 80
    assert result["rows"][0]["mrr@10"] > 0


def test_golden_text_queries_on_photos(tmp_path, models_ready):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("coffee.png", "chelsea.png", "rocket.jpg", "astronaut.png", "horse.png", "coins.png", "page.png"):
        shutil.copy(skimage_data() / name, photos / name)
    golden = photos / "golden.json"
    golden.write_text(json.dumps({"a cup of coffee": ["coffee.png"], "a cat": ["chelsea.png"],
                                  "a rocket": ["rocket.jpg", "gone.jpg"]}))
    proc = run_cli("eval", str(golden), "-k", "3", "--json", "--report", str(tmp_path / "g.html"))
    result = json.loads(proc.stdout)
    assert "relevant file" in proc.stderr and "gone.jpg does not exist" in proc.stderr
    assert result["split"] == "golden text queries" and result["queries"] == 3 and result["gallery"] == 7
    row = result["rows"][0]
    assert row["mrr@3"] == 1.0 and row["map@3"] == 1.0 and row["map_towhee@3"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert set(row["per_group"]) == {"a cup of coffee", "a cat", "a rocket"}
    assert "<svg" in (tmp_path / "g.html").read_text()


def test_a_kept_library_is_evaluated_with_the_options_it_chose(tmp_path, models_ready):
    """``--library`` reused: its model keeps the options the library recorded (here top_t 10, draft_fill 1.0),
    nothing is re-embedded, and the second run answers as the first."""
    from framefind import Library

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("coffee.png", "chelsea.png", "rocket.jpg", "horse.png"):
        shutil.copy(skimage_data() / name, photos / name)
    golden = photos / "golden.json"
    golden.write_text(json.dumps({"a cup of coffee": ["coffee.png"], "a cat": ["chelsea.png"]}))
    lib = tmp_path / "lib"
    with Library.open(lib, model_options={"top_t": 10, "draft_fill": 1.0}) as library:
        chosen = library.target_model.id
    first, second = (json.loads(run_cli("eval", str(golden), "-k", "3", "--json", "--library", str(lib),
                                        "--report", str(tmp_path / f"{run}.html")).stdout) for run in range(2))
    with Library.open(lib, create=False) as library:
        assert library.model_id == chosen and library.model.top_t == 10 and len(library.models()) == 1
    assert first["rows"][0]["per_group"] == second["rows"][0]["per_group"]


@pytest.mark.parametrize("args,message", [
    (["-k", "80"], "-k 80 is larger than the gallery: a query can get at most 79 results"),
    (["--dims", "4096"], "--dims 4096: larger than the 1280 dimensions of effnet-conse"),
    (["--dims", "100"], "--dims 100: PCA to 100 dimensions needs at least 100 gallery items (have 80)"),
    (["--index", "annoy"], "--index: unknown value 'annoy'"),
    (["--metric", "dot"], "--metric: unknown value 'dot'"),
])
def test_bad_options_fail_fast_in_one_line(fashion, tmp_path, args, message):
    dataset, _ = fashion
    proc = run_cli("eval", str(dataset), *args, "--report", str(tmp_path / "r.html"), check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith(f"framefind: error: {message}") and proc.stderr.count("\n") == 1
    assert not (tmp_path / "r.html").exists()


def test_bad_datasets_fail_in_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "bad.csv").write_text("file,class\na.png,x\n")
    (tmp_path / "bad.json").write_text('{"a cat": []}')
    (tmp_path / "empty").mkdir()
    cases = {
        "notes.txt": "unknown dataset format",
        "bad.csv": "needs a header with path and label columns",
        "bad.json": "needs a non-empty text and a non-empty list of relevant paths",
        "empty": "no class subfolders with images in them",
        "nowhere": "no such file or directory",
    }
    for name, message in cases.items():
        proc = run_cli("eval", str(tmp_path / name), check=False)
        assert proc.returncode == 1 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_run_config_by_hand():
    """Four 2-d vectors, two classes: leave-one-out finds the other member of its class first."""
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], np.float32)
    task = leave_one_out(vectors, ["a", "a", "b", "b"], ["p0", "p1", "p2", "p3"])
    row = run_config(task, Config("test"), k=1)
    assert row["map@1"] == row["mhr@1"] == row["mrr@1"] == 1.0
    task = query_set(vectors, ["a", "a", "b", "b"], ["p0", "p1", "p2", "p3"], vectors[[0]], ["b"], ["p0"])
    row = run_config(task, Config("test", metric="l2"), k=3)  # p0 itself is left out of its own results
    assert row["gallery"] == 4 and row["mrr@3"] == pytest.approx(1 / 2) and row["recall@3"] == 1.0


def test_l2_ranks_by_euclidean_distance_through_the_librarys_inner_product_index():
    """Not by inner product: the query is nearest to the short vector; the long one has the larger q.x."""
    gallery = np.array([[0.5, 0.0], [3.0, 0.4], [0.0, 2.0]], np.float32)
    task = query_set(gallery, ["near", "far", "x"], ["a", "b", "c"], np.array([[0.6, 0.0]], np.float32),
                     ["near"], ["q"])
    for index in ("flat", "sq8", "hnsw"):
        assert run_config(task, Config("test", metric="l2", index=index), k=1)["mrr@1"] == 1.0, index


def test_golden_targets_and_time_ranges(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    golden = tmp_path / "g.json"
    golden.write_text(json.dumps({"root": ".", "queries": [
        {"text": "the goal", "relevant": ["clip.mp4#12-18", "a.png", "class:cat"]}]}))
    data = load_dataset(golden)
    moment, image, cat = data.queries[0].targets
    assert (moment.start, moment.end) == (12.0, 18.0) and image.path == str((tmp_path / "a.png").resolve())
    clip = str(tmp_path / "clip.mp4")
    assert moment.matches(Unit(clip, (clip,), None, 15.0, 20.0))
    assert not moment.matches(Unit(clip, (clip,), None, 18.0, 25.0))  # touching is not overlapping
    assert cat == Target(label="cat") and cat.matches(Unit("x", ("x",), "cat"))
    assert any("clip.mp4 does not exist" in note for note in data.notes)


def test_eval_on_a_folder_of_videos(tmp_path, models_ready):
    """Kinetics layout with real (generated) videos: each video is represented by its segments' mean."""
    from videos import slideshow

    for label, photo in (("cat", "chelsea.png"), ("coffee", "coffee.png"), ("rocket", "rocket.jpg")):
        (tmp_path / "clips" / label).mkdir(parents=True)
        for i, seconds in enumerate((3.0, 4.5)):
            slideshow(tmp_path / "clips" / label / f"{label}{i}.mp4", [(skimage_data() / photo, seconds)],
                      size=(320, 180), pan=bool(i))
    proc = run_cli("eval", str(tmp_path / "clips"), "-k", "1", "--json", "--report", str(tmp_path / "r.html"))
    result = json.loads(proc.stdout)
    assert result["gallery"] == 6 and result["queries"] == 6
    assert result["rows"][0]["map@1"] == 1.0 and result["rows"][0]["mhr@1"] == 1.0
