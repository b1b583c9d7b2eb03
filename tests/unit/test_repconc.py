"""RepCONC (index/repconc.py, index/repconc_train.py): per-batch Sinkhorn, encoder training in
full mode (tiny BERT built here), centroid-only mode, determinism, checkpoint import, CLI."""
import numpy as np
import pytest
import torch


def _data(n=400, d=16, nq=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    target = rng.choice(n, nq, replace=False)
    q = x[target] + 0.3 * rng.standard_normal((nq, d)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    docnos = [f"d{i}" for i in range(n)]
    qids = [f"q{i}" for i in range(nq)]
    qrels = {qid: {docnos[t]: 1} for qid, t in zip(qids, target)}
    return x, q.astype(np.float32), qids, qrels, docnos


def _cfg(**kw):
    from winnow.index.repconc import RepCONCConfig

    base = dict(M=2, nbits=8, mode="centroids", opq=True, cpq_niter=2, sinkhorn_iters=10, epochs=1,
                stage2_epochs=1, batch_size=16, stage2_batch_size=16, hard_negatives=4,
                dynamic_topk_hard_negative=4, hard_topk=20, neg_topk=20, seed=7, threads=1)
    base.update(kw)
    return RepCONCConfig(**base)


def test_training_deterministic_and_logged():
    from winnow.index.repconc import train_repconc

    x, q, qids, qrels, docnos = _data()
    msgs = []
    a = train_repconc(x, q, qids, qrels, docnos, _cfg(), log=msgs.append)
    b = train_repconc(x, q, qids, qrels, docnos, _cfg(), log=lambda m: None)
    np.testing.assert_array_equal(a.index.pq.centroids, b.index.pq.centroids)
    np.testing.assert_array_equal(a.index.codes, b.index.codes)
    np.testing.assert_array_equal(a.index.rotation, b.index.rotation)
    assert [e.get("loss") for e in a.log] == [e.get("loss") for e in b.log]
    c = train_repconc(x, q, qids, qrels, docnos, _cfg(seed=8), log=lambda m: None)
    assert not np.array_equal(a.index.pq.centroids, c.index.pq.centroids)
    stages = [e["stage"] for e in a.log]
    assert stages == ["warmup", "warmup", "rank", "jpq", "selected"]
    rank = a.log[2]
    assert {"loss", "rank_loss", "mse", "imbalance_batch_constrained", "imbalance_nearest", "dev_mrr@10"} <= set(rank)
    assert all(np.isfinite(e["loss"]) for e in a.log if "loss" in e)
    assert any("stage 1 epoch 1/1" in m for m in msgs)
    # the index codes documents by nearest centroid in the rotated space
    xr = x @ a.index.rotation
    np.testing.assert_array_equal(a.index.codes, a.index.pq.encode(np.ascontiguousarray(xr), 1))
    scores, ids = a.index.search_vectors(q, 5)
    assert ids.shape == (len(q), 5) and (ids >= 0).all()


def test_ivf_keeps_learned_codes():
    from winnow.index.repconc import to_ivf, train_repconc

    x, q, qids, qrels, docnos = _data()
    res = train_repconc(x, q, qids, qrels, docnos, _cfg(epochs=0, stage2_epochs=0, opq=False), log=lambda m: None)
    ivf = to_ivf(res.index, x, nlist=4)
    ivf.nprobe = 4
    s1, i1 = res.index.search_vectors(q, 10)
    s2, i2 = ivf.search_vectors(q, 10, nprobe=4)
    np.testing.assert_allclose(s1, s2, rtol=1e-5, atol=1e-5)


def test_checkpoint_import_round_trip(tmp_path):
    from winnow.index.pq_index import PQIndex
    from winnow.index.repconc import index_from_checkpoint, load_checkpoint

    rng = np.random.default_rng(3)
    M, K, dsub = 4, 256, 4
    d = M * dsub
    cent = rng.standard_normal((M, K, dsub)).astype(np.float32)
    rot, _ = np.linalg.qr(rng.standard_normal((d, d)))
    rot = rot.astype(np.float32)  # authors' convention: e = f(x) @ rotation^T
    state = {"module.centroids": torch.from_numpy(cent), "module.rotation": torch.from_numpy(rot),
             "module.encoder.weight": torch.zeros(2)}
    path = tmp_path / "pytorch_model.bin"
    torch.save(state, path)
    c, r = load_checkpoint(path)
    np.testing.assert_array_equal(c, cent)
    np.testing.assert_array_equal(r, rot.T)
    x = rng.standard_normal((300, d)).astype(np.float32)
    q = rng.standard_normal((5, d)).astype(np.float32)
    index = index_from_checkpoint(path, x)
    # codes = nearest centroid of the authors' rotated embedding
    xe = (x @ rot.T).astype(np.float32)
    ref = np.stack([((xe[:, m * dsub:(m + 1) * dsub, None] - cent[m].T[None]) ** 2).sum(1).argmin(1)
                    for m in range(M)], 1)
    np.testing.assert_array_equal(index.codes, ref.astype(np.uint8))
    # ADC score = <q @ rotation^T, decode(codes)>
    scores, ids = index.search_vectors(q, 10)
    dec = np.concatenate([cent[m][ref[:, m]] for m in range(M)], 1)
    exact = (q @ rot.T) @ dec.T
    np.testing.assert_allclose(scores, np.take_along_axis(exact, ids, 1), rtol=1e-5, atol=1e-5)
    index.save(tmp_path / "idx")
    back = PQIndex.load(tmp_path / "idx")
    np.testing.assert_array_equal(back.pq.centroids, cent)
    s2, i2 = back.search_vectors(q, 10)
    np.testing.assert_array_equal(i2, ids)
    with pytest.raises(ValueError, match="centroids"):
        load_checkpoint({"rotation": torch.from_numpy(rot)})


def test_cli_build_repconc(tmp_path):
    from winnow.cli.main import main
    from winnow.index import inspect, load

    x, q, qids, qrels, docnos = _data()
    vec = tmp_path / "emb"
    vec.mkdir()
    np.save(vec / "corpus.npy", x)
    (vec / "corpus_ids.txt").write_text("\n".join(docnos) + "\n")
    np.save(vec / "queries.npy", q)
    (vec / "query_ids.txt").write_text("\n".join(qids) + "\n")
    qrels_path = tmp_path / "train.tsv"
    qrels_path.write_text("query-id\tcorpus-id\tscore\n" +
                          "".join(f"{k}\t{d}\t1\n" for k, v in qrels.items() for d in v))
    out = tmp_path / "idx"
    rc = main(["index", "build", "repconc", "--mode", "centroids", "--vectors", str(vec), "--train-queries", str(vec),
               "--train-qrels", str(qrels_path), "--M", "2", "--epochs", "1", "--stage2-epochs", "1",
               "--cpq-niter", "1", "--sinkhorn-iters", "5", "--ivf", "4", "--output", str(out)])
    assert rc == 0
    index = load(out)
    assert type(index).__name__ == "IVFIndex" and index.n_docs == len(x) and not index.residual
    log = inspect(out)["info"]["training_log"]  # inside the atomic save, under meta.json's checksum
    assert isinstance(log, dict) and log
    assert sorted(p.name for p in out.iterdir()) == sorted([*inspect(out)["files"], "meta.json"])
    res = index.search(q[:3], k=5)
    assert len(res.ids) == 3


def test_sinkhorn_runs_per_training_batch(monkeypatch):
    """Stage 1 codes each batch's documents (positives + hard negatives) with Sinkhorn, every
    step, on exactly that batch: never the corpus, never a cached assignment."""
    from winnow.index import repconc_train
    from winnow.index.repconc import train_repconc

    x, q, qids, qrels, docnos = _data()
    calls = []
    real = repconc_train.constrained_codes

    def spy(emb, centroids, cfg):
        codes = real(emb, centroids, cfg)
        calls.append((emb.copy(), centroids.copy(), codes))
        return codes

    monkeypatch.setattr(repconc_train, "constrained_codes", spy)
    cfg = _cfg(epochs=2, stage2_epochs=0, dev_fraction=0.0, batch_size=16, hard_negatives=3)
    res = train_repconc(x, q, qids, qrels, docnos, cfg, log=lambda m: None)
    steps_per_epoch = -(-len(qids) // 16)  # every query has a relevant document here
    assert len(calls) == 2 * steps_per_epoch == res.sinkhorn_calls
    xr = x @ res.index.rotation
    for emb, cent, codes in calls:
        nq_batch = 16 if len(emb) == 16 * 4 else len(emb) // 4
        assert len(emb) == 4 * nq_batch  # one positive + 3 negatives per query of the batch
        # the rows are the batch's rotated document vectors (centroid-only mode: fixed vectors)
        dist = ((emb[:, None, :] - xr[None, :, :]) ** 2).sum(-1).min(1)
        assert dist.max() < 1e-8
        # and the codes are that batch's balanced assignment, not nearest centroid
        assert codes.shape == (len(emb), 2)
    # the centroids move between steps: each step's Sinkhorn sees the current centroids
    assert not np.array_equal(calls[0][1], calls[-1][1])


def _text_data(n=300, nq=24, seed=0):
    from tiny_encoder import WORDS

    rng = np.random.default_rng(seed)
    docs = [" ".join(rng.choice(WORDS, 10)) for _ in range(n)]
    qtexts = [" ".join(rng.choice(docs[i].split(), 4)) for i in range(nq)]
    qids = [f"q{i}" for i in range(nq)]
    docnos = [f"d{i}" for i in range(n)]
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(nq)}
    return docs, qtexts, qids, docnos, qrels


def _weights(path):
    from sentence_transformers import SentenceTransformer

    m = SentenceTransformer(str(path), device="cpu")
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def test_full_mode_trains_encoders(tmp_path):
    """Full mode: the straight-through estimator carries the ranking gradient into the document
    encoder (stage 1) and stage 2 trains the query encoder further; the index codes the corpus
    with the stage-1 encoder by nearest centroid and records the trained query encoder."""
    from tiny_encoder import build_tiny_model

    from winnow.index.repconc import RepCONCConfig, train_repconc

    base = build_tiny_model(tmp_path / "m")
    docs, qtexts, qids, docnos, qrels = _text_data()
    cfg = RepCONCConfig(M=4, mode="full", epochs=1, stage2_epochs=1, batch_size=12, stage2_batch_size=12,
                        chunk_size=8, hard_negatives=2, dynamic_topk_hard_negative=2, hard_topk=10, neg_topk=10,
                        sinkhorn_iters=5, dev_fraction=0.0, encoder_lr=1e-3, stage2_encoder_lr=1e-3, seed=3)
    res = train_repconc(None, None, qids, qrels, docnos, cfg, log=lambda m: None, model=str(base),
                        corpus_texts=docs, query_texts=qtexts, encoder_output=tmp_path / "enc")
    assert res.sinkhorn_calls == 2 and res.log[-1]["at"] == "jpq"
    w0, wd, wq = _weights(base), _weights(tmp_path / "enc" / "doc"), _weights(tmp_path / "enc" / "query")
    changed_doc = [k for k in w0 if not torch.equal(w0[k], wd[k])]
    changed_q = [k for k in w0 if not torch.equal(wd[k], wq[k])]
    assert any("encoder.layer" in k for k in changed_doc)  # stage 1 reached the transformer
    assert any("encoder.layer" in k for k in changed_q)    # stage 2 trained the query side further
    assert res.index.model == res.encoder_path == str((tmp_path / "enc" / "query").resolve())
    # the index codes = nearest centroid of the stage-1 encoder's rotated corpus embeddings
    from winnow.encoders import SentenceEncoder

    e = SentenceEncoder(tmp_path / "enc" / "doc").encode(docs)
    xr = np.ascontiguousarray(e @ res.index.rotation, dtype=np.float32)
    same = (res.index.pq.encode(xr, 1) == res.index.codes).all(1).mean()
    assert same > 0.95


def test_centroid_mode_keeps_vectors_and_loads_no_encoder(tmp_path):
    """Centroid-only mode trains centroids on the given vectors: no encoder is loaded or saved,
    and the index codes the given vectors (rotated) by nearest centroid."""
    from winnow.index.repconc import train_repconc

    x, q, qids, qrels, docnos = _data()
    x0, q0 = x.copy(), q.copy()
    res = train_repconc(x, q, qids, qrels, docnos, _cfg(epochs=2, dev_fraction=0.0), log=lambda m: None,
                        model="m", encoder_output=tmp_path / "enc")
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(q, q0)
    assert res.query_encoder is None and res.encoder_path is None and res.index.model == "m"
    assert not (tmp_path / "enc").exists()
    xr = np.ascontiguousarray(x @ res.index.rotation)
    np.testing.assert_array_equal(res.index.codes, res.index.pq.encode(xr, 1))


def test_dev_split_selects_and_never_trains_on_dev(monkeypatch):
    """The dev queries (carved from the training queries) are never in a training batch."""
    from winnow.index import repconc_train
    from winnow.index.repconc import train_repconc

    x, q, qids, qrels, docnos = _data()
    seen = set()
    real = repconc_train.make_batch

    def spy(qi, *a, **k):
        seen.update(int(i) for i in qi)
        return real(qi, *a, **k)

    monkeypatch.setattr(repconc_train, "make_batch", spy)
    res = train_repconc(x, q, qids, qrels, docnos, _cfg(dev_fraction=0.25, epochs=2), log=lambda m: None)
    assert len(seen) == len(qids) - 15
    sel = res.log[-1]
    assert sel["stage"] == "selected"
    scores = [e["dev_mrr@10"] for e in res.log if "dev_mrr@10" in e and e["stage"] != "selected"]
    assert sel["dev_mrr@10"] == max(scores)


def test_config_rejects_bad_mode():
    from winnow.index.repconc import train_repconc

    x, q, qids, qrels, docnos = _data()
    with pytest.raises(ValueError, match="mode"):
        train_repconc(x, q, qids, qrels, docnos, _cfg(mode="bogus"))
    with pytest.raises(ValueError, match="corpus_texts"):
        train_repconc(x, q, qids, qrels, docnos, _cfg(mode="full"))


def test_cli_build_repconc_full_mode(tmp_path, capsys):
    """--mode full (the default) trains the encoder from texts; the index records the saved
    query encoder and searches with it."""
    import json

    from tiny_encoder import build_tiny_model

    from winnow.cli.main import main
    from winnow.encoders import SentenceEncoder
    from winnow.index import inspect, load

    base = build_tiny_model(tmp_path / "m")
    docs, qtexts, qids, docnos, qrels = _text_data()
    vec = tmp_path / "emb"
    vec.mkdir()
    np.save(vec / "corpus.npy", SentenceEncoder(base).encode(docs))
    (vec / "corpus_ids.txt").write_text("\n".join(docnos) + "\n")
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n"
                                                   for d, t in zip(docnos, docs)))
    (tmp_path / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n"
                                                    for q, t in zip(qids, qtexts)))
    qrels_path = tmp_path / "train.tsv"
    qrels_path.write_text("query-id\tcorpus-id\tscore\n" +
                          "".join(f"{k}\t{d}\t1\n" for k, v in qrels.items() for d in v))
    out = tmp_path / "idx"
    rc = main(["index", "build", "repconc", "--vectors", str(vec), "--corpus", str(tmp_path / "corpus.jsonl"),
               "--queries", str(tmp_path / "queries.jsonl"), "--train-qrels", str(qrels_path),
               "--model", str(base), "--M", "4", "--epochs", "1", "--stage2-epochs", "1", "--batch-size", "12",
               "--stage2-batch-size", "12", "--chunk-size", "8", "--hard-negatives", "2",
               "--sinkhorn-iters", "5", "--output", str(out)])
    assert rc == 0
    log = inspect(out)["info"]["training_log"]
    assert log["config"]["mode"] == "full" and log["sinkhorn_calls"] == 2
    index = load(out)
    assert index.model == str((tmp_path / "idx.encoders" / "query").resolve())
    res = index.search(qtexts[:3], k=5)
    assert len(res.ids) == 3
    capsys.readouterr()
    rc = main(["index", "build", "repconc", "--vectors", str(vec), "--train-qrels", str(qrels_path),
               "--M", "4", "--output", str(tmp_path / "idx2")])
    assert rc != 0 and "--corpus and --queries" in capsys.readouterr().err
    # --overwrite never writes encoders into a directory an earlier run did not make
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    rc = main(["index", "build", "repconc", "--vectors", str(vec), "--corpus", str(tmp_path / "corpus.jsonl"),
               "--queries", str(tmp_path / "queries.jsonl"), "--train-qrels", str(qrels_path),
               "--model", str(base), "--M", "4", "--output", str(tmp_path / "idx3"),
               "--encoder-output", str(theirs), "--overwrite"])
    assert rc != 0 and "not writing into it" in capsys.readouterr().err
    assert sorted(p.name for p in theirs.iterdir()) == ["notes.txt"]
