"""``winnow serve``: every endpoint and every class of bad request through FastAPI's TestClient,
results identical to ``winnow search`` (same docnos, order and float32 scores as its TREC run),
the queue limit (503 + Retry-After), and the real server in a subprocess (SIGTERM ends it)."""
from __future__ import annotations

import asyncio
import signal
import threading
import time

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from winnow import datasets
from winnow.cli.main import main
from winnow.errors import InputWarning
from winnow.evaluation import evaluate
from winnow.index import BM25Index
from winnow.results import Results
from winnow.serve import Pipeline, ServeLimits, create_app, pipeline_from_index, pipelines_from_config

from server_process import start_server, stop  # tests/serve is on sys.path under pytest

CRANFIELD = datasets.bundled()


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("serve") / "cranfield"
    assert main(["index", "build", "bm25", "--input", str(CRANFIELD.path), "--output", str(path),
                 "--store", "text"]) == 0
    return path


@pytest.fixture(scope="module")
def plain_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("serve") / "plain"
    BM25Index.build([("a", "alpha beta"), ("b", "beta gamma")], progress=False).save(path)
    return path


@pytest.fixture(scope="module")
def client(index_dir, plain_dir):
    limits = ServeLimits(max_k=1000, max_query_chars=1000, max_batch=300)
    qrels = CRANFIELD.qrels("test")
    app = create_app([pipeline_from_index(index_dir), pipeline_from_index(plain_dir)], limits, qrels)
    with TestClient(app) as c:
        yield c


def _run_of(answer_results) -> dict:
    return {r["qid"]: [(h["docno"], np.float32(h["score"])) for h in r["hits"]] for r in answer_results}


def test_results_identical_to_the_cli_run(client, index_dir, tmp_path):
    run = tmp_path / "cli.run"
    assert main(["search", "--index", str(index_dir), "--queries", str(CRANFIELD.path), "--k", "100",
                 "--output", str(run)]) == 0
    expected = {}
    with open(run) as fh:
        for line in fh:
            qid, _, docno, rank, score, _ = line.split()
            expected.setdefault(qid, []).append((docno, np.float32(score)))
    queries = CRANFIELD.queries()
    got = _run_of(client.post("/search", json={"queries": queries, "k": 100}).json()["results"])
    assert got == expected  # docnos, order and float32 scores
    for qid in list(queries)[:5]:  # GET, one query at a time, gives the same
        hits = client.get("/search", params={"q": queries[qid], "k": 100, "text": "false"}).json()["hits"]
        assert [(h["docno"], np.float32(h["score"])) for h in hits] == expected[qid]
        assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))


def test_search_answer_has_titles_snippets_and_pages(client, index_dir):
    index = BM25Index.load(index_dir, mmap=True)
    first = client.get("/search", params={"q": "boundary layer", "k": 20}).json()
    assert first["pipeline"] == "cranfield" and first["more"] is True and len(first["hits"]) == 20
    for h in first["hits"]:
        d = index.doc(h["docno"])
        assert h["title"] == d["title"] and h["snippet"] == d["text"][:300]
    page2 = client.get("/search", params={"q": "boundary layer", "k": 10, "offset": 10}).json()
    assert page2["hits"] == first["hits"][10:]
    assert client.get("/search", params={"q": "beta", "pipeline": "plain"}).json()["hits"][0].keys() == {
        "rank", "docno", "score"}  # no store: no titles
    with pytest.warns(InputWarning, match="no terms"):
        assert client.get("/search", params={"q": "the of and"}).json()["hits"] == []  # stop words only


def test_qrels_mark_relevance_and_ndcg(client):
    qrels = CRANFIELD.qrels("test")
    qid, text = next(iter(CRANFIELD.queries().items()))
    answer = client.get("/search", params={"q": text, "k": 5, "qid": qid}).json()
    assert all(h["relevance"] == qrels[qid].get(h["docno"]) for h in answer["hits"])
    top10 = BM25Index.load(_index_path(client)).search({qid: text}, k=10)
    assert answer["nDCG@10"] == pytest.approx(evaluate(top10.to_dict(), {qid: qrels[qid]}, ["nDCG@10"])["nDCG@10"])


def _index_path(client):
    return client.get("/info").json()["pipelines"][0]["path"]


def test_doc_health_info_docs_and_page(client, index_dir):
    d = client.get("/doc/12").json()
    assert d == BM25Index.load(index_dir).doc("12")
    r = client.get("/doc/nope")
    assert r.status_code == 404 and "nope" in r.json()["detail"]
    r = client.get("/doc/a", params={"pipeline": "plain"})
    assert r.status_code == 404 and "no document store" in r.json()["detail"]
    assert client.get("/health").json() == {"status": "ok"}
    info = client.get("/info").json()
    assert [p["name"] for p in info["pipelines"]] == ["cranfield", "plain"]
    assert info["pipelines"][0]["has_store"] and info["pipelines"][0]["n_docs"] == 1400
    assert info["pipelines"][0]["format"] == "winnow.bm25" and info["qrels"] is True
    assert client.get("/docs").status_code == 200
    assert "/search" in client.get("/openapi.json").json()["paths"]
    page = client.get("/")
    assert page.status_code == 200 and "<form" in page.text and "http" not in page.text.split("<script>")[1]


@pytest.mark.parametrize("params, status, message", [
    ({"q": ""}, 400, "q must not be empty"),
    ({"q": "   "}, 400, "q must not be empty"),
    ({}, 422, "q: Field required"),
    ({"q": "x", "k": 0}, 400, "k must be >= 1"),
    ({"q": "x", "k": 1001}, 400, "limit is 1000"),
    ({"q": "x", "k": 995, "offset": 10}, 400, "limit is 1000"),
    ({"q": "x", "offset": -1}, 400, "offset must be >= 0"),
    ({"q": "x", "k": "ten"}, 422, "k: Input should be a valid integer"),
    ({"q": "x" * 1001}, 413, "1001 characters, the limit is 1000"),
    ({"q": "x", "pipeline": "nope"}, 404, "unknown pipeline 'nope'"),
    ({"q": "x", "qid": "no-such-qid"}, 404, "not in the qrels"),
])
def test_bad_get_requests(client, params, status, message):
    r = client.get("/search", params=params)
    assert r.status_code == status and message in r.json()["detail"], r.json()


@pytest.mark.parametrize("body, status, message", [
    ({"queries": {}}, 400, "queries must not be empty"),
    ({"queries": {str(i): "x" for i in range(301)}}, 413, "batch limit is 300"),
    ({"queries": ["ok", ""]}, 400, "query '1' must not be empty"),
    ({"queries": ["y" * 1001]}, 413, "limit is 1000"),
    ({"queries": ["x"], "k": 0}, 400, "k must be >= 1"),
    ({"queries": ["x"], "k": 5000}, 400, "limit is 1000"),
    ({"queries": "x"}, 422, "queries"),
    ({"queries": [1, 2]}, 422, "queries"),
    ({"k": 3}, 422, "queries: Field required"),
    ({"queries": ["x"], "pipeline": "nope"}, 404, "unknown pipeline"),
    ({"queries": ["bad \ud800 text"]}, 400, "surrogate"),
])
def test_bad_post_requests(client, body, status, message):
    import json

    r = client.post("/search", content=json.dumps(body), headers={"content-type": "application/json"})
    assert r.status_code == status and message in r.json()["detail"], r.json()


def test_malformed_json_and_qid_without_qrels(client, index_dir):
    r = client.post("/search", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"]
    with TestClient(create_app([pipeline_from_index(index_dir)])) as c:
        r = c.get("/search", params={"q": "x", "qid": "1"})
        assert r.status_code == 400 and "--qrels" in r.json()["detail"]


def test_full_queue_answers_503_with_retry_after():
    release = threading.Event()
    started = threading.Event()

    def slow_search(queries, k):
        started.set()
        release.wait(10)
        return Results.empty(list(queries), k)

    app = create_app([Pipeline("slow", slow_search)], ServeLimits(workers=1, queue=1))

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            first = asyncio.create_task(c.get("/search", params={"q": "a"}))
            second = asyncio.create_task(c.get("/search", params={"q": "b"}))  # queued
            while not started.is_set():
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            third = await c.get("/search", params={"q": "c"})
            release.set()
            return third, await first, await second

    third, first, second = asyncio.run(scenario())
    assert third.status_code == 503 and third.headers["retry-after"] == "1"
    assert "busy" in third.json()["detail"]
    assert first.status_code == second.status_code == 200


def test_config_pipelines(tmp_path):
    config = {"name": "t", "dataset": {"path": "bundled:cranfield", "splits": ["test"]},
              "indexes": {"bm25": {"type": "bm25"}, "rob": {"type": "bm25", "scoring": "robertson"}},
              "pipelines": {"bm25": "bm25", "hybrid": "rrf(bm25, rob)"},
              "output": {"dir": str(tmp_path / "out")}}
    pipelines = pipelines_from_config(config)
    assert [p.name for p in pipelines] == ["bm25", "hybrid"]
    with TestClient(create_app(pipelines)) as c:
        hits = c.get("/search", params={"q": "boundary layer", "k": 10, "pipeline": "bm25"}).json()["hits"]
        assert len(c.get("/search", params={"q": "boundary layer", "pipeline": "hybrid"}).json()["hits"]) == 10
    direct = BM25Index.build(CRANFIELD.corpus(), progress=False).search({"q": "boundary layer"}, k=10)
    assert [h["docno"] for h in hits] == direct.docnos.lookup(direct.ids[0])


def test_real_server_in_a_subprocess(index_dir):
    proc, base = start_server("--index", str(index_dir))
    try:
        answer = httpx.get(base + "/search", params={"q": "supersonic flow", "k": 3}).json()
        direct = BM25Index.load(index_dir).search({"q": "supersonic flow"}, k=3)
        assert [h["docno"] for h in answer["hits"]] == direct.docnos.lookup(direct.ids[0])
        assert httpx.get(base + "/doc/1").json()["docno"] == "1"
        proc.send_signal(signal.SIGTERM)
        # graceful: uvicorn finishes, the app shuts its pool down, then the signal is re-raised
        assert proc.wait(30) == -signal.SIGTERM
        assert "stopped (in-flight requests finished)" in proc.stderr.read()
    finally:
        stop(proc)


def test_sigterm_lets_the_request_in_flight_finish(index_dir):
    proc, base = start_server("--index", str(index_dir))
    queries = dict(list(CRANFIELD.queries().items())[:100])
    body = {"queries": queries, "k": 300, "text": True}  # ~30,000 store look-ups: a second or more
    out = {}

    def request():
        out["response"] = httpx.post(base + "/search", json=body, timeout=120)

    try:
        t = threading.Thread(target=request)
        t.start()
        time.sleep(0.3)  # the batch is being served
        proc.send_signal(signal.SIGTERM)
        t.join(120)
        assert proc.wait(60) == -signal.SIGTERM
        response = out["response"]
        assert response.status_code == 200
        assert [r["qid"] for r in response.json()["results"]] == list(queries)
        with pytest.raises(httpx.TransportError):  # and nothing new is accepted afterwards
            httpx.get(base + "/health", timeout=2)
    finally:
        stop(proc)


def test_serve_cli_arguments(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["serve"])
    assert exc.value.code == 2
    assert main(["serve", "--index", "/nonexistent/index"]) == 1
    assert "error:" in capsys.readouterr().err
    assert main(["serve", "--index", "/x", "--pipeline", "p"]) == 1
    assert "--pipeline goes with --config" in capsys.readouterr().err
