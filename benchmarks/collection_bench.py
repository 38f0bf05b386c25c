"""Photo-collection benchmark: first indexing vs `predict` on the same photos, a re-run with nothing changed,
search latency (whole process and through the library), bytes per photo.

    python benchmarks/collection_bench.py make /tmp/photos-10k 10000      # distinct re-encoded photos
    python benchmarks/collection_bench.py run /tmp/photos-10k [--rounds 2] [--queries 50]
    python benchmarks/collection_bench.py store [10000]     # SQLite float16/float32 vs a FAISS file

`make` re-encodes the shared photos (../shared/data) as JPEGs at two qualities (long side at most 1024 px)
so that every file is distinct; it writes only under the folder given (never into the repository).
`run` alternates predict and a fresh `zsclf photos` round by round (the machine is shared: compare runs
made back to back) and reports wall and CPU seconds of each; prints one JSON object.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ZSCLF_SHARED_DATA", ROOT.parent / "shared" / "data"))
ZSCLF = [sys.executable, "-m", "zsclf.cli"]
QUERIES = ["a dog on a beach", "a red car", "a bird on a branch", "a plate of food", "a yellow flower",
           "people playing football", "a cat sleeping", "a city street at night", "a boat on the water", "snow"]


def make(folder: Path, count: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    sources = sorted(p for sub in ("imagenet-sample", "birds50", "flowers12", "coco-captions", "photos")
                     for p in (SHARED / sub).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    jobs = [(p, folder / f"{i // 500:02d}" / f"{i:05d}_{v}.jpg", q)
            for i, p in enumerate(sources) for v, q in ((0, 90), (1, 80))][:count]

    def one(job):
        src, dst, quality = job
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            img = Image.open(src).convert("RGB")
            img.thumbnail((1024, 1024))
            img.save(dst, quality=quality)

    with ThreadPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(one, jobs))
    print(f"{len(jobs)} photos in {folder}")


def timed(args: list[str], **kwargs) -> dict:
    """Wall and CPU (user + sys) seconds of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(args, check=True, **kwargs)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}


def run(folder: Path, rounds: int, queries: int) -> dict:
    photos = sum(1 for _ in folder.rglob("*.jpg"))
    out: dict = {"photos": photos, "cores": len(os.sched_getaffinity(0)), "rounds": []}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "photos.db"
        for _ in range(rounds):
            for path in Path(tmp).glob("photos.db*"):
                path.unlink()
            predict = timed([*ZSCLF, "predict", str(folder), "-f", "jsonl"], stdout=subprocess.DEVNULL)
            index = timed([*ZSCLF, "photos", str(folder), "--db", str(db), "-q"], stderr=subprocess.DEVNULL)
            out["rounds"].append({"predict": predict, "photos": index,
                                  "wall_ratio": round(predict["wall_s"] / index["wall_s"], 3),
                                  "cpu_ratio": round(predict["cpu_s"] / index["cpu_s"], 3)})
        out["rerun_unchanged"] = [timed([*ZSCLF, "photos", str(folder), "--db", str(db), "-q"],
                                        stderr=subprocess.DEVNULL) for _ in range(3)]
        out["db_bytes"] = db.stat().st_size
        out["bytes_per_photo"] = round(db.stat().st_size / photos, 1)
        out["search_process"] = [timed([*ZSCLF, "search", q, "--db", str(db), "-k", "10"], stdout=subprocess.DEVNULL)
                                 for q in QUERIES[:5]]
        out["library"] = library_latency(db, queries)
    return out


def library_latency(db: Path, queries: int) -> dict:
    from zsclf.collection.collection import Collection

    start = time.perf_counter()
    collection = Collection.open(db)
    collection.search("warm up", k=10)  # loads the text encoder and the vectors
    loaded = time.perf_counter() - start
    times = []
    for i in range(queries):
        t = time.perf_counter()
        collection.search(QUERIES[i % len(QUERIES)] + f" {i}", k=10)
        times.append(time.perf_counter() - t)
    rank_times = []
    query = collection.query_vector("a dog on a beach")
    for _ in range(queries):
        t = time.perf_counter()
        collection.rank(query, 10)
        rank_times.append(time.perf_counter() - t)
    return {"open_and_first_query_s": round(loaded, 3), "per_query_ms_median": round(1e3 * statistics.median(times), 2),
            "per_query_ms_max": round(1e3 * max(times), 2),
            "rank_only_ms_median": round(1e3 * statistics.median(rank_times), 3)}


def store_comparison(n: int) -> dict:
    """Bytes per photo and the CPU time to open a collection and load all its vectors, for SQLite with
    float16 or float32 vectors and for a FAISS flat file (synthetic rows: only their sizes matter)."""
    import faiss
    import numpy as np

    from zsclf.collection.embedder import make_setup
    from zsclf.collection.store import PhotoStore

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    vectors = np.random.default_rng(0).standard_normal((n, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    out: dict = {"photos": n}
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in ("float16", "float32"):
            db = Path(tmp) / f"{dtype}.db"
            store = PhotoStore.open(db, setup=make_setup(dtype=dtype))
            with store.transaction():
                store.write((os.fsencode(f"/home/user/Pictures/2024/{i // 500:02d}/IMG_{i:05d}.jpg"), 2_000_000,
                             1_700_000_000_000_000_000 + i, os.urandom(32), blob, None)
                            for i, blob in enumerate(store.encode(vectors)))
            store.close()
            runs = []
            for _ in range(5):
                start = cpu()
                store = PhotoStore.open(db, check=False)
                store.load_vectors()
                store.close()
                runs.append(cpu() - start)
            out[f"sqlite_{dtype}"] = {"bytes_per_photo": round(db.stat().st_size / n, 1),
                                      "open_and_load_cpu_s": round(min(runs), 4)}
        index = faiss.IndexFlatIP(384)
        index.add(vectors)
        faiss.write_index(index, str(Path(tmp) / "v.faiss"))
        runs = []
        for _ in range(5):
            start = cpu()
            faiss.read_index(str(Path(tmp) / "v.faiss"))
            runs.append(cpu() - start)
        out["faiss_flat"] = {"bytes_per_photo": round((Path(tmp) / "v.faiss").stat().st_size / n, 1),
                             "read_cpu_s": round(min(runs), 4)}
    return out


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "make":
        make(Path(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "run":
        rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 1
        n = int(sys.argv[sys.argv.index("--queries") + 1]) if "--queries" in sys.argv else 50
        print(json.dumps(run(Path(sys.argv[2]), rounds, n), indent=1))
    elif len(sys.argv) >= 2 and sys.argv[1] == "store":
        print(json.dumps(store_comparison(int(sys.argv[2]) if len(sys.argv) > 2 else 10_000), indent=1))
    else:
        sys.exit(__doc__)
