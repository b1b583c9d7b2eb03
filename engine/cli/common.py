"""Argument groups and input helpers shared by the subcommands."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=nonnegative_int, default=1, metavar="N",
                        help="worker threads (default 1; 0 = all cores)")


def add_input_policy(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skip-bad-lines", action="store_true",
                        help="skip malformed input lines and report their count instead of failing")


def positive_int(text: str) -> int:
    """argparse type of counts such as --k, --nprobe, --nlist, --M: an integer >= 1 (a usage
    error, exit 2, otherwise; ``--k 0`` used to print a table of zeros)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """argparse type of --threads (0 = all cores) and of counts that may be 0: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def load_queries(path: str, split: str | None = None) -> dict[str, str]:
    """Queries from a dataset directory (optionally one split) or a queries file.

    Files: ``.jsonl`` (BEIR), SGML topics (``<top>``), otherwise ``qid<TAB>text``.
    """
    from winnow import datasets
    from winnow.readers import read_beir_queries, read_queries_tsv, read_trec_topics

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such queries file or dataset directory")
    if p.is_dir():
        return datasets.load(p).queries(split=split)
    if split is not None:
        raise ValueError("--split needs a dataset directory for --queries, not a single file")
    name = p.name.lower().removesuffix(".gz")
    if name.endswith(".jsonl"):
        return read_beir_queries(p)
    from winnow.readers import open_text

    with open_text(p) as lines:
        first = next((line for line in lines if line.strip()), "")
    if first.lstrip().lower().startswith("<top"):
        return read_trec_topics(p)
    return read_queries_tsv(p)


def open_corpus(path: str, skip_bad_lines: bool = False):
    """(iterator of (docno, text), report) for a corpus file or dataset directory."""
    from winnow import datasets
    from winnow.readers import BadLineReport

    report = BadLineReport()
    ds = datasets.load(path)
    if not ds.corpus_paths:
        raise ValueError(f"{path}: dataset has no corpus (documents) to index")
    return ds.corpus(skip_bad_lines=skip_bad_lines, report=report), report


def add_overwrite(parser: argparse.ArgumentParser, what: str = "index") -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace an existing {what} at --output (anything else there is never replaced)")


def check_index_output(output: str, overwrite: bool, *inputs) -> None:
    """Refuse, before any work, an --output that is not a Winnow index (a user folder, a
    file, the input) or an index without --overwrite; the save checks again under its lock."""
    from winnow.index.safe_save import check_output

    check_output(output, overwrite, inputs)
