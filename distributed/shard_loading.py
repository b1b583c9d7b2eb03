"""Open one shard of a sharded index, checked against the manifest (used by
``ShardedIndex`` in-process and by each Ray shard actor)."""
from __future__ import annotations

from pathlib import Path

from winnow.errors import IndexFormatError
from winnow.index.format import load_npy
from winnow.distributed import manifest as mf


def load_shard(path, meta: dict, i: int, mmap: bool = True, verify: bool | None = None):
    """Shard ``i`` of the sharded index at ``path`` (``meta`` = its checked manifest).

    A BM25 shard comes back as a view scoring with the collection's statistics. Any damage
    (missing, replaced or corrupt shard, bad side file) raises IndexFormatError naming the shard.
    """
    from winnow.index import load

    path = Path(path)
    entry = meta["shards"][i]
    shard_format = meta["params"]["shard_format"]
    shard_path = mf.check_shard(path, entry, shard_format)
    try:
        index = load(shard_path, mmap=mmap, verify=verify)
    except IndexFormatError as exc:
        raise IndexFormatError(f"shard {entry['name']} of {path}: {exc}") from None
    if int(index.n_docs) != entry["n_docs"]:
        raise IndexFormatError(f"{shard_path}: shard {entry['name']} holds {index.n_docs} documents, "
                               f"the manifest records {entry['n_docs']}")
    if shard_format != "winnow.bm25":
        return index
    from winnow.distributed import bm25_global

    sizes = {"idf_df": index.n_terms, "multi_max_x": len(index.arrays["multi_terms"]),
             "block_max_x": len(index.arrays["block_last_doc"]), "docno_rank": index.n_docs}
    dtypes = {"idf_df": "uint32", "multi_max_x": "float32", "block_max_x": "float32", "docno_rank": "uint64"}
    # a 1.x manifest's bounds fit format 2's block tables: recomputed here (a pass over the
    # shard's multi-block postings) instead of read
    old = meta["format_version"][0] < 2
    names = ("idf_df", "docno_rank") if old else mf.BM25_SIDE_FILES
    side = {name: load_npy(path / mf.side_file(entry["name"], name), mmap, dtypes[name], sizes[name])
            for name in names}
    rank = side["docno_rank"]
    if len(rank) and int(rank.max()) >= meta["params"]["n_docs"]:
        raise IndexFormatError(f"{path / mf.side_file(entry['name'], 'docno_rank')}: a rank is not below "
                               f"the collection's {meta['params']['n_docs']} documents (corrupt)")
    try:
        if old:
            side["block_max_x"], side["multi_max_x"] = bm25_global.global_bounds(index, side["idf_df"], meta["stats"])
        view = bm25_global.shard_view(index, side["idf_df"], meta["stats"], side["block_max_x"], side["multi_max_x"])
    except (ValueError, KeyError, TypeError) as exc:  # the core's checks of the collection df and bounds
        raise IndexFormatError(f"{path}: shard {entry['name']} collection statistics: {exc}") from None
    view.docno_rank = rank  # (n_s,) the docno tie key of each document (merge.docno_tie_keys)
    return view
