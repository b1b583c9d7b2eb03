"""``winnow serve --index DIR | --config CONFIG.toml --pipeline NAME [--host H --port P]``."""
from __future__ import annotations

import argparse
import sys

from winnow.cli.common import positive_int


def register(sub) -> None:
    p = sub.add_parser("serve", help="serve indexes over HTTP (API and search page)",
                       description="Serve an index, or pipelines of an experiment config, over HTTP: "
                       "GET/POST /search, GET /doc/DOCNO, /health, /info, OpenAPI docs at /docs and a "
                       "search page at /. Needs the serve extra (pip install 'winnow[serve]'). SIGTERM or "
                       "Ctrl-C stops accepting requests and lets those in flight finish.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--index", action="append", metavar="DIR",
                        help="index directory (repeat for several; each is a pipeline named after its directory)")
    source.add_argument("--config", metavar="CONFIG.toml", help="experiment config whose pipelines to serve")
    p.add_argument("--pipeline", action="append", metavar="NAME",
                   help="with --config: pipeline to serve (repeat for several; default all)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    p.add_argument("--qrels", metavar="FILE", help="qrels file: the page marks judged documents and shows nDCG@10")
    p.add_argument("--max-k", type=positive_int, default=1000, help="hits per query at most (default 1000)")
    p.add_argument("--max-query-chars", type=positive_int, default=4096,
                   help="characters per query at most (default 4096)")
    p.add_argument("--max-batch", type=positive_int, default=100, help="queries per POST /search at most (default 100)")
    p.add_argument("--workers", type=positive_int, default=4, help="search threads (default 4)")
    p.add_argument("--queue", type=int, default=64,
                   help="searches waiting for a thread before answering 503 (default 64)")
    p.add_argument("--no-mmap", action="store_true", help="read the indexes into memory instead of mapping them")
    p.add_argument("--graceful-timeout", type=float, default=30.0,
                   help="seconds in-flight requests get to finish at shutdown (default 30)")
    # our server over RaySearcher (not Ray Serve): the same API, limits, page and graceful
    # shutdown as any index; the shards' work already runs in Ray actors behind it
    p.add_argument("--ray", metavar="local|auto|ADDRESS", default=None,
                   help="serve sharded indexes (built with --shards) through Ray actors holding the "
                   "shards: 'local' starts a private Ray instance, 'auto' or ADDRESS joins a cluster "
                   "(pip install \"winnow[distributed]\")")
    p.add_argument("--replicas", type=positive_int, default=1, help="with --ray: actors per shard (default 1)")
    p.set_defaults(func=run)


def build_app(args: argparse.Namespace):
    """The FastAPI app for parsed arguments (also what tests serve)."""
    from winnow.serve import ServeLimits, create_app, pipeline_from_index, pipelines_from_config

    if args.pipeline and not args.config:
        raise ValueError("--pipeline goes with --config")
    if args.queue < 0:
        raise ValueError(f"--queue must be >= 0, got {args.queue}")
    limits = ServeLimits(max_k=args.max_k, max_query_chars=args.max_query_chars, max_batch=args.max_batch,
                         workers=args.workers, queue=args.queue)
    if getattr(args, "ray", None) is not None:
        if args.config:
            raise ValueError("--ray serves sharded index directories given with --index, not --config")
        from winnow.serve import pipeline_from_ray

        pipelines = [pipeline_from_ray(d, args.ray, args.replicas) for d in args.index]
    elif args.config:
        pipelines = pipelines_from_config(args.config, args.pipeline)
    else:
        pipelines = [pipeline_from_index(d, mmap=not args.no_mmap) for d in args.index]
        names = [p.name for p in pipelines]
        if len(set(names)) != len(names):  # two directories with one name: number them
            for i, p in enumerate(pipelines):
                p.name = f"{p.name}-{i + 1}"
    for p in pipelines:
        p.warm()
    qrels = None
    if args.qrels:
        from winnow.evaluation import load_qrels

        qrels = load_qrels(args.qrels)
    return create_app(pipelines, limits, qrels, log_shutdown=True)


def run(args: argparse.Namespace) -> int:
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        raise ValueError("winnow serve needs the serve extra: pip install 'winnow[serve]'") from None
    app = build_app(args)
    print(f"serving {', '.join(p['name'] for p in _names(app))} on http://{args.host}:{args.port} "
          "(API docs at /docs)", file=sys.stderr)
    # uvicorn handles SIGINT/SIGTERM: it stops accepting, waits for in-flight requests (at most
    # --graceful-timeout seconds), then runs the app's shutdown (the search pool drains), and at
    # last re-raises the signal, so the exit status says which signal stopped the server
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                timeout_graceful_shutdown=args.graceful_timeout)
    return 0


def _names(app) -> list[dict]:
    return app.state.pipelines
