"""`zsclf serve` latency and a short soak, over loopback only (issue 19).

    python benchmarks/serve_bench.py [--photos 10000] [--requests 100] [--clients 8] [--seconds 60]

Starts `zsclf serve` on a free 127.0.0.1 port with a collection made in a temporary folder: the photos of
tests/images embedded for real, then synthetic rows (their vectors plus noise, paths that are not files) up to
--photos, which is what search latency depends on (one pass over the vectors + one sentence embedding).
Measures warm `POST /v1/predict` (tests/images/chelsea.png) and `GET /v1/search` p50/p90 over --requests
sequential requests on one keep-alive connection, then --clients clients (half predict, half search) for
--seconds: requests, errors by status, the server's RSS before and after. Every loop is bounded in count
and time; the server is stopped at the end. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import select
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "tests" / "images"
ZSCLF = [sys.executable, "-m", "zsclf.cli"]
QUERIES = ["a dog on a beach", "a red car", "a cat sleeping", "a cup of coffee", "a yellow flower", "a rocket",
           "an old woman in uniform", "a city street at night", "a boat on the water", "snow"]


def make_collection(db: Path, photos: int) -> int:
    """The photos of tests/images, then synthetic rows up to `photos`; returns the row count."""
    subprocess.run([*ZSCLF, "photos", str(IMAGES), "--db", str(db), "-q"], check=True)
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT vector FROM photos WHERE vector IS NOT NULL").fetchall()
    dtype = np.float16 if len(rows[0][0]) == 384 * 2 else np.float32
    base = np.stack([np.frombuffer(r[0], dtype).astype(np.float32) for r in rows])
    rng = np.random.default_rng(0)
    extra = max(0, photos - len(base))
    vectors = base[rng.integers(0, len(base), extra)] + rng.normal(0, 0.05, (extra, base.shape[1]))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    conn.executemany("INSERT INTO photos (path, size, mtime_ns, sha256, vector, error, dev) VALUES (?,?,?,?,?,?,?)",
                     ((f"/synthetic/{i:06d}.jpg".encode(), 1, 0, os.urandom(32), v.astype(dtype).tobytes(), None,
                       None) for i, v in enumerate(vectors)))
    conn.commit()
    count = conn.execute("SELECT count(*) FROM photos").fetchone()[0]
    conn.close()
    return count


def start(db: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([*ZSCLF, "serve", "--db", str(db), "--port", "0", "--queue", "32"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if select.select([proc.stderr], [], [], 1)[0]:
            line = proc.stderr.readline()
            if "serving on " in line:
                threading.Thread(target=proc.stderr.read, daemon=True).start()
                return proc, int(line.split("serving on ")[1].split()[0].rstrip("/").rsplit(":", 1)[1])
    proc.kill()
    raise SystemExit("zsclf serve did not start")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Connection(http.client.HTTPConnection):
    """A keep-alive connection with Nagle off (as curl and browsers have it): without, a POST's body waits for
    the ACK of its headers, and every request pays the peer's delayed-ACK timer (~40 ms)."""

    def __init__(self, port: int) -> None:
        super().__init__("127.0.0.1", port, timeout=60)

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None) -> int:
    conn.request(method, path, body=body, headers={"Content-Type": "application/octet-stream"} if body else {})
    response = conn.getresponse()
    response.read()
    return response.status


def latency(port: int, method: str, paths: list[str], body: bytes | None, n: int) -> dict:
    conn = Connection(port)
    for path in paths[:3]:  # warm
        request(conn, method, path, body)
    times, statuses = [], set()
    for i in range(n):
        t = time.perf_counter()
        statuses.add(request(conn, method, paths[i % len(paths)], body))
        times.append((time.perf_counter() - t) * 1000)
    conn.close()
    times.sort()
    return {"p50_ms": round(statistics.median(times), 2), "p90_ms": round(times[int(0.9 * (n - 1))], 2),
            "n": n, "statuses": sorted(statuses)}


def soak(port: int, clients: int, seconds: float, photo: bytes) -> dict:
    stop = time.monotonic() + seconds
    counts: dict[str, int] = {}
    lock = threading.Lock()

    def client(i: int) -> None:
        conn = Connection(port)
        j = 0
        while time.monotonic() < stop:
            try:
                status = (request(conn, "POST", "/v1/predict", photo) if i % 2 == 0 else
                          request(conn, "GET", f"/v1/search?q={QUERIES[j % len(QUERIES)].replace(' ', '+')}&k=20"))
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
                conn.close()
                conn = Connection(port)
            with lock:
                counts[str(status)] = counts.get(str(status), 0) + 1
            j += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 120)
    elapsed = time.monotonic() - t
    return {"clients": clients, "seconds": round(elapsed, 1), "requests": sum(counts.values()),
            "per_second": round(sum(counts.values()) / elapsed, 1), "by_status": counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    args.requests, args.clients, args.seconds = min(args.requests, 2000), min(args.clients, 32), min(args.seconds, 600)
    photo = (IMAGES / "chelsea.png").read_bytes()
    with tempfile.TemporaryDirectory(prefix="zsclf-serve-bench-") as tmp:
        db = Path(tmp) / "photos.db"
        count = make_collection(db, args.photos)
        proc, port = start(db)
        try:
            out = {"photos": count, "rss_start_mb": round(rss_mb(proc.pid), 1)}
            out["predict"] = latency(port, "POST", ["/v1/predict"], photo, args.requests)
            out["search"] = latency(port, "GET", [f"/v1/search?q={q.replace(' ', '+')}&k=20" for q in QUERIES],
                                    None, args.requests)
            out["rss_before_soak_mb"] = round(rss_mb(proc.pid), 1)
            out["soak"] = soak(port, args.clients, args.seconds, photo)
            out["rss_after_soak_mb"] = round(rss_mb(proc.pid), 1)
        finally:
            proc.terminate()
            proc.wait(30)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
