"""``winnow index build ... --shards N [--ray]`` and ``winnow search --index SHARDED [--ray
--replicas]``: runs byte-identical to the unsharded index's; usage mistakes are one-line errors."""
from __future__ import annotations

import numpy as np
import pytest

from winnow.cli.main import main


def _run(*argv) -> int:
    return main([str(a) for a in argv])


def test_sharded_bm25_build_and_search_match_unsharded(unsharded, tmp_path):
    path, _, _, _ = unsharded["vaswani"]
    assert _run("index", "build", "bm25", "--input", path, "--output", tmp_path / "one") == 0
    assert _run("index", "build", "bm25", "--input", path, "--output", tmp_path / "s3", "--shards", 3) == 0
    for name in ("one", "s3"):
        assert _run("search", "--index", tmp_path / name, "--queries", path, "--split", "test", "--k", 1000,
                    "--score-format", "anserini", "--output", tmp_path / f"{name}.run") == 0
    assert (tmp_path / "s3.run").read_bytes() == (tmp_path / "one.run").read_bytes()
    assert _run("index", "verify", tmp_path / "s3") == 0
    assert _run("index", "info", tmp_path / "s3") == 0


def test_ray_build_and_search_from_the_cli(ray_cluster, unsharded, tmp_path):
    path, _, reference, _ = unsharded["msmarco-dl19-pool"]
    assert _run("index", "build", "bm25", "--input", path, "--output", tmp_path / "s2", "--shards", 2,
                "--ray", "local") == 0
    assert _run("search", "--index", tmp_path / "s2", "--queries", path, "--split", "test", "--k", 1000,
                "--score-format", "anserini", "--tag", "Anserini", "--output", tmp_path / "run",
                "--ray", "local", "--replicas", 2) == 0
    assert (tmp_path / "run").read_text() == reference


def test_sharded_ivfpq_cli_equals_unsharded(tmp_path):
    from test_sharded_dense import write_encode_dir

    rng = np.random.default_rng(1)
    write_encode_dir(tmp_path / "vec", rng.standard_normal((500, 16)).astype(np.float32), 200, dtype="float32")
    np.save(tmp_path / "q.npy", rng.standard_normal((12, 16)).astype(np.float32))
    (tmp_path / "q_ids.txt").write_text("".join(f"q{i}\n" for i in range(12)))
    common = ["--vectors", tmp_path / "vec", "--M", 4, "--nlist", 8]
    assert _run("index", "build", "ivfpq", *common, "--output", tmp_path / "one") == 0
    assert _run("index", "build", "ivfpq", *common, "--output", tmp_path / "s4", "--shards", 4) == 0
    for name in ("one", "s4"):
        assert _run("search", "--index", tmp_path / name, "--query-vectors", tmp_path / "q.npy", "--nprobe", 3,
                    "--k", 20, "--output", tmp_path / f"{name}.run") == 0
    assert (tmp_path / "s4.run").read_bytes() == (tmp_path / "one.run").read_bytes()


def test_usage_mistakes_are_one_line_errors(unsharded, tmp_path, capsys):
    path, _, _, _ = unsharded["vaswani"]
    assert _run("index", "build", "bm25", "--input", path, "--output", tmp_path / "x", "--ray", "local") == 1
    assert "--ray builds the shards" in capsys.readouterr().err
    assert _run("index", "build", "bm25", "--input", path, "--output", tmp_path / "one") == 0
    assert _run("search", "--index", tmp_path / "one", "--queries", path, "--output", tmp_path / "r",
                "--replicas", 2) == 1
    assert "--replicas goes with --ray" in capsys.readouterr().err
    assert _run("search", "--index", tmp_path / "one", "--queries", path, "--output", tmp_path / "r",
                "--ray", "local") == 1
    assert "--ray searches a sharded index" in capsys.readouterr().err
    mine = tmp_path / "mine"
    mine.mkdir()
    assert _run("index", "build", "bm25", "--input", path, "--output", mine, "--shards", 2) == 1
    assert "not a Winnow index" in capsys.readouterr().err and mine.is_dir()
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("flag", ["--store", "--pretokenized"])
def test_unsupported_combinations(unsharded, tmp_path, capsys, flag):
    path, _, _, _ = unsharded["vaswani"]
    extra = [flag, "text"] if flag == "--store" else [flag]
    assert _run("index", "build", "bm25", "--input", path, "--output", tmp_path / "x", "--shards", 2, *extra) == 1
    assert "--shards does not go with" in capsys.readouterr().err
