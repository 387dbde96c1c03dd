"""int8 on any x86-64 CPU (issue #18): do the int8 graphs give the same bits on an AVX2-only CPU as here?

ONNX Runtime picks its int8 kernels by CPUID. Its AVX2 and AVX-512 (no VNNI) kernels multiply uint8 x int8 with
vpmaddubsw, which adds two products in int16 and saturates; its VNNI and AMX kernels do not. To see the AVX2
path on a VNNI machine, the same Python runs under QEMU user-mode emulation (``qemu-x86_64 -cpu Haswell``:
AVX2 and FMA, no AVX-512; Debian's qemu-user), where ONNX Runtime's CPUID probe picks the AVX2 kernels.

Side by side, for the image graph (EfficientNet-Lite0, static QDQ) and the query graph (MiniLM, dynamic):
- recipes: 1 (0.4.0-0.6.0, 8-bit weights), 2 (7-bit weights on the GEMM convolutions, framefind's new
  recipe), and the rejected candidates (7-bit weights everywhere, uint8 weights, int8 activations);
- speed, at batch 1 on 1 thread as the indexer runs the image graph (conse._image_session), one query at a time;
- agreement with the float graph on real photos (scikit-image's and the Debian wallpapers) and caption texts;
- emulated AVX2 against native: how many outputs are bit-identical, the largest difference;
- ``--fixtures``: the legacy libraries of tests/data/legacy searched natively and emulated (the tolerance
  tests/test_migrations.py allows recorded scores);
- ``--captions``: text -> image MRR@10 on the caption set, float and both recipes (needs ``make bench-deps``).

Usage: python benchmarks/bench_int8_portability.py [--emulated 6] [--texts 64] [--fixtures] [--captions]
       [--json out.json]
Needs qemu-user (apt-get install qemu-user). Emulation is ~100x slower: it runs few inputs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

QEMU = ["qemu-x86_64", "-cpu", "Haswell"]
CPU_FLAGS = ("AVX2", "FMA3", "AVX512F", "AVX512VNNI")


# -- graphs ----------------------------------------------------------------------------------------------
def image_graphs(work: Path) -> dict[str, Path]:
    """The float graph, framefind's two recipes, and the candidates that lost (built here, not in framefind)."""
    from onnxruntime.quantization import QuantType

    from framefind.models.base import load_model
    from framefind.models.conse import read_int8_table
    from framefind.models.convert import quantize_efficientnet_lite0

    source = load_model("effnet-conse", {"precision": "float"}).image_graph()
    graphs = {"float": source}
    for recipe in (1, 2):
        graphs[f"recipe {recipe}"] = work / f"recipe{recipe}.onnx"
        quantize_efficientnet_lite0(source, graphs[f"recipe {recipe}"], read_int8_table(), recipe)
    variants = {"7-bit weights everywhere": {"reduce_range": True},
                "uint8 weights (U8U8)": {"weight_type": QuantType.QUInt8},
                "int8 activations (S8S8)": {"activation_type": QuantType.QInt8}}
    for name, change in variants.items():
        graphs[name] = work / f"{len(graphs)}.onnx"
        _variant(source, graphs[name], read_int8_table(), change)
    return graphs


def _variant(source: Path, target: Path, table: dict, change: dict) -> None:
    """Recipe 1 with one of quantize_static's settings changed (int8 activations: the table's zero points - 128)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from framefind.models.convert import INT8_FLOAT_NODES, INT8_OPS, _quiet, prepared_graph

    signed = change.get("activation_type") == QuantType.QInt8
    overrides = {name: [{"scale": np.array(scale, np.float32),
                         "zero_point": np.array(zero - 128, np.int8) if signed else np.array(zero, np.uint8)}]
                 for name, (scale, zero) in table.items()}

    class Reader:
        batches = iter([{"pixels": np.zeros((1, 224, 224, 3), np.uint8)}])

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        prepared = prepared_graph(source, Path(tmp))
        float_nodes = [n.name for n in onnx.load(str(prepared)).graph.node if n.name.startswith(INT8_FLOAT_NODES)]
        settings = {"activation_type": QuantType.QUInt8, "weight_type": QuantType.QInt8, **change}
        with _quiet():
            quantize_static(str(prepared), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            calibrate_method=CalibrationMethod.MinMax, op_types_to_quantize=list(INT8_OPS),
                            nodes_to_exclude=float_nodes, extra_options={"TensorQuantOverrides": overrides},
                            **settings)


def query_graphs(work: Path) -> dict[str, Path]:
    from framefind.models.convert import quantize_for_queries
    from framefind.models.minilm import MiniLM

    source = MiniLM()._float_graph
    graphs = {"float": source}
    for recipe in (1, 2):
        graphs[f"recipe {recipe}"] = work / f"query{recipe}.ort"
        quantize_for_queries(source, graphs[f"recipe {recipe}"], recipe)
    graphs["uint8 weights (U8U8)"] = work / "query-u8.ort"
    _query_variant(source, graphs["uint8 weights (U8U8)"])
    return graphs


def _query_variant(source: Path, target: Path) -> None:
    """quantize_for_queries with uint8 weights (exact on every kernel too, but slower)."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from framefind.models.convert import _quiet

    quantized = target.with_suffix(".onnx")
    with _quiet():
        quantize_dynamic(str(source), str(quantized), per_channel=True, weight_type=QuantType.QUInt8)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.optimized_model_filepath = str(target)
    options.add_session_config_entry("session.save_model_format", "ORT")
    ort.InferenceSession(str(quantized), options, providers=["CPUExecutionProvider"])


def build_recipe_2(work: str) -> None:
    """Both recipe-2 graphs, as framefind builds them (run under QEMU: does an AVX2 machine build the same?)."""
    from framefind.models.base import load_model
    from framefind.models.conse import read_int8_table
    from framefind.models.convert import quantize_efficientnet_lite0, quantize_for_queries
    from framefind.models.minilm import MiniLM

    source = load_model("effnet-conse", {"precision": "float"}).image_graph()
    quantize_efficientnet_lite0(source, Path(work) / "image.onnx", read_int8_table(), 2)
    quantize_for_queries(MiniLM()._float_graph, Path(work) / "query.ort", 2)


def same_build(work: Path, graphs: dict[str, Path]) -> dict:
    """Build recipe 2's graphs under QEMU: does an AVX2 machine build the same graphs as this one?"""
    emulated = work / "emulated-build"
    emulated.mkdir()
    done = subprocess.run([*QEMU, sys.executable, __file__, "--build", str(emulated)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"emulated build failed: {done.stderr.strip().splitlines()[-1:]}")
    # An ORT-format file's flatbuffer tables come out in a different order from run to run: compare what it computes.
    texts = work / "texts.json"
    query = [run_worker("query", path, texts, 10**6, work, False)["vectors"] for path in (emulated / "query.ort",
                                                                                           graphs["query"])]
    return {"image graph (bytes)": (emulated / "image.onnx").read_bytes() == graphs["image"].read_bytes(),
            "query graph (its vectors, run natively)": bool(np.array_equal(*query))}


# -- inputs ----------------------------------------------------------------------------------------------
def photos() -> tuple[np.ndarray, list[str]]:
    """scikit-image's photos and the Debian wallpapers (the largest file of each), decoded as the indexer does."""
    from conftest import SKIMAGE_PHOTOS, skimage_data, wallpaper_files

    from framefind.media.images import load_image

    paths = [skimage_data() / name for name in SKIMAGE_PHOTOS] + wallpaper_files()
    return np.stack([load_image(p, 224)[0] for p in paths]), [str(p) for p in paths]


def captions() -> list[str]:
    spec = json.loads((HERE / "data" / "captions150.json").read_text(encoding="utf-8"))
    return [caption for photo in spec["photos"] for caption in photo["captions"]]


# -- worker: what runs natively and under QEMU -------------------------------------------------------------
def worker(kind: str, graph: str, inputs: str, n: int, out: str) -> None:
    """Run ``graph`` on the first ``n`` inputs one at a time, as framefind does, and save the outputs."""
    from framefind.models.base import embed_text_batches, onnx_session

    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as features
    if kind == "image":
        session = onnx_session(Path(graph), threads=1, accelerate=True)
        outputs = [session.run(None, {"pixels": px[None]}) for px in np.load(inputs)[:n]]
        arrays = {key: np.concatenate([o[i] for o in outputs]) for i, key in enumerate(("features", "logits"))}
    else:
        from framefind.models.minilm import MiniLM

        session, tokenizer = onnx_session(Path(graph), threads=1), MiniLM()._tokenizer
        texts = json.loads(Path(inputs).read_text())[:n]
        arrays = {"vectors": np.concatenate([embed_text_batches(session, tokenizer, [t], 384) for t in texts])}
    np.savez(out, **arrays, cpu=np.array([bool(features.get(f)) for f in CPU_FLAGS]))


def run_worker(kind: str, graph: Path, inputs: Path, n: int, work: Path, emulated: bool) -> dict[str, np.ndarray]:
    out = work / f"out-{os.getpid()}-{time.monotonic_ns()}.npz"
    command = [*(QEMU if emulated else []), sys.executable, __file__, "--worker", kind, str(graph), str(inputs),
               str(n), str(out)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode:
        raise SystemExit(f"worker failed ({' '.join(command[:4])}): {done.stderr.strip().splitlines()[-1:]}")
    with np.load(out) as data:
        return dict(data)


def differences(native: dict, emulated: dict) -> dict:
    keys = [k for k in native if k != "cpu"]
    n = len(emulated[keys[0]])
    same = [all(np.array_equal(native[k][i], emulated[k][i]) for k in keys) for i in range(n)]
    return {"identical": f"{sum(same)}/{n}", **{f"{k} max abs diff": float(np.abs(native[k][:n] - emulated[k]).max())
                                               for k in keys},
            "cpu seen emulated": [f for f, on in zip(CPU_FLAGS, emulated["cpu"], strict=True) if on]}


def against_emulated(kind: str, graph: Path, inputs: Path, n: int, work: Path, native: dict) -> dict:
    """The first ``n`` inputs run again under QEMU's Haswell (ONNX Runtime's AVX2 kernels), compared with ``native``."""
    return differences(native, run_worker(kind, graph, inputs, n, work, True))


# -- measurements ----------------------------------------------------------------------------------------
def image_speed(graphs: dict[str, Path], pixels: np.ndarray, rounds: int) -> dict[str, float]:
    """Images/s of each graph alone, batch 1, one thread; graphs alternate round by round (medians)."""
    from framefind.models.base import onnx_session

    sessions = {name: onnx_session(path, threads=1, accelerate=True) for name, path in graphs.items()}
    rates: dict[str, list[float]] = {name: [] for name in graphs}
    for _ in range(rounds):
        for name, session in sessions.items():
            session.run(None, {"pixels": pixels[:1]})
            start = time.perf_counter()
            for px in pixels:
                session.run(None, {"pixels": px[None]})
            rates[name].append(len(pixels) / (time.perf_counter() - start))
    return {name: round(float(np.median(r)), 1) for name, r in rates.items()}


def image_agreement(reference: dict, other: dict) -> dict:
    f0, f1 = reference["features"], other["features"]
    top0, top1 = np.argsort(-reference["logits"], axis=1)[:, :5], np.argsort(-other["logits"], axis=1)[:, :5]
    cosine = np.sum(f0 * f1, axis=1)
    return {"feature cosine mean": round(float(cosine.mean()), 4), "feature cosine min": round(float(cosine.min()), 4),
            "top-1 same": f"{int(np.sum(top0[:, 0] == top1[:, 0]))}/{len(f0)}",
            "top-5 overlap": round(float(np.mean([len(set(a) & set(b)) / 5 for a, b in zip(top0, top1, strict=True)])),
                                   3)}


def measure_images(work: Path, emulated_n: int, rounds: int) -> dict:
    graphs = image_graphs(work)
    pixels, _ = photos()
    np.save(work / "pixels.npy", pixels)
    native = {name: run_worker("image", path, work / "pixels.npy", len(pixels), work, False)
              for name, path in graphs.items()}
    speed = image_speed(graphs, pixels, rounds)
    rows = recipe_rows("image", graphs, work / "pixels.npy", native, emulated_n, work,
                       lambda name: {"images/s (batch 1, 1 thread)": speed[name]},
                       lambda name: {"against float": image_agreement(native["float"], native[name])})
    return {"photos": len(pixels), "emulated photos": emulated_n, "recipes": rows}


def recipe_rows(kind: str, graphs: dict[str, Path], inputs: Path, native: dict, emulated_n: int, work: Path,
                speed: Callable[[str], dict], against_float: Callable[[str], dict]) -> dict[str, dict]:
    """One row a graph: its speed, its agreement with the float graph, and (``emulated_n`` > 0) AVX2 against native."""
    rows = {}
    for name, path in graphs.items():
        row = {**speed(name), **(against_float(name) if name != "float" else {})}
        if emulated_n:
            row["AVX2 (emulated) against native"] = against_emulated(kind, path, inputs, emulated_n, work, native[name])
        rows[name] = row
        print(f"{kind} {name}: {json.dumps(row)}", file=sys.stderr)
    return rows


def query_speed(graphs: dict[str, Path], texts: list[str], rounds: int) -> dict[str, float]:
    """Milliseconds per query, one text at a time on one thread (as a search embeds it); medians of rounds."""
    from framefind.models.base import embed_text_batches, onnx_session
    from framefind.models.minilm import MiniLM

    tokenizer = MiniLM()._tokenizer
    sessions = {name: onnx_session(path, threads=1) for name, path in graphs.items()}
    times: dict[str, list[float]] = {name: [] for name in graphs}
    for _ in range(rounds):
        for name, session in sessions.items():
            start = time.perf_counter()
            for text in texts:
                embed_text_batches(session, tokenizer, [text], MiniLM.dim)
            times[name].append(1000 * (time.perf_counter() - start) / len(texts))
    return {name: round(float(np.median(t)), 2) for name, t in times.items()}


def measure_queries(work: Path, emulated_n: int, rounds: int) -> dict:
    graphs = query_graphs(work)
    texts = captions()
    (work / "texts.json").write_text(json.dumps(texts))
    native = {name: run_worker("query", path, work / "texts.json", len(texts), work, False)
              for name, path in graphs.items()}
    speed = query_speed(graphs, texts, rounds)

    def against_float(name: str) -> dict:
        unit = native[name]["vectors"] / np.linalg.norm(native[name]["vectors"], axis=1, keepdims=True)
        cosine = np.sum(unit * native["float"]["vectors"], axis=1)
        return {"cosine to float mean": round(float(cosine.mean()), 4),
                "cosine to float min": round(float(cosine.min()), 4)}

    rows = recipe_rows("query", graphs, work / "texts.json", native, emulated_n, work,
                       lambda name: {"ms per query (1 thread)": speed[name]}, against_float)
    return {"texts": len(texts), "emulated texts": emulated_n, "recipes": rows}


def measure_captions() -> dict:
    """Text -> image MRR@10 on the caption set (bench_index.py's scoring) for float and both recipes, with the
    options a new library records and today's query graph; 95 % bootstrap CIs, and recipe 2 - recipe 1 paired."""
    from bench_index import caption_scores, caption_set, embed

    from framefind.eval.metrics import bootstrap_ci
    from framefind.models.base import load_model

    chosen = load_model("effnet-conse").recommended_options
    models = {"float": load_model("effnet-conse", {**chosen, "precision": "float"}),
              **{f"recipe {r}": load_model("effnet-conse", {**chosen, "precision": "int8", "int8_recipe": r})
                 for r in (1, 2)}}
    spec, photos = caption_set()
    scores = {name: caption_scores(m, spec, embed(m, np.stack(photos))["semantic"]) for name, m in models.items()}
    out = {}
    for split in ("test", "tune"):
        out[split] = {name: bootstrap_ci(scores[name][split]["MRR@10"]) for name in models}
        out[split]["recipe 2 - recipe 1"] = bootstrap_ci(scores["recipe 2"][split]["MRR@10"]
                                                         - scores["recipe 1"][split]["MRR@10"])
    return out


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        _, _, kind, graph, inputs, n, out = sys.argv
        worker(kind, graph, inputs, int(n), out)
        return
    if sys.argv[1:2] == ["--build"]:
        build_recipe_2(sys.argv[2])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--emulated", type=int, default=6, help="photos run under QEMU per graph (0: none)")
    parser.add_argument("--texts", type=int, default=64, help="caption texts run under QEMU per query graph")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fixtures", action="store_true", help="also the legacy libraries, native and emulated")
    parser.add_argument("--captions", action="store_true", help="also caption-set MRR@10 (make bench-deps)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if (args.emulated or args.texts or args.fixtures) and not shutil.which(QEMU[0]):
        raise SystemExit("qemu-x86_64 not found: apt-get install qemu-user (or --emulated 0 --texts 0)")
    from bench_index import load, machine

    results: dict = {"date": subprocess.run(["date"], capture_output=True, text=True).stdout.strip(),
                     "machine": machine(), "emulation": " ".join(QEMU), "load_at_start": load()}
    with tempfile.TemporaryDirectory(prefix="bench-int8-") as tmp:
        results["image graph"] = measure_images(Path(tmp), args.emulated, args.rounds)
        results["query graph"] = measure_queries(Path(tmp), args.texts, args.rounds)
        if args.emulated:
            built = {"image": Path(tmp) / "recipe2.onnx", "query": Path(tmp) / "query2.ort"}
            results["recipe 2 built under emulation, same bytes"] = same_build(Path(tmp), built)
        if args.captions:
            results["caption set MRR@10"] = measure_captions()
        if args.fixtures:
            from int8_fixtures import measure_fixtures

            results["legacy fixtures"] = measure_fixtures(Path(tmp), QEMU)
    results["load_at_end"] = load()
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
