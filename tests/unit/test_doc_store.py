"""The document store (``--store text``): exact round trips of real collections, random access,
Results.with_text(), the cross-encoder reading from it, and damaged stores raising
IndexFormatError naming the file."""
from __future__ import annotations

import json

import numpy as np
import pytest

from winnow import datasets
from winnow.cli.main import main
from winnow.errors import IndexFormatError
from winnow.index import BM25Index
from winnow.index.doc_store import FRAMES, BLOCK_FIRST_DOC, BLOCK_OFFSETS, DocStoreWriter, StoreTexts
from winnow.index.format import write_meta


def _check_every_document(index: BM25Index, ds) -> int:
    """Every document's title and text from the store equal the reader's, by docno and by id."""
    n = 0
    for i, d in enumerate(ds.documents()):
        got = index.doc(d.docno)
        assert (got["docno"], got["title"], got["text"]) == (d.docno, d.title, d.text), d.docno
        assert index.store.get(i) == (d.title, d.text)
        n += 1
    assert n == index.n_docs == len(index.store)
    return n


@pytest.fixture(scope="module")
def cranfield_index(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "cranfield"
    # small blocks: many frames, so block boundaries are crossed often
    BM25Index.build(datasets.bundled().path, store="text", store_block_bytes=4096, progress=False).save(path)
    return path


@pytest.mark.parametrize("mmap", [False, True])
def test_cranfield_round_trips_exactly(cranfield_index, mmap):
    index = BM25Index.load(cranfield_index, mmap=mmap)
    assert _check_every_document(index, datasets.bundled()) == 1400
    assert isinstance(index.store.frames, np.memmap) == mmap
    assert index.store.info["n_blocks"] > 50
    assert index.doc("471") == {"docno": "471", "title": "", "text": ""}  # empty in the source


@pytest.mark.parametrize("name", ["scifact", "vaswani"])
def test_real_collections_round_trip_exactly(tmp_path, shared_data, name):
    path = tmp_path / name
    assert main(["index", "build", "bm25", "--input", str(shared_data / name), "--output", str(path),
                 "--store", "text"]) == 0
    index = BM25Index.load(path, mmap=True)
    _check_every_document(index, datasets.load(shared_data / name))
    # the indexed text is the reader's: same postings as an index built without a store
    plain = BM25Index.build(datasets.load(shared_data / name).corpus(), progress=False)
    for key in ("df", "postings", "doc_len"):
        assert np.array_equal(index.arrays[key], plain.arrays[key]), key
    assert index.docnos == plain.docnos  # vaswani's docnos 1..11429 are a range (docno_range.npy)


def test_search_results_are_unchanged_by_the_store(cranfield_index):
    queries = datasets.bundled().queries()
    with_store = BM25Index.load(cranfield_index).search(queries, k=100)
    plain = BM25Index.build(datasets.bundled().corpus(), progress=False).search(queries, k=100)
    assert np.array_equal(with_store.ids, plain.ids) and np.array_equal(with_store.scores, plain.scores)


def test_with_text_adds_title_and_text_per_hit(cranfield_index):
    index = BM25Index.load(cranfield_index, mmap=True)
    res = index.search({"q1": "boundary layer flow", "q2": "zzzz"}, k=5)
    df = res.with_text()
    assert list(df.columns) == ["qid", "query", "docno", "score", "rank", "title", "text"]
    assert len(df) == 5  # q2 matches nothing: no rows
    for row in df.itertuples():
        d = index.doc(row.docno)
        assert (row.title, row.text) == (d["title"], d["text"])
    cut = (res.cutoff(2)).with_text()  # stages that keep the docnos keep the store
    assert list(cut["docno"]) == list(df["docno"])[:2]
    # Results from elsewhere: documents found by docno in the index given
    from winnow.results import Results

    other = Results.from_dict({"x": {"12": 2.0, "7": 1.0}})
    assert other.with_text(index)["title"].tolist() == [index.doc("12")["title"], index.doc("7")["title"]]
    with pytest.raises(LookupError, match="with_text\\(index\\)"):
        other.with_text()


def test_index_without_store_says_so(tmp_path):
    index = BM25Index.build([("a", "some text"), ("b", "more text")], progress=False)
    with pytest.raises(LookupError, match="no document store"):
        index.doc("a")
    with pytest.raises(LookupError, match="no document store"):
        index.search(["text"], k=1).with_text()


def test_pairs_store_empty_titles_and_unknown_docno(tmp_path):
    docs = [("a", "alpha text"), ("b", ""), ("c", "ünïcødé ✓ \u200b text")]
    index = BM25Index.build(docs, store="text", progress=False)
    index.save(tmp_path / "i")
    index = BM25Index.load(tmp_path / "i", mmap=True)
    assert [index.doc(d) for d, _ in docs] == [{"docno": d, "title": "", "text": t} for d, t in docs]
    with pytest.raises(KeyError, match="'zz'"):
        index.doc("zz")
    with pytest.raises(IndexError):
        index.store.get(3)
    assert index.with_params(k1=1.2).doc("c")["text"] == docs[2][1]  # views keep the store


def test_bad_store_arguments():
    with pytest.raises(ValueError, match="store must be one of"):
        BM25Index.build([("a", "x")], store="vectors", progress=False)
    with pytest.raises(ValueError, match="pretokenized"):
        BM25Index.build([("a", ["x"])], store="text", pretokenized=True, progress=False)
    with pytest.raises(ValueError, match="lone surrogate|surrogate"):
        BM25Index.build([("a", "bad \ud800 text")], store="text", progress=False)
    with pytest.raises(ValueError, match="block_bytes"):
        DocStoreWriter(block_bytes=10)


def test_cli_refuses_store_with_pretokenized(tmp_path, capsys):
    corpus = tmp_path / "c.tsv"
    corpus.write_text("1\tsome words\n")
    assert main(["index", "build", "bm25", "--input", str(corpus), "--output", str(tmp_path / "i"),
                 "--store", "text", "--pretokenized"]) == 1
    assert "--store text" in capsys.readouterr().err


def test_empty_corpus_store(tmp_path):
    index = BM25Index.build([], store="text", progress=False)
    index.save(tmp_path / "e")
    assert len(BM25Index.load(tmp_path / "e", mmap=True).store) == 0


# -- damaged stores -------------------------------------------------------------------------
@pytest.fixture
def small_index(tmp_path):
    docs = [(f"d{i}", f"document number {i} " + "word " * (i % 17)) for i in range(400)]
    BM25Index.build(docs, store="text", store_block_bytes=1024, progress=False).save(tmp_path / "s")
    return tmp_path / "s", docs


def _flip(path, pos):
    raw = bytearray(path.read_bytes())
    raw[pos] ^= 0x55
    path.write_bytes(bytes(raw))


def test_flipped_frame_byte(small_index):
    path, docs = small_index
    frames = path / FRAMES
    _flip(frames, frames.stat().st_size - 40)  # inside the last frame
    with pytest.raises(IndexFormatError, match="store_frames.npy"):
        BM25Index.load(path)  # a read load checksums every file
    index = BM25Index.load(path, mmap=True)  # an unverified map finds it when the block is decoded
    assert index.doc("d0")["text"] == docs[0][1]
    with pytest.raises(IndexFormatError, match="store_frames.npy.*block"):
        for d, _ in docs:
            index.doc(d)


def test_damaged_offset_tables(small_index):
    path, _ = small_index
    meta = json.loads((path / "meta.json").read_text())
    for name in (BLOCK_OFFSETS, BLOCK_FIRST_DOC):
        arr = np.load(path / name)
        bad = arr.copy()
        bad[1], bad[2] = arr[2], arr[1]  # no longer rising
        np.save(path / name, bad)
        for mmap in (False, True):
            with pytest.raises(IndexFormatError, match=name):
                BM25Index.load(path, mmap=mmap)
        # even with meta.json's checksum updated, the structural check names the file
        meta2 = dict(meta, checksums=dict(meta["checksums"]))
        del meta2["checksums"][name]
        write_meta(path, {k: v for k, v in meta2.items() if k != "meta_checksum"})
        with pytest.raises(IndexFormatError, match=name):
            BM25Index.load(path, mmap=True)
        np.save(path / name, arr)
        write_meta(path, {k: v for k, v in meta.items() if k != "meta_checksum"})
    BM25Index.load(path, mmap=True)


def test_truncated_frames_and_inconsistent_meta(small_index):
    path, _ = small_index
    meta = {k: v for k, v in json.loads((path / "meta.json").read_text()).items() if k != "meta_checksum"}
    write_meta(path, dict(meta, store=dict(meta["store"], n_docs=399)))
    with pytest.raises(IndexFormatError, match="store holds 399 documents"):
        BM25Index.load(path, mmap=True)
    write_meta(path, dict(meta, store=dict(meta["store"], max_block_bytes=10)))
    index = BM25Index.load(path, mmap=True)
    with pytest.raises(IndexFormatError, match="content size"):  # a decode bound, never a huge allocation
        index.doc("d5")
    write_meta(path, dict(meta, store="text"))
    with pytest.raises(IndexFormatError, match="'store' must be a JSON object"):
        BM25Index.load(path, mmap=True)
    write_meta(path, meta)
    raw = (path / FRAMES).read_bytes()
    (path / FRAMES).write_bytes(raw[:-7])
    with pytest.raises(IndexFormatError, match="store_frames.npy"):
        BM25Index.load(path, mmap=True)


# -- text rerankers read the store ------------------------------------------------------------
def test_cross_encoder_reads_texts_from_the_store(tmp_path):
    import tiny_encoder  # noqa: F401  (offline switches, tiny vocabulary)
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    from winnow.rerank.scorers import CrossEncoderScorer, scorer_from_spec

    model = tmp_path / "model"
    model.mkdir()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(tiny_encoder.WORDS)
    (model / "vocab.txt").write_text("\n".join(vocab) + "\n")
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64, num_labels=1)
    BertForSequenceClassification(cfg).save_pretrained(model)
    BertTokenizer(str(model / "vocab.txt")).save_pretrained(model)
    texts = ["the quick brown fox", "lazy dog sleeps", "protein cell gene", "cancer risk study"]
    BM25Index.build([(str(i), t) for i, t in enumerate(texts)], store="text", progress=False).save(tmp_path / "ix")
    from_store = scorer_from_spec(f"cross-encoder:{model}@{tmp_path / 'ix'}")
    assert isinstance(from_store.docs, StoreTexts) and list(from_store.docs) == texts
    reference = CrossEncoderScorer(model, texts)
    np.testing.assert_array_equal(from_store.score("brown fox", [0, 1, 2, 3]),
                                  reference.score("brown fox", [0, 1, 2, 3]))
    ix = BM25Index.load(tmp_path / "ix")
    assert list(scorer_from_spec(f"cross-encoder:{model}", corpus=ix).docs) == texts
    with pytest.raises(ValueError, match="no document store"):
        BM25Index.build([("a", "x")], progress=False).save(tmp_path / "plain")
        scorer_from_spec(f"cross-encoder:{model}@{tmp_path / 'plain'}")


def test_documents_contents_equal_the_corpus_texts(tmp_path):
    """Dataset.documents() gives exactly corpus()'s text as ``contents``, for every layout."""
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "corpus.jsonl").write_text('{"_id": "1", "title": "T", "text": "x y"}\n'
                                                 '{"_id": "2", "text": "no title"}\n{"_id": "3", "title": "", "text": ""}\n')
    (tmp_path / "collection.tsv").write_text("7\tseven text\n8\teight\n")
    (tmp_path / "docs.trec").write_text("<DOC>\n<DOCNO>d1</DOCNO>\n<TEXT>some  text</TEXT>\n</DOC>\n")
    for path in (tmp_path / "b", tmp_path / "collection.tsv", tmp_path / "docs.trec"):
        ds = datasets.load(path)
        docs = list(ds.documents())
        assert [(d.docno, d.contents) for d in docs] == list(ds.corpus())
    b = list(datasets.load(tmp_path / "b").documents())
    assert [(d.title, d.text) for d in b] == [("T", "x y"), ("", "no title"), ("", "")]
    from winnow.readers import BadLineReport

    report = BadLineReport()
    list(datasets.load(tmp_path / "b").documents(report=report))
    assert list(report.empty_examples.values()) == [["3"]]  # the empty document counted, as by corpus()


def test_index_info_and_verify_show_the_store(cranfield_index, capsys):
    assert main(["index", "info", str(cranfield_index)]) == 0
    assert "store              text (zstd, " in capsys.readouterr().out
    assert main(["index", "verify", str(cranfield_index)]) == 0
    assert "store_frames.npy" in json.loads((cranfield_index / "meta.json").read_text())["checksums"]
