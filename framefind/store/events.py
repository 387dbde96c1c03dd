"""What an index run tells its caller while it runs: one object instead of a callback per event.

The CLI draws a progress bar and prints skipped files, the server's index job keeps its status fields,
the API's users pass what they want to hear and leave the rest as it is (every event is ignored by
default). A new event is a new field here, not a new parameter of ``Library.index`` and its callers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def _ignore(*args: object) -> None:
    return None


@dataclass(frozen=True)
class IndexEvents:
    """Callbacks of one index run; each is called on the thread that runs ``Library.index``."""

    on_error: Callable[[str, str], None] = _ignore  # (path, reason): a file that could not be indexed
    on_warning: Callable[[str, str], None] = _ignore  # (path, note): indexed, with something to say
    on_wait: Callable[[int | None], None] = _ignore  # (pid): another writer holds the library; waiting for it
    on_rebuild: Callable[[str, str, int], None] = _ignore  # (space, kind, n): an index of n vectors is built
    progress: Callable[[float, int], None] = _ignore  # (files done, files in all) while embedding
    on_annotate: Callable[[int, int], None] = _ignore  # (done, total): capture dates and labels
    on_describe: Callable[[int, int], None] = _ignore  # (done, total): files' words, captions and places
    on_enrich: Callable[[str, int, int], None] = _ignore  # (pass, done, total): transcripts, on-screen text
    on_migrate: Callable[[str, int, int], None] = _ignore  # (where, done, total): vectors moved to a new backend
