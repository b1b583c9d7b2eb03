"""The ``winnow`` command, run in-process (``main([...])``) except one ``python -m`` check."""
from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from winnow.cli.main import build_parser, main

CORPUS = "d1\tThe quick brown fox jumps\nd2\tA lazy dog sleeps\nd3\tquick quick fox\nd4\tbrown bears\n"
QUERIES = "q1\tquick fox\nq2\tlazy dog\nq3\tzebra\n"


def subcommand_paths(parser: argparse.ArgumentParser, prefix=()):
    """Every subcommand path (('index',), ('index', 'build'), ('index', 'build', 'bm25'), ...)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + (name,)
                yield from subcommand_paths(sub, prefix + (name,))


def all_subcommands():
    return sorted(subcommand_paths(build_parser()))


def test_expected_subcommands_registered():
    names = {p[0] for p in all_subcommands()}
    assert {"index", "search", "demo"} <= names
    assert ("index", "build", "bm25") in all_subcommands() and ("index", "info") in all_subcommands()


@pytest.mark.parametrize("path", [()] + all_subcommands(), ids=lambda p: " ".join(p) or "winnow")
def test_help_exits_zero(path, capsys):
    with pytest.raises(SystemExit) as info:
        main([*path, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: winnow")


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("winnow ")


@pytest.mark.parametrize("argv", [["frobnicate"], [], ["index"], ["index", "build", "faiss"],
                                  ["search", "--index", "x"], ["search", "--index", "x", "--queries", "q",
                                                               "--output", "-", "--k", "0"]])
def test_usage_errors_exit_two(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: winnow" in capsys.readouterr().err


@pytest.fixture
def files(tmp_path):
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text(CORPUS)
    queries = tmp_path / "queries.tsv"
    queries.write_text(QUERIES)
    return tmp_path, corpus, queries


@pytest.fixture
def index_dir(files, capsys):
    tmp, corpus, _ = files
    out = tmp / "idx"
    assert main(["index", "build", "bm25", "--input", str(corpus), "--output", str(out)]) == 0
    err = capsys.readouterr().err
    assert "indexed 4 documents" in err and str(out) in err
    return out


def test_index_info(index_dir, capsys):
    assert main(["index", "info", str(index_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("format             winnow.bm25 3.0")
    assert "k1                 0.9" in out and "n_docs             4" in out
    assert main(["index", "info", "--json", str(index_dir)]) == 0
    import json

    meta = json.loads(capsys.readouterr().out)
    assert meta["format"] == "winnow.bm25" and meta["stats"]["n_docs"] == 4


def check_run_lines(lines, tag="winnow"):
    rows = [line.split() for line in lines]
    assert all(len(r) == 6 for r in rows)
    for qid, q0, docno, rank, score, t in rows:
        assert q0 == "Q0" and t == tag
        int(rank)
        float(score)
    return rows


def test_search_writes_run(files, index_dir, capsys):
    tmp, _, queries = files
    run = tmp / "out.run"
    assert main(["search", "--index", str(index_dir), "--queries", str(queries), "--k", "2",
                 "--output", str(run), "--tag", "bm25test"]) == 0
    assert "3 queries" in capsys.readouterr().err
    rows = check_run_lines(run.read_text().splitlines(), tag="bm25test")
    by_q = {}
    for qid, _, docno, rank, score, _ in rows:
        by_q.setdefault(qid, []).append((docno, int(rank), float(score)))
    assert set(by_q) == {"q1", "q2"}  # q3 matches nothing
    assert [r for _, r, _ in by_q["q1"]] == [1, 2]
    assert by_q["q1"][0][0] == "d3" and by_q["q1"][0][2] >= by_q["q1"][1][2]
    assert [d for d, _, _ in by_q["q2"]] == ["d2"]
    # the run agrees with the library
    from winnow import Results
    from winnow.index import load

    ref = load(index_dir).search({"q1": "quick fox", "q2": "lazy dog", "q3": "zebra"}, k=2)
    assert Results.from_trec(run).to_dict() == {q: d for q, d in ref.to_dict().items() if d}


def test_search_mmap_exhaustive_to_stdout(files, index_dir, capsys):
    tmp, _, queries = files
    assert main(["search", "--index", str(index_dir), "--queries", str(queries), "--k", "10",
                 "--output", "-", "--mmap", "--algorithm", "exhaustive", "--threads", "2"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    rows = check_run_lines(lines)
    assert [r[0] for r in rows].count("q1") == 2  # d1 and d3
    assert "->" not in captured.err  # no output path for stdout


def test_demo_table(capsys):
    assert main(["demo", "--no-dense"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("BM25 lucene k1=0.9 b=0.4"))
    assert line.split()[4] == "0.3510"  # nDCG@10, matching pyserini 0.21.0 on Cranfield
    assert "Cranfield (225 queries" in out


@pytest.mark.slow
def test_demo_with_dense_rows(capsys, tmp_path, monkeypatch):
    """The full demo encodes Cranfield with the packaged MiniLM (4-7 minutes on the shared
    2-core machine). The default run checks the same table in test_cli_demo_recorded.py."""
    monkeypatch.setenv("WINNOW_CACHE", str(tmp_path))
    assert main(["demo", "--threads", "2"]) == 0
    out = capsys.readouterr().out
    flat = next(line for line in out.splitlines() if line.startswith("dense Flat (exact)"))
    assert float(flat.split()[3]) > 0.37  # nDCG@10; observed 0.3817
    assert any(line.startswith("hybrid RRF(BM25, dense Flat)") for line in out.splitlines())


def test_missing_input_is_one_line_error(tmp_path, capsys):
    missing = tmp_path / "nope.tsv"
    code = main(["index", "build", "bm25", "--input", str(missing), "--output", str(tmp_path / "i")])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and str(missing) in err
    assert not (tmp_path / "i").exists()


def test_bad_index_is_one_line_error(tmp_path, files, capsys):
    _, _, queries = files
    code = main(["search", "--index", str(tmp_path / "none"), "--queries", str(queries), "--output", "-"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not an index directory" in err and err.count("\n") == 1
    assert main(["index", "info", str(tmp_path)]) == 1
    assert "meta.json" in capsys.readouterr().err


def test_debug_prints_traceback(tmp_path, capsys):
    missing = tmp_path / "nope.tsv"
    code = main(["--debug", "index", "build", "bm25", "--input", str(missing), "--output", str(tmp_path / "i")])
    assert code == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().splitlines()[-1].startswith("error: ")


def test_python_dash_m():
    proc = subprocess.run([sys.executable, "-m", "winnow", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: winnow") and "index" in proc.stdout
