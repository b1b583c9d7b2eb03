"""Interop with faiss: import ``IndexFlat``, ``IndexPQ``, ``IndexIVFPQ`` (optionally behind an
OPQ ``IndexPreTransform``, or in an ``IndexIDMap``), ``IndexScalarQuantizer`` and
``IndexIVFScalarQuantizer`` (QT_8bit and QT_fp16: "SQ8", "SQfp16", "IVFn,SQ8", "IVFn,SQfp16") and
``IndexHNSWFlat`` (index/faiss_hnsw.py) as Winnow indexes, and export them back, copying
codebooks, SQ ranges, codes, graphs, ids and lists so users can move indexes both ways.

faiss is the ``bench`` extra, imported only here. Layout notes: faiss stores PQ centroids
as (M, ksub, dsub) and 4-bit codes two per byte, low nibble first — the same as Winnow;
an OPQ matrix A maps x to A x, Winnow's rotation R maps x to x R, so R = A^T. faiss's SQ
``trained`` vector is [vmin (d), vdiff (d)] for QT_8bit (empty for QT_fp16), Winnow's
sq_vmin / sq_vdiff; the codes are the same bytes. Refine vectors are not exported.
"""
from __future__ import annotations

import numpy as np

from winnow.index.flat import FlatIndex
from winnow.index.ivf import IVFIndex
from winnow.index.pq_index import PQIndex


def _faiss():
    try:
        import faiss
    except ImportError:
        raise ImportError("faiss interop needs faiss-cpu: pip install 'winnow[bench]'") from None
    return faiss


def _metric(faiss, index) -> str:
    if index.metric_type == faiss.METRIC_INNER_PRODUCT:
        return "ip"
    if index.metric_type == faiss.METRIC_L2:
        return "l2"
    raise ValueError(f"unsupported faiss metric type {index.metric_type} (Winnow has ip and l2)")


def _pq_centroids(faiss, pq) -> np.ndarray:
    return faiss.vector_to_array(pq.centroids).astype(np.float32).reshape(pq.M, pq.ksub, pq.dsub)


def _sq_payload(faiss, sq) -> str:
    if sq.qtype == faiss.ScalarQuantizer.QT_8bit:
        return "sq8"
    if sq.qtype == faiss.ScalarQuantizer.QT_fp16:
        return "float16"
    raise ValueError(f"unsupported faiss scalar quantizer type {sq.qtype} (supported: QT_8bit, QT_fp16)")


def _set_sq_ranges(faiss, sq, out_sq) -> None:
    """Copy faiss's QT_8bit ranges into a Winnow ScalarQuantizer (float16 has none)."""
    if out_sq.codec == "sq8":
        trained = faiss.vector_to_array(sq.trained).astype(np.float32)
        d = out_sq.d
        if trained.shape != (2 * d,):
            raise ValueError(f"faiss QT_8bit ranges have {trained.size} values, expected 2 d = {2 * d}")
        out_sq.set_ranges(np.ascontiguousarray(trained[:d]), np.ascontiguousarray(trained[d:]))


def _faiss_sq(faiss, index, faiss_index) -> None:
    """Copy a Winnow index's SQ8 ranges into ``faiss_index.sq`` (float16 has none)."""
    if index.payload == "sq8":
        ranges = np.concatenate([index.sq.vmin, index.sq.vdiff]).astype(np.float32)
        faiss.copy_array_to_vector(ranges, faiss_index.sq.trained)


def _faiss_qtype(faiss, payload: str):
    return faiss.ScalarQuantizer.QT_8bit if payload == "sq8" else faiss.ScalarQuantizer.QT_fp16


def _ivf_lists(faiss, index):
    """(list numbers, ids, codes) of every row of a faiss IVF index, list by list."""
    invlists = index.invlists
    lists, all_ids, all_codes = [], [], []
    for l in range(index.nlist):
        size = invlists.list_size(l)
        if size == 0:
            continue
        lists.append(np.full(size, l, np.int64))
        all_ids.append(faiss.rev_swig_ptr(invlists.get_ids(l), size).copy().astype(np.int64))
        codes = faiss.rev_swig_ptr(invlists.get_codes(l), size * invlists.code_size).copy()
        all_codes.append(codes.reshape(size, invlists.code_size))
    return lists, all_ids, all_codes


def from_faiss(index):
    """A Winnow index equal to the faiss ``index`` (searches give faiss's results)."""
    faiss = _faiss()
    ids = None
    rotation = None
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexIDMap):
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        index = faiss.downcast_index(index.index)
    if isinstance(index, faiss.IndexPreTransform):
        if index.chain.size() != 1:
            raise ValueError("only a single OPQ/linear transform before the index is supported")
        vt = faiss.downcast_VectorTransform(index.chain.at(0))
        if not isinstance(vt, faiss.LinearTransform) or vt.d_in != vt.d_out or vt.have_bias:
            raise ValueError("only square, bias-free linear transforms (OPQ, rotations) are supported")
        a = faiss.vector_to_array(vt.A).astype(np.float32).reshape(vt.d_out, vt.d_in)
        rotation = np.ascontiguousarray(a.T)
        index = faiss.downcast_index(index.index)
    n, d = index.ntotal, index.d
    metric = _metric(faiss, index)
    if isinstance(index, faiss.IndexHNSWFlat):
        if rotation is not None:
            raise ValueError("a transform before IndexHNSWFlat is not supported")
        from winnow.index.faiss_hnsw import from_faiss_hnsw

        return from_faiss_hnsw(faiss, index, metric, ids)
    if isinstance(index, faiss.IndexScalarQuantizer):
        if rotation is not None:
            raise ValueError("a transform before IndexScalarQuantizer is not supported")
        out = FlatIndex(d, metric, payload=_sq_payload(faiss, index.sq))
        _set_sq_ranges(faiss, index.sq, out.sq)
        out.codes = faiss.vector_to_array(index.codes).reshape(n, index.code_size)
        out.ids = ids if ids is not None else np.arange(n, dtype=np.int64)
        return out
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        if ids is not None:
            raise ValueError("IndexIDMap around an IVF index is not supported (IVF stores ids itself)")
        if rotation is not None:
            raise ValueError("a transform before IndexIVFScalarQuantizer is not supported")
        out = IVFIndex(d, index.nlist, _sq_payload(faiss, index.sq), metric=metric, residual=bool(index.by_residual))
        out.set_quantizers(index.quantizer.reconstruct_n(0, index.nlist).astype(np.float32))
        _set_sq_ranges(faiss, index.sq, out.sq)
        lists, all_ids, all_codes = _ivf_lists(faiss, index)
        if lists:
            out._rebuild(np.concatenate(lists), np.concatenate(all_ids), np.concatenate(all_codes), None)
        return out
    if isinstance(index, faiss.IndexFlat):
        if rotation is not None:
            raise ValueError("a transform before IndexFlat is not supported")
        out = FlatIndex(d, metric)
        vectors = faiss.vector_to_array(index.codes).view(np.float32).reshape(n, d)
        out.add(vectors, ids)
        return out
    if isinstance(index, faiss.IndexPQ):
        pq = index.pq
        out = PQIndex(d, pq.M, pq.nbits, metric, rotation=rotation)
        out.set_codebooks(_pq_centroids(faiss, pq))
        codes = faiss.vector_to_array(index.codes).reshape(n, pq.code_size)
        out.add_codes(codes, ids if ids is not None else np.arange(n, dtype=np.int64))
        return out
    if isinstance(index, faiss.IndexIVFPQ):
        if ids is not None:
            raise ValueError("IndexIDMap around an IVF index is not supported (IVF stores ids itself)")
        pq = index.pq
        payload = "pq"
        out = IVFIndex(d, index.nlist, payload, pq.M, pq.nbits, metric, residual=bool(index.by_residual))
        centroids = index.quantizer.reconstruct_n(0, index.nlist).astype(np.float32)
        out.set_quantizers(centroids, _pq_centroids(faiss, pq), rotation)
        lists, all_ids, all_codes = _ivf_lists(faiss, index)
        if lists:
            out._rebuild(np.concatenate(lists), np.concatenate(all_ids), np.concatenate(all_codes), None)
        return out
    raise ValueError(f"unsupported faiss index type {type(index).__name__} "
                     "(supported: IndexFlat, IndexPQ, IndexIVFPQ, IndexHNSWFlat, with OPQ or IndexIDMap; "
                     "IndexScalarQuantizer, IndexIVFScalarQuantizer with QT_8bit or QT_fp16)")


def to_faiss(index):
    """A faiss index equal to the Winnow ``index`` (Flat with any payload, PQ, or IVF with PQ,
    fast-scan, SQ8 or float16 payload)."""
    faiss = _faiss()
    metric = faiss.METRIC_INNER_PRODUCT if index.metric == "ip" else faiss.METRIC_L2
    d = index.d
    from winnow.index.hnsw import HNSWIndex

    if isinstance(index, HNSWIndex):
        from winnow.index.faiss_hnsw import to_faiss_hnsw

        return to_faiss_hnsw(faiss, index)
    if isinstance(index, FlatIndex) and index.sq is not None:
        out = faiss.IndexScalarQuantizer(d, _faiss_qtype(faiss, index.payload), metric)
        _faiss_sq(faiss, index, out)
        out.is_trained = True
        return _with_codes(faiss, out, index.codes, index.ids)
    if isinstance(index, IVFIndex) and index.sq is not None:
        quantizer = faiss.IndexFlat(d, metric)
        quantizer.add(np.ascontiguousarray(index.centroids))
        out = faiss.IndexIVFScalarQuantizer(quantizer, d, index.nlist, _faiss_qtype(faiss, index.payload), metric,
                                            index.residual)
        _faiss_sq(faiss, index, out)
        out.is_trained = True
        _add_lists(faiss, out, index)
        out.own_fields = True
        quantizer.this.disown()
        return out
    if isinstance(index, FlatIndex):
        flat = faiss.IndexFlat(d, metric)
        if np.array_equal(index.ids, np.arange(index.n_docs)):
            flat.add(np.ascontiguousarray(index.vectors))
            return flat
        mapped = faiss.IndexIDMap(flat)  # faiss wants the wrapped index empty here
        mapped.add_with_ids(np.ascontiguousarray(index.vectors), np.ascontiguousarray(index.ids))
        return mapped
    if isinstance(index, PQIndex):
        out = faiss.IndexPQ(d, index.M, index.nbits, metric)
        faiss.copy_array_to_vector(np.ascontiguousarray(index.pq.centroids).ravel(), out.pq.centroids)
        out.is_trained = True
        return _with_rotation(faiss, _with_codes(faiss, out, index.codes, index.ids), index.rotation)
    if isinstance(index, IVFIndex) and index.payload in ("pq", "fastscan"):
        quantizer = faiss.IndexFlat(d, metric)
        quantizer.add(np.ascontiguousarray(index.centroids))
        out = faiss.IndexIVFPQ(quantizer, d, index.nlist, index.M, index.nbits, metric)
        out.by_residual = index.residual
        faiss.copy_array_to_vector(np.ascontiguousarray(index.pq.centroids).ravel(), out.pq.centroids)
        out.is_trained = True
        out.precompute_table()
        _add_lists(faiss, out, index)
        out.own_fields = True
        quantizer.this.disown()
        return _with_rotation(faiss, out, index.rotation)
    raise ValueError(f"cannot export {type(index).__name__} with payload "
                     f"{getattr(index, 'payload', None)!r} to faiss")


def _add_lists(faiss, out, index) -> None:
    """Copy a Winnow IVF index's lists (ids and code rows) into the faiss IVF index ``out``."""
    rows = index.rows()
    for l, (a, b) in enumerate(zip(index.list_offsets[:-1], index.list_offsets[1:])):
        if b > a:
            ids = np.ascontiguousarray(index.ids[a:b])
            codes = np.ascontiguousarray(rows[a:b])
            out.invlists.add_entries(l, int(b - a), faiss.swig_ptr(ids), faiss.swig_ptr(codes))
    out.ntotal = index.n_docs


def _with_codes(faiss, out, codes, ids):
    """Fill a faiss index that stores one code row per vector (IndexPQ, IndexScalarQuantizer)
    with codes (n, code_size); behind an IndexIDMap when ids are not 0..n-1."""
    n = len(ids)
    mapped = None
    if not np.array_equal(ids, np.arange(n)):
        mapped = faiss.IndexIDMap(out)  # faiss wants the wrapped index empty here
        faiss.copy_array_to_vector(np.ascontiguousarray(ids), mapped.id_map)
        mapped.ntotal = n
    faiss.copy_array_to_vector(np.ascontiguousarray(codes).ravel(), out.codes)
    out.ntotal = n
    return out if mapped is None else mapped


def _with_rotation(faiss, index, rotation):
    if rotation is None:
        return index
    d = rotation.shape[0]
    lt = faiss.LinearTransform(d, d, False)
    faiss.copy_array_to_vector(np.ascontiguousarray(rotation.T).ravel(), lt.A)
    lt.is_trained = True
    # The Python wrapper keeps lt and index alive (faiss adds references in the constructor);
    # own_fields=True here would free them twice (segfault at exit).
    return faiss.IndexPreTransform(lt, index)
