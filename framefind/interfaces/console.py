"""What every CLI command shares: the two consoles, common options, one-line errors and notices."""

from __future__ import annotations

from functools import wraps
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from framefind.config import LIBRARY_ENV
from framefind.errors import FrameFindError

out = Console()
err = Console(stderr=True)

LibraryOption = Annotated[Path | None, typer.Option(
    "--library", "-l", envvar=LIBRARY_ENV, help="Library directory [default: ~/.local/share/framefind]")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


def progress_bar(quiet: bool, rate: bool = False):
    """A transient progress bar on stderr, files/s with ``rate`` (rich.progress is imported here, when a
    long command needs it: a search process does not pay the 30 ms)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed:5.1f} files/s" if task.speed else "    - files/s", style="cyan")

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), *([RateColumn()] if rate else []),
               TimeRemainingColumn()]
    return Progress(*columns, console=err, disable=quiet, transient=True)


def notice(line: str) -> None:
    """A line on stderr as it is: paths may hold brackets that rich would read as markup."""
    err.print(line, markup=False, highlight=False, soft_wrap=True)


def report_skipped(path: str, reason: str) -> None:
    notice(f"framefind: skipped {path}: {reason}")


def report_warning(path: str, reason: str) -> None:
    notice(f"framefind: warning: {path}: {reason}")


def one_line_errors(command):
    """Turn FrameFindError into 'framefind: error: ...' and exit 1; Ctrl-C into exit 130."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except FrameFindError as exc:
            notice(f"framefind: error: {exc}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            notice("framefind: interrupted")
            raise typer.Exit(130) from None

    return wrapper


def run_and_leave(app) -> None:
    """Run the ``framefind`` program, then leave without tearing the interpreter down.

    A command ends with its library closed and its output written; what is left is freeing FAISS indexes,
    ONNX Runtime sessions and a thousand modules, ~65 ms of a ~0.45 s ``framefind search`` (docs/benchmarks.md,
    "Search start-up"). Not after Milvus Lite ran in this process: its exit handler stops its server.
    """
    import contextlib
    import os
    import sys

    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code
    if "milvus_lite" in sys.modules:
        sys.exit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): what Python itself would do
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (| head): nothing more to say anyway
            stream.flush()
    os._exit(code)

