"""``framefind index`` in a real subprocess that stops once at a chosen step and waits to be told to go on.

Tests that need another writer in the middle of its run (readers beside it, a second indexer, a kill -9
or a Ctrl-C part-way) wait for it to say it got there, instead of sleeping and hoping it is still running:
the run cannot finish before the test lets it. The child is the real command line; only the callbacks it
hands to ``Library.index`` are wrapped, and a wrapped callback stops only outside a catalog transaction
(progress after a batch commits, a pass between two contents, an index build before it starts).

Steps: ``files:N`` (N files through the indexer), ``build:N`` (the N-th index build begins) and
``enrich:N`` (N contents of a pass done).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

PAUSED = "paused"


class PausedIndex:
    """``framefind index ARGS`` run by this file as a child process; ``step`` is where it stops."""

    def __init__(self, step: str, *args: str) -> None:
        # A file, not a pipe: the child never blocks on it. Closed in __exit__.
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
        # A shell that starts jobs in the background (as CI runners may) leaves SIGINT ignored in
        # children; restore the default so Python turns Ctrl-C into KeyboardInterrupt as in a terminal.
        self.proc = subprocess.Popen([sys.executable, __file__, step, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.pid = self.proc.pid

    def paused(self) -> None:
        """Return once the child stopped at its step (it then holds the library as it was there)."""
        line = self.proc.stdout.readline()  # ends at the child's exit too: no wait without an end
        assert line.strip() == PAUSED, f"the index run ended before its step: {self.stderr()}"

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float = 600) -> tuple[int, str]:
        """(exit status, stderr) once the run ends (after ``go`` or a signal)."""
        self.proc.wait(timeout=timeout)
        return self.proc.returncode, self.stderr()

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()

    def __enter__(self) -> PausedIndex:
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:  # a failed test: no child left waiting on its input
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self._stderr.close()


def _pausing(step: str) -> None:
    """``Library.index`` whose callbacks stop once, at ``step``: print PAUSED, then wait for a line on stdin.
    The callback is wrapped whether the caller passes it alone or in an ``events`` object."""
    import dataclasses

    from framefind.library import Library

    kind, _, at = step.partition(":")
    if kind not in ("files", "build", "enrich"):
        raise SystemExit(f"unknown step {step!r}")
    field = {"files": "progress", "build": "on_rebuild", "enrich": "on_enrich"}[kind]
    reached, calls = [False], [0]

    def wrapped(callback):
        def call(*args):
            callback(*args)
            calls[0] += 1
            how_far = {"files": args[0], "build": calls[0], "enrich": args[1]}[kind]
            if not reached[0] and how_far >= int(at):
                reached[0] = True
                print(PAUSED, flush=True)
                sys.stdin.readline()
        return call

    original = Library.index

    def index(self, *args, **kw):
        events = kw.get("events")
        if events is not None:
            kw["events"] = dataclasses.replace(events, **{field: wrapped(getattr(events, field))})
        else:
            kw[field] = wrapped(kw.get(field, lambda *a: None))
        return original(self, *args, **kw)

    Library.index = index


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    _pausing(sys.argv[1])
    sys.argv = ["framefind", "index", *sys.argv[2:]]
    from framefind.interfaces.cli import main

    main()
