"""Where the paths an index run is given stand: there, gone from a folder that is there, or offline.

A folder that vanishes is a disk unmounted or a NAS switched off far more often than a library thrown away, and
forgetting its files would cost every one of them its embedding (and its faces their names) when it comes back.
So a missing folder root is **offline**: its files stay in the library, still found by searches, and nothing is
re-embedded when it returns; so is a root folder found empty, the mount point a disk leaves when not mounted. Only
a path missing from a folder that *is* there is gone (a file deleted, a subfolder removed), and so is a file
indexed on its own whose folder is there.

Paths inside a folder already indexed are not roots of their own: a root's name starts the folder words of
everything below it (store/describe.py), and ``index ~/Pictures/2019/a.jpg`` (or the watcher handing over the
files that changed) must not cut "Pictures" off them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from framefind.errors import FrameFindError
from framefind.store.catalog import Catalog


@dataclass
class Located:
    present: list[str] = field(default_factory=list)  # absolute, links resolved: scan these
    vanished: list[str] = field(default_factory=list)  # gone from a folder that is there: their files are gone
    offline: list[str] = field(default_factory=list)  # known roots missing or left empty: their files are kept

    def gone(self, catalog: Catalog, unseen: Iterable[str]) -> list[str]:
        """The files to forget: those a scan of ``present`` did not find and those under ``vanished``, less any
        under an offline root (a root nested in a scanned folder)."""
        found = set(unseen) | set(catalog.files_under(self.vanished))
        return sorted(path for path in found if root_of(path, self.offline) is None)


def locate(catalog: Catalog, paths: Iterable[str | Path]) -> Located:
    """Sort the paths of an index run; a missing path that no indexed root holds is a one-line error."""
    roots = catalog.roots()
    out = Located()
    for given in paths:
        path = Path(given).expanduser()
        if path.exists():
            present = str(path.resolve())
            if present in roots and emptied(catalog, present):
                _add(out.offline, present)
            else:
                out.present.append(present)
            continue
        absolute = str(path.resolve())  # a missing path resolves as far as it exists
        holder = root_of(absolute, roots)
        if holder is None:
            raise FrameFindError(f"{given}: no such file or directory")
        if holder == absolute and not _file_root_gone(catalog, absolute):
            _add(out.offline, absolute)
        elif holder != absolute and not online(holder):
            _add(out.offline, holder)
        else:
            _add(out.vanished, absolute)
    return out


def root_of(path: str, roots: Iterable[str]) -> str | None:
    """The deepest indexed root at or above ``path`` (absolute), or None."""
    holders = [root for root in roots if path == root or path.startswith(root.rstrip("/") + "/")]
    return max(holders, key=len) if holders else None


def new_roots(paths: Iterable[str], roots: Iterable[str]) -> list[str]:
    """The paths that are not inside a root already indexed (those become roots)."""
    known = list(roots)
    return [path for path in paths if root_of(path, known) is None]


def online(root: str) -> bool:
    """Whether a root folder is there to be read (a file root: whether it exists)."""
    try:
        return os.path.isdir(root) or os.path.isfile(root)
    except OSError:  # a NAS that stopped answering
        return False


def offline_reason(root: str) -> str:
    """Why a root is offline, in a few words: gone, or there but empty (the mount point of what is not mounted)."""
    return "empty: a disk or share not mounted?" if online(root) else "not found"


def emptied(catalog: Catalog, root: str) -> bool:
    """A root folder with nothing in it at all whose files the library knows: the empty mount point of a disk or
    share that is not mounted (a folder whose photos were deleted keeps its subfolders, or a stray file; what is
    kept for a folder really emptied is hidden from searches anyway: results are only files that exist)."""
    try:
        with os.scandir(root) as entries:
            if next(entries, None) is not None:
                return False
    except OSError:
        return False
    return catalog.has_files_under(root)


def _file_root_gone(catalog: Catalog, root: str) -> bool:
    """A file indexed on its own is deleted, not offline, when the folder that held it is there."""
    rows = catalog.files_under([root])
    return root in rows and os.path.isdir(os.path.dirname(root))


def _add(found: list[str], path: str) -> None:
    if path not in found:
        found.append(path)
