"""FAISS inner-product search over label vectors (flat = exact, HNSW = approximate), CPU or GPU."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.device import FAISS_GPU_MAX_K
from ..core.vectors import normalize
from ..errors import ZsclfError
from .meta import KINDS, IndexMeta

BLAS_THRESHOLD = 16  # faiss 1.15 defaults to 128000, i.e. never BLAS: ~6x slower batched search here


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


def stored_vectors(faiss_index) -> np.ndarray | None:
    """A [ntotal, d] view (no copy) of the vectors a flat or HNSW-flat index stores; None for other kinds."""
    import faiss

    flat = faiss.downcast_index(faiss_index.storage) if hasattr(faiss_index, "storage") else faiss_index
    if not hasattr(flat, "get_xb") or flat.ntotal == 0:
        return None
    return faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)


def all_finite(vectors: np.ndarray) -> bool:
    """No NaN or infinity in `vectors`. Column sums first (~3x faster than isfinite over every value on the 21K
    index): a sum is non-finite whenever a value is; only when a sum is (or overflowed) is every value looked at."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(vectors.sum(axis=0)).all()) or bool(np.isfinite(vectors).all())


@dataclass
class SearchResult:
    """Top-k scores and label rows for a batch of queries (row -1 = no result)."""

    scores: np.ndarray
    rows: np.ndarray


class LabelIndex:
    """A searchable set of label vectors with its labels and metadata."""

    def __init__(self, faiss_index, names: list[str], ids: list[str], meta: IndexMeta,
                 parents: list[str] | None = None) -> None:
        """`parents`: per label, the WNID a label that is not a synset belongs under ("" for none)."""
        self.faiss_index = faiss_index
        self.names = names
        self.ids = ids
        self.parents = parents or [""] * len(names)
        self.meta = meta
        self._gpu_index = None

    def __len__(self) -> int:
        return len(self.names)

    @property
    def dim(self) -> int:
        return self.meta.dim

    @classmethod
    def build(cls, vectors: np.ndarray, names: list[str], ids: list[str], meta: IndexMeta,
              normalise: bool = True, hnsw_m: int = 32, parents: list[str] | None = None) -> LabelIndex:
        """Build the FAISS index `meta.kind` names over `vectors` (L2-normalised first unless `normalise` is
        False, as for calibrated vectors); `meta.dim` and `meta.count` must describe them."""
        import faiss

        if meta.kind not in KINDS:
            raise ZsclfError(f"unknown index kind {meta.kind!r}: choose one of {', '.join(KINDS)}")
        vectors = normalize(vectors) if normalise else np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = vectors.shape
        if not (n == len(names) == len(ids) == meta.count) or dim != meta.dim:
            raise ValueError("vectors, names, ids and meta (count, dim) disagree")
        if not np.isfinite(vectors).all():
            raise ZsclfError("label vectors contain NaN or infinity; nothing was written")
        if meta.kind == "flat":
            index = faiss.IndexFlatIP(dim)
        else:
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 200
            index.hnsw.efSearch = 128
        index.add(vectors)
        return cls(index, list(names), list(ids), meta, list(parents) if parents else None)

    def to_gpu(self) -> bool:
        """Mirror the index on GPU 0 for search; False when FAISS has no GPU support."""
        import faiss

        if not hasattr(faiss, "StandardGpuResources") or self.meta.kind != "flat":
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
        if self._gpu_index is not None and k + len(exclude_rows) <= FAISS_GPU_MAX_K:
            return self._search_filtered(self._gpu_index, queries, k, exclude_rows)
        selector = faiss.IDSelectorNot(faiss.IDSelectorBatch(np.asarray(exclude_rows, dtype=np.int64)))
        params = (faiss.SearchParametersHNSW(sel=selector, efSearch=self.faiss_index.hnsw.efSearch)
                  if self.meta.kind == "hnsw" else faiss.SearchParameters(sel=selector))
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
        """All label vectors as a [count, dim] array (flat and HNSW indexes)."""
        return self.faiss_index.reconstruct_n(0, len(self))
