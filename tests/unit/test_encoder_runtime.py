"""Encoding speed options on tiny random models: length-sorted batches restore input order
exactly, the thread count is set per call and restored, int8 quantization stays close.

Oracles: the same encoder with sorting switched off (so the batches are identical and the rows
must be bit-equal), torch's own thread count seen from inside the forward pass, and the float32
encoder for the int8 one.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tiny_encoder import WORDS, build_tiny_model

import winnow.colbert as colbert
import winnow.encoders as encoders
from winnow.encoder_runtime import (available_cores, length_order, resolve_threads, token_lengths,
                                    torch_threads)
from winnow.encoders import SentenceEncoder

# Lengths from 1 to ~60 word pieces in no particular order, so that sorting moves most rows.
RNG = np.random.default_rng(7)
TEXTS = [" ".join(RNG.choice(WORDS, size=int(n))) for n in RNG.integers(1, 50, size=23)] + ["", "zebra"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


def _unsorted(monkeypatch, module):
    """Switch length sorting off in ``module`` (batches in input order)."""
    monkeypatch.setattr(module, "length_order", lambda lengths: np.arange(len(lengths)))


def test_length_order_longest_first_ties_in_input_order():
    order = length_order([3, 7, 3, 0, 7, 5])
    assert order.tolist() == [1, 4, 5, 0, 2, 3]
    out = np.empty(6, int)
    out[order] = np.asarray([3, 7, 3, 0, 7, 5])[order]
    assert out.tolist() == [3, 7, 3, 0, 7, 5]
    assert length_order([]).tolist() == []


def test_token_lengths_count_truncated_word_pieces(model_dir):
    enc = SentenceEncoder(model_dir, threads=1)
    tok = enc._model.tokenizer
    lengths = token_lengths(tok, TEXTS, 16)
    want = [min(len(tok(t)["input_ids"]), 16) for t in TEXTS]
    assert lengths.tolist() == want and lengths.dtype == np.int64
    assert token_lengths(None, ["ab", "", "abcd"], 16).tolist() == [2, 0, 4]  # characters


@pytest.mark.parametrize("batch_size", [1, 4])
def test_sorted_batches_restore_input_order_exactly(model_dir, monkeypatch, batch_size):
    enc = SentenceEncoder(model_dir, batch_size=batch_size, threads=1)
    got = enc.encode(TEXTS)
    pooled, tv, tids, offs = enc.encode_with_tokens(TEXTS)
    order = length_order(token_lengths(enc._model.tokenizer, TEXTS, enc.max_seq_length))
    assert order.tolist() != list(range(len(TEXTS)))  # the sort does move rows
    _unsorted(monkeypatch, encoders)
    # Unsorted encode of the texts in sorted order: the very same batches, so equal bits.
    want = np.empty_like(got)
    want[order] = enc.encode([TEXTS[i] for i in order])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(pooled, want)
    # Token output: each text's rows, in input order.
    sv, sids, soffs = enc.encode_tokens([TEXTS[i] for i in order])
    for rank, i in enumerate(order):
        np.testing.assert_array_equal(tids[offs[i]:offs[i + 1]], sids[soffs[rank]:soffs[rank + 1]])
        np.testing.assert_array_equal(tv[offs[i]:offs[i + 1]], sv[soffs[rank]:soffs[rank + 1]])
    # Unsorted in input order: other batches, so only close (padding changes the arithmetic).
    np.testing.assert_allclose(enc.encode(TEXTS), got, atol=1e-6)
    if batch_size == 1:  # no padding at all: batch composition cannot matter
        np.testing.assert_array_equal(enc.encode(TEXTS), got)


def test_sorted_batches_carry_less_padding(model_dir, monkeypatch):
    enc = SentenceEncoder(model_dir, batch_size=4, threads=1)
    widths = []
    forward = enc._model.forward

    def spy(features, *a, **k):
        widths.append(int(features["input_ids"].shape[0] * features["input_ids"].shape[1]))
        return forward(features, *a, **k)

    monkeypatch.setattr(enc._model, "forward", spy)
    enc.encode(TEXTS)
    sorted_cells = sum(widths)
    widths.clear()
    _unsorted(monkeypatch, encoders)
    enc.encode(TEXTS)
    assert sorted_cells < sum(widths)


def test_threads_set_per_call_and_restored(model_dir, monkeypatch):
    seen = []
    enc = SentenceEncoder(model_dir, batch_size=8, threads=1)
    forward = enc._model.forward
    monkeypatch.setattr(enc._model, "forward",
                        lambda *a, **k: (seen.append(torch.get_num_threads()), forward(*a, **k))[1])
    before = torch.get_num_threads()
    one = enc.encode(TEXTS)
    assert set(seen) == {1} and torch.get_num_threads() == before
    seen.clear()
    enc.threads = 2
    two = enc.encode(TEXTS)
    assert set(seen) == {2} and torch.get_num_threads() == before
    np.testing.assert_allclose(one, two, atol=1e-6)
    assert SentenceEncoder(model_dir).threads == available_cores() == resolve_threads(0)
    with pytest.raises(ValueError, match="threads must be >= 1, or 0 for all cores, got -1"):
        SentenceEncoder(model_dir, threads=-1)
    with pytest.raises(ValueError, match="threads must be an integer"):
        resolve_threads(1.5)


def test_torch_threads_restores_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with torch_threads(before + 1):
            assert torch.get_num_threads() == before + 1
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_quantize_int8_close_to_float32(model_dir):
    fp32 = SentenceEncoder(model_dir, threads=1)
    int8 = SentenceEncoder(model_dir, threads=1, quantize="int8")
    assert not any(isinstance(m, torch.nn.Linear) for m in int8._model.modules())
    assert any(isinstance(m, torch.nn.Linear) for m in fp32._model.modules())
    a, b = fp32.encode(TEXTS), int8.encode(TEXTS)
    assert b.dtype == np.float32 and b.shape == a.shape
    cos = np.sum(a * b, axis=1)  # both unit vectors
    assert cos.min() > 0.98 and not np.array_equal(a, b)  # observed min ~0.99 on this model
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert int8.settings()["quantize"] == "int8" and fp32.settings()["quantize"] is None
    assert int8.fingerprint == fp32.fingerprint + "+int8"  # caches and resumes never mix them
    with pytest.raises(ValueError, match="quantize must be None or one of"):
        SentenceEncoder(model_dir, quantize="int4")
    with pytest.raises(ValueError, match="CPU only.*'meta'"):
        SentenceEncoder(model_dir, quantize="int8", device="meta")


# -- ColBERT checkpoints ------------------------------------------------------------------------

def _tiny_colbert_dir(root):
    from transformers import BertConfig, BertModel, BertTokenizer

    vocab = list(dict.fromkeys(["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
                                ".", ","] + list(WORDS)))
    root.mkdir(parents=True)
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=256)
    torch.manual_seed(1)
    state = {f"bert.{k}": v for k, v in BertModel(config, add_pooling_layer=False).state_dict().items()}
    state["linear.weight"] = torch.randn(8, 32)
    config.save_pretrained(root)
    torch.save(state, root / "pytorch_model.bin")
    BertTokenizer(str(root / "vocab.txt"), do_lower_case=True).save_pretrained(root)
    return root


def test_colbert_documents_sorted_and_restored_exactly(tmp_path, monkeypatch):
    enc = colbert.ColBERTEncoder(_tiny_colbert_dir(tmp_path / "colbert"), batch_size=4, threads=1)
    texts = [t + " , ." for t in TEXTS]
    got = enc.encode_documents(texts)
    order = length_order(token_lengths(enc.tokenizer, [". " + t for t in texts], enc.doc_maxlen))
    _unsorted(monkeypatch, colbert)
    sv, sids, soffs = enc.encode_documents([texts[i] for i in order])
    v, ids, offs = got
    assert offs[-1] == len(sv) and len(offs) == len(texts) + 1
    for rank, i in enumerate(order):
        np.testing.assert_array_equal(ids[offs[i]:offs[i + 1]], sids[soffs[rank]:soffs[rank + 1]])
        np.testing.assert_array_equal(v[offs[i]:offs[i + 1]], sv[soffs[rank]:soffs[rank + 1]])
    unsorted_v, unsorted_ids, unsorted_offs = enc.encode_documents(texts)
    np.testing.assert_array_equal(unsorted_ids, ids)
    np.testing.assert_array_equal(unsorted_offs, offs)
    np.testing.assert_allclose(unsorted_v, v, atol=1e-6)
    before = torch.get_num_threads()
    assert colbert.ColBERTEncoder(tmp_path / "colbert").threads == available_cores()
    assert torch.get_num_threads() == before  # construction leaves the process setting alone
