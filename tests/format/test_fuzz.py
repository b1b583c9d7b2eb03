"""The mutation fuzzer (tests/format/fuzz_indexes.py) in CI: a bounded run over every index
format in every load mode must end each case in IndexFormatError or identical results, never
a crash, another exception or a silent difference; and the harness itself must see a crash,
a difference and an error when they happen."""
from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz_fixtures as fx  # noqa: E402
import fuzz_indexes as fz  # noqa: E402

from winnow.index.format import BUILTIN_FORMATS  # noqa: E402
from winnow.index.invariants import STRUCTURE_FILES  # noqa: E402

CI_MUTATIONS = 700  # (+ 10 no-ops) x 4 modes = 2,840 cases: about 10 s with 2 workers


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return fx.build_all(tmp_path_factory.mktemp("fuzz"), seed=0)


def test_every_builtin_format_is_fuzzed():
    assert set(fx.KINDS.values()) == set(BUILTIN_FORMATS)


def test_payload_and_structure_files_split_every_index(root):
    """The oracle's payload files (changes allowed in an unverified map) and the files an
    unverified load checksums as structure are complementary: no file is both or neither."""
    for kind, fmt in fx.KINDS.items():
        names = set(fz.read_files(root / "pristine" / kind)) - {"meta.json"}
        payload = names & fx.PAYLOAD_FILES[fx.family(kind)]
        structure = names & set(STRUCTURE_FILES[fmt])
        assert not payload & structure and payload | structure == names, (kind, names - payload - structure)


def test_pristine_indexes_are_identical_in_every_mode(root):
    files = fz.read_files(root / "pristine" / "bm25")
    for kind in fx.KINDS:
        for mode in fz.MODES:
            assert fz.replay(root, 0, kind, {"op": "none"}, mode)[0] == "identical", (kind, mode)
    assert fz.apply_mutation({"op": "none"}, files, {}) == files


def test_oracle_sees_errors_and_differences(root):
    vec = fz.read_files(root / "pristine" / "flat")["vectors.npy"]
    pos = fx.data_offset(Path("vectors.npy"), vec) + 4 * 5 + 3  # the sign/exponent byte of x[0, 5]
    mut = {"op": "flip1", "file": "vectors.npy", "pos": [pos], "xor": [0x40]}
    assert fz.replay(root, 0, "flat", mut, "read")[0] == "format_error"  # checksummed
    # an unverified map cannot know; the fuzzer counts it apart, as the contract allows
    assert fz.replay(root, 0, "flat", mut, "mmap")[0] == "different"
    files = fz.read_files(root / "pristine" / "flat")
    assert fz.payload_only("flat", files, fz.apply_mutation(mut, files, {}))
    assert fz.classify("different", "mmap", True) == "unverified_payload_diff"
    assert fz.classify("different", "mmap_verify", True) == "silent_wrong"
    assert fz.classify("different", "mmap", False) == "silent_wrong"
    head = {"op": "flip1", "file": "vectors.npy", "pos": [3], "xor": [1]}
    assert not fz.payload_only("flat", files, fz.apply_mutation(head, files, {}))


def test_worker_crash_is_recorded_and_the_worker_restarts(root, tmp_path):
    worker = fz.Worker(root, timeout=60)
    try:
        outcome, detail = worker.run(tmp_path, "flat", "read", selftest="crash")
        # "signal 11" normally; under AddressSanitizer its SEGV handler exits with an error code instead
        assert outcome == "crash" and "worker exit" in detail
        assert worker.run(root / "pristine" / "flat", "flat", "read") == ("identical", "")
    finally:
        worker.close()


def test_mutations_are_deterministic(root):
    files, twin = fz.read_files(root / "pristine" / "bm25"), fz.read_files(root / "twin" / "bm25")
    a = [fz.draw_mutation(random.Random(3), "bm25", files, twin) for _ in range(20)]
    b = [fz.draw_mutation(random.Random(3), "bm25", files, twin) for _ in range(20)]
    assert a == b
    assert {c["mut"]["op"] for c in fz.plan(root, 400, 0, list(fx.KINDS))} == set(fz.OPS) | {"none"}


def test_bounded_fuzz_run(tmp_path):
    summary = fz.run_fuzz(tmp_path / "run", CI_MUTATIONS, seed=0, jobs=2)
    assert summary["cases"] == (CI_MUTATIONS + len(fx.KINDS)) * len(fz.MODES)
    assert set(summary["counts"]) == set(fx.KINDS)
    bad = {k: v for k, v in summary["totals"].items() if k in fz.BAD}
    shown = "\n".join(f"{f['kind']} {f['mode']} {f['outcome']}: {f['mutation']} -> {f['detail'][:200]}"
                      for f in summary["failures"][:15])
    assert not bad, f"{bad} over {summary['cases']} cases; first failures:\n{shown}"
    assert summary["totals"].get("format_error", 0) > summary["cases"] // 2


@pytest.mark.slow
def test_long_fuzz_run(tmp_path):
    """20,000 mutations (80,040 cases, a few minutes): the CI run's guarantee at a larger scale."""
    summary = fz.run_fuzz(tmp_path / "run", 20_000, seed=1, jobs=2)
    bad = {k: v for k, v in summary["totals"].items() if k in fz.BAD}
    assert not bad, f"{bad}; first failures: {summary['failures'][:5]}"


def test_fixture_rebuild_never_deletes_a_users_folder(tmp_path):
    """--workdir DIR rebuilds DIR/fixtures: only an earlier fixtures directory (or an empty
    one) is removed; a user's folder of that name is refused and left intact."""
    mine = tmp_path / "fixtures"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep\n")
    with pytest.raises(ValueError, match="not a fuzzer fixtures directory"):
        fz._clear_fixtures(mine)
    assert (mine / "notes.txt").read_text() == "keep\n"
    (mine / "fixtures.json").write_text('{"name": "my fixtures"}')  # a user's file of that name
    with pytest.raises(ValueError, match="not a fuzzer fixtures directory"):
        fz._clear_fixtures(mine)
    assert (mine / "notes.txt").read_text() == "keep\n"
    (mine / "notes.txt").unlink()
    (mine / "fixtures.json").write_text('{"seed": 0, "kinds": []}')
    fz._clear_fixtures(mine)  # ours: removed
    assert not mine.exists()
