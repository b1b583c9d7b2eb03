"""Training examples for the reranker and ColBERT trainers (``winnow train cross-encoder|colbert``).

An example is ``(query text, positive docno, [hard negative docnos])``. Sources:

* judged training queries: a dataset's ``train`` split (queries + qrels); every document of
  grade >= ``min_grade`` is a positive (one example per positive);
* inverse-cloze pseudo-queries (Lee et al., ACL 2019) drawn from a corpus: the title of a
  document that has one, else one sentence of the passage; the positive is the passage with
  that sentence taken out (:func:`inverse_cloze_examples`);
* hard negatives: the top documents of a Winnow first stage (any index: BM25 or dense) that
  are not judged relevant (:func:`add_hard_negatives`).

**Positives and negatives look alike.** A pseudo-query's positive is a body without its title
(the title, or a sentence, became the query). Its negatives are therefore given body-only too
(:meth:`TrainingSet.negative_texts`): were they full documents (title + text), every passage
that opens with a title would be a negative, and a model could learn that cue instead of
relevance. Judged examples keep full documents for the positive and the negatives alike (the
form the reranker scores at search time). Both trainers take their texts from
:meth:`TrainingSet.passage` and :meth:`TrainingSet.negative_texts`.

**The split rule.** No query of the dataset's held-out splits (every split but the training
one: ``test``, ``dev``...), nor any query of a collection whose corpus gives pseudo-queries, may
reach training, by id or by text: :func:`check_split` raises
:class:`TrainTestLeak` when one does, and the trainers call it on everything they train on.
Pseudo-queries whose text equals a held-out query's text are dropped for the same reason.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

__all__ = ["Example", "TrainTestLeak", "held_out_queries", "judged_examples", "inverse_cloze_examples",
           "add_hard_negatives", "check_split", "load_training_set"]


class TrainTestLeak(ValueError):
    """A held-out (test) query would be used in training."""


@dataclass
class Example:
    query: str
    positive: str  # docno, or a literal passage when ``positive_text`` is set (pseudo-queries)
    negatives: list[str] = field(default_factory=list)  # docnos
    qid: str | None = None  # judged queries only
    positive_text: str | None = None  # the passage for pseudo-queries (title or a sentence removed)

    @property
    def pseudo(self) -> bool:
        """A pseudo-query (its positive a literal body-only passage): its negatives are
        presented body-only as well (:meth:`TrainingSet.negative_texts`)."""
        return self.positive_text is not None


def _norm(text: str) -> str:
    return " ".join(str(text).lower().split())


def held_out_queries(dataset, train_split: str = "train") -> dict[str, str]:
    """``{qid: text}`` of every query judged in a split other than ``train_split``."""
    out: dict[str, str] = {}
    for split in dataset.splits:
        if split != train_split:
            out.update(dataset.queries(split))
    return out


def check_split(examples: Sequence[Example], held_out: Mapping[str, str]) -> None:
    """Raise :class:`TrainTestLeak` naming the first example whose query id or text is a
    held-out query's."""
    ids = set(held_out)
    texts = {_norm(t): q for q, t in held_out.items()}
    for ex in examples:
        if ex.qid is not None and ex.qid in ids:
            raise TrainTestLeak(f"training query {ex.qid!r} is a held-out (test) query")
        hit = texts.get(_norm(ex.query))
        if hit is not None:
            raise TrainTestLeak(f"training query text {ex.query[:60]!r} is held-out query {hit!r}'s text")


def judged_examples(queries: Mapping[str, str], qrels: Mapping[str, Mapping[str, int]],
                    min_grade: int = 1) -> list[Example]:
    """One example per (training query, relevant document)."""
    out = []
    for qid, text in queries.items():
        for docno, grade in sorted(qrels.get(qid, {}).items()):
            if grade >= min_grade:
                out.append(Example(text, docno, qid=qid))
    return out


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")


def inverse_cloze_examples(documents: Iterable, n: int, seed: int = 0, held_out: Mapping[str, str] = {},
                           min_words: int = 5) -> list[Example]:
    """``n`` pseudo-queries from a corpus (``documents``: :class:`winnow.datasets.Document`
    or (docno, text) pairs): a document's title (its passage the positive), or for documents
    without a title a random sentence of >= ``min_words`` words (the passage without it the
    positive, as in the inverse cloze task), or, in a text without sentence punctuation, a
    random span of a fifth of its words. Texts equal to a held-out query are skipped."""
    docs = list(documents)
    rng = random.Random(seed)
    rng.shuffle(docs)
    banned = {_norm(t) for t in held_out.values()}
    out = []
    for d in docs:
        if len(out) >= n:
            break
        docno, title, text = (d.docno, d.title, d.text) if hasattr(d, "title") else (d[0], "", d[1])
        if title and len(title.split()) >= min_words // 2:
            query, passage = title, text
        else:
            sents = [s for s in _SENTENCE.split(text) if len(s.split()) >= min_words]
            if len(sents) >= 2:
                query = rng.choice(sents)
                passage = " ".join(s for s in _SENTENCE.split(text) if s != query)
            else:  # no sentence punctuation (Vaswani's abstracts): a span of words instead
                words = text.split()
                if len(words) < 3 * min_words:
                    continue
                span = max(min_words, len(words) // 5)
                a = rng.randrange(0, len(words) - span + 1)
                query, passage = " ".join(words[a:a + span]), " ".join(words[:a] + words[a + span:])
        if _norm(query) in banned:
            continue
        out.append(Example(query, docno, positive_text=passage))
    return out


def add_hard_negatives(examples: list[Example], first_stage, n_negatives: int, depth: int = 30,
                       qrels: Mapping[str, Mapping[str, int]] | None = None, seed: int = 0,
                       batch: int = 256) -> None:
    """Fill each example's ``negatives`` with ``n_negatives`` docnos sampled from the
    ``first_stage``'s top ``depth`` (a Winnow index or retriever), never the positive nor a
    document judged relevant for the query."""
    rng = random.Random(seed)
    for a in range(0, len(examples), batch):
        part = examples[a:a + batch]
        res = first_stage.search({str(i): ex.query for i, ex in enumerate(part)}, k=depth)
        for i, ex in enumerate(part):
            row = res.ids[i][res.ids[i] >= 0]
            judged = set((qrels or {}).get(ex.qid, {})) if ex.qid is not None else set()
            pool = [d for d in res.docnos.lookup(row) if d != ex.positive and d not in judged]
            ex.negatives = rng.sample(pool, min(n_negatives, len(pool)))


@dataclass
class TrainingSet:
    examples: list[Example]
    texts: dict[str, str]  # docno -> document text (title + " " + text where there is a title)
    held_out: dict[str, str]
    n_judged: int
    n_pseudo: int
    dropped_queries: list[str] = field(default_factory=list)  # training qids held out (id or text)
    bodies: dict[str, str] = field(default_factory=dict)  # docno -> text without the title (titled docs only)

    def passage(self, ex: Example) -> str:
        """The text of ``ex``'s positive: the full document for a judged example, the
        body-only passage for a pseudo-query."""
        return ex.positive_text if ex.positive_text is not None else self.texts[ex.positive]

    def negative_texts(self, ex: Example, limit: int | None = None) -> list[str]:
        """The texts of ``ex``'s first ``limit`` (default all) negatives, in the positive's form:
        full documents for a judged example; for a pseudo-query, whose positive has lost its
        title, the documents without their titles (``bodies``), so that the title is no cue
        that tells negatives from the positive."""
        docnos = ex.negatives if limit is None else ex.negatives[:limit]
        if ex.pseudo:
            return [self.bodies.get(d, self.texts[d]) for d in docnos]
        return [self.texts[d] for d in docnos]


def load_training_set(dataset_path, split: str = "train", pseudo_queries: int = 0,
                      pseudo_corpora: Sequence = (), first_stage=None, n_negatives: int = 3,
                      depth: int = 30, max_queries: int | None = None, seed: int = 0) -> TrainingSet:
    """The judged ``split`` of ``dataset_path`` plus ``pseudo_queries`` inverse-cloze
    queries from its corpus (and ``pseudo_queries`` from each of ``pseudo_corpora``), hard
    negatives from ``first_stage`` (default: a BM25 index of the dataset's corpus built in
    memory), checked against the held-out splits (:func:`check_split`)."""
    from winnow import datasets
    from winnow.errors import InputFormatError

    ds = datasets.load(dataset_path)
    if split not in ds.splits:
        raise ValueError(f"{dataset_path}: no split {split!r} to train on (splits: {ds.splits})")
    held_out = held_out_queries(ds, split)
    queries = ds.queries(split)
    if max_queries is not None:
        queries = dict(list(queries.items())[:int(max_queries)])
    qrels = ds.qrels(split)
    # a query judged in both splits, or a training query with a held-out query's text (SciFact
    # has train claims worded exactly as test claims), is held out: never trained on
    held_texts = {_norm(t) for t in held_out.values()}
    kept = {q: t for q, t in queries.items() if q not in held_out and _norm(t) not in held_texts}
    dropped = sorted(set(queries) - set(kept))
    queries = kept
    docs = list(ds.documents())
    texts = {d.docno: d.contents for d in docs}
    # pseudo-queries' negatives are given without titles (TrainingSet.negative_texts)
    bodies = {d.docno: d.text for d in docs if d.text != d.contents}
    examples = judged_examples(queries, qrels)
    n_judged = len(examples)
    pseudo = inverse_cloze_examples(docs, pseudo_queries, seed, held_out) if pseudo_queries else []
    for j, corpus in enumerate(pseudo_corpora):
        other = datasets.load(corpus)
        odocs = list(other.documents())
        try:  # that collection's queries are test queries too: none may be a pseudo-query
            held_out.update({f"{other.name}:{q}": t for q, t in other.queries().items()})
        except InputFormatError:  # a corpus without query files
            pass
        # pseudo-queries of another corpus: their passages are literal texts, no docno lookup
        more = inverse_cloze_examples(odocs, pseudo_queries, seed + 1 + j, held_out)
        for ex in more:
            ex.positive = f"{other.name}:{ex.positive}"
        pseudo += more
    examples += pseudo
    check_split(examples, held_out)
    if n_negatives > 0:
        if first_stage is None:
            from winnow.index.bm25 import BM25Index

            first_stage = BM25Index.build(((d.docno, d.contents) for d in docs), progress=False)
        own = [ex for ex in examples if ":" not in ex.positive or ex.positive in texts]
        add_hard_negatives(own, first_stage, n_negatives, depth, qrels, seed)
    return TrainingSet(examples, texts, held_out, n_judged, len(pseudo), dropped, bodies)


def describe(ts: TrainingSet) -> dict:
    return {"examples": len(ts.examples), "judged": ts.n_judged, "pseudo_queries": ts.n_pseudo,
            "held_out_queries": len(ts.held_out), "dropped_training_queries": ts.dropped_queries,
            "with_negatives": sum(1 for e in ts.examples if e.negatives)}
