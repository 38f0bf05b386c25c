"""The label hierarchy for hedged answers: every label and all its WordNet ancestors, as a sparse
label -> ancestor-or-self matrix (CSR arrays), with per-node label counts, depths and information gain.

* A label whose id is a WNID the hypernym graph knows gets that synset and all its ancestors.
* A label without a WNID (or with an id the graph does not know) is a node of its own ("#<row>"); if
  it names a `parent` WNID, it also gets that synset and its ancestors (e.g. a photo-taught species
  under "warbler"), else it only stands for itself.
* Two labels with the same WNID share one node.

Information gain of node v (Deng et al. 2012): log2(N) - log2(#labels under v), N the number of
labels. Depth: the shortest hypernym path up to the root "entity" (depth 0); a label without a WNID
is one below its parent (0 without one). Per batch, summing label probabilities up the DAG is one
sparse product (`node_mass`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

Graph = Mapping[str, Sequence[str]]


def _fold_up(wnid: str, hypernyms: Graph, memo: dict, combine: Callable[[str, list], object]):
    """Post-order over the hypernym DAG, iteratively: memo[node] = combine(node, [memo[parent], ...])."""
    stack = [wnid]
    while stack:
        node = stack[-1]
        if node in memo:
            stack.pop()
            continue
        parents = [p for p in hypernyms.get(node, ()) if p and p != node]
        missing = [p for p in parents if p not in memo]
        if missing:
            stack.extend(missing)
            continue
        memo[node] = combine(node, [memo[p] for p in parents])
        stack.pop()
    return memo[wnid]


def ancestor_closure(wnid: str, hypernyms: Graph, memo: dict[str, frozenset[str]] | None = None) -> frozenset[str]:
    """All ancestors of `wnid` in the hypernym DAG, `wnid` included (`memo` caches closures across calls). An id
    the graph does not know yields {wnid}."""
    return _fold_up(wnid, hypernyms, {} if memo is None else memo, lambda node, ups: frozenset({node}.union(*ups)))


def min_depth(wnid: str, hypernyms: Graph, memo: dict[str, int]) -> int:
    """Length of the shortest hypernym path from `wnid` up to a root (a root has depth 0)."""
    return _fold_up(wnid, hypernyms, memo, lambda node, ups: 1 + min(ups) if ups else 0)


@dataclass
class Hierarchy:
    """Labels, DAG nodes and the CSR label -> ancestor-or-self node matrix.

    nodes: node keys (WNIDs; a label without a known WNID is "#<row>"); label_node [N]: each label's own
    node; indptr, indices: CSR rows of the [N, M] 0/1 matrix A, A[i, v] = 1 iff v is label i's node or
    one of its ancestors; under [M]: labels under (or at) each node; depth [M]; node_label [M]: the first
    label row whose own node is v, -1 for ancestor-only nodes.
    """

    nodes: Sequence[str]
    label_node: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    under: np.ndarray
    depth: np.ndarray
    node_label: np.ndarray
    _lookup: dict[str, int] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(cls, label_ids: Sequence[str], hypernyms: Graph, parents: Sequence[str] | None = None) -> Hierarchy:
        """From label ids (WNIDs or anything else), a WNID -> parent WNIDs graph and, optionally, a parent
        WNID per label (for labels that are not synsets)."""
        memo: dict[str, frozenset[str]] = {}
        depth_memo: dict[str, int] = {}
        node_index: dict[str, int] = {}
        nodes: list[str] = []
        depths: list[int] = []

        def node_of(key: str, depth: int) -> int:
            if key not in node_index:
                node_index[key] = len(nodes)
                nodes.append(key)
                depths.append(depth)
            return node_index[key]

        indptr, indices = [0], []
        label_node = np.empty(len(label_ids), dtype=np.int64)
        for row, label_id in enumerate(label_ids):
            parent = parents[row] if parents is not None else ""
            if label_id and label_id in hypernyms:
                own_key, up = label_id, ancestor_closure(label_id, hypernyms, memo) - {label_id}
                own_depth = min_depth(label_id, hypernyms, depth_memo)
            else:
                own_key = f"#{row}"
                up = ancestor_closure(parent, hypernyms, memo) if parent and parent in hypernyms else frozenset()
                own_depth = min_depth(parent, hypernyms, depth_memo) + 1 if up else 0
            own = node_of(own_key, own_depth)
            label_node[row] = own
            cols = {own} | {node_of(a, min_depth(a, hypernyms, depth_memo)) for a in up}
            indices.extend(sorted(cols))
            indptr.append(len(indices))
        ind = np.asarray(indices, dtype=np.int64)
        under = np.bincount(ind, minlength=len(nodes)).astype(np.int64)
        node_label = np.full(len(nodes), -1, dtype=np.int64)
        for row in range(len(label_ids) - 1, -1, -1):
            node_label[label_node[row]] = row
        return cls(nodes, label_node, np.asarray(indptr, dtype=np.int64), ind, under,
                   np.asarray(depths, dtype=np.int64), node_label)

    @property
    def n_labels(self) -> int:
        return len(self.label_node)

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def info_gain(self) -> np.ndarray:
        """[M] log2(N) - log2(#labels under v): 0 at a node covering every label."""
        return np.log2(self.n_labels) - np.log2(np.maximum(self.under, 1))

    def node_id(self, key: str) -> int:
        """Node index of a WNID (or "#row"); -1 when it is not in the hierarchy."""
        if self._lookup is None:
            self._lookup = {k: i for i, k in enumerate(self.nodes)}
        return self._lookup.get(key, -1)

    def _gather(self, flat_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CSR columns of many labels at once: (position in flat_rows [E], node [E]) per label ancestor."""
        starts = self.indptr[flat_rows]
        counts = self.indptr[flat_rows + 1] - starts
        offsets = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        return np.repeat(np.arange(len(flat_rows)), counts), self.indices[offsets]

    def node_mass(self, probs: np.ndarray, rows: np.ndarray | None = None, min_prob: float = 0.0) -> np.ndarray:
        """[B, M] probability of every node: the sum of the probabilities of the labels under it.

        probs: [B, N] over all labels, or [B, K] over the label rows `rows` [B, K] (rows < 0 are ignored).
        A label adds its probability once to each ancestor-or-self node, however many paths lead up.
        Entries <= `min_prob` are skipped (a speed-up; node masses drop by at most their sum).
        """
        probs = np.asarray(probs, dtype=np.float64)
        b, k = probs.shape
        rows = np.broadcast_to(np.arange(k), probs.shape) if rows is None else np.asarray(rows, dtype=np.int64)
        keep = np.flatnonzero(((rows >= 0) & (probs > min_prob)).ravel())
        pair, cols = self._gather(rows.ravel()[keep])
        image = keep[pair] // k
        out = np.bincount(image * self.n_nodes + cols, weights=probs.ravel()[keep][pair], minlength=b * self.n_nodes)
        return out.reshape(b, self.n_nodes)

    def truth_node(self, wnid: str, hypernyms: Graph, memo: dict[str, frozenset[str]] | None = None) -> int:
        """The most specific node that is `wnid` or one of its ancestors (fewest labels under it), -1 if
        none: what a photo of `wnid` counts as when the hierarchy lacks `wnid` itself."""
        if (own := self.node_id(wnid)) >= 0:
            return own
        found = [i for i in (self.node_id(a) for a in ancestor_closure(wnid, hypernyms, memo)) if i >= 0]
        return min(found, key=lambda i: (self.under[i], self.nodes[i])) if found else -1

    def under_node(self, rows: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """[B, K] bool: label rows[b, k] lies under (or is) node nodes[b] (rows < 0 and nodes < 0: False)."""
        rows = np.asarray(rows, dtype=np.int64)
        nodes = np.asarray(nodes, dtype=np.int64)
        b, k = rows.shape
        pair, cols = self._gather(np.where(rows >= 0, rows, 0).ravel())
        hit = np.bincount(pair, weights=cols == nodes[pair // k], minlength=b * k) > 0
        return hit.reshape(b, k) & (rows >= 0) & (nodes[:, None] >= 0)

    def node_ancestors(self, node: int, hypernyms: Graph, memo: dict[str, frozenset[str]] | None = None) -> set[int]:
        """Nodes that are `node` or one of its ancestors."""
        label = self.node_label[node]
        if label >= 0:
            return set(self.indices[self.indptr[label]:self.indptr[label + 1]].tolist())
        found = (self.node_id(a) for a in ancestor_closure(self.nodes[node], hypernyms, memo))
        return {i for i in found if i >= 0}

    def correct_nodes(self, key: str, hypernyms: Graph, memo: dict[str, frozenset[str]] | None = None) -> set[int]:
        """The right hedged answers for a photo whose truth is `key` (a WNID, or "#row" for a label without
        one): its node and that node's ancestors; for a WNID the hierarchy lacks, its ancestors that it has."""
        if (own := self.node_id(key)) >= 0:
            return self.node_ancestors(own, hypernyms, memo)
        found = (self.node_id(a) for a in ancestor_closure(key, hypernyms, memo))
        return {i for i in found if i >= 0}
