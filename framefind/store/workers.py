"""Several indexing processes on one library (``framefind index --workers N``).

For machines with many cores: one process's threads share one interpreter (the Python glue between
decoding, the model and the commit holds the GIL), so past some number of cores several processes should
index faster. On 2 cores one process is already saturated and two are no faster (docs/benchmarks.md), so
the default is one.

The coordinator (holding the writer lock) scans and plans once, then splits the files to process into
``N`` shares. Files of one size always go to the
same share: copies of one content have the same size, so each content is hashed, decoded and embedded by
one worker, which links its copies as a single indexer does. Each worker opens the catalog itself, runs
the usual pipeline (hash, decode and embed in its threads) over its share and commits its own batches,
one transaction each: SQLite serialises the writers and WAL keeps readers going, so what a worker
committed survives any crash of another, and the next run resumes after it. Progress, errors and warnings
stream back through a queue. The coordinator then finishes as a single indexer does (gone files, labels,
index files, the Milvus sync), so index files are written once, by one process.

Workers are fresh interpreters (``python -m framefind.store.workers``), given their share as JSON on
stdin and answering in JSON lines on stdout: not forked, since a fork would copy ONNX Runtime's and the
decoders' threads mid-flight, and not ``multiprocessing``'s spawn, which re-runs the caller's main module
(a script without ``if __name__ == "__main__"`` would index itself in a loop). A worker whose coordinator
is gone stops at its next file (its stdout is closed).
"""

from __future__ import annotations

import json
import os
import queue as queues
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from framefind.errors import FrameFindError
from framefind.media.files import FileStat
from framefind.models.base import Model

if TYPE_CHECKING:
    from framefind.store.indexer import IndexReport

@dataclass
class Share:
    """What one worker indexes, and with what: it rebuilds the model from its name and options."""

    number: int
    library: str  # the directory holding the catalog
    model_name: str
    model_options: dict
    model_id: str
    files: list[FileStat]
    threads: int  # cores for this worker: decode threads and ONNX Runtime threads follow from it

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Share:
        fields = json.loads(text)
        return cls(**{**fields, "files": [FileStat(**f) for f in fields["files"]]})


def split(todo: list[FileStat], workers: int) -> list[list[FileStat]]:
    """``todo`` in up to ``workers`` shares of about equal bytes; files of one size stay in one share
    (copies, which have one size, are then decoded once). Each share keeps the scan's order."""
    groups: dict[int, list[int]] = {}
    for position, stat in enumerate(todo):
        groups.setdefault(stat.size, []).append(position)
    load, owner = [0] * workers, {}
    for size, positions in sorted(groups.items(), key=lambda g: (-g[0] * len(g[1]), g[0])):
        lightest = min(range(workers), key=load.__getitem__)
        load[lightest] += size * len(positions)
        owner.update(dict.fromkeys(positions, lightest))
    shares: list[list[FileStat]] = [[] for _ in range(workers)]
    for position, stat in enumerate(todo):
        shares[owner[position]].append(stat)
    return [share for share in shares if share]


class _Worker:
    """One worker process; a thread forwards its JSON lines to the coordinator's queue."""

    def __init__(self, share: Share, messages: queues.Queue) -> None:
        self.number = share.number
        self.errors = tempfile.TemporaryFile("w+")  # noqa: SIM115 - a crash's last words, read at its end
        self.process = subprocess.Popen([sys.executable, "-m", "framefind.store.workers"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.errors, text=True,
                                        start_new_session=True)  # Ctrl-C goes to the coordinator only
        self.process.stdin.write(share.to_json())
        self.process.stdin.close()
        self.reader = threading.Thread(target=self._forward, args=(messages,), daemon=True)
        self.reader.start()

    def _forward(self, messages: queues.Queue) -> None:
        try:
            for line in self.process.stdout:
                try:
                    messages.put(json.loads(line))
                except ValueError:  # not a message (the worker sends its other output to stderr): ignore
                    continue
        finally:  # whatever happens here, the coordinator must hear that this worker is gone
            messages.put(["exited", self.number])

    def last_words(self) -> str:
        self.errors.seek(0)
        lines = [line.strip() for line in self.errors.read().splitlines() if line.strip()]
        return lines[-1] if lines else f"exit code {self.process.returncode}"

    def stop(self) -> None:
        """Terminate if running (a transaction cut short is rolled back by SQLite: nothing half-written)."""
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait()
        self.reader.join()
        self.errors.close()


def run_shares(library: str, model: Model, shares: list[list[FileStat]], report: IndexReport,
               on_error: Callable[[str, str], None], on_warning: Callable[[str, str], None],
               progress: Callable[[float, int], None]) -> None:
    """Index each share (``split``) in a process of its own; fills ``report`` (embedded, linked, reused, failed,
    errors, warnings, interrupted) as the workers report back. A worker that dies loses only its batch in flight."""
    total = sum(len(share) for share in shares)
    threads = max(1, (os.cpu_count() or 1) // len(shares))
    messages: queues.Queue = queues.Queue()
    running = [_Worker(Share(number, library, model.name, model.options(), model.id, files, threads), messages)
               for number, files in enumerate(shares)]
    state = _State(report, on_error, on_warning)
    try:
        while len(state.exited) < len(running):
            message = messages.get()
            if message[0] == "exited":
                state.exited.add(message[1])
                _check_exit(running[message[1]], state)
            else:
                state.receive(message)
                progress(sum(state.done.values()), total)
    except KeyboardInterrupt:
        report.interrupted = True  # what the workers committed stays; the next run resumes after it
    finally:
        for worker in running:
            worker.stop()
    if state.failure:
        raise FrameFindError(state.failure)


@dataclass
class _State:
    report: IndexReport
    on_error: Callable[[str, str], None]
    on_warning: Callable[[str, str], None]

    def __post_init__(self) -> None:
        self.done: dict[int, float] = {}
        self.exited: set[int] = set()
        self.finished: set[int] = set()
        self.failure: str | None = None

    def receive(self, message: list) -> None:
        kind, number, *rest = message
        report = self.report
        if kind == "progress":
            self.done[number] = rest[0]
        elif kind == "error":
            report.failed += 1
            report.errors.append(tuple(rest))
            self.on_error(*rest)
        elif kind == "warning":
            report.warnings.append(tuple(rest))
            self.on_warning(*rest)
        elif kind == "done":
            report.embedded += rest[0]
            report.linked += rest[1]
            report.reused += rest[2]
            self.finished.add(number)
        elif kind == "failed":  # the worker could not start (its model, its catalog): a one-line reason
            self.failure = f"index worker {number}: {rest[0]}"
            self.finished.add(number)


def _check_exit(worker: _Worker, state: _State) -> None:
    """A worker gone without saying "done" (killed, out of memory): the others go on; the run counts as
    interrupted, so the index files wait for a run that sees every file through."""
    worker.process.wait()
    if worker.number not in state.finished:
        state.report.interrupted = True
        state.report.warnings.append((f"index worker {worker.number}", f"stopped ({worker.last_words()}); "
                                      "run framefind index again to finish"))


def work(share: Share, say: Callable[[list], None]) -> None:
    """A worker: index one share into the catalog, telling the coordinator through ``say``."""
    from pathlib import Path

    from framefind.models import base
    from framefind.store.catalog import Catalog
    from framefind.store.indexer import IndexReport, process_files

    base.ONNX_THREADS = share.threads
    try:
        model = base.load_model(share.model_name, share.model_options)
        if model.id != share.model_id:
            raise FrameFindError(f"model {share.model_name} has id {model.id} here, not {share.model_id}")
        catalog = Catalog(Path(share.library), create=False)
    except FrameFindError as exc:
        say(["failed", share.number, str(exc)])
        return
    report = IndexReport()
    try:
        process_files(catalog, model, share.files, report, threads=share.threads + 1,
                      on_error=lambda path, reason: say(["error", share.number, path, reason]),
                      on_warning=lambda path, reason: say(["warning", share.number, path, reason]),
                      progress=lambda done, total: say(["progress", share.number, done]))
    finally:
        catalog.close()
    say(["done", share.number, report.embedded, report.linked, report.reused])


def main() -> None:
    lock = threading.Lock()
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever else writes to stdout (a library, C code) goes to stderr, not into the messages

    def say(message: list) -> None:  # from the indexing threads too; a closed channel ends the worker
        with lock:
            channel.write(json.dumps(message) + "\n")
            channel.flush()

    work(Share.from_json(sys.stdin.read()), say)


if __name__ == "__main__":
    main()
