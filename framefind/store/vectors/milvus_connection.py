"""Connections to Milvus: one ``MilvusClient`` per URI and process, and failures as one-line errors.

A URI is a server or cluster (``http(s)://host:port``, ``tcp://``, ``unix:``) or a Milvus Lite file
(a path ending in ``.db``; pymilvus starts Lite inside this process, and Lite holds an advisory lock
on the file, so one process at a time can use it). pymilvus is imported on the first connection only.

A server with authentication gets its credentials from ``$FRAMEFIND_MILVUS_TOKEN`` ("user:password",
or a Zilliz Cloud API key), never from the URI: a library stores its URI in its catalog, and a
password does not belong there.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from framefind.errors import FrameFindError, reason

SERVER_URI = re.compile(r"^(https?|tcp)://[^/\s]+|^unix:")
URI_HELP = "give http://host:19530 for a Milvus server or cluster, or a path ending in .db for Milvus Lite"
TOKEN_ENV = "FRAMEFIND_MILVUS_TOKEN"
CREDENTIALS = re.compile(r"^(?P<scheme>[a-z]+://)(?P<userinfo>[^/@\s]+)@")

_clients: dict[str, object] = {}
_clients_lock = threading.Lock()


class MilvusBusy(FrameFindError):
    """A Milvus Lite file another process has open (Lite serves one process at a time)."""


def normalise_uri(uri: str) -> str:
    """A server URI as given; a Milvus Lite path made absolute (a library is used from any directory)."""
    uri = uri.strip()
    if found := CREDENTIALS.match(uri):
        shown = uri.replace(found["userinfo"], found["userinfo"].split(":")[0] + ":***")
        raise FrameFindError(f"{shown}: no credentials in the URI (the library stores it); "
                             f"set {TOKEN_ENV}=user:password instead")
    if SERVER_URI.match(uri):
        return uri
    if "://" in uri or not uri.endswith(".db"):
        raise FrameFindError(f"{uri}: not a Milvus URI ({URI_HELP})")
    return str(Path(uri).expanduser().resolve())


def is_lite(uri: str) -> bool:
    return not SERVER_URI.match(uri)


def client(uri: str):
    """The process's one ``MilvusClient`` for ``uri`` (connected on first use; a one-line error if it cannot)."""
    with _clients_lock:
        found = _clients.get(uri)
        if found is None:
            found = _clients[uri] = _connect(uri)
        return found


def release(uri: str) -> None:
    """Close this process's connection to ``uri``; for Milvus Lite also let go of the file, so another
    process can open it. The next use reconnects."""
    with _clients_lock:
        found = _clients.pop(uri, None)
    if found is None:
        return
    with suppress(Exception):  # closing a broken connection must not fail the caller
        found.close()
    if is_lite(uri) and "milvus_lite" in sys.modules:
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(uri)


def _connect(uri: str):
    # gRPC's C core logs reconnections (a server's "too_many_pings" GOAWAY to pymilvus's keepalive pings)
    # on stderr: they are retried, not errors. GRPC_VERBOSITY set by the user wins.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise FrameFindError(f"{uri}: the milvus backend needs pymilvus: pip install 'framefind[milvus]'") from None
    for name in ("pymilvus", "milvus_lite", "grpc"):  # they log RPC errors with tracebacks: ours are one line
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if is_lite(uri) and not Path(uri).parent.is_dir():
        raise FrameFindError(f"{uri}: cannot open Milvus Lite (no directory {Path(uri).parent})")
    token = "" if is_lite(uri) else os.environ.get(TOKEN_ENV, "")
    try:
        return MilvusClient(uri=uri, token=token, timeout=10)
    except Exception as exc:  # noqa: BLE001 - pymilvus raises MilvusException, gRPC and OS errors
        if is_lite(uri) and _lite_locked(uri):
            raise MilvusBusy(f"{uri}: another process has this Milvus Lite file open (Lite serves one process "
                             "at a time: use a Milvus server to index and search at once)") from None
        hint = "" if is_lite(uri) else (f"; a server with authentication needs {TOKEN_ENV}=user:password"
                                         + (" (it is set: check it)" if token else ""))
        raise FrameFindError(f"{uri}: cannot connect to Milvus ({reason(exc)}){hint}") from None


def _lite_locked(uri: str) -> bool:
    """Whether another process holds Milvus Lite's advisory lock on the file (pymilvus only says it failed)."""
    try:
        fd = os.open(Path(uri) / "LOCK", os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


@contextmanager
def calls(uri: str, what: str) -> Iterator[None]:
    """Milvus and gRPC failures (server gone, timeouts, refused requests) as one-line errors naming the uri."""
    try:
        yield
    except FrameFindError:
        raise
    except Exception as exc:  # noqa: BLE001 - see above
        raise FrameFindError(f"{uri}: Milvus {what} failed ({reason(exc)})") from None
