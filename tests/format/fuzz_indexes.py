"""Mutation fuzzer over every index format (issue 12, item 5).

The parent builds tiny seeded indexes (:mod:`fuzz_fixtures`), draws mutations of their files
(truncations, single and multi-byte flips, flips aimed at headers and offset tables,
zero-filled ranges, a file replaced by another index's file of the same name, two files of
one index swapped, edited ``meta.json`` values and keys), writes each mutated index to a
scratch directory and hands it to a worker subprocess, which loads it in each mode, runs
the fixed query set and reports one outcome per (mutation, mode):

* ``format_error`` -- ``IndexFormatError`` (good)
* ``identical`` -- ids, scores and docnos bit-identical to the unmutated index (good)
* ``different`` -- other results without an error (bad: a silent wrong result), except in
  mode ``mmap`` (mapped, not verified) when every changed byte lies in a payload value that
  no checksum covers: counted apart as ``unverified_payload_diff``, which the contract of
  an unverified mmap load allows
* ``other_exception`` -- any other exception (bad); ``unnamed_error`` -- an
  ``IndexFormatError`` whose message does not name the index path (bad)
* ``crash`` -- the worker died by a signal (bad; the worker is restarted) and ``hang`` --
  no answer within the time limit (bad).

Modes: ``read`` (``mmap=False``), ``mmap_verify`` (``mmap=True, verify=True``), ``mmap``
(``mmap=True``, no payload checksums) and ``index_verify`` (``winnow.index.verify`` -- the
``winnow index verify`` command -- then an unverified ``mmap=True`` load: an index that
passes the check must answer exactly as the unmutated one).

Run as a script it is the worker: ``python fuzz_indexes.py --worker ROOT`` reads one JSON
job per line on stdin and answers one JSON line per job on stdout.
"""
from __future__ import annotations

import json
import os
import random
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import fuzz_fixtures as fx  # noqa: E402

MODES = ("read", "mmap_verify", "mmap", "index_verify")
OPS = ("flip1", "flip_multi", "flip_targeted", "truncate", "zero_range", "replace_from_twin", "swap_within",
       "meta_edit", "nonfinite")
GOOD = ("format_error", "identical")
TOLERATED = ("unverified_payload_diff",)
BAD = ("silent_wrong", "other_exception", "unnamed_error", "crash", "hang", "baseline_broken")
# meta.json fields whose edits the issue names (score-changing statistics, shapes, the
# checksum table); a meta edit picks among these half the time.
HOT_META = ("k1", "b", "total_length", "n_docs_with_terms", "n_docs", "checksums", "arrays", "nlist", "M", "nbits",
            "d", "dim", "ndocs", "ntokens", "n_items", "k_i", "metric", "storage", "scoring", "payload", "files",
            "format_version", "residual", "refine", "dense_params")


# -- mutations ------------------------------------------------------------------------------------
def _leaves(obj, path=()):
    """(path, value) of every leaf and every key of a JSON object (keys as ("key", path))."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield ("key", path + (k,)), k
            yield from _leaves(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, path + (i,))
    else:
        yield ("value", path), obj


def _new_value(rng: random.Random, v):
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return rng.choice([v + 1, v - 1, v * 2, 0, -1, v + 1000, 2**40, -(2**31)])
    if isinstance(v, float):
        return rng.choice([v * 1.5, v + 0.1, 0.0, -v if v else 1.0, 1e30, float("nan"), float("inf")])
    if isinstance(v, str):
        if not v:
            return "x"
        i = rng.randrange(len(v))
        return v[:i] + chr((ord(v[i]) + 1) % 128 or 1) + v[i + 1:]
    if v is None:
        return rng.choice([0, "x", 1.5])
    return None


def _meta_mutation(rng: random.Random, meta: dict) -> dict:
    leaves = list(_leaves(meta))
    hot = [lf for lf in leaves if lf[0][1] and lf[0][1][-1] in HOT_META
           or any(p in ("k1", "b", "stats", "arrays", "checksums") for p in lf[0][1][:1])]
    for _ in range(50):
        (what, path), v = rng.choice(hot if hot and rng.random() < 0.5 else leaves)
        if what == "key":
            act = rng.choice(["rename", "rename", "delete"])
            if act == "delete":
                return {"op": "meta_edit", "action": "delete", "path": list(path)}
            k = str(path[-1])
            i = rng.randrange(len(k)) if k else 0
            new = k[:i] + chr((ord(k[i]) + 1) % 128 or 1) + k[i + 1:] if k else "x"
            return {"op": "meta_edit", "action": "rename", "path": list(path), "new": new}
        new = _new_value(rng, v)
        if new is None or (new == v and type(new) is type(v)):
            continue
        return {"op": "meta_edit", "action": "set", "path": list(path), "value": new}
    return {"op": "meta_edit", "action": "set", "path": ["format_version", 0], "value": 99}


def _targets(path: Path, raw: bytes, kind: str, files: dict[str, bytes]) -> list[tuple[int, int]]:
    """Byte ranges worth aiming at: the header, the whole data of structure files, and in
    BM25 postings the 2-byte headers (bit widths) of the blocks, which fix every block's size."""
    off = fx.data_offset(path, raw)
    ranges = [(0, min(off, len(raw)))]
    if path.name not in fx.PAYLOAD_FILES[fx.family(kind)] and off < len(raw):
        ranges.append((off, len(raw)))  # offset and count tables (all of them structure)
    if path.suffix == ".bin" and off < len(raw):
        ranges.append((off, min(len(raw), off + 64)))  # the first encoded blocks / strings
    if path.name == "postings.bin" and "block_offset.npy" in files:
        table = files["block_offset.npy"]
        header = _npy_header(table)  # u4 or u8: the width is chosen at save
        dtype = np.dtype(header[0]) if header is not None else np.dtype("<u8")
        starts = np.frombuffer(table[fx.data_offset(Path("block_offset.npy"), table):], dtype)[:-1]
        ranges += [(off + int(s), off + int(s) + 2) for s in starts]
    return [r for r in ranges if r[1] > r[0]]


def draw_mutation(rng: random.Random, kind: str, files: dict[str, bytes], twin: dict[str, bytes]) -> dict:
    """One mutation of the index whose files (name -> bytes) are ``files``."""
    op = rng.choices(OPS, weights=(20, 10, 20, 8, 8, 8, 6, 20, 6))[0]
    names = sorted(files)
    name = rng.choice(names)
    raw = files[name]
    n = len(raw)
    if op == "meta_edit":
        return _meta_mutation(rng, json.loads(files["meta.json"]))
    if op == "nonfinite":  # a NaN or an infinity in a float array (vectors, scores, bounds, codebooks)
        floats = [(f, h) for f in names if f.endswith(".npy") for h in [_npy_header(files[f])]
                  if h is not None and h[0][1] == "f" and int(np.prod(h[2])) > 0]
        if floats:
            f, (descr, _, shp, start) = rng.choice(floats)
            dt = np.dtype(descr)
            value = np.array([rng.choice([np.nan, np.inf, -np.inf])], dt).tobytes()
            at = start + rng.randrange(int(np.prod(shp))) * dt.itemsize
            return {"op": op, "file": f, "pos": at, "bytes": value.hex()}
        op = "flip1"
    if op == "replace_from_twin":
        same = [f for f in names if f in twin and f != "meta.json" and twin[f] != files[f]]
        pick = rng.choice(same) if same and rng.random() < 0.8 else name
        return {"op": op, "file": pick}
    if op == "swap_within":
        a, b = rng.sample(names, 2)
        equal = [(x, y) for x in names for y in names if x < y and len(files[x]) == len(files[y])
                 and files[x] != files[y]]
        if equal and rng.random() < 0.5:
            a, b = rng.choice(equal)
        return {"op": op, "files": [a, b]}
    if n == 0:
        return {"op": "truncate", "file": "meta.json", "size": len(files["meta.json"]) // 2}
    if op == "truncate":
        size = rng.choice([0, rng.randrange(n), max(0, n - rng.randint(1, 8)), n // 2])
        return {"op": op, "file": name, "size": size}
    if op == "zero_range":
        a = rng.randrange(n)
        return {"op": op, "file": name, "start": a, "end": min(n, a + rng.choice([1, 2, 4, 8, 16, 64, 512]))}
    if op == "flip_targeted":
        name = rng.choice([f for f in names if files[f]])  # a file first: postings has many ranges
        a, b = rng.choice(_targets(Path(name), files[name], kind, files))
        count = rng.choice([1, 1, 1, 2, 4])
    elif op == "flip1":
        a, b, count = 0, n, 1
    else:
        a, b, count = 0, n, rng.randint(2, 16)
    pos = sorted({rng.randrange(a, b) for _ in range(count)})
    return {"op": op, "file": name, "pos": pos, "xor": [rng.randint(1, 255) for _ in pos]}


def apply_mutation(mut: dict, files: dict[str, bytes], twin: dict[str, bytes]) -> dict[str, bytes]:
    """The mutated files (name -> bytes); the inputs are not changed."""
    out = dict(files)
    op = mut["op"]
    if op in ("flip1", "flip_multi", "flip_targeted"):
        b = bytearray(out[mut["file"]])
        for p, x in zip(mut["pos"], mut["xor"]):
            b[p] ^= x
        out[mut["file"]] = bytes(b)
    elif op == "truncate":
        out[mut["file"]] = out[mut["file"]][:mut["size"]]
    elif op == "nonfinite":
        b = bytearray(out[mut["file"]])
        value = bytes.fromhex(mut["bytes"])
        b[mut["pos"]:mut["pos"] + len(value)] = value
        out[mut["file"]] = bytes(b)
    elif op == "zero_range":
        b = bytearray(out[mut["file"]])
        b[mut["start"]:mut["end"]] = bytes(mut["end"] - mut["start"])
        out[mut["file"]] = bytes(b)
    elif op == "replace_from_twin":
        out[mut["file"]] = twin.get(mut["file"], b"")
    elif op == "swap_within":
        a, b = mut["files"]
        out[a], out[b] = files[b], files[a]
    elif op == "meta_edit":
        meta = json.loads(files["meta.json"])
        *parents, last = mut["path"]
        node = meta
        for p in parents:
            node = node[p]
        if mut["action"] == "set":
            node[last] = mut["value"]
        elif mut["action"] == "delete":
            del node[last]
        else:
            node[mut["new"]] = node.pop(last)
        out["meta.json"] = (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode()
    elif op != "none":
        raise ValueError(f"unknown mutation op {op!r}")
    return out


def _npy_header(raw: bytes):
    """(descr, fortran_order, shape, data offset) of a .npy, or None if it does not parse."""
    import io
    import warnings

    try:
        with warnings.catch_warnings():  # a damaged header can hold an invalid escape sequence
            warnings.simplefilter("ignore")
            fh = io.BytesIO(raw)
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(fh)
            return dtype.str, fortran, shape, fh.tell()
    except Exception:  # noqa: BLE001 - any damage that stops parsing
        return None


def payload_only(kind: str, before: dict[str, bytes], after: dict[str, bytes]) -> bool:
    """Whether the mutation changed payload values only: every changed byte lies in the data
    of a payload file of unchanged size whose header still means the same (a .npy header may
    differ in bytes that do not change what it says, such as a space turned into a tab)."""
    allowed = fx.PAYLOAD_FILES[fx.family(kind)]
    for name, new in after.items():
        old = before[name]
        if new == old:
            continue
        if name not in allowed or len(new) != len(old):
            return False
        off = fx.data_offset(Path(name), old)
        # a section header's last 16 bytes are the payload's and its own checksum: they follow the payload
        keep = 48 if name.endswith(".bin") else off
        if new[:keep] != old[:keep]:
            head = _npy_header(old) if name.endswith(".npy") else None
            if head is None or _npy_header(new) != head:
                return False
    return True


def read_files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(path).iterdir()) if p.is_file()}


def write_files(path: Path, files: dict[str, bytes], source: Path | None = None) -> None:
    """Write ``files`` into a new directory ``path``; the subdirectories of ``source`` (a
    sharded index's shards, which the mutations leave alone) are copied beside them."""
    path.mkdir(parents=True)
    for name, data in files.items():
        (path / name).write_bytes(data)
    for sub in sorted(Path(source).iterdir()) if source is not None else ():
        if sub.is_dir() and not sub.is_symlink():
            shutil.copytree(sub, path / sub.name)


# -- the worker (a subprocess: a crash kills it, not the fuzzer) ---------------------------------------
def _load(path: Path, mode: str, kind: str, root: Path):
    from winnow.index import load

    kw = fx.load_kwargs(kind, root)
    if mode == "read":
        return load(path, mmap=False, **kw)
    if mode == "mmap_verify":
        return load(path, mmap=True, verify=True, **kw)
    if mode == "index_verify":
        from winnow.index import verify

        verify(path)
    return load(path, mmap=True, **kw)


def run_case(path: Path, kind: str, mode: str, root: Path, seed: int, baseline) -> tuple[str, str]:
    """(outcome, detail) of loading and searching the index at ``path`` in ``mode``."""
    from winnow.errors import IndexFormatError

    try:
        index = _load(path, mode, kind, root)
        got = fx.fingerprint(kind, index, root, seed)
    except IndexFormatError as exc:
        if str(path) not in str(exc):  # every failure names the damaged index (its file, mostly)
            return "unnamed_error", str(exc)[:300]
        return "format_error", str(exc)[:300]
    except BaseException as exc:  # noqa: BLE001 - every other exception is a finding
        if isinstance(exc, KeyboardInterrupt):
            raise
        return "other_exception", f"{type(exc).__name__}: {str(exc)[:300]}"
    return ("identical", "") if got == baseline else ("different", "")


def worker_main(root: Path) -> None:
    """Answer jobs {"path", "kind", "mode"} on stdin with {"outcome", "detail"} on stdout."""
    import resource

    # a corrupt count must fail as an error, not allocate the machine away (0: no limit;
    # AddressSanitizer reserves terabytes of address space, so none under ASan)
    limit = int(os.environ.get("WINNOW_FUZZ_MEMORY_MB", "3000")) << 20
    if limit and "asan" not in os.environ.get("LD_PRELOAD", "").lower():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything the library prints goes to stderr, never into the protocol
    seed = json.loads((root / "fixtures.json").read_text())["seed"]
    from winnow.index import load

    baselines = {}
    for line in sys.stdin:
        job = json.loads(line)
        if job.get("selftest") == "crash":  # the harness's own test: die as a segfault would
            import signal

            os.kill(os.getpid(), signal.SIGSEGV)
        kind = job["kind"]
        if kind not in baselines:
            baselines[kind] = fx.fingerprint(kind, load(root / "pristine" / kind, **fx.load_kwargs(kind, root)),
                                             root, seed)
        outcome, detail = run_case(Path(job["path"]), kind, job["mode"], root, seed, baselines[kind])
        out.write(json.dumps({"outcome": outcome, "detail": detail}) + "\n")


class Worker:
    """One worker subprocess; ``run`` returns the outcome, restarting after a crash."""

    def __init__(self, root: Path, timeout: float):
        self.root, self.timeout, self.proc = root, timeout, None
        self.stderr = tempfile.TemporaryFile()

    def _start(self):
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", str(self.root)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env)

    def run(self, path: Path, kind: str, mode: str, selftest: str | None = None) -> tuple[str, str]:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        job = json.dumps({"path": str(path), "kind": kind, "mode": mode, "selftest": selftest}) + "\n"
        try:
            self.proc.stdin.write(job.encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout)
        line = self.proc.stdout.readline() if ready else b""
        if line:
            ans = json.loads(line)
            return ans["outcome"], ans["detail"]
        if not ready:
            self.proc.kill()
            self.proc.wait()
            return "hang", f"no answer in {self.timeout:.0f} s"
        rc = self.proc.wait()
        self.stderr.seek(0)
        tail = self.stderr.read()[-400:].decode("utf-8", "replace")
        self.stderr.seek(0)
        self.stderr.truncate()
        return "crash", f"worker exit {rc}" + (f" (signal {-rc})" if rc < 0 else "") + f"; stderr: {tail}"

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


# -- the run -------------------------------------------------------------------------------------
def classify(outcome: str, mode: str, payload: bool) -> str:
    if outcome == "different":
        return "unverified_payload_diff" if mode == "mmap" and payload else "silent_wrong"
    return outcome


def plan(root: Path, n_mutations: int, seed: int, kinds) -> list[dict]:
    """``n_mutations`` mutations spread evenly over ``kinds`` (after one no-op per kind, whose
    outcome must be ``identical``: the check that the harness itself is sound)."""
    rng = random.Random(seed)
    files = {k: read_files(root / "pristine" / k) for k in kinds}
    twins = {k: read_files(root / "twin" / k) for k in kinds}
    cases = [{"kind": k, "mut": {"op": "none"}} for k in kinds]
    for i in range(n_mutations):
        kind = kinds[i % len(kinds)]
        cases.append({"kind": kind, "mut": draw_mutation(rng, kind, files[kind], twins[kind])})
    return cases


def _is_fixtures_record(path: Path) -> bool:
    """``path`` is the fixtures.json fx.build_all writes (exactly its keys), not any file of
    that common name."""
    try:
        return set(json.loads(path.read_text(encoding="utf-8"))) == {"seed", "kinds"}
    except (OSError, ValueError, TypeError):
        return False


def _clear_fixtures(root: Path) -> None:
    """Remove an earlier fixtures directory before rebuilding it: only one that is ours (it
    holds fx.build_all's fixtures.json) or empty; any other existing path (a user's --workdir/fixtures
    folder, a file) is refused, never deleted."""
    if not os.path.lexists(root):
        return
    if root.is_dir() and not root.is_symlink() and (_is_fixtures_record(root / "fixtures.json")
                                                    or not any(root.iterdir())):
        shutil.rmtree(root)
        return
    raise ValueError(f"{root}: exists and is not a fuzzer fixtures directory (no fixtures.json); "
                     "refusing to delete it (choose another --workdir)")


def run_fuzz(root, n_mutations: int, seed: int = 0, kinds=None, modes=MODES, jobs: int = 1,
             timeout: float = 60.0, build: bool = True, progress=None) -> dict:
    """Build the fixtures under ``root`` (unless ``build`` is False and they exist), run
    ``n_mutations`` mutations x ``modes``, and return the summary: counts
    {kind: {mode: {outcome: n}}}, totals, the failures (with a replay command) and timing."""
    root = Path(root)
    kinds = list(kinds or fx.KINDS)
    t0 = time.perf_counter()
    if build or not (root / "fixtures.json").is_file():
        _clear_fixtures(root)
        fx.build_all(root, seed, kinds)
    t_build = time.perf_counter() - t0
    cases = plan(root, n_mutations, seed, kinds)
    counts = defaultdict(lambda: defaultdict(Counter))
    failures, lock = [], threading.Lock()
    scratch = root / "scratch"
    scratch.mkdir(exist_ok=True)
    done = [0]

    def shard(j: int):
        worker = Worker(root, timeout)
        files = {k: read_files(root / "pristine" / k) for k in kinds}
        twins = {k: read_files(root / "twin" / k) for k in kinds}
        try:
            for ci in range(j, len(cases), jobs):
                case = cases[ci]
                kind, mut = case["kind"], case["mut"]
                after = apply_mutation(mut, files[kind], twins[kind])
                payload = payload_only(kind, files[kind], after)
                path = scratch / f"{kind}-{ci}"
                write_files(path, after, root / "pristine" / kind)
                try:
                    for mode in modes:
                        outcome, detail = worker.run(path, kind, mode)
                        label = classify(outcome, mode, payload)
                        if mut["op"] == "none" and label != "identical":
                            label = "baseline_broken"
                        with lock:
                            counts[kind][mode][label] += 1
                            if label in BAD:
                                failures.append({"kind": kind, "mode": mode, "outcome": label, "detail": detail,
                                                 "case": ci, "mutation": mut})
                finally:
                    shutil.rmtree(path, ignore_errors=True)
                with lock:
                    done[0] += 1
                    if progress:
                        progress(done[0], len(cases))
        finally:
            worker.close()

    threads = [threading.Thread(target=shard, args=(j,)) for j in range(max(1, jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    totals = Counter()
    for kind in counts:
        for mode in counts[kind]:
            totals.update(counts[kind][mode])
    return {"seed": seed, "mutations": n_mutations, "cases": sum(totals.values()), "kinds": kinds,
            "modes": list(modes), "jobs": jobs,
            "counts": {k: {m: dict(c) for m, c in v.items()} for k, v in counts.items()},
            "totals": dict(totals), "failures": failures, "build_seconds": round(t_build, 2),
            "fuzz_seconds": round(time.perf_counter() - t0 - t_build, 2)}


def replay(root, seed: int, kind: str, mutation: dict, mode: str) -> tuple[str, str]:
    """Run one case in this process (no worker: a crash shows here, e.g. under gdb or ASan)."""
    root = Path(root)
    if not (root / "fixtures.json").is_file() or json.loads((root / "fixtures.json").read_text())["seed"] != seed:
        _clear_fixtures(root)
        fx.build_all(root, seed)
    from winnow.index import load

    files, twin = read_files(root / "pristine" / kind), read_files(root / "twin" / kind)
    baseline = fx.fingerprint(kind, load(root / "pristine" / kind, **fx.load_kwargs(kind, root)), root, seed)
    with tempfile.TemporaryDirectory(prefix="fuzz-replay-") as tmp:
        path = Path(tmp) / kind
        write_files(path, apply_mutation(mutation, files, twin), root / "pristine" / kind)
        return run_case(path, kind, mode, root, seed, baseline)


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    worker_main(Path(sys.argv[2]))
