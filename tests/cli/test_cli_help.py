"""CLI help texts read as sentences, --debug works before or after the subcommand, usage
errors exit 2 (DESIGN.md section 7)."""
from __future__ import annotations

import argparse
import re

import pytest

from winnow.cli.main import build_parser, main


def _parsers(parser, path="winnow"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_description_is_sentences():
    for path, parser in _parsers(build_parser()):
        text = " ".join((parser.description or "").split())
        assert text, f"{path}: no description"
        assert text[0].isupper() and text.endswith("."), f"{path}: {text!r}"
        # the assembled-fragment bug: "Build a exact dense search ... index"
        assert not re.search(r"\ba [aeiou]", text), f"{path}: {text!r}"


def test_dense_build_descriptions_name_the_type():
    parsers = dict(_parsers(build_parser()))
    assert parsers["winnow index build flat"].description.startswith(
        "Build a Flat index: exact dense search over float32 vectors.")
    assert parsers["winnow index build ivfpq"].description.startswith("Build an IVF-PQ index:")


@pytest.mark.parametrize("argv", [
    ["--debug", "index", "build", "bm25"],
    ["index", "--debug", "build", "bm25"],
    ["index", "build", "bm25", "--debug"],
])
def test_debug_before_or_after_the_subcommand(tmp_path, capsys, argv):
    missing = tmp_path / "nope.tsv"
    code = main(argv + ["--input", str(missing), "--output", str(tmp_path / "i")])
    assert code == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().splitlines()[-1].startswith("error: ")


def test_without_debug_no_traceback(tmp_path, capsys):
    code = main(["index", "build", "bm25", "--input", str(tmp_path / "nope.tsv"), "--output", str(tmp_path / "i")])
    assert code == 1 and "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--no-such-option"], ["search"], ["demo", "--k", "0"], ["index", "build", "nope"]])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage: winnow" in capsys.readouterr().err


def test_help_states_exit_codes(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "2 on a usage error" in out and "1 on an error" in out
