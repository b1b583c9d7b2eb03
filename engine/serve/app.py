"""The FastAPI application of ``winnow serve``: search (GET one query, POST a batch), documents,
health, index information, OpenAPI docs at ``/docs`` and the search page at ``/``.

Every bad request gets a 4xx answer ``{"detail": "<one clear sentence>"}``: 400 for a bad value,
404 for an unknown pipeline or document (or no document store), 413 for a query or batch over
the limits, 422 for a malformed request (wrong types, bad JSON), 503 with ``Retry-After`` when
the search queue is full.
"""
from __future__ import annotations

import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Optional, Union

from fastapi import Body, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel

from winnow import __version__
from winnow.errors import IndexFormatError
from winnow.serve.limits import BoundedPool, Busy, ServeLimits
from winnow.serve.pipelines import Pipeline

PAGE = Path(__file__).resolve().parent / "static" / "index.html"


class BatchRequest(BaseModel):
    queries: Union[dict[str, str], list[str]]  # {qid: text}, or texts (qids "0", "1", ...)
    k: int = 10
    pipeline: Optional[str] = None
    text: bool = False  # add title and snippet to each hit (from the document store)


def create_app(pipelines: list[Pipeline], limits: ServeLimits = ServeLimits(),
               qrels: dict | None = None, log_shutdown: bool = False) -> FastAPI:
    """The app over ``pipelines`` (the first is the default); ``qrels`` {qid: {docno: grade}}
    lets ``/search?qid=`` mark judged documents and report nDCG@10."""
    if not pipelines:
        raise ValueError("winnow serve needs at least one pipeline")
    by_name = {p.name: p for p in pipelines}
    if len(by_name) != len(pipelines):
        raise ValueError(f"pipeline names must be unique, got {[p.name for p in pipelines]}")
    pool = BoundedPool(limits.workers, limits.queue)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        pool.shutdown()  # after uvicorn has let in-flight requests finish
        if log_shutdown:
            print("winnow serve: stopped (in-flight requests finished)", file=sys.stderr, flush=True)

    app = FastAPI(title="Winnow", version=__version__, lifespan=lifespan,
                  description="Search Winnow indexes and pipelines over HTTP.")
    app.state.pipelines = [{"name": p.name, "store": p.docs is not None} for p in pipelines]

    @app.exception_handler(RequestValidationError)
    async def _malformed(_request: Request, exc: RequestValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("query", "body", "path"))
            parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
        return JSONResponse({"detail": "; ".join(parts) or "malformed request"}, status_code=422)

    @app.exception_handler(Busy)
    async def _busy(_request: Request, _exc: Busy):
        return JSONResponse({"detail": f"server busy: {pool.capacity} searches in progress or queued; retry"},
                            status_code=503, headers={"Retry-After": "1"})

    def pick(name: str | None) -> Pipeline:
        if name is None:
            return pipelines[0]
        if name not in by_name:
            raise HTTPException(404, f"unknown pipeline {name!r}; pipelines: {list(by_name)}")
        return by_name[name]

    def check_k(k: int, offset: int = 0) -> None:
        if k < 1:
            raise HTTPException(400, f"k must be >= 1, got {k}")
        if offset < 0:
            raise HTTPException(400, f"offset must be >= 0, got {offset}")
        if k + offset > limits.max_k:
            raise HTTPException(400, f"k + offset is {k + offset}, the limit is {limits.max_k}")

    def check_query(text: str, what: str = "q") -> None:
        if not text.strip():
            raise HTTPException(400, f"{what} must not be empty")
        if len(text) > limits.max_query_chars:
            raise HTTPException(413, f"{what} has {len(text)} characters, the limit is {limits.max_query_chars}")

    async def run_search(p: Pipeline, queries: dict, k: int, answer=None):
        """``p.search(queries, k)`` on a worker thread, then ``answer(results)`` there too (the
        store look-ups for titles and snippets decode blocks: kept off the event loop)."""
        def work():
            results = p.search(queries, k)
            return results if answer is None else answer(results)

        try:
            return await pool.run(work)
        except (ValueError, IndexError) as exc:  # a query the pipeline refuses (never a crash)
            if isinstance(exc, IndexFormatError):
                raise HTTPException(500, f"damaged index: {exc}") from None
            raise HTTPException(400, str(exc)) from None

    def hits_of(p: Pipeline, results, row: int, offset: int, k: int, text: bool, judged: dict | None) -> list:
        out = []
        for rank, (i, score) in enumerate(zip(results.ids[row], results.scores[row]), start=1):
            if i < 0 or rank <= offset:
                continue
            if rank > offset + k:
                break
            hit = {"rank": rank, "docno": results.docnos[int(i)], "score": float(score)}
            if text and p.docs is not None:
                try:
                    d = p.docs.doc(hit["docno"])
                except KeyError:  # a fused pipeline's hit from an index without the store
                    d = None
                if d is not None:
                    hit["title"] = d["title"]
                    hit["snippet"] = d["text"][:limits.snippet_chars]
            if judged is not None:
                hit["relevance"] = judged.get(hit["docno"])
            out.append(hit)
        return out

    @app.get("/search", summary="Search one query")
    async def search(q: str = Query(..., description="query text"), k: int = Query(10, description="hits"),
                     offset: int = Query(0, description="hits to skip (paging)"),
                     pipeline: Optional[str] = None, text: bool = Query(True, description="titles and snippets"),
                     qid: Optional[str] = Query(None, description="judged query id: mark relevant hits, nDCG@10")):
        p = pick(pipeline)
        check_k(k, offset)
        check_query(q)
        judged = None
        if qid is not None:
            if qrels is None:
                raise HTTPException(400, "qid needs the server started with --qrels")
            if qid not in qrels:
                raise HTTPException(404, f"query id {qid!r} is not in the qrels")
            judged = qrels[qid]
        # one hit more than the page: tells the page whether there is a next one (the top k of a
        # deeper search are the same hits: ties are broken by docno, never by chance)
        depth = max(k + offset + 1, 10 if judged is not None else 0)
        def answer(results) -> dict:
            out = {"pipeline": p.name, "query": q, "k": k, "offset": offset,
                   "hits": hits_of(p, results, 0, offset, k, text and p.docs is not None, judged),
                   "more": bool(results.counts()[0] > offset + k)}
            if judged is not None:
                from winnow.evaluation import evaluate

                top = {d: s for _q, d, r, s in results.iter_rows() if r <= 10}
                out["nDCG@10"] = float(evaluate({qid: top}, {qid: judged}, ["nDCG@10"])["nDCG@10"])
            return out

        return await run_search(p, {qid or "q": q}, depth, answer)

    @app.post("/search", summary="Search a batch of queries")
    async def search_batch(body: BatchRequest = Body(...)):
        p = pick(body.pipeline)
        check_k(body.k)
        queries = body.queries if isinstance(body.queries, dict) else {
            str(i): t for i, t in enumerate(body.queries)}
        if not queries:
            raise HTTPException(400, "queries must not be empty")
        if len(queries) > limits.max_batch:
            raise HTTPException(413, f"{len(queries)} queries, the batch limit is {limits.max_batch}")
        for qid, text in queries.items():
            check_query(text, f"query {qid!r}")
        def answer(results) -> dict:
            return {"pipeline": p.name, "k": body.k,
                    "results": [{"qid": qid, "query": queries[qid],
                                 "hits": hits_of(p, results, row, 0, body.k, body.text, None)}
                                for row, qid in enumerate(results.qids)]}

        return await run_search(p, queries, body.k, answer)

    @app.get("/doc/{docno}", summary="One document from the document store")
    async def doc(docno: str, pipeline: Optional[str] = None):
        p = pick(pipeline)
        try:
            return p.doc(docno)
        except LookupError as exc:  # KeyError (unknown docno) is a LookupError too
            raise HTTPException(404, str(exc).strip('"')) from None

    @app.get("/health", summary="Liveness")
    async def health():
        return {"status": "ok"}

    @app.get("/info", summary="Pipelines, index metadata and limits")
    async def info():
        return {"winnow_version": __version__, "limits": limits.__dict__, "qrels": qrels is not None,
                "pipelines": [{"name": p.name, "has_store": p.docs is not None, **p.info} for p in pipelines]}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return PAGE.read_text(encoding="utf-8")

    return app
