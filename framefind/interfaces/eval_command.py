"""``framefind eval``: measure retrieval quality on a labelled dataset or golden queries.

Registered on the app by cli.py; heavy imports stay inside the command so that other commands do not
pay for them at start-up.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from framefind.errors import FrameFindError
from framefind.eval.metrics import DEFINITIONS
from framefind.interfaces.console import JsonOption, err, notice, one_line_errors, out, report_skipped

DatasetArg = Annotated[Path, typer.Argument(
    help="A folder of class subfolders, a CSV with id,path,label columns, or a golden-query .json file",
    show_default=False)]


@one_line_errors
def eval_command(
    dataset: DatasetArg,
    k: Annotated[int, typer.Option("-k", "--top", help="Rank cut-off of the metrics")] = 10,
    models: Annotated[str | None, typer.Option(
        "--models", help="Comma-separated models [default: the --library's model, else effnet-conse]")] = None,
    metric: Annotated[str, typer.Option("--metric", help="cosine and/or l2, comma-separated")] = "cosine",
    dims: Annotated[str | None, typer.Option(
        "--dims", help="Dimensions to compare, e.g. 1280,256,128 ('full' or the model's own: unreduced)")] = None,
    reduce: Annotated[str, typer.Option("--reduce", help="How --dims reduces: pca and/or random")] = "pca,random",
    index: Annotated[str, typer.Option(
        "--index", help="Index types to compare, as a library builds them: flat, sq8, hnsw, ivf-sq8, ivf-pq "
        "(comma-separated)")] = "flat",
    queries: Annotated[Path | None, typer.Option(
        "--queries", help="Explicit query set instead of leave-one-out: a class folder or CSV (image queries) "
        "or a golden-query .json (text queries)")] = None,
    library: Annotated[Path | None, typer.Option(
        "--library", "-l", help="Keep the evaluation library here (reused next time) [default: a temporary one]")
    ] = None,
    as_json: JsonOption = False,
    report: Annotated[Path, typer.Option(
        "--report", help="HTML report path; the JSON goes next to it")] = Path("framefind-eval.html"),
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random projection and thumbnail sample")] = 0,
) -> None:
    """Measure search quality: mAP, mHR, recall, precision, nDCG, MRR at k, one row per configuration.

    Labelled datasets: image -> image, leave-one-out (each item queries the rest) unless --queries names a query set.

    A golden-query .json evaluates text -> image; `framefind feedback --export F` writes one from thumbs up.
    """
    from framefind.config import DEFAULT_MODEL
    from framefind.eval.datasets import load_dataset
    from framefind.eval.runner import INDEXES, METRICS, REDUCTIONS, check_k, expand, parse_dims, parse_list

    data = load_dataset(dataset)
    query_data = load_dataset(queries) if queries is not None else None
    if data.kind == "golden" and query_data is not None:
        raise FrameFindError("--queries goes with a class dataset: a golden-query file is its own query set")
    for note in data.notes + (query_data.notes if query_data else []):
        notice(f"framefind: {note}")
    model_names = parse_list(models, None, "models") if models else [_library_model(library) or DEFAULT_MODEL]
    metrics = parse_list(metric, METRICS, "metric")
    indexes = parse_list(index, INDEXES, "index")
    reductions = parse_list(reduce, REDUCTIONS, "reduce")
    dim_list = parse_dims(dims)
    image_queries = data.kind == "classes" and (query_data is None or query_data.kind == "classes")
    if data.kind == "classes":  # fail fast, before any indexing, on what the file counts already show
        check_k(k, len(data.entries) - (1 if query_data is None else 0))
        expand(model_names, metrics, dim_list, reductions, indexes,
               _full_dims(model_names, image_queries), len(data.entries))
    html_path, json_path = _report_paths(report)

    tasks, units, map_vectors = _build_tasks(data, query_data, model_names, library)
    notes = [*data.notes, *(query_data.notes if query_data else [])]
    for task in tasks.values():
        for note in task.notes:
            if note not in notes:
                notes.append(note)
                notice(f"framefind: {note}")
    first = tasks[model_names[0]]
    full_dims = {name: tasks[name].gallery.shape[1] for name in model_names}
    configs = expand(model_names, metrics, dim_list, reductions, indexes, full_dims,
                     min(len(t.gallery) for t in tasks.values()))
    split = ("leave-one-out" if query_data is None and data.kind == "classes"
             else "golden text queries" if not image_queries else "query set")
    result = {
        "framefind_eval": 1, "dataset": str(dataset), "queries_file": str(queries) if queries else None,
        "split": split, "kind": data.kind if query_data is None else query_data.kind,
        "k": k, "seed": seed, "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "gallery": len(first.gallery), "queries": len(first.queries), "notes": notes,
        "metrics": {f"{name}@{k}": text for name, text in DEFINITIONS.items()},
        "rows": [], "incomplete": None,
    }
    try:
        from framefind.eval.runner import run_all

        def progress(row: dict) -> None:
            err.print(f"[{len(result['rows'])}/{len(configs)}] {row['config']}: map@{k} {row[f'map@{k}']:.4f} "
                      f"mhr@{k} {row[f'mhr@{k}']:.4f}", highlight=False, soft_wrap=True)

        run_all(tasks, configs, k, seed, result["rows"], progress)
    except BaseException as exc:
        result["incomplete"] = str(exc) or type(exc).__name__
        if result["rows"]:
            _write(result, html_path, json_path, units, map_vectors, seed)
            notice(f"framefind: wrote the {len(result['rows'])} finished configurations to {html_path}")
        raise
    _write(result, html_path, json_path, units, map_vectors, seed)
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        _print_tables(result)
    notice(f"report: {html_path} and {json_path}")


def _library_model(library: Path | None) -> str | None:
    from framefind.library import Library

    if library is None or not Library.exists(library):
        return None
    with Library.open(library.expanduser(), create=False) as lib:
        return lib.choice["name"]


def _full_dims(model_names: list[str], image_queries: bool) -> dict[str, int]:
    from framefind.models.base import load_model

    dims = {}
    for name in model_names:
        model = load_model(name)  # no weights are loaded until the model embeds something
        dims[name] = model.spaces[model.image_space if image_queries else model.words_space]
    return dims


def _report_paths(report: Path) -> tuple[Path, Path]:
    report = report.expanduser()
    if report.suffix.lower() == ".json":
        return report.with_suffix(".html"), report
    return report, report.with_suffix(".json")


def _library_dir(library: Path | None, model: str, several: bool) -> tuple[Path, bool]:
    """(directory, temporary?) of the library that evaluates ``model``."""
    if library is None:
        return Path(tempfile.mkdtemp(prefix="framefind-eval-")), True
    library = library.expanduser()
    return (library / re.sub(r"[^A-Za-z0-9._-]+", "_", model) if several else library), False


def _build_tasks(data, query_data, model_names: list[str], library: Path | None):
    """Index the dataset with each model (a temporary library unless --library) and read its task."""
    from framefind.eval.datasets import library_task
    from framefind.library import Library
    from framefind.store.events import IndexEvents

    tasks, units, map_vectors = {}, [], None
    roots = data.roots + (query_data.roots if query_data and query_data.kind == "classes" else [])
    for name in model_names:
        directory, temporary = _library_dir(library, name, len(model_names) > 1)
        try:
            existing = _library_model(directory)
            if existing is not None and existing != name:
                raise FrameFindError(f"{directory}: holds a library of model {existing}; evaluate {name} "
                                     "in another directory (or give --models " + existing + ")")
            # a library that already evaluates this model keeps the options it chose (no re-embedding)
            with Library.open(directory, model=None if existing == name else name) as lib:
                notice(f"indexing {len(roots)} path(s) with {name} ...")

                indexed = lib.index(roots, events=IndexEvents(on_error=report_skipped))
                if indexed.interrupted:
                    raise KeyboardInterrupt
                task, task_units = library_task(lib, data, query_data)
        finally:
            if temporary:
                shutil.rmtree(directory, ignore_errors=True)
        tasks[name] = task
        if map_vectors is None:
            units, map_vectors = task_units, task.gallery
    return tasks, units, map_vectors


def _write(result: dict, html_path: Path, json_path: Path, units, map_vectors, seed: int) -> None:
    from framefind.eval.report import embedding_map_svg, write_html, write_json

    write_json(json_path, result)
    paths = [u.paths[0] for u in units]
    map_svg = embedding_map_svg(map_vectors, [u.label for u in units], paths, seed) if map_vectors is not None else ""
    write_html(html_path, result, map_svg)


def _print_tables(result: dict) -> None:
    from rich.table import Table

    k = result["k"]
    keys = [f"{name}@{k}" for name in DEFINITIONS]
    table = Table(show_edge=False, header_style="bold", title=f"{result['dataset']}: {result['split']}, "
                  f"{result['gallery']} gallery items, {result['queries']} queries")
    several = len({row["model"] for row in result["rows"]}) > 1
    for name in ("configuration", *keys, "index KB", "ms/query"):
        table.add_column(name, justify="left" if name == "configuration" else "right")
    for row in result["rows"]:
        dims = f"{row['dim']}" + ("" if row["dims"] is None else f" {row['reduction']}")
        label = f"{row['model'] + ' ' if several else ''}{row['metric']} {dims} {row['index']}"
        table.add_row(label, *(f"{row[key]:.4f}" for key in keys), f"{row['index_bytes'] / 1024:.1f}",
                      f"{row['latency_ms_p50']:.3f}")
    out.print(table)
    first = result["rows"][0]
    unit = "class" if result["kind"] == "classes" else "query"
    groups = Table(show_edge=False, header_style="bold", title=f"per {unit}: {first['config']}")
    for name in (unit, "queries", *keys):
        groups.add_column(name, justify="left" if name == unit else "right")
    for group, values in first["per_group"].items():
        groups.add_row(group, str(values["queries"]), *(f"{values[key]:.4f}" for key in keys))
    out.print(groups)

