"""``framefind serve`` under load: 8 concurrent clients on loopback for 60 s against a 100k-item library,
and, in Chromium, the time from Enter to the first result thumbnails on screen (the same 100k library:
stricter than the 10k the target names). Client and server share the machine's 2 cores.

The library is bench_search.py's (a real 10k Fashion-MNIST library grown to 100k); build it once with
``python benchmarks/bench_search.py --keep DIR`` and pass the same DIR here (or let this script build
it). The server runs as its own process, exactly as a user starts it.

Side by side (``--against TREE``): the same load on the 10k library, served in turn by another source
tree (e.g. 0.6.0 checked out with ``git worktree add /tmp/ff060 4bcf364``) and by this one, rounds
alternating so that whatever else the machine does falls on both alike. Both servers stay up (an idle
one costs nothing); each serves its rounds from the same library, with the same Python environment.

Usage: python benchmarks/bench_server.py --keep DIR [--seconds 60] [--clients 8] [--json out.json]
       python benchmarks/bench_server.py --keep DIR --against /tmp/ff060 [--rounds 3] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from bench_index import machine  # noqa: E402
from bench_search import QUERIES, build_10k  # noqa: E402
from conftest import grow_library  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(library: Path, tree: Path | None = None) -> tuple[subprocess.Popen, str]:
    """``framefind serve`` on a free port, from ``tree`` (a source checkout; default: the installed one)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(tree)} if tree is not None else None
    proc = subprocess.Popen([sys.executable, "-m", "framefind", "serve", "--library", str(library), "--port",
                             str(port)], stderr=subprocess.DEVNULL, cwd=tree, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/api/status", timeout=2).status_code == 200:
                httpx.get(f"{url}/api/search", params={"q": "warm up"}, timeout=30)  # load the text model
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("the server did not start")


def load(url: str, clients: int, seconds: float) -> dict:
    """``clients`` threads, each sending text searches back to back for ``seconds``."""
    latencies: list[float] = []
    errors: list[str] = []
    stop = time.perf_counter() + seconds

    def client(number: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            i = number
            while time.perf_counter() < stop:
                started = time.perf_counter()
                try:
                    response = http.get("/api/search", params={"q": QUERIES[i % len(QUERIES)], "k": 24})
                    page = response.json() if response.status_code == 200 else {}
                    # a full page, or a short one that says the relevance cutoff left the rest out
                    ok = len(page.get("results", ())) == 24 or page.get("below_cutoff", 0) > 0
                except httpx.HTTPError as exc:
                    ok, response = False, exc
                latencies.append(time.perf_counter() - started) if ok else errors.append(str(response))
                i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ms = sorted(x * 1000 for x in latencies)
    return {"clients": clients, "seconds": seconds, "requests": len(ms), "errors": len(errors),
            "requests_per_s": round(len(ms) / seconds, 1), "p50_ms": round(statistics.median(ms), 1),
            "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1), "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 1),
            "max_ms": round(ms[-1], 1), "first_errors": errors[:3]}


def first_thumbnails_ms(url: str, runs: int = 5) -> dict | None:
    """Milliseconds from pressing Enter in the search box to the first result thumbnail decoded on screen."""
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    times = []
    with sync_playwright() as pw, __import__("tempfile").TemporaryDirectory() as profile:
        browser = pw.chromium.launch_persistent_context(profile, executable_path=chromium, args=args,
                                                        viewport={"width": 1280, "height": 800})
        page = browser.new_page()
        page.goto(url)
        box = page.locator("input[type=search]").first
        for query in QUERIES[:runs]:
            box.fill("")
            page.wait_for_timeout(300)
            box.fill(query)
            started = page.evaluate("performance.now()")
            box.press("Enter")
            page.wait_for_function(
                "() => [...document.querySelectorAll('main img')].some(i => i.complete && i.naturalWidth > 0 "
                "&& i.getBoundingClientRect().top < innerHeight)", timeout=10_000)
            times.append(page.evaluate("performance.now()") - started)
            page.wait_for_timeout(500)
        browser.close()
    return {"runs": [round(t) for t in times], "median_ms": round(statistics.median(times))}


def side_by_side(library: Path, trees: dict[str, Path | None], rounds: int, clients: int, seconds: float) -> dict:
    """The same load on each tree's server in turn, ``rounds`` times; per tree every round and the pooled
    medians (p50, p99, requests/s over rounds; errors summed)."""
    servers = {name: start_server(library, tree) for name, tree in trees.items()}
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    try:
        for number in range(rounds):
            order = list(trees) if number % 2 == 0 else list(trees)[::-1]  # neither always goes first
            for name in order:
                runs[name].append(load(servers[name][1], clients, seconds))
                print(name, json.dumps(runs[name][-1]), flush=True)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait()
    summary = {}
    for name, measured in runs.items():
        summary[name] = {"tree": str(trees[name] or HERE.parent), "rounds": measured,
                         **{key: statistics.median(r[key] for r in measured)
                            for key in ("p50_ms", "p99_ms", "requests_per_s")},
                         "errors": sum(r["errors"] for r in measured)}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", type=Path, required=True, help="bench_search.py's directory (built if missing)")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--against", type=Path, help="another source tree (e.g. 0.6.0): side by side at 10k")
    parser.add_argument("--rounds", type=int, default=3, help="side by side: rounds per tree, alternating")
    args = parser.parse_args()
    library = args.keep / "library"
    results: dict = {"date": time.strftime("%Y-%m-%d"), "machine": machine()}
    if not library.exists():
        build_10k(args.keep)
    if args.against is not None:
        trees = {"baseline": args.against.resolve(), "this tree": HERE.parent}
        results["load_10k"] = side_by_side(library, trees, args.rounds, args.clients, args.seconds)
        print(json.dumps(results, indent=2))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return
    from framefind import Library

    with Library.open(library) as lib:
        items = lib.catalog.stats(lib.model_id)["items"]
    if items < 100_000:
        grow_library(library, 100_000)
        subprocess.run([sys.executable, "-m", "framefind", "index", "--library", str(library), "-q"], check=True)
    proc, url = start_server(library)
    try:
        results["browser_100k"] = first_thumbnails_ms(url)
        results["load_100k"] = load(url, args.clients, args.seconds)
    finally:
        proc.terminate()
        proc.wait()
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    os._exit(0)  # playwright's driver threads can keep a finished benchmark alive


if __name__ == "__main__":
    main()
