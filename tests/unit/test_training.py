"""The trainers (``winnow train cross-encoder|colbert``), the cross-encoder reranking stage, both
ColBERT checkpoint layouts, and the train/test split rule. Tiny models built here; nothing is
downloaded."""
from __future__ import annotations

import json
import string
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tiny_bert import HIDDEN, build_cls_blind_bert, build_original_colbert, build_tiny_bert  # noqa: I001 (sets the offline switches)
from stage_conformance import StageConformance
from winnow.results import Results
from winnow.training_data import (Example, TrainingSet, TrainTestLeak, check_split, load_training_set)

DOCS = {"d1": "the quick brown fox jumps over the lazy dog", "d2": "protein cell gene, dna rna.",
        "d3": "blood brain cancer risk study", "d4": "mouse human cells increase treatment",
        "d5": "zebra bears sleeps"}
TRAIN = {"q1": "fox dog cell", "q2": "gene dna brain", "q3": "cancer risk mouse", "q4": "mouse treatment fox"}
TEST = {"t1": "zebra", "t2": "brain blood"}


def write_dataset(root: Path, train=TRAIN, test=TEST, train_qrels=None) -> Path:
    """A BEIR dataset: corpus, queries, qrels/train.tsv and qrels/test.tsv."""
    ds = root / "ds"
    (ds / "qrels").mkdir(parents=True)
    with open(ds / "corpus.jsonl", "w") as f:
        for d, t in DOCS.items():
            f.write(json.dumps({"_id": d, "title": "", "text": t}) + "\n")
    with open(ds / "queries.jsonl", "w") as f:
        for q, t in {**train, **test}.items():
            f.write(json.dumps({"_id": q, "text": t}) + "\n")
    train_qrels = train_qrels or {"q1": "d1", "q2": "d2", "q3": "d3", "q4": "d4"}
    (ds / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t1\n" for q, d in train_qrels.items()))
    (ds / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nt1\td5\t1\nt2\td3\t1\n")
    return ds


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("base"))


@pytest.fixture(scope="module")
def training_set(tmp_path_factory) -> TrainingSet:
    ds = write_dataset(tmp_path_factory.mktemp("data"))
    return load_training_set(ds, n_negatives=2, depth=5)


# -- the split rule ------------------------------------------------------------------------------

def test_split_keeps_every_test_query_out(tmp_path):
    # q5 has a test query's text, t2 is judged in train too: both must stay out of training
    train = {**TRAIN, "q5": "Zebra "}
    ds = write_dataset(tmp_path, train=train, train_qrels={"q1": "d1", "q2": "d2", "q5": "d5", "t2": "d3"})
    ts = load_training_set(ds, pseudo_queries=5, n_negatives=1, depth=5)
    qids = {e.qid for e in ts.examples if e.qid is not None}
    texts = {" ".join(e.query.lower().split()) for e in ts.examples}
    assert qids == {"q1", "q2"}
    assert not texts & {" ".join(t.lower().split()) for t in TEST.values()}
    assert sorted(ts.dropped_queries) == ["q5", "t2"]
    assert ts.held_out == TEST
    with pytest.raises(TrainTestLeak, match="t1"):
        check_split(ts.examples + [Example("something else", "d5", qid="t1")], ts.held_out)
    with pytest.raises(TrainTestLeak, match="held-out query 't2'"):
        check_split([Example("Brain  BLOOD", "d3")], ts.held_out)


def test_split_on_scifact(shared_data):
    ts = load_training_set(shared_data / "scifact", pseudo_queries=300, n_negatives=0)
    from winnow import datasets

    test = datasets.load(shared_data / "scifact").queries("test")
    assert len(test) == 300
    norm = {" ".join(t.lower().split()) for t in test.values()}
    assert not {e.qid for e in ts.examples} & set(test)
    assert not {" ".join(e.query.lower().split()) for e in ts.examples} & norm
    assert ts.n_pseudo == 300 and ts.n_judged > 900
    # SciFact has train claims worded exactly as test claims: they are dropped, not trained on
    train = datasets.load(shared_data / "scifact").queries("train")
    assert ts.dropped_queries and all(" ".join(train[q].lower().split()) in norm for q in ts.dropped_queries)


def test_hard_negatives_exclude_positives(training_set):
    assert training_set.n_judged == 4
    for ex in training_set.examples:
        assert ex.negatives and ex.positive not in ex.negatives
        assert set(ex.negatives) <= set(DOCS)


# -- cross-encoder -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_ce(tmp_path_factory, base, training_set) -> Path:
    from winnow.rerank.ce_training import train_cross_encoder

    out = tmp_path_factory.mktemp("ce") / "model"
    info = train_cross_encoder(training_set, out, base=base, layers=1, max_length=32, batch_size=4, max_steps=2)
    assert info["steps"] == 2 and info["layers"] == 1 and np.isfinite(info["train_loss"])
    return out


def test_cross_encoder_trains_and_saves(trained_ce, base):
    from safetensors.torch import load_file
    from sentence_transformers import CrossEncoder

    assert (trained_ce / "winnow_training.json").is_file()
    cfg = json.loads((trained_ce / "config.json").read_text())
    assert cfg["num_hidden_layers"] == 1
    model = CrossEncoder(str(trained_ce), local_files_only=True)
    assert model.num_labels == 1
    s = model.predict([("fox", DOCS["d1"]), ("fox", DOCS["d3"])])
    assert s.shape == (2,) and np.isfinite(s).all()
    # the encoder was trained: its first layer moved away from the base's
    before = load_file(str(base / "model.safetensors"))
    after = {k.removeprefix("bert."): v for k, v in load_file(str(trained_ce / "model.safetensors")).items()}
    key = next(k for k in before if "layer.0.attention.self.query.weight" in k)
    assert not torch.equal(before[key], after[key.removeprefix("bert.")])


def test_cross_encoder_learns_on_a_base_whose_cls_is_blind(tmp_path):
    """Regression (issue 16): the packaged MiniLM's [CLS] is the same for every input in its
    first layers, so a [CLS] head on MiniLM cut to 2 layers never left the chance level (its
    logits stayed ~0). On a tiny base with that property and separable pairs (positives and
    negatives drawn from disjoint words), the default head (the base's own mean pooling) must
    learn: every query's positive outscores its negatives and the loss falls well below the
    chance level. (With ``pooling="cls"`` this base gives every pair the same score.)"""
    from sentence_transformers import CrossEncoder

    from winnow.rerank.ce_training import _rows, base_pooling, train_cross_encoder

    texts = {"p1": "protein cell gene dna", "p2": "cancer risk study patients", "p3": "blood brain mouse human",
             "p4": "genes cells increase rna", "n1": "the quick brown fox jumps", "n2": "lazy dog sleeps over a",
             "n3": "zebra bears sleeps in the", "n4": "fox and dog is low", "n5": "high effect of treatment",
             "n6": "to a brown zebra"}
    examples = [Example("protein gene", "p1", ["n1", "n2"], qid="a"), Example("cancer patients", "p2", ["n3", "n4"], qid="b"),
                Example("brain mouse", "p3", ["n5", "n6"], qid="c"), Example("cells rna", "p4", ["n1", "n5"], qid="d")]
    ts = TrainingSet(examples, texts, {}, n_judged=4, n_pseudo=0)
    base = build_cls_blind_bert(tmp_path / "base")
    assert base_pooling(base) == "mean"
    out = tmp_path / "ce"
    info = train_cross_encoder(ts, out, base=base, layers=1, max_length=32, batch_size=4, lr=1e-3, max_steps=60,
                               epochs=100)
    assert info["pooling"] == "mean" and info["layers"] == 1
    rows = _rows(ts)
    model = CrossEncoder(str(out), local_files_only=True)
    scores = model.predict(list(zip(rows["query"], rows["passage"])), activation_fn=torch.nn.Identity())
    scores = scores.reshape(4, 3)  # per query: the positive, then its 2 negatives (``_rows`` order)
    for q in range(4):
        assert scores[q, 0] > scores[q, 1:].max(), (examples[q].query, scores[q])
    # chance level: one constant logit under BCE with pos_weight = negatives / positives gives
    # 2 (1 - p) ln 2 for a fraction p of positives (1.04 for 3 negatives, as the failed run logged)
    chance = 2 * (2 / 3) * np.log(2)
    assert info["loss_log"][-1]["loss"] < 0.75 * chance, info["loss_log"]


def test_cross_encoder_pooling_choice(tmp_path, training_set, base):
    from winnow.rerank.ce_training import base_pooling, train_cross_encoder

    assert base_pooling(base) == "cls"  # a plain Hugging Face BERT: the usual [CLS] head
    with pytest.raises(ValueError, match="pooling"):
        train_cross_encoder(training_set, tmp_path / "x", base=base, pooling="max")


def test_cross_encoder_stage_matches_direct_scores(trained_ce):
    from sentence_transformers import CrossEncoder

    from winnow.rerank.cross_encoder import cross_encoder

    first = Results.from_dict({"a": {"d1": 3.0, "d2": 2.0, "d3": 1.0}, "b": {"d4": 1.0, "d5": 0.5}})
    stage = cross_encoder(trained_ce, corpus=DOCS, k=2)
    out = stage({"a": "fox dog", "b": "zebra"}, first)
    model = CrossEncoder(str(trained_ce), local_files_only=True)
    for qi, (q, docs) in enumerate((("fox dog", ["d1", "d2", "d3"]), ("zebra", ["d4", "d5"]))):
        want = model.predict([(q, DOCS[d]) for d in docs], activation_fn=torch.nn.Identity())
        order = np.argsort(-want, kind="stable")[:2]
        got = out.docnos.lookup(out.ids[qi][:2])
        assert got == [docs[i] for i in order]
        np.testing.assert_allclose(out.scores[qi][:2], want[order], rtol=1e-4, atol=1e-5)
    assert stage.scorer.calls == 5


def test_cross_encoder_stage_in_config_and_errors(trained_ce, tmp_path):
    from winnow.experiment_config import STAGES, parse_pipeline
    from winnow.rerank.cross_encoder import cross_encoder

    assert "cross_encoder" in STAGES
    tree = parse_pipeline("p", f'bm25 % 10 >> cross_encoder(path="{trained_ce}", k=5)', {"bm25": None}, {})
    assert tree[0] == "then" and tree[2] == "cross_encoder"
    stage = STAGES["cross_encoder"][0](str(trained_ce), corpus=DOCS, k=3)
    with pytest.raises(ValueError, match="earlier stage"):
        stage({"a": "x"}, None)
    with pytest.raises(ValueError, match="not in the corpus"):
        stage({"a": "x"}, Results.from_dict({"a": {"zz": 1.0}}))
    with pytest.raises(ValueError, match="needs corpus"):
        cross_encoder(trained_ce)


def test_cross_encoder_is_a_cur_scorer(trained_ce):
    from winnow.index.cur import CURIndex
    from winnow.rerank.scorers import scorer_from_spec

    scorer = scorer_from_spec(f"cross-encoder:{trained_ce}", corpus=list(DOCS.values()))
    idx = CURIndex.build(scorer, ["fox", "gene dna", "cancer"], n_anchor_items=2, seed=0, progress=False)
    scorer.reset_calls()
    res = idx.search(["brain"], k=2, budget=4)
    assert res.ids.shape == (1, 2) and scorer.calls <= 4


class TestCrossEncoderStageContract(StageConformance):
    @pytest.fixture(autouse=True)
    def _model(self, trained_ce):
        self.path = trained_ce

    def make_stage(self):
        from winnow.rerank.cross_encoder import cross_encoder

        return cross_encoder(self.path, corpus=DOCS, k=10)

    def make_input(self):
        run = {"q1": {"d1": 2.0, "d2": 1.0, "d3": 0.5}, "q2": {"d4": 1.0, "d5": 0.9}}
        return {"q1": "fox", "q2": "zebra bears"}, Results.from_dict(run)


# -- ColBERT: training and the PyLate layout ---------------------------------------------------

@pytest.fixture(scope="module")
def trained_colbert(tmp_path_factory, base, training_set) -> Path:
    from winnow.rerank.colbert_training import train_colbert

    out = tmp_path_factory.mktemp("colbert") / "model"
    info = train_colbert(training_set, out, base=base, dim=8, document_length=24, batch_size=2, max_steps=2)
    assert info["steps"] == 2 and np.isfinite(info["loss_log"][-1]["loss"])
    return out


def test_colbert_trains_and_saves_pylate_layout(trained_colbert, tmp_path, base):
    from safetensors.torch import load_file

    from winnow.colbert import load_late_encoder
    from winnow.colbert_pylate import PyLateEncoder
    from winnow.rerank.colbert_training import init_pylate_checkpoint

    mods = json.loads((trained_colbert / "modules.json").read_text())
    assert [m["type"] for m in mods] == ["sentence_transformers.models.Transformer", "pylate.models.Dense.Dense"]
    cfg = json.loads((trained_colbert / "config_sentence_transformers.json").read_text())
    assert (cfg["query_prefix"], cfg["document_prefix"], cfg["query_length"], cfg["document_length"]) == \
        ("[Q] ", "[D] ", 32, 24)
    dense_cfg = json.loads((trained_colbert / "1_Dense" / "config.json").read_text())
    assert (dense_cfg["in_features"], dense_cfg["out_features"], dense_cfg["bias"]) == (HIDDEN, 8, False)
    # the projection was trained: it differs from the same seed's untrained checkpoint
    init = init_pylate_checkpoint(tmp_path / "init", base=base, dim=8, document_length=24)
    w0 = load_file(str(init / "1_Dense" / "model.safetensors"))["linear.weight"]
    w1 = load_file(str(trained_colbert / "1_Dense" / "model.safetensors"))["linear.weight"]
    assert w0.shape == w1.shape == (8, HIDDEN) and not torch.equal(w0, w1)
    enc = load_late_encoder(str(trained_colbert))
    assert isinstance(enc, PyLateEncoder) and enc.dim == 8


def pylate_oracle(path: Path, text: str, is_query: bool) -> tuple[np.ndarray, list[int]]:
    """PyLate's ColBERT encoding written out for one text (no batching, no padding tricks)."""
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    cfg = json.loads((path / "config_sentence_transformers.json").read_text())
    tok = AutoTokenizer.from_pretrained(str(path))
    model = AutoModel.from_pretrained(str(path)).eval()
    w = load_file(str(path / "1_Dense" / "model.safetensors"))["linear.weight"]
    length = cfg["query_length"] if is_query else cfg["document_length"]
    ids = tok(text, truncation=True, max_length=length - 1)["input_ids"]
    ids = [ids[0], tok.convert_tokens_to_ids(cfg["query_prefix" if is_query else "document_prefix"])] + ids[1:]
    mask = [1] * len(ids)
    if is_query:
        pad = length - len(ids)
        ids, mask = ids + [tok.mask_token_id] * pad, mask + [0] * pad
    with torch.no_grad():
        h = model(input_ids=torch.tensor([ids]), attention_mask=torch.tensor([mask])).last_hidden_state[0]
    v = F.normalize(h @ w.T, dim=-1).numpy()
    if not is_query:
        punct = set(tok.convert_tokens_to_ids(list(string.punctuation))) - {tok.unk_token_id}
        keep = [i not in punct for i in ids]
        v, ids = v[keep], [i for i, k in zip(ids, keep) if k]
    return v, ids


def test_pylate_reader_matches_oracle(trained_colbert):
    from winnow.colbert import load_late_encoder

    enc = load_late_encoder(str(trained_colbert), batch_size=2)
    docs = [DOCS["d2"], DOCS["d1"] + " " + DOCS["d4"] * 3, "fox"]  # commas and periods are skipped
    vecs, tids, off = enc.encode_documents(docs)
    assert vecs.dtype == np.float32 and off[-1] == len(vecs) == len(tids)
    for i, text in enumerate(docs):
        want, ids = pylate_oracle(trained_colbert, text, False)
        assert tids[off[i]:off[i + 1]].tolist() == ids
        np.testing.assert_allclose(vecs[off[i]:off[i + 1]], want, atol=2e-5)
    for (q, qids), text in zip(enc.encode_queries(["fox dog", "gene"]), ["fox dog", "gene"]):
        want, ids = pylate_oracle(trained_colbert, text, True)
        assert q.shape == (32, 8) and qids.tolist() == ids
        np.testing.assert_allclose(q, want, atol=2e-5)
    assert enc.q_prefix_id in enc.special_ids and enc.d_prefix_id in enc.special_ids


def test_original_colbert_layout_still_loads(tmp_path):
    from transformers import BertModel, BertTokenizer

    from winnow.colbert import ColBERTEncoder, load_late_encoder

    path, linear = build_original_colbert(tmp_path)
    enc = load_late_encoder(str(path))
    assert isinstance(enc, ColBERTEncoder) and enc.dim == 8
    tok = BertTokenizer.from_pretrained(str(path))
    bert = BertModel.from_pretrained(str(tmp_path / "src" / "bert"), add_pooling_layer=False).eval()
    ids = tok(". " + "fox dog")["input_ids"]
    ids[1] = tok.convert_tokens_to_ids("[unused1]")
    with torch.no_grad():
        want = F.normalize(bert(input_ids=torch.tensor([ids])).last_hidden_state[0] @ linear.T, dim=-1).numpy()
    vecs, tids, off = enc.encode_documents(["fox dog"])
    assert tids.tolist() == ids
    np.testing.assert_allclose(vecs, want, atol=2e-5)


def test_pylate_reader_errors(tmp_path, trained_colbert):
    from winnow.colbert_pylate import PyLateEncoder, is_pylate_dir

    assert is_pylate_dir(trained_colbert) and not is_pylate_dir(tmp_path)
    with pytest.raises(ValueError, match="not a PyLate checkpoint"):
        PyLateEncoder(tmp_path)
    bad = tmp_path / "bad"
    import shutil

    shutil.copytree(trained_colbert, bad)
    cfg = json.loads((bad / "1_Dense" / "config.json").read_text())
    cfg["activation_function"] = "my.custom.Activation"
    (bad / "1_Dense" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="activation"):
        PyLateEncoder(bad)


# -- the command line ------------------------------------------------------------------------------

def test_cli_trains_both(tmp_path, base, capsys):
    from winnow.cli.main import main

    ds = write_dataset(tmp_path)
    common = ["--dataset", str(ds), "--base", str(base), "--layers", "1", "--max-steps", "1", "--batch-size", "2",
              "--threads", "1"]
    assert main(["train", "cross-encoder", *common, "--max-length", "24", "--output", str(tmp_path / "ce")]) == 0
    assert (tmp_path / "ce" / "config.json").is_file()
    assert main(["train", "colbert", *common, "--dim", "4", "--document-length", "24", "--pseudo-queries", "2",
                 "--output", str(tmp_path / "cb")]) == 0
    assert json.loads((tmp_path / "cb" / "1_Dense" / "config.json").read_text())["out_features"] == 4
    assert main(["train", "colbert", *common, "--output", str(tmp_path / "cb")]) != 0
    assert "--overwrite" in capsys.readouterr().err
    # --overwrite replaces a model this command trained ...
    assert main(["train", "cross-encoder", *common, "--max-length", "24", "--output", str(tmp_path / "ce"),
                 "--overwrite"]) == 0
    # ... and never a model directory it did not write (here the base model itself)
    before = sorted(p.name for p in Path(base).iterdir())
    assert main(["train", "cross-encoder", *common, "--max-length", "24", "--output", str(base), "--overwrite"]) != 0
    assert "not a model trained by `winnow train`" in capsys.readouterr().err
    assert sorted(p.name for p in Path(base).iterdir()) == before


def test_a_failed_training_never_costs_the_model_it_would_replace(tmp_path):
    """Training writes into a temporary sibling; the old model is exchanged out only when
    the new one is complete, and the temporary directory never outlives the run."""
    from winnow.cli.cmd_train_models import _write_model

    out = tmp_path / "model"
    out.mkdir()
    (out / "winnow_training.json").write_text("{}")
    (out / "weights").write_text("old")

    def broken(d):
        (d / "weights").write_text("half")
        raise RuntimeError("killed mid-training")

    with pytest.raises(RuntimeError, match="killed"):
        _write_model(out, True, broken)
    assert (out / "weights").read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["model"]

    def good(d):
        (d / "winnow_training.json").write_text("{}")
        (d / "weights").write_text("new")
        return {"steps": 1}

    assert _write_model(out, True, good) == {"steps": 1}
    assert (out / "weights").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    # a directory that became someone else's during the training is not replaced
    (out / "winnow_training.json").unlink()
    with pytest.raises(FileExistsError, match="not a model trained"):
        _write_model(out, True, good)
    assert (out / "weights").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_pseudo_corpus_queries_are_held_out(tmp_path):
    # another collection gives pseudo-queries (sentences of its passages); one sentence is that
    # collection's own query, which must not become a training query
    ds = write_dataset(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    sents = ["The quick brown fox jumps over the dog.", "Gene risk in the study of mouse cells.",
             "Blood brain cancer risk is high."]
    with open(other / "corpus.jsonl", "w") as f:
        f.write(json.dumps({"_id": "o1", "title": "", "text": " ".join(sents)}) + "\n")
    with open(other / "queries.jsonl", "w") as f:
        for i, s in enumerate(sents):
            f.write(json.dumps({"_id": f"x{i}", "text": s}) + "\n")
    (other / "qrels").mkdir()
    (other / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nx0\to1\t1\n")
    ts = load_training_set(ds, pseudo_queries=5, pseudo_corpora=[other], n_negatives=0)
    assert {f"other:x{i}" for i in range(3)} <= set(ts.held_out)
    assert not any(e.positive.startswith("other:") for e in ts.examples)


def test_inverse_cloze_sentence_and_span():
    from winnow.training_data import inverse_cloze_examples

    sents = ("Gene risk in the study of mouse cells. Blood brain cancer risk is high today. "
             "The quick brown fox jumps over the dog.")
    flat = " ".join(f"word{i}" for i in range(30))  # no punctuation: a span of 6 words
    got = {e.positive: e for e in inverse_cloze_examples([("a", sents), ("b", flat)], 5, seed=1)}
    assert got["a"].query in sents and got["a"].query not in got["a"].positive_text
    assert len(got["b"].query.split()) == 6 and len(got["b"].positive_text.split()) == 24
    assert set(got["b"].query.split()).isdisjoint(got["b"].positive_text.split())


def test_pseudo_query_negatives_are_title_free_like_their_positive(tmp_path):
    """Regression: a pseudo-query's positive is a body without its title (the title became the
    query), so its hard negatives must be bodies too: as full documents (title + text) they
    taught "a passage that opens with a title is a negative". Judged examples keep full
    documents for both. Checked on the texts both trainers feed (``_rows``, ``_passages``)."""
    from winnow.rerank.ce_training import _rows
    from winnow.rerank.colbert_training import _passages

    words = ["gene", "cell", "brain", "risk", "mouse", "blood"]
    docs = {f"d{i}": (f"Title{i} {words[i]} {words[(i + 1) % 6]} study",  # shares words with other docs
                      f"Body{i} {words[i]} {words[(i + 2) % 6]} cells increase in the treatment group.")
            for i in range(6)}
    ds = tmp_path / "ds"
    (ds / "qrels").mkdir(parents=True)
    with open(ds / "corpus.jsonl", "w") as f:
        for d, (title, text) in docs.items():
            f.write(json.dumps({"_id": d, "title": title, "text": text}) + "\n")
    with open(ds / "queries.jsonl", "w") as f:
        for q, t in {"q1": "gene cell study", "q2": "brain risk treatment", "t1": "zebra"}.items():
            f.write(json.dumps({"_id": q, "text": t}) + "\n")
    (ds / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td0\t1\nq2\td2\t1\n")
    (ds / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nt1\td5\t1\n")
    ts = load_training_set(ds, pseudo_queries=6, n_negatives=3, depth=6)
    full = {d: f"{title} {text}" for d, (title, text) in docs.items()}
    pseudo = [e for e in ts.examples if e.pseudo]
    judged = [e for e in ts.examples if not e.pseudo]
    assert len(pseudo) == 6 and len(judged) == 2
    assert all(e.negatives for e in ts.examples)

    want = {"query": [], "passage": [], "label": []}  # _rows' expected rows, built from the corpus
    for e in ts.examples:
        form = (lambda d: docs[d][1]) if e.pseudo else full.__getitem__
        assert ts.passage(e) == form(e.positive)  # the title (the query) is not in the positive
        assert ts.negative_texts(e) == [form(d) for d in e.negatives]
        assert _passages(ts, [e], 2) == [form(e.positive)] + [form(d) for d in e.negatives[:2]]
        for text, label in [(form(e.positive), 1.0)] + [(form(d), 0.0) for d in e.negatives]:
            want["query"].append(e.query)
            want["passage"].append(text)
            want["label"].append(label)
    assert _rows(ts) == want
    for e in pseudo:  # no passage of a pseudo-query's training rows carries any title
        for text in _passages(ts, [e], 3):
            assert not any(title in text for title, _ in docs.values()), (e.query, text)


def test_colbert_batches_never_mix_pseudo_and_judged_queries():
    """The other queries' positives are ColBERT's in-batch negatives: a batch mixing judged
    positives (with titles) and pseudo-query positives (without) would make the title a cue.
    Every batch is of one kind, and each epoch holds every example exactly once."""
    import random

    from winnow.rerank.colbert_training import _batches

    examples = [Example(f"j{i}", f"d{i}", qid=f"q{i}") for i in range(7)]
    examples += [Example(f"p{i}", f"d{i}", positive_text=f"body {i}") for i in range(5)]
    batches = _batches(examples, 3, random.Random(0))
    for _ in range(3):  # an epoch: 7 judged in batches of 3, 3, 1; 5 pseudo in 3, 2
        epoch = [next(batches) for _ in range(5)]
        assert all(len({e.pseudo for e in b}) == 1 for b in epoch)
        assert sorted(len(b) for b in epoch) == [1, 2, 3, 3, 3]
        assert sorted(e.query for b in epoch for e in b) == sorted(e.query for e in examples)
    with pytest.raises(ValueError, match="no training examples"):
        next(_batches([], 3, random.Random(0)))


def test_cross_encoder_defaults_are_the_measured_recipe():
    """`winnow train cross-encoder` with no options trains with pseudo-queries: on judged pairs
    alone the cited documents are the only positives, and the last stop's model learned which
    documents are cited (nDCG@10 0.16 reranking SciFact's BM25 top 100; 0.6975 with the recipe)."""
    import argparse

    from winnow.cli.cmd_train_models import register_model_trainers

    parser = argparse.ArgumentParser()
    register_model_trainers(parser.add_subparsers())
    ce = parser.parse_args(["cross-encoder", "--dataset", "D", "--output", "O"])
    assert (ce.pseudo_queries, ce.depth, ce.epochs, ce.lr, ce.max_length) == (1500, 50, 2.0, 8e-5, 128)
    colbert = parser.parse_args(["colbert", "--dataset", "D", "--output", "O"])
    assert (colbert.pseudo_queries, colbert.depth, colbert.epochs) == (0, 30, 1.0)
