"""Load test of ``winnow serve`` against 127.0.0.1 only, bounded in clients and time.

Starts the real server (``python -m winnow serve``) on a free local port for one index, then for
each client count runs that many closed-loop clients (threads, one ``httpx.Client`` each) for
``--seconds``, each sending ``GET /search?q=...&k=K`` with the collection's queries in turn.
Reports throughput, p50 / p99 latency, answers by status (errors must be 0 below the queue
limit; above it only clean 503s), and the server's RSS sampled every 0.5 s (start, end, max).
The anchor: in-process batch search of the same queries with the same index and k (what the
server's HTTP, JSON and threading cost on top).

    python benchmarks/bench_serve.py --index idx/scifact --queries ../shared/data/scifact --split test

One JSON line per client count goes to ``--out`` (default benchmarks/results/serve.jsonl).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MAX_CLIENTS = 512
MAX_SECONDS = 120


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(index: str, port: int, workers: int, queue: int) -> subprocess.Popen:
    import httpx

    proc = subprocess.Popen([sys.executable, "-m", "winnow", "serve", "--index", index, "--host", "127.0.0.1",
                             "--port", str(port), "--workers", str(workers), "--queue", str(queue)],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start within 120 s")


def _load(base: str, texts: list[str], clients: int, seconds: float, k: int, pid: int) -> dict:
    import httpx

    stop = time.monotonic() + seconds
    latencies: list[list[float]] = [[] for _ in range(clients)]
    statuses: list[Counter] = [Counter() for _ in range(clients)]
    rss: list[tuple[float, float]] = []

    def client(c: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            i = c
            while time.monotonic() < stop:
                t = time.perf_counter()
                try:
                    code = http.get("/search", params={"q": texts[i % len(texts)], "k": k, "text": "false"}).status_code
                except httpx.HTTPError as exc:
                    code = type(exc).__name__
                latencies[c].append(time.perf_counter() - t)
                statuses[c][code] += 1
                i += clients

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        rss.append((time.monotonic() - t0, _rss_mb(pid)))
        time.sleep(0.5)
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    lat = np.concatenate([np.asarray(x) for x in latencies if x]) * 1e3
    total = sum(statuses, Counter())
    ok = total.get(200, 0)
    return {"clients": clients, "seconds": elapsed, "requests": int(sum(total.values())), "ok": ok,
            "qps": ok / elapsed, "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "statuses": {str(s): n for s, n in total.items()},
            "errors": int(sum(n for s, n in total.items() if s not in (200, 503))),
            "rejected_503": int(total.get(503, 0)),
            "rss_mb_start": rss[0][1], "rss_mb_end": rss[-1][1], "rss_mb_max": max(r for _, r in rss),
            "rss_mb_series": [(round(t, 1), round(r, 1)) for t, r in rss]}


def _in_process_qps(index_dir: str, queries: dict, k: int) -> float:
    from winnow.index import load

    index = load(index_dir, mmap=True)
    index.search(queries, k=k)  # warm
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        index.search(queries, k=k)
        best = min(best, time.perf_counter() - t)
    return len(queries) / best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", required=True, help="index directory to serve")
    ap.add_argument("--queries", required=True, help="queries file or dataset directory")
    ap.add_argument("--split", help="with a dataset directory: the judged queries of this split")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32, 128])
    ap.add_argument("--seconds", type=float, default=30.0, help=f"per client count (at most {MAX_SECONDS})")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--workers", type=int, default=4, help="server search threads")
    ap.add_argument("--queue", type=int, default=64, help="server queue before 503")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "serve.jsonl"))
    args = ap.parse_args(argv)
    if max(args.clients) > MAX_CLIENTS or args.seconds > MAX_SECONDS:
        raise SystemExit(f"at most {MAX_CLIENTS} clients and {MAX_SECONDS} s per point")
    from winnow.cli.common import load_queries

    queries = load_queries(args.queries, args.split)
    texts = list(queries.values())
    anchor = _in_process_qps(args.index, queries, args.k)
    port = _free_port()
    proc = _start_server(args.index, port, args.workers, args.queue)
    env = {"cpu": platform.processor() or platform.machine(), "n_cpus": os.cpu_count(),
           "python": platform.python_version(), "load_avg": os.getloadavg()[0],
           "git_sha": subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                                     text=True).stdout.strip()}
    try:
        with open(args.out, "a", encoding="utf-8") as out:
            for clients in args.clients:
                rec = _load(f"http://127.0.0.1:{port}", texts, clients, args.seconds, args.k, proc.pid)
                rec.update(bench="serve", index=args.index, k=args.k, workers=args.workers, queue=args.queue,
                           n_queries=len(texts), in_process_batch_qps=anchor,
                           server_over_in_process=rec["qps"] / anchor, env=env)
                out.write(json.dumps(rec) + "\n")
                print(f"{clients:4d} clients: {rec['qps']:8.0f} q/s (in-process batch {anchor:,.0f} q/s), "
                      f"p50 {rec['p50_ms']:.1f} ms, p99 {rec['p99_ms']:.1f} ms, errors {rec['errors']}, "
                      f"503 {rec['rejected_503']}, RSS {rec['rss_mb_start']:.0f} -> {rec['rss_mb_end']:.0f} MB "
                      f"(max {rec['rss_mb_max']:.0f})", file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait(60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
