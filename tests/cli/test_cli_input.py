"""The CLI on bad input (issue 12, item 3): refused before any work with one line naming it
(exit 1), usage errors for non-positive counts (exit 2), and ``warning: ...`` lines on stderr
for input that is accepted but gives nothing (exit 0)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from winnow.cli.main import main


def write_vectors(d: Path, x: np.ndarray) -> Path:
    d.mkdir()
    np.save(d / "corpus.npy", x)
    (d / "corpus_ids.txt").write_text("".join(f"d{i}\n" for i in range(len(x))))
    return d


def test_ivfpq_build_refuses_a_nan_training_vector(tmp_path, capsys):
    """It used to exit 0 with an index whose every query scored NaN."""
    x = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
    x[17, 3] = np.nan
    vecs = write_vectors(tmp_path / "v", x)
    out = tmp_path / "idx"
    code = main(["index", "build", "ivfpq", "--vectors", str(vecs), "--output", str(out), "--M", "2",
                 "--nlist", "2"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip() == f"error: {vecs / 'corpus.npy'} row 17 column 3 is nan: vectors must be finite"
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["demo", "--k", "0"], "argument --k: must be a positive integer, got '0'"),
    (["demo", "--k", "-5"], "argument --k: must be a positive integer, got '-5'"),
    (["demo", "--threads", "-3"], "argument --threads: must be an integer >= 0, got '-3'"),
    (["search", "--index", "i", "--queries", "q", "--output", "-", "--nprobe", "0"],
     "argument --nprobe: must be a positive integer, got '0'"),
    (["search", "--index", "i", "--queries", "q", "--output", "-", "--k", "ten"],
     "argument --k: must be a positive integer, got 'ten'"),
    (["index", "build", "ivf", "--vectors", "v", "--output", "o", "--nlist", "0"],
     "argument --nlist: must be a positive integer, got '0'"),
    (["index", "build", "pq", "--vectors", "v", "--output", "o", "--M", "0"],
     "argument --M: must be a positive integer, got '0'"),
    (["index", "build", "bm25", "--input", "c", "--output", "o", "--batch-size", "0"],
     "argument --batch-size: must be a positive integer, got '0'"),
    (["experiment", "c.toml", "--threads", "-1"], "argument --threads: must be an integer >= 0, got '-1'"),
    (["eval", "--run", "r", "--qrels", "q", "--rel", "0"], "argument --rel: must be a positive integer, got '0'"),
])
def test_non_positive_counts_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


QRELS = "q1 0 d1 1\nq2 0 d2 1\n"
RUN = "q1 Q0 d1 1 2.0 t\nq2 Q0 d3 1 1.0 t\n"


@pytest.fixture()
def eval_files(tmp_path: Path):
    (tmp_path / "qrels.txt").write_text(QRELS)
    (tmp_path / "a.run").write_text(RUN)
    (tmp_path / "other.run").write_text("x1 Q0 d1 1 2.0 t\n")
    return tmp_path


@pytest.mark.parametrize("metric", ["P@0", "R@0"])
def test_eval_and_compare_refuse_cutoff_zero(eval_files, metric, capsys):
    """pytrec_eval used to abort the process (exit 134) on these."""
    run, qrels = str(eval_files / "a.run"), str(eval_files / "qrels.txt")
    assert main(["eval", "--run", run, "--qrels", qrels, "--metrics", "AP", metric]) == 1
    assert capsys.readouterr().err.strip() == f"error: metric {metric!r}: cutoff must be an integer >= 1, got 0"
    assert main(["compare", run, run, "--qrels", qrels, "--metrics", metric]) == 1
    assert "cutoff must be an integer >= 1, got 0" in capsys.readouterr().err


def test_eval_warns_on_no_shared_query(eval_files, capsys):
    code = main(["eval", "--run", str(eval_files / "other.run"), "--qrels", str(eval_files / "qrels.txt"),
                 "--metrics", "P@1"])
    captured = capsys.readouterr()
    assert code == 0
    assert captured.err.strip() == ("warning: the run's 1 query (e.g. 'x1') shares none with the qrels' 2 "
                                    "(e.g. 'q1', 'q2'): every measure is 0; check that run and qrels use "
                                    "the same query ids")


def test_eval_and_compare_warn_on_unreached_rel(eval_files, capsys):
    run, qrels = str(eval_files / "a.run"), str(eval_files / "qrels.txt")
    assert main(["eval", "--run", run, "--qrels", qrels, "--metrics", "P@1", "nDCG@10", "--rel", "2"]) == 0
    assert capsys.readouterr().err.strip() == (
        "warning: no judgement reaches the relevance grade of P(rel=2)@1 (the highest grade in the qrels "
        "is 1): is 0 for every query")
    assert main(["compare", run, run, "--qrels", qrels, "--metrics", "P@1", "--rel", "2"]) == 0
    assert capsys.readouterr().err.count("warning: no judgement reaches the relevance grade") == 2  # per run
    assert main(["eval", "--run", run, "--qrels", qrels, "--metrics", "P@1"]) == 0
    assert capsys.readouterr().err == ""


def test_search_reports_queries_without_terms(tmp_path, capsys):
    corpus = tmp_path / "c.tsv"
    corpus.write_text("d1\tThe quick brown fox\nd2\tA lazy dog\n")
    queries = tmp_path / "q.tsv"
    queries.write_text("q1\tquick fox\nq2\tthe of and\nq3\t?!\n")
    index, run = tmp_path / "idx", tmp_path / "r.run"
    assert main(["index", "build", "bm25", "--input", str(corpus), "--output", str(index)]) == 0
    capsys.readouterr()
    assert main(["search", "--index", str(index), "--queries", str(queries), "--output", str(run)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: 2 of 3 queries analyze to no terms (only stop words or punctuation) and have no results: "
        "'q2', 'q3'",
        "warning: 2 of 3 queries have no results, so the run file has no lines for them (evaluation scores a "
        "judged query without lines 0): 'q2', 'q3'"]
    assert {line.split()[0] for line in run.read_text().splitlines()} == {"q1"}
