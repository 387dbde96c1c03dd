"""A real local Ray cluster for tests and benchmarks: a head and a second node, each a `ray start` process on
127.0.0.1 with one CPU (benchmarks/bench_ray.py also starts one node of two), in a temporary directory of their
own; ``stop`` ends exactly the processes they started (not `ray stop`, which ends every Ray process of the
machine)."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(roots: set[int]) -> set[int]:
    """``roots`` and every process below them (Ray's daemons and workers), from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            parents[int(entry.name)] = (int(fields[1]), int(fields[2]))  # (ppid, pgid)
    found = {pid for pid, (_, pgid) in parents.items() if pgid in roots}
    while True:
        more = {pid for pid, (ppid, _) in parents.items() if ppid in found} - found
        if not more:
            return found
        found |= more


class Cluster:
    """``nodes`` `ray start` nodes of ``cpus`` CPU slots each (a head, then the others), each in a session of its
    own, so that ``stop`` ends exactly what they started."""

    def __init__(self, nodes: int = 2, cpus: int = 1) -> None:
        self.temp = tempfile.mkdtemp(prefix="ffray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
        self.address = f"127.0.0.1:{free_port()}"  # fixed ports (client server, dashboard) too: two may run
        self.groups: set[int] = set()
        ray_bin = str(Path(sys.executable).parent / "ray")
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        try:
            self._start([ray_bin, "start", "--head", f"--port={self.address.split(':')[1]}", f"--num-cpus={cpus}",
                         "--include-dashboard=false", f"--temp-dir={self.temp}", "--disable-usage-stats",
                         f"--ray-client-server-port={free_port()}", f"--dashboard-port={free_port()}"], env)
            for _ in range(nodes - 1):
                self._start([ray_bin, "start", f"--address={self.address}", f"--num-cpus={cpus}"], env)
        except BaseException:  # a head without its second node (or a timeout) must not outlive the caller
            self.stop()
            raise

    def _start(self, command: list[str], env: dict) -> None:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        self.groups.add(proc.pid)  # its session: every daemon it starts stays in this process group
        out, _ = proc.communicate(timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{out}")

    def workers_running(self, function: str) -> list[int]:
        """Worker processes of this cluster running a task of ``function`` now (Ray titles them ray::NAME)."""
        running = []
        for pid in _descendants(self.groups):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == f"ray::{function}".encode():
                    running.append(pid)
        return running

    def stop(self) -> None:
        """SIGTERM to every process of the nodes, SIGKILL to what has not exited after a grace period: each
        process is held by a pidfd (no pid reuse), and its exit is waited for as an event."""
        for sig, grace_ms in ((signal.SIGTERM, 10_000), (signal.SIGKILL, 5_000)):
            fds = []
            for pid in _descendants(self.groups):
                with contextlib.suppress(OSError):  # gone already
                    fds.append(os.pidfd_open(pid))
            try:
                for fd in fds:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        signal.pidfd_send_signal(fd, sig)
                _wait_for_exits(fds, grace_ms)
            finally:
                for fd in fds:
                    os.close(fd)
        shutil.rmtree(self.temp, ignore_errors=True)


def _wait_for_exits(pidfds: list[int], grace_ms: int) -> None:
    """Until every process has exited (its pidfd turns readable), or none exits for ``grace_ms``."""
    poller = select.poll()
    for fd in pidfds:
        poller.register(fd, select.POLLIN)
    waiting = set(pidfds)
    while waiting and (ready := poller.poll(grace_ms)):
        for fd, _ in ready:
            poller.unregister(fd)
            waiting.discard(fd)


def alive(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"  # a zombie has ended
    return False
