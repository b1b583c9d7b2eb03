"""Streaming readers and writers for MS MARCO, BEIR and TREC files (gzip read transparently).

Every reader takes ``skip_bad_lines=False`` and ``report=None``; see
:mod:`winnow.readers.common` for the bad-line policy.
"""
from winnow.readers.beir import iter_beir_corpus, read_beir_qrels, read_beir_queries
from winnow.readers.common import BadLineReport, open_text
from winnow.readers.msmarco import iter_collection, read_queries_tsv
from winnow.readers.run import RunRow, check_run_output, format_score, is_run_file, iter_run, read_run, write_run
from winnow.readers.trec import iter_qrels, iter_trec_docs, read_qrels, read_trec_topics

__all__ = [
    "BadLineReport",
    "RunRow",
    "check_run_output",
    "format_score",
    "is_run_file",
    "iter_beir_corpus",
    "iter_collection",
    "iter_qrels",
    "iter_run",
    "iter_trec_docs",
    "open_text",
    "read_beir_qrels",
    "read_beir_queries",
    "read_qrels",
    "read_queries_tsv",
    "read_run",
    "read_trec_topics",
    "write_run",
]
