"""Label indexes: FAISS inner-product search over L2-normalised label embeddings, saved as a folder.

    <index>/index.faiss   the FAISS index (flat = exact, or HNSW = approximate)
    <index>/labels.tsv    id, label (row i = FAISS id i)
    <index>/meta.json     format, encoder, dimension, metric, count, template, space, ...

Folders are written atomically (temp folder, then rename), and checked before FAISS reads them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .errors import ZsclfError

FORMAT_VERSION = 1
INDEX_FILE, LABELS_FILE, META_FILE = "index.faiss", "labels.tsv", "meta.json"
FLAT_HEADER_BYTES = 45  # IndexFlatIP file: fourcc + header + vector length, then n*d float32
BLAS_THRESHOLD = 16  # faiss 1.15 defaults to 128000, i.e. never BLAS: ~6x slower batched search here
KINDS = ("flat", "hnsw")


def configure_faiss(threads: int | None = None) -> None:
    """Set FAISS's BLAS threshold (batched search through GEMM) and, optionally, its OpenMP threads.

    In the predict pipeline FAISS gets one thread: a batch of 32 queries over 21,841 labels takes
    ~11 ms on one core, and idle-spinning OpenMP workers slowed the next ONNX Runtime batch
    (encode+search alternating: 247 ms with 2 FAISS threads vs 200 ms with 1, measured here).
    """
    import faiss

    faiss.cvar.distance_compute_blas_threshold = BLAS_THRESHOLD
    if threads:
        faiss.omp_set_num_threads(threads)


def normalize(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation (zero rows stay zero), float32 and C-contiguous."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


@dataclass
class SearchResult:
    """Top-k scores and label rows for a batch of queries (row -1 = no result)."""

    scores: np.ndarray
    rows: np.ndarray


class LabelIndex:
    """A searchable set of label embeddings with its labels and metadata."""

    def __init__(self, faiss_index, names: list[str], ids: list[str], meta: dict) -> None:
        self.faiss_index = faiss_index
        self.names = names
        self.ids = ids
        self.meta = meta
        self._gpu_index = None

    def __len__(self) -> int:
        return len(self.names)

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    # -- building -------------------------------------------------------------------------
    @classmethod
    def build(cls, embeddings: np.ndarray, names: list[str], ids: list[str], meta: dict,
              kind: str = "flat", hnsw_m: int = 32, normalise: bool = True) -> LabelIndex:
        """Build an exact (flat) or approximate (HNSW) inner-product index (over normalised embeddings
        unless `normalise` is False, as for calibrated vectors)."""
        import faiss

        if kind not in KINDS:
            raise ZsclfError(f"unknown index kind {kind!r}: choose one of {', '.join(KINDS)}")
        vectors = normalize(embeddings) if normalise else np.ascontiguousarray(embeddings, dtype=np.float32)
        n, dim = vectors.shape
        if n != len(names) or n != len(ids):
            raise ValueError("embeddings, names and ids must have the same length")
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        else:
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 200
            index.hnsw.efSearch = 128
        index.add(vectors)
        full_meta = {
            "format": FORMAT_VERSION,
            "kind": kind,
            "metric": "inner_product",
            "dim": dim,
            "count": n,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **meta,
        }
        return cls(index, list(names), list(ids), full_meta)

    # -- saving and loading ---------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write the index folder atomically: a temp folder beside it, then a rename."""
        import faiss

        folder = Path(folder)
        if folder.exists() and not (folder.is_dir() and (folder / META_FILE).is_file()):
            raise ZsclfError(f"{folder}: exists and is not a zsclf index; choose another --output")
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
        try:
            faiss.write_index(self.faiss_index, str(tmp / INDEX_FILE))
            with open(tmp / LABELS_FILE, "w", encoding="utf-8", newline="\n") as fh:
                fh.write("id\tlabel\n")
                for label_id, name in zip(self.ids, self.names, strict=True):
                    fh.write(f"{_clean(label_id)}\t{_clean(name)}\n")
            (tmp / META_FILE).write_text(json.dumps(self.meta, indent=2) + "\n")
            os.chmod(tmp, 0o755)
            _replace_dir(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> LabelIndex:
        """Load and validate an index folder; a damaged one raises ZsclfError, never crashes FAISS."""
        import faiss

        folder = Path(folder)
        meta = read_meta(folder)
        index_path = folder / INDEX_FILE
        _check_index_file(index_path, meta)
        try:
            index = faiss.read_index(str(index_path))
        except RuntimeError as exc:
            raise ZsclfError(f"{index_path}: corrupt FAISS index ({str(exc).splitlines()[0]}); rebuild it") from None
        if index.ntotal != meta["count"] or index.d != meta["dim"]:
            raise ZsclfError(f"{index_path}: holds {index.ntotal}x{index.d} vectors, meta.json says "
                             f"{meta['count']}x{meta['dim']}; rebuild it")
        ids, names = _read_labels(folder / LABELS_FILE)
        if len(names) != meta["count"]:
            raise ZsclfError(f"{folder / LABELS_FILE}: {len(names)} labels, meta.json says {meta['count']}; rebuild it")
        return cls(index, names, ids, meta)

    # -- searching ------------------------------------------------------------------------
    def to_gpu(self) -> bool:
        """Mirror the index on GPU 0 for search; False when FAISS has no GPU support."""
        import faiss

        if not hasattr(faiss, "StandardGpuResources") or self.meta["kind"] != "flat":
            return False  # HNSW has no GPU version: index_cpu_to_gpu would hand back a CPU copy
        self._gpu_resources = faiss.StandardGpuResources()
        self._gpu_index = faiss.index_cpu_to_gpu(self._gpu_resources, 0, self.faiss_index)
        return True

    def search(self, queries: np.ndarray, k: int, exclude_rows: np.ndarray | None = None) -> SearchResult:
        """Top-k labels by inner product for each (normalised) query, optionally never returning `exclude_rows`."""
        import faiss

        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = max(1, min(k, len(self) - (0 if exclude_rows is None else len(exclude_rows))))
        if exclude_rows is None or len(exclude_rows) == 0:
            index = self._gpu_index or self.faiss_index
            scores, rows = index.search(queries, k)
            return SearchResult(scores, rows)
        if self._gpu_index is not None and k + len(exclude_rows) <= 2048:
            return self._search_filtered(self._gpu_index, queries, k, exclude_rows)
        selector = faiss.IDSelectorNot(faiss.IDSelectorBatch(np.asarray(exclude_rows, dtype=np.int64)))
        params = (faiss.SearchParametersHNSW(sel=selector, efSearch=self.faiss_index.hnsw.efSearch)
                  if self.meta["kind"] == "hnsw" else faiss.SearchParameters(sel=selector))
        scores, rows = self.faiss_index.search(queries, k, params=params)
        return SearchResult(scores, rows)

    @staticmethod
    def _search_filtered(index, queries: np.ndarray, k: int, exclude_rows: np.ndarray) -> SearchResult:
        """Over-fetch and drop excluded rows (GPU indexes take no ID selectors)."""
        scores, rows = index.search(queries, k + len(exclude_rows))
        keep = ~np.isin(rows, exclude_rows)
        out_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        out_rows = np.full((len(queries), k), -1, dtype=np.int64)
        for q in range(len(queries)):
            kept = np.flatnonzero(keep[q])[:k]
            out_scores[q, :len(kept)] = scores[q, kept]
            out_rows[q, :len(kept)] = rows[q, kept]
        return SearchResult(out_scores, out_rows)

    def vectors(self) -> np.ndarray:
        """All label embeddings as a [count, dim] array (flat and HNSW indexes)."""
        return self.faiss_index.reconstruct_n(0, len(self))


def _clean(value: str) -> str:
    return value.replace("\t", " ").replace("\n", " ").replace("\r", " ")


def _replace_dir(new: Path, target: Path) -> None:
    """Put `new` in place of `target`; an existing target is swapped out, then deleted."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{int(time.time() * 1000)}")
        os.replace(target, old)
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)


def read_meta(folder: Path) -> dict:
    """meta.json of an index folder, with a clear error when it is missing or damaged."""
    meta_path = folder / META_FILE
    if not folder.is_dir():
        raise ZsclfError(f"{folder}: no index there (build one with `zsclf build-index LABELS -o {folder}`)")
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise ZsclfError(f"{folder}: not a zsclf index (no {META_FILE})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ZsclfError(f"{meta_path}: damaged ({exc}); rebuild the index") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        raise ZsclfError(f"{meta_path}: index format {meta.get('format') if isinstance(meta, dict) else '?'} "
                         f"is not {FORMAT_VERSION}; rebuild the index with this zsclf")
    types = {"kind": str, "dim": int, "count": int, "metric": str, "text_encoder": dict, "space": str}
    wrong = [key for key, kind in types.items() if not isinstance(meta.get(key), kind)]
    if wrong or not isinstance(meta["text_encoder"].get("sha256"), str):
        raise ZsclfError(f"{meta_path}: missing or malformed {', '.join(wrong) or 'text_encoder'}; rebuild the index")
    return meta


def _check_index_file(path: Path, meta: dict) -> None:
    """Cheap checks before FAISS parses the file (FAISS can abort on some damaged inputs)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except FileNotFoundError:
        raise ZsclfError(f"{path}: missing; rebuild the index") from None
    expected_magic = {"flat": b"IxFI", "hnsw": b"IHNf"}.get(meta["kind"])
    if magic != expected_magic:
        raise ZsclfError(f"{path}: not a FAISS {meta['kind']} index (header {magic!r}); rebuild it")
    if meta["kind"] == "flat":
        expected = FLAT_HEADER_BYTES + 4 * int(meta["count"]) * int(meta["dim"])
        if size != expected:
            raise ZsclfError(f"{path}: {size} bytes, expected {expected} for {meta['count']}x{meta['dim']} "
                             "(truncated or corrupt); rebuild it")


def _read_labels(path: Path) -> tuple[list[str], list[str]]:
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise ZsclfError(f"{path}: missing; rebuild the index") from None
    if lines and lines[-1] == "":
        lines.pop()
    ids, names = [], []
    for line in lines[1:]:
        label_id, _, name = line.partition("\t")
        ids.append(label_id)
        names.append(name)
    return ids, names
