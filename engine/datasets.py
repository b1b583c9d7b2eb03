"""Recognise a test collection on disk by its layout and read it through one object.

``load(path)`` accepts

* a **BEIR** directory: ``corpus.jsonl[.gz]``, ``queries.jsonl[.gz]``, ``qrels/<split>.tsv``;
* an **MS MARCO** directory: ``collection*.tsv`` and/or ``queries*.tsv`` / ``topics*.txt``
  (``qid<TAB>text``) with TREC qrels files ``qrels*``;
* a **TREC** directory: SGML ``<DOC>`` files, ``<top>`` topic files and ``qrels*`` files
  (files are recognised by their first line, whatever their extension);
* a single corpus file (``.jsonl``, ``.tsv`` or SGML), giving a corpus-only dataset.

Splits are named after the qrels files (``qrels/test.tsv`` -> ``test``,
``qrels.dl19-passage.txt`` -> ``dl19-passage``); a directory with a single TREC qrels file
has the one split ``test``.
"""
from __future__ import annotations

import gzip
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, NamedTuple

from winnow.errors import InputFormatError
from winnow.readers.beir import iter_beir_corpus, read_beir_qrels, read_beir_queries
from winnow.readers.common import BadLineReport
from winnow.readers.msmarco import iter_collection, read_queries_tsv
from winnow.readers.trec import iter_trec_docs, read_qrels, read_trec_topics

__all__ = ["Dataset", "Document", "bundled", "load"]

_EXT = re.compile(r"(\.(txt|tsv|jsonl|json|trec|sgml|xml|qrels|topics))?(\.gz)?$", re.I)


def _base(p: Path) -> str:
    """File name without ``.gz`` and one text extension, lower case."""
    return _EXT.sub("", p.name.lower())


def _head(p: Path) -> str:
    """First non-blank line of the first 64 KiB (decompressed), or ``""``."""
    try:
        with open(p, "rb") as fh:
            data = fh.read(65536)
        if data[:2] == b"\x1f\x8b":
            with gzip.open(p, "rb") as fh:
                data = fh.read(65536)
    except (OSError, EOFError):
        return ""
    for line in data.decode("utf-8", "replace").splitlines():
        if line.strip():
            return line.lstrip("\ufeff")
    return ""


def _classify(p: Path) -> str | None:
    """Kind of one top-level file of a non-BEIR directory, or None to ignore it."""
    base, head = _base(p), _head(p)
    first = head.lstrip().lower()
    if base.startswith("qrels"):
        return "trec-qrels"
    if re.match(r"<doc[\s>]", first):
        return "trec-docs"
    if first.startswith("<top"):
        return "trec-topics"
    if "\t" in head and base.startswith(("collection", "corpus")):
        return "tsv-collection"
    if "\t" in head and base.startswith(("queries", "topics", "query")):
        return "tsv-queries"
    return None


def _tag(p: Path, prefixes: tuple[str, ...]) -> str:
    """``topics.dl19-passage.txt`` -> ``dl19-passage``; ``queries.tsv`` -> ``""``."""
    base = _base(p)
    for pre in prefixes:
        if base.startswith(pre):
            return base[len(pre):].lstrip("._-")
    return base


class Document(NamedTuple):
    """One document with its fields apart: ``contents`` is what :meth:`Dataset.corpus` yields
    (the indexed text: BEIR ``title + " " + text``), ``title`` and ``text`` what a document store
    keeps (``title`` is ``""`` for formats without one: MS MARCO, TREC)."""

    docno: str
    contents: str
    title: str
    text: str


@dataclass
class Dataset:
    """A test collection on disk: corpus files, query files and qrels files per split.

    Attributes
    ----------
    name : str
        Directory name (or corpus file name without extensions).
    layout : {"beir", "msmarco", "trec"}
        Recognised layout; a single corpus file gets the layout of its format.
    path : pathlib.Path
        What was passed to :func:`load`.
    corpus_paths : list of pathlib.Path
        Corpus files, read in this order (empty when the directory has no corpus).
    splits : list of str
        Split names, one per qrels file, sorted.
    """

    name: str
    layout: str
    path: Path
    corpus_paths: list[Path] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    _corpus_kind: str = ""
    _queries: list[tuple[Path, str]] = field(default_factory=list)  # (file, kind)
    _qrels: dict[str, tuple[Path, str]] = field(default_factory=dict)  # split -> (file, kind)

    def corpus(self, *, skip_bad_lines: bool = False, report: BadLineReport | None = None,
               check_duplicates: bool = True) -> Iterator[tuple[str, str]]:
        """Return a fresh iterator of ``(docno, text)`` over the corpus, in file order.

        Parameters are those of the readers (:mod:`winnow.readers`). BEIR text is
        ``title + " " + text``; TREC text has tags removed and whitespace collapsed.
        """
        if not self.corpus_paths:
            raise InputFormatError(f"{self.path}: dataset {self.name!r} has no corpus file")
        kw = dict(skip_bad_lines=skip_bad_lines, report=report,
                  check_duplicates=check_duplicates)
        if self._corpus_kind == "trec-docs":
            return iter_trec_docs(self.corpus_paths, **kw)
        reader = iter_beir_corpus if self._corpus_kind == "beir-corpus" else iter_collection
        return reader(self.corpus_paths[0], **kw)

    def documents(self, *, skip_bad_lines: bool = False, report: BadLineReport | None = None,
                  check_duplicates: bool = True) -> Iterator[Document]:
        """Like :meth:`corpus`, with the title and text apart: a fresh iterator of
        :class:`Document` whose ``contents`` is exactly the text :meth:`corpus` yields."""
        kw = dict(skip_bad_lines=skip_bad_lines, report=report, check_duplicates=check_duplicates)
        if self._corpus_kind != "beir-corpus":
            return (Document(docno, text, "", text) for docno, text in self.corpus(**kw))
        self.corpus(**kw)  # only its checks (a corpus file exists): the generator is not started
        return (Document(docno, title + " " + text, title, text)
                for docno, title, text in iter_beir_corpus(self.corpus_paths[0], titles=True, **kw))

    def queries_path(self, split: str | None = None) -> Path:
        """The query file of ``split`` (or the only query file when ``split`` is None)."""
        files = self._query_files(split)
        if len(files) != 1:
            what = "no query file" if not files else "several query files: " + ", ".join(
                str(p) for p, _ in files)
            raise InputFormatError(f"{self.path}: {what}"
                                   + (f" for split {split!r}" if split else ""))
        return files[0][0]

    def qrels_path(self, split: str | None = None) -> Path:
        """The qrels file of ``split`` (``split`` may be omitted when there is only one)."""
        return self._qrels[self._split(split)][0]

    def queries(self, split: str | None = None, **kw: object) -> dict[str, str]:
        """Return ``{qid: text}`` in file order.

        With ``split``: only the queries judged in that split's qrels (from the query file
        matching the split's name when there is one). Without: every query of every
        query file. Keyword arguments (``skip_bad_lines``, ``report``) go to the readers.
        """
        files = self._query_files(split)
        if not files:
            raise InputFormatError(f"{self.path}: dataset {self.name!r} has no query file")
        out: dict[str, str] = {}
        for p, kind in files:
            if kind == "beir-queries":
                got = read_beir_queries(p, **kw)  # type: ignore[arg-type]
            elif kind == "trec-topics":
                got = read_trec_topics(p, **kw)  # type: ignore[arg-type]
            else:
                got = read_queries_tsv(p, **kw)  # type: ignore[arg-type]
            for qid, text in got.items():
                if out.setdefault(qid, text) != text:
                    raise InputFormatError(f"{p}: query {qid!r} has a different text in an "
                                           "earlier query file; expected one text per id")
        if split is None:
            return out
        judged = self.qrels(split)
        return {qid: text for qid, text in out.items() if qid in judged}

    def qrels(self, split: str | None = None, **kw: object) -> dict[str, dict[str, int]]:
        """Return ``{qid: {docno: grade}}`` of ``split``, or of all splits merged when None.

        Keyword arguments (``skip_bad_lines``, ``report``) go to the readers.
        """
        if not self._qrels:
            raise InputFormatError(f"{self.path}: dataset {self.name!r} has no qrels file")
        names = [self._split(split)] if split is not None else self.splits
        out: dict[str, dict[str, int]] = {}
        for name in names:
            p, kind = self._qrels[name]
            reader = read_beir_qrels if kind == "beir-qrels" else read_qrels
            for qid, judged in reader(p, **kw).items():  # type: ignore[arg-type]
                merged = out.setdefault(qid, {})
                for docno, grade in judged.items():
                    if merged.setdefault(docno, grade) != grade:
                        raise InputFormatError(
                            f"{p}: query {qid!r} document {docno!r} has grade {grade} here "
                            f"and {merged[docno]} in another split; expected one grade")
        return out

    def _split(self, split: str | None) -> str:
        if split is None:
            if len(self.splits) == 1:
                return self.splits[0]
            raise InputFormatError(f"{self.path}: give a split, one of {self.splits}")
        if split not in self._qrels:
            raise InputFormatError(f"{self.path}: no split {split!r}; splits are "
                                   f"{self.splits or 'none (no qrels file)'}")
        return split

    def _query_files(self, split: str | None) -> list[tuple[Path, str]]:
        if split is None or len(self._queries) <= 1:
            if split is not None:
                self._split(split)
            return list(self._queries)
        self._split(split)
        # The query file whose name tag is the split's name or its longest prefix
        # (topics.dl20.txt serves qrels.dl20-passage.txt); else all of them.
        best = None
        for p, kind in self._queries:
            tag = _tag(p, ("topics", "queries", "query"))
            if tag and (split == tag or re.match(re.escape(tag) + r"[._-]", split)):
                if best is None or len(tag) > len(_tag(best[0], ("topics", "queries", "query"))):
                    best = (p, kind)
        return [best] if best else list(self._queries)


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _load_beir(folder: Path, corpus: Path) -> Dataset:
    ds = Dataset(folder.name, "beir", folder, [corpus], _corpus_kind="beir-corpus")
    queries = _find(folder, "queries.jsonl")
    if queries:
        ds._queries = [(queries, "beir-queries")]
    qdir = folder / "qrels"
    if qdir.is_dir():
        for p in sorted(qdir.iterdir()):
            if p.is_file() and re.search(r"\.tsv(\.gz)?$", p.name):
                ds._qrels[re.sub(r"\.tsv(\.gz)?$", "", p.name)] = (p, "beir-qrels")
    ds.splits = sorted(ds._qrels)
    return ds


def _load_flat(folder: Path) -> Dataset | None:
    kinds: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.name.startswith("."):
            kind = _classify(p)
            if kind:
                kinds.setdefault(kind, []).append(p)
    docs, tsv = kinds.get("trec-docs", []), kinds.get("tsv-collection", [])
    queries = ([(p, "trec-topics") for p in kinds.get("trec-topics", [])]
               + [(p, "tsv-queries") for p in kinds.get("tsv-queries", [])])
    qrels = kinds.get("trec-qrels", [])
    if not (docs or tsv or (queries and qrels)):
        return None
    if docs and tsv:
        raise InputFormatError(f"{folder}: both SGML documents ({docs[0].name}) and a TSV "
                               f"collection ({tsv[0].name}); expected one corpus format")
    if len(tsv) > 1:
        raise InputFormatError(f"{folder}: several collection files "
                               f"({', '.join(p.name for p in tsv)}); expected one")
    layout = "trec" if docs or not tsv and kinds.get("trec-topics") else "msmarco"
    ds = Dataset(folder.name, layout, folder, docs or tsv,
                 _corpus_kind="trec-docs" if docs else "tsv-collection", _queries=queries)
    if len(qrels) == 1:
        ds._qrels = {"test": (qrels[0], "trec-qrels")}
    else:
        tags = [_tag(p, ("qrels",)) or _base(p) for p in qrels]
        if len(set(tags)) != len(tags):
            tags = [p.name for p in qrels]
        ds._qrels = {t: (p, "trec-qrels") for t, p in zip(tags, qrels)}
    ds.splits = sorted(ds._qrels)
    return ds


def _load_file(p: Path) -> Dataset | None:
    name = p.name.lower()
    head = _head(p)
    name_base = _EXT.sub("", p.name)
    if re.search(r"\.jsonl(\.gz)?$", name) or head.lstrip().startswith("{"):
        return Dataset(name_base, "beir", p, [p], _corpus_kind="beir-corpus")
    if re.match(r"<doc[\s>]", head.lstrip().lower()):
        return Dataset(name_base, "trec", p, [p], _corpus_kind="trec-docs")
    if "\t" in head:
        return Dataset(name_base, "msmarco", p, [p], _corpus_kind="tsv-collection")
    return None


def load(path: str | os.PathLike[str]) -> Dataset:
    """Recognise the dataset at ``path`` (directory or single corpus file) and return it.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    InputFormatError
        Nothing recognisable at ``path`` (the message says what was looked for).
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or directory")
    if p.is_dir():
        corpus = _find(p, "corpus.jsonl")
        ds = _load_beir(p, corpus) if corpus else _load_flat(p)
    else:
        ds = _load_file(p)
    if ds is None:
        raise InputFormatError(
            f"{p}: not a recognised dataset; expected a BEIR directory (corpus.jsonl, "
            "queries.jsonl, qrels/*.tsv), an MS MARCO directory (collection.tsv, "
            "queries*.tsv, qrels*), a TREC directory (<DOC> files, <top> topics, qrels*) "
            "or a corpus file (.jsonl, .tsv, SGML)")
    return ds


def bundled(name: str = "cranfield") -> Dataset:
    """Return a collection shipped inside the package (``"cranfield"``, BEIR layout)."""
    root = Path(__file__).resolve().parent / "data"
    available = sorted(d.name for d in root.iterdir() if d.is_dir()) if root.is_dir() else []
    if name not in available:
        raise ValueError(f"no bundled dataset {name!r}; available: {available}")
    return load(root / name)
