"""Real Milvus for the tests, no Docker: Milvus Lite files, and one Milvus 2.3.5 standalone server per session.

The ``milvus`` package (a test dependency) embeds the Milvus standalone server binary; it starts in
~8 s on a free port in a temporary directory. The server is started once per pytest process, whichever
test module asks first, and stopped when the process exits (it is a child process of ours). Its
embedded etcd always listens on 127.0.0.1:2380, so two such servers cannot run on one machine: when
that port is taken the server tests are skipped, saying so; a server that fails to start otherwise
fails the first test that asks for it (with its log's error line) and skips the rest.
"""

from __future__ import annotations

import atexit
import os
import re
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from framefind.store.vectors.milvus_connection import TOKEN_ENV

_server: dict[str, object] = {}
ROOT_TOKEN = "root:Milvus"  # Milvus's built-in administrator and its default password
ETCD_PEER_PORT = 2380
START_TIMEOUT = 180.0  # only bounds the wait for a server that must come up (~8 s here)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_taken(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def lite_uri(directory: Path, name: str = "milvus.db") -> str:
    """A Milvus Lite file in ``directory``; skips when pymilvus or milvus-lite is missing."""
    pytest.importorskip("pymilvus", reason="package pymilvus is not installed (pip install -e .)")
    pytest.importorskip("milvus_lite", reason="package milvus-lite is not installed (pip install -e .)")
    return str(directory / name)


def server_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URI of this session's Milvus server (started on first use); skips when ``milvus`` is missing."""
    pytest.importorskip("pymilvus", reason="package pymilvus is not installed (pip install -e .)")
    if "skip" in _server:
        pytest.skip(str(_server["skip"]))
    if "uri" not in _server:
        milvus = pytest.importorskip("milvus", reason="package milvus (the Milvus 2.3.5 standalone server, "
                                     "pip install milvus==2.3.5 or pip install -e '.[test]') is not installed")
        if port_taken(ETCD_PEER_PORT):
            _server["skip"] = (f"port {ETCD_PEER_PORT} is taken (another Milvus standalone on this machine?): "
                               "the embedded Milvus server cannot start its etcd")
            pytest.skip(str(_server["skip"]))
        _start(milvus, Path(tmp_path_factory.mktemp("milvus-server")))
    return str(_server["uri"])


def _start(milvus, directory: Path) -> None:
    """Start the server with authentication on, as a deployment would run it: every test that talks to it
    (CLI subprocesses included) gets the credentials from the environment, as users do."""
    server = milvus.MilvusServer(wait_for_started=False)
    server.set_base_dir(str(directory))
    server.config.set("authorization_enabled", True)
    os.environ[TOKEN_ENV] = ROOT_TOKEN
    server.listen_port = free_port()
    server.start()
    atexit.register(server.stop)
    uri = f"http://127.0.0.1:{server.listen_port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and server.server_proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.webservice_port}/healthz", timeout=2) as resp:
                healthy = b"OK" in resp.read()
        except OSError:
            healthy = False
        if healthy and _answers(uri):
            _server.update(server=server, uri=uri)
            return
        time.sleep(0.2)
    server.stop()
    log = directory / "logs" / "milvus-stdout.log"
    errors = re.findall(r"\[ERROR\] (.*)", log.read_text(errors="replace")) if log.exists() else []
    _server["skip"] = f"the Milvus server did not start: {errors[0][:300] if errors else 'no error logged'}"
    pytest.fail(str(_server["skip"]))


def _answers(uri: str) -> bool:
    """Whether the server's proxy serves a request. It lags the health check (MilvusServer.wait_started sleeps
    1 s after it and hopes): ask it something real instead."""
    from pymilvus import MilvusClient

    try:
        client = MilvusClient(uri=uri, token=ROOT_TOKEN, timeout=10)
    except Exception:  # noqa: BLE001 - not up yet: pymilvus raises MilvusException, gRPC and OS errors
        return False
    try:
        client.list_collections()
        return True
    except Exception:  # noqa: BLE001 - as above
        return False
    finally:
        client.close()
