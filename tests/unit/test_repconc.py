"""RepCONC driver (index/repconc.py): determinism, training log, checkpoint import, CLI."""
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

    base = dict(M=2, nbits=8, opq=True, cpq_niter=2, sinkhorn_iters=10, epochs=1, stage2_epochs=1,
                batch_size=16, hard_negatives=4, hard_topk=20, neg_topk=20, seed=7, threads=1)
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
    assert stages == ["constrained_pq", "rank", "jpq"]
    rank = a.log[1]
    assert {"loss", "rank_loss", "mse", "imbalance_constrained", "imbalance_nearest"} <= set(rank)
    assert all(np.isfinite(e["loss"]) for e in a.log[1:])
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
    rc = main(["index", "build", "repconc", "--vectors", str(vec), "--train-queries", str(vec),
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
