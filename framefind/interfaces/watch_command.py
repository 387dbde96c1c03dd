"""``framefind watch``: index what changes in the library's folders as it settles (registered on the app by cli.py;
``serve --watch`` takes the same options). The watching itself is store/watch.py."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from framefind.config import default_library_dir
from framefind.errors import FrameFindError
from framefind.interfaces.console import LibraryOption, notice, one_line_errors

SettleOption = Annotated[float, typer.Option(
    "--settle", help="Seconds a file's size and time must hold still before it is indexed (a copy in progress is "
    "never indexed half)")]
PollOption = Annotated[float | None, typer.Option(
    "--poll", help="Poll every folder this often (seconds) instead of inotify events")]
PollIntervalOption = Annotated[float, typer.Option(
    "--poll-interval", help="Seconds between polls of folders on network mounts (NFS, SMB, sshfs, ...) and of "
    "folders past the inotify watch limit")]


def watch_options(settle: float, poll: float | None, poll_interval: float, verbose: bool = False):
    """The options, checked: one line for a bad value."""
    from framefind.store.watch import WatchOptions

    if settle < 0:
        raise FrameFindError(f"--settle {settle:g}: seconds, 0 or more")
    if (poll is not None and poll <= 0) or poll_interval <= 0:
        raise FrameFindError("--poll / --poll-interval: seconds, more than 0")
    return WatchOptions(settle=settle, poll=poll, poll_interval=poll_interval, verbose=verbose)


@one_line_errors
def watch_command(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Folders to watch [default: the library's folders]")] = None,
    library: LibraryOption = None,
    settle: SettleOption = 2.0,
    poll: PollOption = None,
    poll_interval: PollIntervalOption = 30.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="A line for each file seen changing and each file "
                                          "of a batch")] = False,
) -> None:
    """Watch folders and index new, changed, moved and deleted files as they settle, with the library's settings
    (--transcribe, --ocr, --faces as last given to index). A folder that vanishes is offline, never deleted.
    Ctrl-C or SIGTERM stops; what is not indexed yet is found at the next start."""
    from framefind.library import Library
    from framefind.store.watch import Watcher

    options = watch_options(settle, poll, poll_interval, verbose)
    missing = next((p for p in paths or () if not p.exists()), None)
    if missing is not None and not Library.exists(library or default_library_dir()):  # no root it could be
        raise FrameFindError(f"{missing}: no such file or directory")
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, _interrupt)  # as Ctrl-C: the indexer stops between batches
    try:
        with Library.open(library, create=bool(paths)) as lib:
            for line in lib.upgrades:
                notice(f"framefind: {lib.directory}: {line}")
            try:
                Watcher(lib, [str(p) for p in paths or ()], options, say=notice).run(stop)
            except KeyboardInterrupt:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the closing short
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                notice("framefind: stopped watching; what was indexed is kept")
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
