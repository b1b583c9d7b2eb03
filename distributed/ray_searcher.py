"""``RaySearcher``: scatter-gather search of a sharded index over Ray actors.

Each shard is held, memory-mapped, by ``replicas`` actors (``ShardActor``). A search splits
the queries into batches; every batch goes to one replica of every shard; the shard top-k
lists are merged exactly (merge.py), so results equal ``ShardedIndex``'s (and, for BM25,
the unsharded index's). A call whose actor dies is sent again, to the next replica or to
the same actor once Ray has restarted it; a shard whose every attempt fails is lost: a
``ShardLostError`` naming it, or with ``allow_partial=True`` results without it, marked
(``results.missing_shards``) and announced with a ``PartialResultsWarning``.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

from winnow.errors import IndexFormatError, WinnowError
from winnow.index.format import inspect
from winnow.limits import check_k
from winnow.results import Results
from winnow.stage import Retriever, as_queries
from winnow.distributed import manifest as mf
from winnow.distributed.hit_docnos import HitDocnos
from winnow.distributed.merge import merge_topk
from winnow.distributed.ray_runtime import import_ray
from winnow.distributed.shard_actor import ShardActor


class ShardLostError(WinnowError, RuntimeError):
    """Every replica of a shard failed (and restarting it failed): the search cannot be complete."""


class PartialResultsWarning(UserWarning):
    """Results of a search with ``allow_partial=True`` that lack one or more shards."""


class RaySearcher(Retriever):
    """Search the sharded index at ``path`` with one Ray actor per shard and replica.

    ``ray``: None (use the running Ray, else start a private local one, shut down by
    :meth:`close`), ``"local"``, ``"auto"`` or a cluster address. ``batch_size``: queries per
    call. ``max_restarts``: how often Ray restarts a dead actor. ``max_attempts`` (default
    2 * replicas + 2): calls per batch and shard before the shard counts as lost.
    ``num_cpus_per_actor``: Ray's scheduling reservation (0 lets many shards share a small
    machine; set 1 on a cluster to spread them).
    """

    def __init__(self, path, replicas: int = 1, *, ray: str | None = None, mmap: bool = True,
                 verify: bool | None = None, batch_size: int = 128, allow_partial: bool = False,
                 max_restarts: int = 3, max_attempts: int | None = None, num_cpus_per_actor: float = 0.0,
                 k: int = 1000):
        if int(replicas) < 1:
            raise ValueError(f"replicas must be >= 1, got {replicas}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.path = Path(path).absolute()
        self.meta = mf.read_manifest(self.path, verify=bool(verify))
        for entry in self.meta["shards"]:  # a missing or replaced shard fails here, by name
            mf.check_shard(self.path, entry, self.meta["params"]["shard_format"])
        self.shard_format = self.meta["params"]["shard_format"]
        self.params = dict(self.meta["params"])
        self.names = [e["name"] for e in self.meta["shards"]]
        shard_params = inspect(self.path / self.names[0]).get("params", {})
        if "nlist" in shard_params:  # what the CLI's --nprobe / --query-vectors checks look for
            self.nlist = shard_params["nlist"]
        if "d" in shard_params:
            self.d = shard_params["d"]
        self.offsets = [e["offset"] for e in self.meta["shards"]]
        self.replicas, self.batch_size, self.allow_partial, self.k = int(replicas), int(batch_size), allow_partial, k
        self.max_attempts = int(max_attempts) if max_attempts is not None else 2 * self.replicas + 2
        self.stats = {"calls": 0, "done": 0, "retries": 0}
        self._ray = import_ray()
        self._owns_ray = not self._ray.is_initialized()
        if self._owns_ray:
            if ray in (None, "local"):
                self._ray.init(include_dashboard=False, logging_level="warning")
            else:
                self._ray.init(address=ray, logging_level="warning")
        actor = self._ray.remote(ShardActor).options(num_cpus=num_cpus_per_actor, max_restarts=max_restarts,
                                                      max_task_retries=0, scheduling_strategy="SPREAD")
        self.actors = [[actor.remote(str(self.path), self.meta, s, mmap, verify) for _ in range(self.replicas)]
                       for s in range(len(self.names))]
        self._encoder = None
        try:
            self._ray.get([a.pid.remote() for reps in self.actors for a in reps])  # every shard loads, or fails now
        except self._ray.exceptions.RayActorError as exc:
            self.close()
            # a shard that fails its load checks in the actor is a damaged index, named as such
            damaged = [ln for ln in str(exc).splitlines() if ln.startswith("winnow.errors.IndexFormatError: ")]
            if damaged:
                raise IndexFormatError(damaged[-1].split(": ", 1)[1]) from None
            raise ShardLostError(f"{self.path}: a shard actor failed to start: {exc}") from None

    @property
    def n_docs(self) -> int:
        return int(self.meta["params"]["n_docs"])

    # -- queries ---------------------------------------------------------------------------
    def _prepare(self, queries):
        if isinstance(queries, np.ndarray):
            from winnow.index.dense_base import as_vectors

            x = as_vectors(queries, None, "query vectors")
            return [str(i) for i in range(len(x))], None, x
        qids, texts = as_queries(queries)
        if self.shard_format == "winnow.bm25":
            return qids, texts, texts
        if self._encoder is None:
            from winnow.encoders import SentenceEncoder

            model = inspect(self.path / self.names[0]).get("params", {}).get("model")
            if model is None:
                raise ValueError(f"{self.path}: the dense shards record no query encoder; pass query vectors")
            self._encoder = SentenceEncoder(model)
        return qids, texts, np.ascontiguousarray(self._encoder.encode_queries(texts), np.float32)

    def search(self, queries, k: int = 10, **options) -> Results:
        """Top-``k`` per query, merged from every shard; ``options`` go to each shard's search."""
        qids, texts, payload = self._prepare(queries)
        scores, ids, names, missing = self._scatter_gather(payload, check_k(k, self.n_docs), options)
        results = Results(qids, ids, scores, HitDocnos(names, self.n_docs), texts)
        results.missing_shards = missing
        if missing:
            warnings.warn(f"results lack shard(s) {missing} of {self.path}: partial (allow_partial=True)",
                          PartialResultsWarning, stacklevel=2)
        return results

    # -- scatter-gather ----------------------------------------------------------------------
    def _scatter_gather(self, payload, k: int, options: dict):
        ray = self._ray
        nq = len(payload)
        spans = [(a, min(a + self.batch_size, nq)) for a in range(0, nq, self.batch_size)]
        batch_refs = [ray.put(payload[a:z]) for a, z in spans]
        pending: dict = {}
        done: dict = {}
        failures: dict[int, str] = {}

        def submit(b: int, s: int, attempt: int) -> None:
            reps = self.actors[s]
            ref = reps[(b + attempt) % len(reps)].search.remote(batch_refs[b], k, options, self.offsets[s])
            pending[ref] = (b, s, attempt)
            self.stats["calls"] += 1

        for b in range(len(spans)):
            for s in range(len(self.actors)):
                submit(b, s, 0)
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            b, s, attempt = pending.pop(ref)
            if s in failures:
                continue
            try:
                done[b, s] = ray.get(ref)
                self.stats["done"] += 1
                self._after_call(self.stats["done"])
            except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as exc:
                if attempt + 1 >= self.max_attempts:
                    failures[s] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    if not self.allow_partial:
                        raise ShardLostError(f"{self.path}: shard {self.names[s]} is lost (all {self.replicas} "
                                             f"replica(s) failed {self.max_attempts} times): {failures[s]}") from None
                    continue
                self.stats["retries"] += 1
                if attempt + 1 >= self.replicas:  # every replica tried once: give Ray time to restart one
                    time.sleep(0.2 * (attempt + 2 - self.replicas))
                submit(b, s, attempt + 1)
        return self._merge(spans, done, sorted(failures), k, options)

    def _merge(self, spans, done: dict, lost: list, k: int, options: dict):
        live = [s for s in range(len(self.actors)) if s not in lost]
        if not live:
            raise ShardLostError(f"{self.path}: every shard is lost")
        names: dict[int, str] = {}
        rows_s, rows_i = [], []
        for b in range(len(spans)):
            parts, keys = [], []
            for s in live:
                scores, ids, key, docnos = done[b, s]
                names.update(zip((ids[ids >= 0] + self.offsets[s]).tolist(), docnos))
                parts.append((scores, ids))
                keys.append(key)
            sc, gi = merge_topk(parts, [self.offsets[s] for s in live], k, keys)
            rows_s.append(sc)
            rows_i.append(gi)
        width = max((r.shape[1] for r in rows_s), default=0)
        pad = lambda a, v: np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=v)  # noqa: E731
        nq = sum(z - a for a, z in spans)
        scores = np.concatenate([pad(r, -np.inf) for r in rows_s]) if rows_s else np.zeros((nq, 0), np.float32)
        ids = np.concatenate([pad(r, -1) for r in rows_i]) if rows_i else np.zeros((nq, 0), np.int64)
        return scores.astype(np.float32), ids, names, [self.names[s] for s in lost]

    def _after_call(self, n_done: int) -> None:
        """Called after each completed shard call (``n_done`` so far). Fault tests replace it
        to kill an actor at a known point of a search; it does nothing otherwise."""

    # -- lifetime ----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the actors (and the Ray instance this searcher started). Idempotent; after
        Ray has shut down there is nothing to stop (and no Ray call may start a new one)."""
        if not self._ray.is_initialized():
            self.actors = []
            return
        for reps in getattr(self, "actors", []):
            for a in reps:
                try:
                    self._ray.kill(a)
                except Exception:  # noqa: BLE001 - already gone
                    pass
        self.actors = []
        if getattr(self, "_owns_ray", False) and self._ray.is_initialized():
            self._ray.shutdown()
            self._owns_ray = False

    def __enter__(self) -> "RaySearcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"RaySearcher({self.shard_format}, n_shards={len(self.names)}, replicas={self.replicas}, "
                f"n_docs={self.n_docs})")
