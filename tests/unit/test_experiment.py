"""The experiment runner end to end (tiny BEIR and MS MARCO datasets, bundled Cranfield),
its cache, its reports and its configuration errors."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from winnow.experiment import run_experiment, split_kind
from winnow.experiment_config import ConfigError, load_config

DOCS = {
    "d1": "the cat sat on the mat",
    "d2": "dogs chase cats in the park",
    "d3": "a quick brown fox jumps over the lazy dog",
    "d4": "stock markets fell sharply on monday",
    "d5": "the central bank raised interest rates",
    "d6": "cats and dogs living together",
}
QUERIES = {"q1": "cat on a mat", "q2": "interest rates bank", "q3": "dog chasing cats"}
QRELS = {"q1": {"d1": 2, "d6": 1}, "q2": {"d5": 1, "d4": 1}, "q3": {"d2": 2, "d6": 1}}


@pytest.fixture
def beir(tmp_path: Path) -> Path:
    d = tmp_path / "tiny"
    (d / "qrels").mkdir(parents=True)
    (d / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n"
                                            for k, v in DOCS.items()))
    (d / "queries.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in QUERIES.items()))
    (d / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{doc}\t{g}\n" for q, j in QRELS.items() for doc, g in j.items()))
    return d


def config(dataset_dir: Path, out: Path, **extra) -> dict:
    cfg = {
        "dataset": {"path": str(dataset_dir)},
        "indexes": {"bm25": {"type": "bm25"}, "tuned": {"type": "bm25", "k1": 1.2, "b": 0.75},
                    "classic": {"type": "bm25", "scoring": "robertson"}},
        "pipelines": {"bm25": "bm25", "tuned": "tuned", "hybrid": "rrf(bm25, classic, rrf_k=10)",
                      "top2": "bm25 % 2", "fused": "score_sum(tuned, classic, normalise='zscore') >> cutoff(3)"},
        "evaluation": {"metrics": ["nDCG@10", "RR@10", "R@100"], "baseline": "bm25", "k": 10},
        "output": {"dir": str(out), "plots": False},
    }
    for key, value in extra.items():
        cfg[key].update(value)
    return cfg


def test_tiny_beir_end_to_end_then_cache(beir: Path, tmp_path: Path):
    out = tmp_path / "out"
    report = run_experiment(config(beir, out), log=None)
    (split,) = report["splits"]
    assert split["split"] == "test" and split["queries"] == 3 and split["kind"] == "other"
    rows = {r["pipeline"]: r for r in split["rows"]}
    assert list(rows) == ["bm25", "tuned", "hybrid", "top2", "fused"]
    assert rows["bm25"]["metrics"]["RR@10"] == pytest.approx(1.0)
    assert all(set(r["metrics"]) == {"nDCG@10", "RR@10", "R@100"} for r in rows.values())
    assert rows["bm25"]["markers"] == {"nDCG@10": "", "RR@10": "", "R@100": ""}
    assert rows["bm25"]["index_bytes"] > 0 and rows["bm25"]["ms_per_query"] >= 0
    # runs: TREC format, cutoffs applied
    for name in rows:
        assert (out / "runs" / f"{name}.test.run").is_file()
    top2 = (out / "runs" / "top2.test.run").read_text().splitlines()
    assert top2[0].split()[1] == "Q0" and top2[0].split()[-1] == "top2"
    assert max(int(line.split()[3]) for line in top2) == 2
    assert max(int(line.split()[3]) for line in (out / "runs" / "fused.test.run").read_text().splitlines()) == 3
    # tables
    md = (out / "table.md").read_text()
    assert "| bm25 (baseline) |" in md and "`rrf(bm25, classic, rrf_k=10)`" in md
    with open(out / "table.csv") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 5 * 3 and {r["pipeline"] for r in table} == set(rows)
    saved = json.loads((out / "table.json").read_text())
    assert saved["splits"][0]["rows"][0]["metrics"] == rows["bm25"]["metrics"]
    # one BM25 build serves all three parameterisations
    assert len(list((out / "cache" / "indexes").glob("bm25-*.json"))) == 1
    assert sorted(report["cache"]["computed"]) == sorted(
        [f"run {p}.test" for p in rows] + ["index bm25", "index tuned", "index classic"])
    assert report["cache"]["reused"] == []

    again = run_experiment(config(beir, out), log=None)
    assert again["cache"]["computed"] == []
    assert {f"run {p}.test" for p in rows} <= set(again["cache"]["reused"])
    assert [r["metrics"] for r in again["splits"][0]["rows"]] == [r["metrics"] for r in split["rows"]]
    assert "run hybrid.test: reused" in (out / "experiment.log").read_text()

    # a search-time parameter changes: that run is recomputed, the index and the rest are reused
    third = run_experiment(config(beir, out), ["indexes.tuned.k1=2.0"], log=None)
    assert sorted(third["cache"]["computed"]) == ["run fused.test", "run tuned.test"]
    assert third["indexes"]["tuned"]["reused"]


def test_cranfield_reproduces_reference(tmp_path: Path):
    cfg = {"dataset": {"path": "bundled:cranfield"}, "indexes": {"bm25": {"type": "bm25"}},
           "output": {"dir": str(tmp_path / "cran"), "score_format": "anserini"}}
    report = run_experiment(cfg, log=None)
    (split,) = report["splits"]
    got = split["rows"][0]["metrics"]
    # pyserini 0.21.0 BM25 (../shared/data/README.md); BEIR-kind defaults
    assert list(got) == ["nDCG@10", "RR@10", "AP", "R@100", "R@1000"]
    want = {"nDCG@10": 0.3510, "RR@10": 0.5078, "AP": 0.2879, "R@100": 0.7224, "R@1000": 0.9518}
    assert {m: round(v, 4) for m, v in got.items()} == want
    for png in ("plots/recall-test.png", "plots/tradeoff-test.png"):
        assert (tmp_path / "cran" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    curve = json.loads((tmp_path / "cran" / "plots" / "recall-test.json").read_text())["bm25"]
    assert len(curve) == 1000 and curve[99] == pytest.approx(got["R@100"], abs=1e-4)


def test_msmarco_layout_trec_dl_defaults(tmp_path: Path):
    d = tmp_path / "mm"
    d.mkdir()
    (d / "collection.tsv").write_text("".join(f"{i}\t{t}\n" for i, t in enumerate(DOCS.values())))
    (d / "queries.tsv").write_text("".join(f"{i}\t{t}\n" for i, t in enumerate(QUERIES.values(), 1)))
    (d / "qrels.dl19-passage.txt").write_text("1 0 0 3\n1 0 5 1\n2 0 4 2\n3 0 1 2\n3 0 5 0\n")
    cfg = {"dataset": {"root": str(d), "splits": ["dev-subset", "dl19-passage"], "missing_splits": "skip"},
           "indexes": {"bm25": {"type": "bm25"}}, "output": {"dir": str(tmp_path / "o"), "plots": False}}
    report = run_experiment(cfg, log=None)
    (split,) = report["splits"]
    assert split["split"] == "dl19-passage" and split["kind"] == "trec-dl" and split["rel"] == 2
    assert split["metrics"] == ["nDCG@10", "AP", "R@1000"]
    assert "split dev-subset: skipped" in (tmp_path / "o" / "experiment.log").read_text()
    with pytest.raises(ConfigError, match=r"^dataset.splits: no split 'dev-subset'"):
        run_experiment({**cfg, "dataset": {"root": str(d), "splits": ["dev-subset"]}}, log=None)
    assert split_kind("msmarco", "msmarco-passage.dev-subset", "qrels.msmarco-passage.dev-subset.txt") == "msmarco-dev"
    assert split_kind("beir", "test", "test.tsv") == "other"


def test_dense_flat_from_precomputed_vectors(beir: Path, tmp_path: Path):
    """The dense path (precomputed corpus and query vectors, index cache)."""
    rng = np.random.default_rng(0)
    vec = tmp_path / "vec"
    vec.mkdir()
    corpus = rng.standard_normal((len(DOCS), 8))
    corpus = (corpus / np.linalg.norm(corpus, axis=1, keepdims=True)).astype(np.float16)  # unit rows
    np.save(vec / "corpus.npy", corpus)
    (vec / "corpus_ids.txt").write_text("\n".join(DOCS) + "\n")
    queries = np.stack([corpus[0], corpus[4], corpus[1]])  # each query is its relevant doc
    np.save(vec / "queries.npy", queries)
    (vec / "query_ids.txt").write_text("\n".join(QUERIES) + "\n")
    cfg = config(beir, tmp_path / "d")
    cfg["indexes"] = {"bm25": {"type": "bm25"}, "dense": {"type": "flat", "vectors": str(vec)}}
    cfg["pipelines"] = {"bm25": "bm25", "dense": "dense", "hybrid": "rrf(bm25, dense)"}
    report = run_experiment(cfg, log=None)
    rows = {r["pipeline"]: r for r in report["splits"][0]["rows"]}
    assert rows["dense"]["metrics"]["RR@10"] == pytest.approx(1.0)
    assert rows["dense"]["index_bytes"] >= len(DOCS) * 8 * 4  # float32 vectors (+ ids)
    first = (tmp_path / "d" / "runs" / "dense.test.run").read_text().split("\n")[0].split()
    assert first[:4] == ["q1", "Q0", "d1", "1"]
    again = run_experiment(cfg, ["evaluation.k=5"], log=None)  # new runs, reused indexes
    assert "index dense" in again["cache"]["reused"]


@pytest.mark.parametrize("change, key", [
    ({"pipelines": {"x": "rrf(bm2, bm25)"}}, "pipelines.x: unknown index or pipeline 'bm2'"),
    ({"pipelines": {"x": "__import__('os').system('true')"}}, "pipelines.x: unknown function"),
    ({"pipelines": {"x": "bm25.search"}}, "pipelines.x: unsupported expression"),
    ({"pipelines": {"x": "bm25 >> rerank(3)"}}, "pipelines.x: unknown stage 'rerank'"),
    ({"pipelines": {"x": "bm25 % 0"}}, "pipelines.x: cutoff"),
    ({"pipelines": {"x": "rrf(bm25, tuned, rrf=3)"}}, "pipelines.x: rrf() has no parameter 'rrf'"),
    ({"pipelines": {"x": "y", "y": "x"}}, "cycle"),
    ({"indexes": {"bm25": {"type": "bm26"}}}, "indexes.bm25.type: unknown index type 'bm26'"),
    ({"indexes": {"bm25": {"type": "bm25", "k1": "high"}}}, "indexes.bm25.k1: expected float"),
    ({"indexes": {"bm25": {"type": "bm25", "kl": 1.0}}}, "indexes.bm25.kl: unknown key"),
    ({"indexes": {"f": {"type": "flat"}}}, "indexes.f: give exactly one of model"),
    ({"indexes": {"f": {"type": "ivfpq", "vectors": "/nope", "nlist": 4}}}, "indexes.f.M: required"),
    ({"dataset": {"path": "/no/such/dir"}}, "dataset.path: no such file or directory"),
    ({"dataset": {"queries": "/no/q.tsv", "qrels": "/no/qrels.txt"}}, "dataset.queries: no such file"),
    ({"evaluation": {"metrics": ["nDCG@ten"]}}, "evaluation.metrics:"),
    ({"evaluation": {"baseline": "nope"}}, "evaluation.baseline: unknown pipeline 'nope'"),
    ({"output": {"colour": True}}, "output.colour: unknown key"),
])
def test_config_errors_name_the_key(beir: Path, tmp_path: Path, change: dict, key: str):
    cfg = config(beir, tmp_path / "o", **change)
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert key in str(info.value)


@pytest.mark.parametrize("override, key", [
    ("evaluation.k", "--set evaluation.k: expected KEY=VALUE"),
    ("evaluation..k=3", "--set evaluation..k=3: malformed key"),
    ("evaluation.k=0", "evaluation.k: expected a positive integer"),
    ("evaluation.k.x=1", "--set evaluation.k.x: evaluation.k is a value, not a table"),
    ("evaluation.metrics=[\"nDCG@10\"", "--set evaluation.metrics: value"),
    ("bogus.x=1", "config.bogus: unknown key"),
])
def test_bad_set_names_the_key(beir: Path, tmp_path: Path, override: str, key: str):
    with pytest.raises(ConfigError) as info:
        load_config(config(beir, tmp_path / "o"), [override])
    assert key in str(info.value)


def test_set_parses_toml_scalars_and_bare_paths(beir: Path, tmp_path: Path):
    cfg = load_config(config(beir, tmp_path / "o"), ["evaluation.k=50", "indexes.bm25.k1=1.1",
                                                      "evaluation.metrics=['AP', 'R@10']", f"dataset.path={beir}"])
    assert cfg.k == 50 and cfg.indexes["bm25"].params["k1"] == 1.1 and cfg.metrics == ["AP", "R@10"]
    assert cfg.dataset["path"] == beir.resolve()


def test_cli_experiment(beir: Path, tmp_path: Path, capsys):
    from winnow.cli.main import main

    cfg = tmp_path / "tiny.toml"
    cfg.write_text(f'[dataset]\npath = "{beir}"\n[indexes.bm25]\ntype = "bm25"\n[indexes.tuned]\n'
                   'type = "bm25"\nk1 = 1.2\n[pipelines]\nbm25 = "bm25"\nhybrid = "rrf(bm25, tuned)"\n'
                   '[output]\nplots = false\n')
    assert main(["experiment", str(cfg), "--output", str(tmp_path / "cli"), "--quiet", "--set", "evaluation.k=5"]) == 0
    assert "| hybrid |" in capsys.readouterr().out
    assert (tmp_path / "cli" / "runs" / "hybrid.test.run").is_file()
    assert main(["experiment", str(cfg), "--output", str(tmp_path / "cli"), "--set", "pipelines.x=nope"]) == 1
    assert "error: pipelines.x: unknown index or pipeline 'nope'" in capsys.readouterr().err
    assert main(["experiment", str(cfg), "--only", "hybrid", "--quiet", "--output", str(tmp_path / "cli")]) == 0


def test_experiment_refuses_a_user_folder(beir: Path, tmp_path: Path, capsys):
    """An output folder holding the user's files (not an earlier experiment's) is refused
    before any work, and nothing in it changes; a file as output likewise."""
    from winnow.cli.main import main

    cfg = tmp_path / "tiny.toml"
    cfg.write_text(f'[dataset]\npath = "{beir}"\n[indexes.bm25]\ntype = "bm25"\n[pipelines]\nbm25 = "bm25"\n'
                   '[output]\nplots = false\n')
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "table.md").write_text("my notes\n")
    assert main(["experiment", str(cfg), "--output", str(mine), "--quiet"]) == 1
    assert "not a Winnow experiment output" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["table.md"]
    assert (mine / "table.md").read_text() == "my notes\n"
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x\n")
    assert main(["experiment", str(cfg), "--output", str(a_file), "--quiet"]) == 1
    assert "is not a directory" in capsys.readouterr().err and a_file.read_text() == "x\n"
