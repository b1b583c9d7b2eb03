"""`winnow eval` and `winnow compare`, run in-process through winnow.cli.main.main."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from winnow.cli.main import main

# q1: d1 grade 2, d2 grade 1, d3 grade 0; q2: d4 grade 1; q3: d5 grade 1 (never retrieved)
QRELS = "q1 0 d1 2\nq1 0 d2 1\nq1 0 d3 0\nq2 0 d4 1\nq3 0 d5 1\n"
BASE = "q1 Q0 d1 1 3.0 base\nq1 Q0 d3 2 2.0 base\nq1 Q0 d2 3 1.0 base\nq2 Q0 d9 1 2.0 base\nq2 Q0 d4 2 1.0 base\n"
# better: d2 before d3 for q1, d4 first for q2
BETTER = "q1 Q0 d1 1 3.0 b\nq1 Q0 d2 2 2.0 b\nq1 Q0 d3 3 1.0 b\nq2 Q0 d4 1 2.0 b\nq2 Q0 d9 2 1.0 b\n"


@pytest.fixture()
def files(tmp_path: Path):
    paths = {}
    for name, text in [("qrels.txt", QRELS), ("base.run", BASE), ("better.run", BETTER)]:
        p = tmp_path / name
        p.write_text(text)
        paths[name] = str(p)
    return paths


def test_eval_table(files, capsys):
    rc = main(["eval", "--run", files["base.run"], "--qrels", files["qrels.txt"], "--metrics", "AP", "RR@10"])
    out = capsys.readouterr().out
    assert rc == 0
    lines = out.splitlines()
    assert "3 queries, 2 answered" in out
    assert any(l.split() == ["AP", f"{((1 + 2 / 3) / 2 + 0.5) / 3:.4f}"] for l in lines)
    assert any(l.split() == ["RR@10", "0.5000"] for l in lines)


def test_eval_default_metrics_and_rel(files, capsys):
    assert main(["eval", "--run", files["base.run"], "--qrels", files["qrels.txt"], "--rel", "2"]) == 0
    out = capsys.readouterr().out
    for label in ["nDCG@10", "RR(rel=2)@10", "AP(rel=2)", "R(rel=2)@1000"]:
        assert label in out
    assert any(l.split() == ["AP(rel=2)", "0.3333"] for l in out.splitlines())


def test_eval_json_per_query(files, capsys):
    rc = main(["eval", "--run", files["base.run"], "--qrels", files["qrels.txt"],
               "--metrics", "RR@10", "AP", "--rel", "2", "--per-query", "--json"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["metrics"]["RR@10"] == pytest.approx(1 / 3)
    assert data["measures"] == {"RR@10": "RR(rel=2)@10", "AP": "AP(rel=2)"}
    assert data["per_query"]["RR@10"] == {"q1": 1.0, "q2": 0.0, "q3": 0.0}
    assert data["queries"] == 3 and data["queries_answered"] == 2 and data["rel"] == 2


def test_eval_per_query_table(files, capsys):
    assert main(["eval", "--run", files["base.run"], "--qrels", files["qrels.txt"],
                 "--metrics", "RR@10", "--per-query"]) == 0
    rows = [l.split() for l in capsys.readouterr().out.splitlines()]
    assert ["q2", "0.5000"] in rows and ["q3", "0.0000"] in rows and ["all", "0.5000"] in rows


def test_eval_errors(files, tmp_path, capsys):
    assert main(["eval", "--run", str(tmp_path / "nope.run"), "--qrels", files["qrels.txt"]]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: run file not found") and err.count("\n") == 1
    assert main(["eval", "--run", files["base.run"], "--qrels", files["qrels.txt"], "--metrics", "Bogus@5"]) == 1
    assert "error: unknown metric 'Bogus@5'" in capsys.readouterr().err
    bad = tmp_path / "bad.run"
    bad.write_text("q1 Q0 d1 1\n")
    assert main(["eval", "--run", str(bad), "--qrels", files["qrels.txt"]]) == 1
    assert "bad.run:1" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["eval", "--qrels", "x"],                          # --run missing
    ["eval", "--run", "x", "--qrels", "y", "--rel", "0"],
    ["eval", "--run", "x", "--qrels", "y", "--rel", "two"],
    ["compare", "only_one.run", "--qrels", "y"],       # needs two runs
    ["compare", "a", "b", "--qrels", "y", "--test", "ztest"],
    ["compare", "a", "b", "--qrels", "y", "--alpha", "1.5"],
])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_help_texts(capsys):
    for cmd in ["eval", "compare"]:
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert "--qrels" in out and "--metrics" in out and "--rel" in out


def test_compare_table(files, capsys):
    rc = main(["compare", files["base.run"], files["better.run"], files["base.run"],
               "--qrels", files["qrels.txt"], "--metrics", "nDCG@10", "RR@10"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "base (baseline)" in out and "better" in out and "base#2" in out
    assert "+/-: significantly better/worse than the baseline (paired t-test" in out
    assert "Holm-corrected over 2 runs" in out
    assert "n/a" in out  # identical run: p undefined


def test_compare_json_values(files, capsys):
    rc = main(["compare", files["base.run"], files["better.run"], "--qrels", files["qrels.txt"],
               "--metrics", "RR@10", "AP", "--test", "wilcoxon", "--json"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in data["runs"]] == ["base", "better"]
    assert data["runs"][1]["metrics"]["RR@10"] == pytest.approx(2 / 3)
    (row,) = data["tests"]["RR@10"]
    # per query RR@10: base (1, 0.5, 0), better (1, 1, 0): one non-zero difference
    assert row["delta"] == pytest.approx(1 / 6)
    # d = (0, 0.5, 0): t = mean / (sd / sqrt(3)) = 1 with df 2, so p = 1 - 1/sqrt(3)
    assert row["t"] == pytest.approx(1.0)
    assert row["p_t"] == pytest.approx(1 - 1 / math.sqrt(3))
    # Wilcoxon: one non-zero difference among 3 (zeros, n <= 13): sign-flip p = 1
    assert row["p_wilcoxon"] == pytest.approx(1.0)
    assert row["marker"] == ""


def test_compare_markers(tmp_path, capsys):
    # 12 queries, each with one relevant doc; the baseline finds it at rank 2, the other at 1
    # (better on every query) and a third run never finds it (worse on every query).
    qrels = tmp_path / "q.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{i}\trel{i}\t1\n" for i in range(12)))
    runs = {}
    for name, order in [("base", ["x", "rel"]), ("good", ["rel", "x"]), ("bad", ["x", "y"])]:
        p = tmp_path / f"{name}.run"
        p.write_text("".join(f"{i} Q0 {d}{i if d == 'rel' else ''} {r + 1} {10 - r} {name}\n"
                             for i in range(12) for r, d in enumerate(order)))
        runs[name] = str(p)
    rc = main(["compare", runs["base"], runs["good"], runs["bad"], "--qrels", str(qrels),
               "--metrics", "RR@10", "--test", "wilcoxon", "--json"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    good, bad = data["tests"]["RR@10"]
    assert good["marker"] == "+" and bad["marker"] == "-"
    # Wilcoxon with 12 identical differences (ties, n <= 13): permutation p = 2 / 4096
    assert good["p_wilcoxon"] == pytest.approx(2 / 4096)
    assert good["p_wilcoxon_holm"] == pytest.approx(4 / 4096)
    # constant differences: t = +-inf, p = 0
    assert good["p_t"] == 0.0 and good["t"] == "inf" and bad["t"] == "-inf"
    rc = main(["compare", runs["base"], runs["good"], runs["bad"], "--qrels", str(qrels),
               "--metrics", "RR@10"])
    out = capsys.readouterr().out
    assert rc == 0
    rows = [l.split() for l in out.splitlines()]
    assert ["good", "1.0000+"] in rows and ["bad", "0.0000-"] in rows


def test_compare_errors(files, tmp_path, capsys):
    rc = main(["compare", files["base.run"], str(tmp_path / "nope.run"), "--qrels", files["qrels.txt"]])
    assert rc == 1
    assert capsys.readouterr().err.startswith("error: run file not found")
    rc = main(["compare", files["base.run"], files["better.run"], "--qrels", files["qrels.txt"],
               "--metrics", "NotAMeasure"])
    assert rc == 1
    assert "unknown metric" in capsys.readouterr().err
