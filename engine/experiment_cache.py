"""Cache of an experiment's indexes and runs, keyed by hashes of what produced them.

Layout under the cache root::

    indexes/<name>-<key>/     a saved index directory (winnow.index format)
    indexes/<name>-<key>.json build record: parameters, build seconds, bytes
    runs/<key>.run            TREC run (exact float32 scores)
    runs/<key>.json           run record: pipeline, split, latency, number of queries

An index key hashes the index type, its build parameters (search-time parameters such as
BM25's k1/b or IVF's nprobe are applied to the loaded index, so changing them reuses it),
the corpus fingerprint and the vector source. A run key hashes the pipeline's canonical
expression, the keys and search parameters of its indexes, the queries fingerprint and k.
Records are written after their payload, so a crash leaves at worst an unused payload.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["ExperimentCache", "copy_file", "read_trec", "write_trec", "files_fingerprint", "param_key", "queries_fingerprint"]

_CONTENT_LIMIT = 64 << 20  # files up to 64 MiB are hashed by content, larger ones by size+mtime


def param_key(obj: Any, length: int = 16) -> str:
    """Short hex sha256 of a JSON-serialisable object (keys sorted)."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def files_fingerprint(paths: Sequence[os.PathLike | str]) -> str:
    """Fingerprint of files (or directories, recursively): small files by content, large ones
    by name, size and modification time (hashing an 8.8M-passage collection would cost more
    than the lookup saves)."""
    h = hashlib.sha256()
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    for f in files:
        st = f.stat()
        h.update(f"{f.name}\0{st.st_size}\0".encode())
        if st.st_size <= _CONTENT_LIMIT:
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        else:
            h.update(f"{st.st_mtime_ns}\0{f.resolve()}".encode())
    return h.hexdigest()[:16]


def queries_fingerprint(queries: Mapping[str, str]) -> str:
    h = hashlib.sha256()
    for qid, text in queries.items():
        h.update(f"{qid}\t{text}\n".encode("utf-8"))
    return h.hexdigest()[:16]


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class ExperimentCache:
    """Indexes and runs under ``root``; ``reused`` / ``computed`` list what each call did."""

    def __init__(self, root: os.PathLike | str):
        self.root = Path(root)
        self.reused: list[str] = []
        self.computed: list[str] = []

    # -- indexes ---------------------------------------------------------------------------
    def index_dir(self, name: str, key: str) -> Path:
        return self.root / "indexes" / f"{name}-{key}"

    def index_record(self, name: str, key: str) -> dict | None:
        d = self.index_dir(name, key)
        rec = _read_json(d.with_name(d.name + ".json"))
        return rec if rec is not None and (d / "meta.json").is_file() else None

    def save_index(self, name: str, key: str, index: Any, record: dict) -> Path:
        d = self.index_dir(name, key)
        d.parent.mkdir(parents=True, exist_ok=True)
        # replaces a stale cached index in one atomic step (never a window without one); a path
        # there that is not a Winnow index is refused by save, never deleted
        index.save(d, overwrite=True)
        _write_json(d.with_name(d.name + ".json"), record)
        return d

    # -- runs ------------------------------------------------------------------------------
    def run_path(self, key: str) -> Path:
        return self.root / "runs" / f"{key}.run"

    def run_record(self, key: str) -> dict | None:
        p = self.run_path(key)
        rec = _read_json(p.with_suffix(".json"))
        return rec if rec is not None and p.is_file() else None

    def save_run(self, key: str, results: Any, record: dict, tag: str, score_format: str = "exact") -> Path:
        p = self.run_path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        if score_format == "anserini":  # rounded to 1e-4, ties perturbed: pyserini's bytes
            results.to_trec(p, tag=tag, score_format="anserini", overwrite=True)  # our own cache entry
        else:
            write_trec(p, results, tag)
        _write_json(p.with_suffix(".json"), record)
        return p

    def note(self, what: str, reused: bool) -> None:
        (self.reused if reused else self.computed).append(what)

    def summary(self) -> dict:
        return {"root": str(self.root), "reused": list(self.reused), "computed": list(self.computed)}


def copy_file(src: Path, dst: Path) -> None:
    """Copy atomically (temporary sibling, then rename)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)



def write_trec(path: Path, results: Any, tag: str) -> None:
    """TREC run ``qid Q0 docno rank score tag`` with float32 scores in their shortest exact
    form (what ``Results.to_trec`` writes), in bulk: one docno lookup for the whole run."""
    valid = results.ids >= 0
    names = results.docnos.lookup(results.ids[valid])
    scores = results.scores[valid].astype(str)
    counts = valid.sum(axis=1)
    tmp = path.with_name(path.name + ".tmp")
    pos = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        for qid, n in zip(results.qids, counts.tolist()):
            fh.write("".join(f"{qid} Q0 {names[pos + r]} {r + 1} {scores[pos + r]} {tag}\n" for r in range(n)))
            pos += n
    os.replace(tmp, path)


def read_trec(path: Path) -> dict[str, dict[str, float]]:
    """{qid: {docno: score}} of a run this module wrote (file order = rank order)."""
    run: dict[str, dict[str, float]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            qid, _, docno, _, score, _ = line.split()
            q = run.get(qid)
            if q is None:
                q = run[qid] = {}
            q[docno] = float(score)
    return run
