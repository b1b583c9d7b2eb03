"""HNSW interop with faiss: ``IndexHNSWFlat`` to and from :class:`HNSWIndex` (float32 payload).

faiss's layout (faiss/impl/HNSW.h): ``levels[i]`` = number of levels of node i (top level + 1);
node i's neighbours on level l sit in ``neighbors[offsets[i] + cum[l] : offsets[i] + cum[l+1]]``
with ``cum = cum_nneighbor_per_level`` (2M slots on level 0, M above), unused slots -1;
``entry_point``, ``max_level``; the vectors in ``storage`` (an ``IndexFlat``). Winnow's layout is
csrc/core/dense/hnsw_graph.hpp: the same graph, stored as count + neighbours per block.

An imported graph is searched by Winnow's own algorithm (hnsw_search.hpp). With ``ef`` covering
the graph both return the exact top-k; at smaller ``ef`` faiss's bounded candidate queue can
stop a little earlier than Winnow's, so results agree up to that (measured in the tests).
"""
from __future__ import annotations

import numpy as np

from winnow import _core
from winnow.index.hnsw import HNSWIndex


def from_faiss_hnsw(faiss, index, metric: str, ids=None) -> HNSWIndex:
    """A Winnow HNSWIndex with the graph and vectors of a faiss ``IndexHNSWFlat``."""
    h = index.hnsw
    M = int(h.nb_neighbors(1))
    if int(h.nb_neighbors(0)) != 2 * M:
        raise ValueError(f"faiss HNSW with {h.nb_neighbors(0)} level-0 links and M={M}: Winnow needs 2M on level 0")
    n, d = int(index.ntotal), int(index.d)
    levels = faiss.vector_to_array(h.levels).astype(np.int64)  # top level + 1
    offsets = faiss.vector_to_array(h.offsets).astype(np.int64)
    neighbors = faiss.vector_to_array(h.neighbors)
    cum = faiss.vector_to_array(h.cum_nneighbor_per_level).astype(np.int64)
    vectors = faiss.rev_swig_ptr(faiss.downcast_index(index.storage).get_xb(), n * d).reshape(n, d).copy()

    links0 = np.zeros((n, 2 * M + 1), np.int32)
    block0 = neighbors[offsets[:-1, None] + np.arange(2 * M)[None, :]]  # (n, 2M), -1 = empty
    links0[:, 0] = (block0 >= 0).sum(axis=1)
    links0[:, 1:] = np.where(block0 >= 0, block0, 0)
    _check_packed(block0)
    upper_offsets = np.concatenate([[0], np.cumsum((levels - 1) * (M + 1))]).astype(np.int64)
    upper_links = np.zeros(int(upper_offsets[-1]), np.int32)
    for i in np.flatnonzero(levels > 1):
        for level in range(1, int(levels[i])):
            slots = neighbors[offsets[i] + cum[level]: offsets[i] + cum[level + 1]]
            block = slots[slots >= 0]
            at = int(upper_offsets[i]) + (level - 1) * (M + 1)
            upper_links[at] = len(block)
            upper_links[at + 1: at + 1 + len(block)] = block

    out = HNSWIndex(d, M=M, ef_construction=int(h.efConstruction), metric=metric)
    arrays = {"codes": vectors.view(np.uint8).reshape(n, 4 * d), "links0": links0, "upper_offsets": upper_offsets,
              "upper_links": upper_links, "deleted": np.zeros(n, np.uint8)}
    out._graph = _core.HnswGraph.from_arrays(d, metric, "float32", M, out.ef_construction, out.seed,
                                             int(h.entry_point) if n else -1, int(h.max_level) if n else -1, arrays)
    out.ids = np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids, np.int64)
    return out


def _check_packed(block0: np.ndarray) -> None:
    """faiss fills a block's slots from the front; a -1 before a neighbour would be a hole."""
    seen_empty = np.maximum.accumulate(block0 < 0, axis=1)
    if (seen_empty & (block0 >= 0)).any():
        raise ValueError("faiss HNSW neighbour lists with holes are not supported")


def to_faiss_hnsw(faiss, index: HNSWIndex):
    """A faiss ``IndexHNSWFlat`` (behind ``IndexIDMap`` for non-default ids) with this graph."""
    if index.payload != "float32":
        raise ValueError(f"faiss IndexHNSWFlat holds float32 vectors; this index stores {index.payload}")
    arrays = index._graph.arrays()
    if arrays["deleted"].any():
        raise ValueError("faiss HNSW has no deleted flags: this index has removed vectors")
    n, d, M = index._graph.n, index.d, index.M
    metric = faiss.METRIC_INNER_PRODUCT if index.metric == "ip" else faiss.METRIC_L2
    out = faiss.IndexHNSWFlat(d, M, metric)
    identity = np.array_equal(index.ids, np.arange(n))
    mapped = None if identity else faiss.IndexIDMap(out)  # faiss wants the wrapped index empty here
    h = out.hnsw
    h.efConstruction = index.ef_construction
    cum = faiss.vector_to_array(h.cum_nneighbor_per_level).astype(np.int64)
    upper_offsets = arrays["upper_offsets"]
    levels = np.diff(upper_offsets) // (M + 1) + 1  # faiss counts level 0 too
    if n and levels.max() >= len(cum):
        raise ValueError(f"faiss HNSW(M={M}) has room for {len(cum) - 1} levels, the graph has {levels.max()}")
    offsets = np.concatenate([[0], np.cumsum(cum[levels])]).astype(np.uint64)
    neighbors = np.full(int(offsets[-1]), -1, np.int32)
    links0 = arrays["links0"]
    for i in range(n):
        base = int(offsets[i])
        neighbors[base: base + links0[i, 0]] = links0[i, 1: 1 + links0[i, 0]]
        for level in range(1, int(levels[i])):
            at = int(upper_offsets[i]) + (level - 1) * (M + 1)
            count = int(arrays["upper_links"][at])
            start = base + int(cum[level])
            neighbors[start: start + count] = arrays["upper_links"][at + 1: at + 1 + count]
    faiss.copy_array_to_vector(levels.astype(np.int32), h.levels)
    faiss.copy_array_to_vector(offsets, h.offsets)
    faiss.copy_array_to_vector(neighbors, h.neighbors)
    h.entry_point = int(index._graph.entry)
    h.max_level = int(index._graph.max_level)
    vectors = np.ascontiguousarray(arrays["codes"]).view(np.float32).reshape(n, d)
    faiss.downcast_index(out.storage).add(vectors)
    out.ntotal = n
    if mapped is None:
        return out
    faiss.copy_array_to_vector(np.ascontiguousarray(index.ids), mapped.id_map)
    mapped.ntotal = n
    return mapped
