"""Outputs never destroy what is not a Winnow index (issue 12's "Data loss" list, one test
each), replacing an index survives a kill at every step, concurrent saves, run-file policy."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import winnow.index
from winnow.cli.main import main
from winnow.index import BM25Index
from winnow.index import safe_save

CORPUS = [("d1", "the quick brown fox"), ("d2", "a lazy dog sleeps"), ("d3", "quick quick fox runs")]
CORPUS_TSV = "".join(f"{d}\t{t}\n" for d, t in CORPUS)
QUERIES = {"q1": "quick fox", "q2": "lazy dog"}


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` with its bytes (hidden ones included)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture
def dataset(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "corpus.tsv").write_text(CORPUS_TSV)
    (d / "queries.tsv").write_text("q1\tquick fox\n")
    (d / "qrels.txt").write_text("q1 0 d1 1\n")
    return d


def build(inp, out, *extra):
    return main(["index", "build", "bm25", "--input", str(inp), "--output", str(out), *extra])


# -- refusals (CLI) ----------------------------------------------------------------------------
def test_build_into_user_folder_is_refused(tmp_path, dataset, capsys):
    folder = tmp_path / "my documents"
    folder.mkdir()
    (folder / "thesis.txt").write_text("years of work")
    before = snapshot(folder)
    for extra in ((), ("--overwrite",)):  # --overwrite does not make a user folder an index
        assert build(dataset / "corpus.tsv", folder, *extra) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and str(folder) in err and "not a Winnow index" in err
        assert err.count("\n") == 1
        assert snapshot(folder) == before


@pytest.mark.parametrize("where", ["same", "inside"])
def test_output_equal_to_or_inside_input_is_refused(dataset, capsys, where):
    before = snapshot(dataset)
    out = dataset if where == "same" else dataset / "index"
    assert build(dataset, out, "--overwrite") == 1
    err = capsys.readouterr().err
    assert "overlaps the input" in err and str(out) in err
    assert snapshot(dataset) == before  # corpus, queries and qrels all still there


def test_output_that_is_a_file_is_refused(tmp_path, dataset, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    for extra in ((), ("--overwrite",)):
        assert build(dataset / "corpus.tsv", target, *extra) == 1
        assert "is a file, not a Winnow index" in capsys.readouterr().err
        assert target.read_text() == "keep me"
        assert hidden(tmp_path) == []  # no .notes.txt.old-PID / .tmp-PID / .lock behind


def test_existing_index_needs_overwrite(tmp_path, dataset, capsys):
    out = tmp_path / "idx"
    assert build(dataset / "corpus.tsv", out) == 0
    before = snapshot(out)
    assert build(dataset / "corpus.tsv", out, "--k1", "1.2") == 1
    assert "--overwrite" in capsys.readouterr().err
    assert snapshot(out) == before
    assert build(dataset / "corpus.tsv", out, "--k1", "1.2", "--overwrite") == 0
    assert winnow.index.inspect(out)["params"]["k1"] == 1.2
    assert hidden(tmp_path) == []


def test_dense_output_equal_to_vectors_is_refused(tmp_path, capsys):
    vec = tmp_path / "vectors"
    vec.mkdir()
    (vec / "corpus_ids.txt").write_text("a\n")
    before = snapshot(vec)
    assert main(["index", "build", "flat", "--vectors", str(vec), "--output", str(vec)]) == 1
    assert "overlaps the input" in capsys.readouterr().err
    assert snapshot(vec) == before


# -- refusals (Python) -------------------------------------------------------------------------
def test_python_save_refuses_non_index_and_needs_overwrite(tmp_path):
    index = BM25Index.build(CORPUS, progress=False)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "meta.json").write_text('{"format": "not-winnow", "files": {}}')  # someone else's meta.json
    with pytest.raises(ValueError, match="not a Winnow index"):
        index.save(folder, overwrite=True)
    assert (folder / "meta.json").read_text() == '{"format": "not-winnow", "files": {}}'
    index.save(tmp_path / "idx")
    with pytest.raises(ValueError, match=r"overwrite=True"):
        index.save(tmp_path / "idx")
    index.save(tmp_path / "idx", overwrite=True)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "idx")
    with pytest.raises(ValueError, match="is a link"):
        index.save(link, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "idx", "link"]


# -- kills between the steps of a replace ------------------------------------------------------
KILLED_SAVE = """
import os, sys
from winnow.index import BM25Index, safe_save
step, fallback, path = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
def die(name):
    if name == step:
        os._exit(9)
safe_save._step = die
if fallback:  # a kernel / file system without renameat2 flags
    def unsupported(src, dst, flags):
        raise OSError(38, "renameat2 not supported")
    safe_save._renameat2 = unsupported
new = BM25Index.build([("n1", "new index only"), ("n2", "fresh words")], progress=False)
new.save(path, overwrite=True)
"""


def run_py(code: str, *args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                          capture_output=True, text=True, timeout=120, **kwargs)


@pytest.mark.parametrize("step, fallback", [("exchanged", False), ("moved-old", True), ("renamed-new", True)])
def test_kill_between_replace_steps_leaves_a_loadable_index(tmp_path, step, fallback):
    path = tmp_path / "idx"
    BM25Index.build(CORPUS, progress=False).save(path)
    proc = run_py(KILLED_SAVE, step, int(fallback), path)
    assert proc.returncode == 9, proc.stderr  # killed at that step
    assert hidden(tmp_path)  # the kill left something behind ...
    assert path.exists() == (step != "moved-old")  # between the two renames: no index at the path
    loaded = winnow.index.load(path)  # ... and the next load recovers an index
    assert loaded.n_docs in (len(CORPUS), 2)
    if step != "exchanged":  # the new index was complete at both fallback steps: it wins
        assert loaded.n_docs == 2
    assert hidden(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["idx"]
    winnow.index.verify(path)


def test_exchange_is_used_where_supported(tmp_path, monkeypatch):
    """A replace first tries one renameat2(RENAME_EXCHANGE) call."""
    path = tmp_path / "idx"
    BM25Index.build(CORPUS, progress=False).save(path)
    seen = []
    real = safe_save._renameat2
    monkeypatch.setattr(safe_save, "_renameat2", lambda s, d, f: (seen.append(f), real(s, d, f))[1])
    # where the file system lacks it, install() falls back to the two renames tested above
    BM25Index.build(CORPUS[:2], progress=False).save(path, overwrite=True)
    assert seen == [safe_save.RENAME_EXCHANGE]
    assert winnow.index.load(path).n_docs == 2


def test_saves_without_renameat2(tmp_path, monkeypatch):
    """Where renameat2's flags are missing (ENOSYS / EINVAL), first saves and replaces still work."""
    def unsupported(src, dst, flags):
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(safe_save, "_renameat2", unsupported)
    path = tmp_path / "idx"
    BM25Index.build(CORPUS, progress=False).save(path)
    BM25Index.build(CORPUS[:2], progress=False).save(path, overwrite=True)
    assert winnow.index.load(path).n_docs == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]


def test_killed_save_tmp_dirs_are_cleaned_on_next_load(tmp_path):
    path = tmp_path / "idx"
    BM25Index.build(CORPUS, progress=False).save(path)
    killed = run_py("""
        import os, sys
        from winnow.index import BM25Index
        import numpy as np
        real = np.save
        def dying_save(*a, **k):  # killed while writing the payload
            os._exit(9)
        np.save = dying_save
        BM25Index.build([("x", "y")], progress=False).save(sys.argv[1], overwrite=True)
        """, path)
    assert killed.returncode == 9
    assert any(n.startswith(".idx.tmp-") for n in hidden(tmp_path))
    assert winnow.index.load(path).n_docs == len(CORPUS)  # old index untouched
    assert hidden(tmp_path) == []


def test_cleanup_touches_only_dead_winnow_leftovers(tmp_path):
    path = tmp_path / "idx"
    BM25Index.build(CORPUS, progress=False).save(path)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".idx.tmp-{sleeper.pid}"  # a save still running in another process
        live.mkdir()
        (live / safe_save.PARTIAL).touch()  # as a save in progress has it
        keep = [tmp_path / ".idx.tmp-notapid", tmp_path / ".idx.backup", tmp_path / ".other.tmp-1",
                tmp_path / ".idx.tmp-2147483645"]  # right name, dead PID, but no marker: a user's folder
        for p in keep:
            p.mkdir()
        a_file = tmp_path / ".idx.old-2147483646"  # right name, but a file: not ours
        a_file.write_text("x")
        winnow.index.load(path)
        assert all(p.exists() for p in keep + [live, a_file])
    finally:
        sleeper.kill()
        sleeper.wait()
    winnow.index.load(path)
    assert not live.exists()  # its process is gone now
    assert all(p.exists() for p in keep + [a_file])


def test_concurrent_saves_one_winner_and_a_clear_error(tmp_path):
    path = tmp_path / "idx"
    started, go = tmp_path / "started", tmp_path / "go"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from pathlib import Path
        from winnow.index.format import save_directory
        started, go = Path(sys.argv[2]), Path(sys.argv[3])
        def write(tmp):
            (tmp / "a.npy").write_bytes(b"x" * 10)
            started.touch()
            while not go.exists():
                time.sleep(0.02)
        save_directory(sys.argv[1], write, {"format": "winnow.test", "format_version": [1, 0]})
        """), str(path), str(started), str(go)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert holder.poll() is None and time.monotonic() < deadline, holder.stderr.read()
            time.sleep(0.02)
        with pytest.raises(ValueError, match="another process is writing an index to") as info:
            BM25Index.build(CORPUS, progress=False).save(path)
        assert str(path) in str(info.value)
    finally:
        go.touch()
        assert holder.wait(timeout=60) == 0, holder.stderr.read()
    assert winnow.index.inspect(path)["format"] == "winnow.test"  # the winner, intact
    assert hidden(tmp_path) == []


# -- run files ---------------------------------------------------------------------------------
def test_run_file_policy(tmp_path, capsys):
    idx = tmp_path / "idx"
    BM25Index.build(CORPUS, progress=False).save(idx)
    queries = tmp_path / "queries.tsv"
    queries.write_text("q1\tquick fox\nq2\tlazy dog\n")

    def search(out, *extra):
        return main(["search", "--index", str(idx), "--queries", str(queries), "--output", str(out), *extra])

    run = tmp_path / "run.txt"
    assert search(run) == 0
    first = run.read_text()
    assert search(run) == 1 and "--overwrite" in capsys.readouterr().err
    assert search(run, "--k", "1", "--overwrite") == 0 and run.read_text() != first
    for target in (queries, tmp_path / "idx"):  # not a run file: refused even with --overwrite
        before = snapshot(tmp_path)
        assert search(target, "--overwrite") == 1
        assert "refusing to replace it" in capsys.readouterr().err
        assert snapshot(tmp_path) == before
    results = winnow.index.load(idx).search(QUERIES, k=2)
    with pytest.raises(ValueError, match="overwrite=True"):
        results.to_trec(run)
    results.to_trec(run, overwrite=True)
    with pytest.raises(ValueError, match="not a TREC run"):
        results.to_trec(queries, overwrite=True)
    assert hidden(tmp_path) == []


def test_a_users_file_at_the_lock_name_is_never_removed(tmp_path):
    """Only lock files a save signed are unlinked: a user's file at that name refuses the save
    and stays as it was."""
    path = tmp_path / "idx"
    lock = safe_save.sibling(path, "lock")
    lock.write_text("my file\n")
    with pytest.raises(ValueError, match="not a Winnow lock file"):
        BM25Index.build(CORPUS, progress=False).save(path)
    assert lock.read_text() == "my file\n" and not path.exists()
    lock.unlink()
    BM25Index.build(CORPUS, progress=False).save(path)  # our own lock: created, signed, removed
    assert hidden(tmp_path) == []
