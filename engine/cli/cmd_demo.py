"""``winnow demo``: the README's main job."""
from __future__ import annotations

import argparse
import json
import sys

from winnow.cli.common import add_threads, positive_int


def register(sub) -> None:
    p = sub.add_parser("demo", help="build, search and evaluate every index type on bundled Cranfield",
                       description="Build every available index type over the Cranfield collection "
                       "bundled with winnow, run the pipelines, evaluate them and print one table.")
    p.add_argument("--k", type=positive_int, default=1000, help="hits per query (default 1000)")
    p.add_argument("--json", action="store_true", help="also print the rows as JSON")
    p.add_argument("--no-dense", action="store_true", help="skip the dense indexes (no encoding)")
    add_threads(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from winnow.demo import run_demo

    rows = run_demo(sys.stdout, threads=args.threads, k=args.k, dense=not args.no_dense)
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0
