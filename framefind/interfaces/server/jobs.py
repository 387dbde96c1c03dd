"""Indexing started from the API: one background run at a time, its progress readable at any moment."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict

from framefind.errors import FrameFindError
from framefind.interfaces.server.schemas import IndexState
from framefind.library import Library
from framefind.store.events import IndexEvents


class IndexJob:
    def __init__(self, library: Library) -> None:
        self.library = library
        self.state = IndexState()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self, paths: list[str] | None, **options: bool | int | str | None) -> bool:
        """Start a run in the background (``options``: transcribe, ocr, workers, ray); False if one is already
        running."""
        with self._lock:
            if self.state.running:
                return False
            self.state = IndexState(running=True, started=time.time(), on_ray=bool(options.get("ray")))
            self._thread = threading.Thread(target=self._run, args=(paths, options), name="index", daemon=True)
            self._thread.start()
        return True

    def _run(self, paths: list[str] | None, options: dict) -> None:
        def progress(done: float, total: int) -> None:
            self.state.done, self.state.total = round(done, 2), total

        def passing(name: str, done: int, total: int) -> None:
            self.state.phase = name
            progress(done, total)

        try:
            report = self.library.index(paths, events=IndexEvents(progress=progress, on_enrich=passing), **options)
            summary = asdict(report)
            summary["errors"] = summary["errors"][:50]
            summary["warnings"] = summary["warnings"][:50]
            self.state.report = summary
        except FrameFindError as exc:
            self.state.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - reported through /api/status, never lost silently
            self.state.error = f"indexing failed: {type(exc).__name__}: {exc}"
        finally:
            self.state.running, self.state.finished = False, time.time()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
