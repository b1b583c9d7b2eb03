"""``HNSWIndex``: a hierarchical navigable small-world graph (Malkov & Yashunin, TPAMI 2018)
for fast approximate search at high recall.

The graph lives in the C++ core (csrc/core/dense/hnsw_graph.hpp documents its arrays). Vectors
are stored as float32, float16 or SQ8 (one byte per dimension, per-dimension ranges trained on
the first ``add``); ``refine=True`` also keeps float32 copies to re-score the best candidates
exactly. Saved indexes are ordinary Winnow index directories (checked, checksummed,
memory-mappable).
"""
from __future__ import annotations

import numpy as np

from winnow import _core
from winnow.errors import IndexFormatError
from winnow.index.dense_base import DenseIndex, as_vectors
from winnow.index.flat import _new_ids
from winnow.index.format import register_format
from winnow.limits import check_k, check_threads

PAYLOADS = ("float32", "float16", "sq8")
ADD_BATCH = 20_000  # rows per core call: progress and Ctrl-C between batches (same graph as one call)


@register_format("winnow.hnsw")
class HNSWIndex(DenseIndex):
    """HNSW graph over vectors (n, d).

    ``M`` links per node and level (2 M on level 0), ``ef_construction`` candidates per insert,
    ``metric`` ``ip`` or ``l2`` (L2 scores are negative squared distances), ``payload``
    ``float32`` | ``float16`` | ``sq8``, ``refine`` keeps float32 vectors for exact re-scoring,
    ``seed`` fixes the node levels.

    Determinism: with ``threads=1`` the graph (and so every result) is a function of the seed,
    the vectors and their order. With more threads, nodes of one ``add`` are inserted
    concurrently, so a node's neighbours depend on the thread interleaving and results may
    differ slightly between runs; levels, codes and all invariants do not.

    Search: ``ef`` is the size of the result list the graph search keeps (raised to ``k``); higher
    is slower and more exact. ``removed`` ids never appear but still route searches; an
    ``allow`` list restricts results to those ids.

    Reachability: the neighbour heuristic can leave a node without in-links (hnswlib and faiss
    build the same way). It happens most with inner product over vectors of very different norms
    (normalise embeddings, or use ``l2``); on unit-norm embeddings none of 50,000 nodes was
    stranded (benchmarks/README.md). A stranded node is still returned when the search enters
    level 0 near it, never otherwise.
    """

    FORMAT = "winnow.hnsw"

    def __init__(self, d: int, M: int = 16, ef_construction: int = 100, metric: str = "ip",
                 payload: str = "float32", refine: bool = False, model: str | None = None, seed: int = 100):
        super().__init__(d, metric, model)
        if payload not in PAYLOADS:
            raise ValueError(f"unknown payload '{payload}' (expected one of {PAYLOADS})")
        if not 2 <= int(M) <= 512:
            raise ValueError(f"M must be in [2, 512], got {M}")
        if int(ef_construction) < 1:
            raise ValueError(f"ef_construction must be >= 1, got {ef_construction}")
        self.M, self.ef_construction, self.payload = int(M), int(ef_construction), payload
        self.refine, self.seed = bool(refine), int(seed)
        self.ids = np.zeros(0, np.int64)
        self._graph = _core.HnswGraph(self.d, self.metric, payload, self.refine, self.M, self.ef_construction,
                                      self.seed)

    @property
    def n_docs(self) -> int:
        """Number of searchable (not removed) vectors."""
        return int(len(self.ids)) - self._graph.n_deleted

    def add(self, vectors, ids=None, threads: int = 1, progress: bool | None = None) -> None:
        """Insert vectors (n, d); ``ids`` (n,) int64, default continuing 0, 1, ...

        ``threads`` inserts concurrently (0 = all cores; see the class docstring on
        determinism). ``progress`` shows a bar (default: for more than 100,000 rows)."""
        x = as_vectors(vectors, self.d)
        threads = check_threads(threads)
        new_ids = _new_ids(ids, len(x), self.ids)
        show = len(x) > 100_000 if progress is None else progress
        from tqdm import tqdm

        if not self._graph.trained:  # SQ8 ranges from every vector of this add, not its first batch
            self._graph.train(x)
        self._graph.reserve(len(x))  # the batches below then never reallocate the arrays
        done = 0
        try:
            with tqdm(total=len(x), unit="vec", desc="HNSW add", disable=not show) as bar:
                for a in range(0, len(x), ADD_BATCH):
                    batch = x[a:a + ADD_BATCH]
                    self._graph.add(batch, threads)
                    done += len(batch)
                    bar.update(len(batch))
        finally:  # interrupted or not, ids cover exactly the rows the graph holds (one copy, not one a batch)
            self.ids = np.concatenate([self.ids, new_ids[:done]])

    def train(self, vectors) -> None:
        """SQ8 payload: per-dimension ranges (min, max) from ``vectors`` (n, d), before the first
        ``add``; without it the first ``add`` trains on all its vectors. Callers that add block by
        block (the CLI) train on a sample first. float32/float16 need no training (a no-op)."""
        self._graph.train(as_vectors(vectors, self.d))

    def remove(self, ids) -> int:
        """Remove the vectors with these ids (unknown ids are ignored); returns how many were
        removed now. Removed nodes still route searches, as in hnswlib."""
        rows = np.flatnonzero(np.isin(self.ids, np.asarray(ids, dtype=np.int64)))
        return int(self._graph.remove_rows(rows.astype(np.int64)))

    def search_vectors(self, x, k: int = 10, ef: int = 64, threads: int = 1, refine_k: int | None = None,
                       allow=None) -> tuple[np.ndarray, np.ndarray]:
        """(scores (nq, kc) float32, ids (nq, kc) int64), kc = min(k, n_docs), best first, for
        query vectors x (nq, d); ``ef`` >= 1 (raised to k), ``refine_k`` candidates re-scored
        exactly (default: ef when the index keeps float32 vectors), ``allow`` ids to keep.

        One query per call is the common case here, so a C-contiguous float32 (nq, d) array
        goes to the core as it is: the core checks its shape and that it is finite."""
        k = check_k(k, self.n_docs)
        if threads != 1:
            threads = check_threads(threads)
        if not (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.ndim == 2 and x.flags.c_contiguous):
            x = as_vectors(x, self.d, "query vectors")
        return self._search(x, k, ef, threads, refine_k, allow)

    def _search(self, x, k, ef: int = 64, threads: int = 1, refine_k: int | None = None, allow=None):
        if int(ef) < 1:
            raise ValueError(f"ef must be >= 1, got {ef}")
        if refine_k is None:
            refine_k = max(int(ef), k) if self.refine else 0
        elif int(refine_k) < 0:
            raise ValueError(f"refine_k must be >= 0, got {refine_k}")
        elif refine_k and not self.refine:
            raise ValueError("refine_k needs an index built with refine=True (stored float32 vectors)")
        mask = None
        if allow is not None:
            mask = np.isin(self.ids, np.asarray(allow, dtype=np.int64)).astype(np.uint8)
        scores, out = self._graph.search(x, k, int(ef), int(refine_k), mask, threads, self.ids)
        if out.shape[1] < k:  # more rows removed than k allows: pad to the requested width
            pad = k - out.shape[1]
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
            out = np.pad(out, ((0, 0), (0, pad)), constant_values=-1)
        return scores, out

    def reconstruct(self, ids) -> np.ndarray:
        """The stored vectors of ``ids`` (m, d) as float32 (decoded for float16 / SQ8 payloads)."""
        from winnow.index.flat import _rows_of

        rows = _rows_of(self.ids, ids)
        arrays = self._graph.arrays()
        if "refine" in arrays:
            return arrays["refine"][rows]
        codes = arrays["codes"][rows]
        if self.payload == "float32":
            return codes.view(np.float32).reshape(len(rows), self.d)
        if self.payload == "float16":
            return codes.view(np.float16).reshape(len(rows), self.d).astype(np.float32)
        steps = (codes.astype(np.float32) + 0.5) / 255.0  # the SQ8 decode of scalar_quantizer.hpp
        return arrays["sq_vmin"] + steps * arrays["sq_vdiff"]

    # -- files ---------------------------------------------------------------------------------
    def _params(self) -> dict:
        return {**super()._params(), "M": self.M, "ef_construction": self.ef_construction, "payload": self.payload,
                "refine": self.refine, "seed": self.seed, "entry": int(self._graph.entry),
                "max_level": int(self._graph.max_level)}

    def _arrays(self):
        return {**self._graph.arrays(), "ids": self.ids}

    @classmethod
    def _from_arrays(cls, params, arrays):
        index = cls(params["d"], params["M"], params["ef_construction"], params["metric"], params["payload"],
                    bool(params["refine"]), params.get("model"), params["seed"])
        if bool(params["refine"]) != ("refine" in arrays):
            raise IndexFormatError("refine flag and refine.npy disagree")
        graph_arrays = {name: a for name, a in arrays.items() if name not in ("ids", "docno_bytes", "docno_offsets")}
        index._graph = _core.HnswGraph.from_arrays(index.d, index.metric, index.payload, index.M,
                                                   index.ef_construction, index.seed, int(params["entry"]),
                                                   int(params["max_level"]), graph_arrays)
        index.ids = arrays["ids"]
        if len(index.ids) != index._graph.n:
            raise IndexFormatError(f"ids.npy has {len(index.ids)} entries for a graph of {index._graph.n} nodes")
        return index

    @property
    def levels(self) -> list[int]:
        """Number of nodes whose top level is 0, 1, 2, ..."""
        return list(self._graph.level_counts)

    def __repr__(self) -> str:
        return (f"HNSWIndex(d={self.d}, M={self.M}, ef_construction={self.ef_construction}, metric={self.metric!r}, "
                f"payload={self.payload!r}, refine={self.refine}, n_docs={self.n_docs})")
