"""Long run of the index mutation fuzzer (issue 12, item 5; the bounded CI run is
tests/format/test_fuzz.py, the harness tests/format/fuzz_indexes.py).

Builds a tiny seeded index of every built-in format, draws ``--mutations`` mutations of its
files (spread evenly over the formats) and loads + searches each mutated index in every
mode (``read``, ``mmap_verify``, ``mmap``, ``index_verify``) in worker subprocesses. Prints
the count of every outcome per format and mode and appends one JSON line to
``benchmarks/results/fuzz.jsonl``.
Exit status 1 if any case crashed, hung, raised another exception than IndexFormatError or
returned different results silently.

Outcomes: ``format_error`` and ``identical`` are good; ``unverified_payload_diff`` (mode
``mmap`` only) is a payload value changed in a file that an unverified map does not
checksum, which that mode's contract allows; ``silent_wrong``, ``other_exception``,
``unnamed_error`` (an IndexFormatError not naming the index), ``crash``, ``hang`` and
``baseline_broken`` (the unmutated index not answering identically) are failures.

    python benchmarks/fuzz_indexes.py --mutations 100000 --jobs 1
    python benchmarks/fuzz_indexes.py --replay '{"kind": ..., "mode": ..., "mutation": {...}}' --seed 0
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "format"))
import fuzz_fixtures as fx  # noqa: E402
import fuzz_indexes as fz  # noqa: E402


def _env() -> dict:
    import numpy as np

    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=HERE, check=False).stdout.strip()
    except OSError:
        sha = ""
    return {"python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine(), "git": sha}


def _table(summary: dict) -> str:
    outcomes = list(fz.GOOD) + list(fz.TOLERATED) + list(fz.BAD)
    head = f"{'format':<14}{'mode':<13}" + "".join(f"{o:>{max(9, len(o) + 1)}}" for o in outcomes)
    lines = [head]
    for kind in summary["kinds"]:
        for mode in summary["modes"]:
            c = summary["counts"].get(kind, {}).get(mode, {})
            lines.append(f"{kind:<14}{mode:<13}" + "".join(f"{c.get(o, 0):>{max(9, len(o) + 1)}}" for o in outcomes))
    tot = summary["totals"]
    lines.append(f"{'total':<27}" + "".join(f"{tot.get(o, 0):>{max(9, len(o) + 1)}}" for o in outcomes))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mutations", type=int, default=10000, help="mutations in all (each is run in every mode)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the fixtures and of the mutations")
    ap.add_argument("--formats", default=",".join(fx.KINDS),
                    help=f"comma-separated fixture kinds (default all: {','.join(fx.KINDS)})")
    ap.add_argument("--modes", default=",".join(fz.MODES), help="comma-separated load modes")
    ap.add_argument("--jobs", type=int, default=1, help="worker subprocesses run in parallel")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds one case may take before it counts as a hang")
    ap.add_argument("--workdir", default=None, help="fixtures and scratch directory (default: a temporary one)")
    ap.add_argument("--out", default=str(HERE / "results" / "fuzz.jsonl"), help="JSON lines file to append to")
    ap.add_argument("--no-record", action="store_true", help="do not append to --out")
    ap.add_argument("--replay", default=None,
                    help="run one failure (its JSON: kind, mode, mutation) in this process and print the outcome")
    args = ap.parse_args(argv)
    kinds = [k for k in args.formats.split(",") if k]
    modes = [m for m in args.modes.split(",") if m]
    unknown = sorted(set(kinds) - set(fx.KINDS)) + sorted(set(modes) - set(fz.MODES))
    if unknown:
        ap.error(f"unknown format(s) or mode(s) {unknown}; formats: {list(fx.KINDS)}, modes: {list(fz.MODES)}")
    if args.mutations < 0 or args.jobs < 1:
        ap.error("--mutations must be >= 0 and --jobs >= 1")
    if args.workdir is None:
        with tempfile.TemporaryDirectory(prefix="winnow-fuzz-") as tmp:
            return _run(args, kinds, modes, Path(tmp))
    return _run(args, kinds, modes, Path(args.workdir))


def _run(args, kinds, modes, work: Path) -> int:
    if args.replay:
        case = json.loads(args.replay)
        print(fz.replay(work / "fixtures", args.seed, case["kind"], case["mutation"], case["mode"]))
        return 0

    def progress(done, total):
        if done % 500 == 0 or done == total:
            print(f"\r{done}/{total} mutations", end="", file=sys.stderr, flush=True)

    summary = fz.run_fuzz(work / "fixtures", args.mutations, seed=args.seed, kinds=kinds, modes=modes,
                          jobs=args.jobs, timeout=args.timeout, progress=progress)
    print(file=sys.stderr)
    print(_table(summary))
    rate = summary["cases"] / max(summary["fuzz_seconds"], 1e-9)
    print(f"\n{summary['cases']} cases ({args.mutations} mutations x {len(modes)} modes + one no-op per format) "
          f"in {summary['fuzz_seconds']:.0f} s ({rate:.0f} cases/s, {args.jobs} job(s)); fixtures built in "
          f"{summary['build_seconds']:.1f} s")
    print("unverified_payload_diff: a changed payload value in a file an unverified mmap load does not checksum "
          "(allowed in mode mmap; load with verify=True to catch it), not a failure")
    bad = sum(summary["totals"].get(o, 0) for o in fz.BAD)
    for f in summary["failures"][:20]:
        replay = json.dumps({"kind": f["kind"], "mode": f["mode"], "mutation": f["mutation"]})
        print(f"FAIL {f['kind']} {f['mode']} {f['outcome']}: {f['detail'][:200]}\n"
              f"  replay: python benchmarks/fuzz_indexes.py --seed {args.seed} --replay '{replay}'")
    if len(summary["failures"]) > 20:
        print(f"... {len(summary['failures']) - 20} more failures")
    if not args.no_record:
        row = {"bench": "fuzz", **{k: summary[k] for k in ("seed", "mutations", "cases", "kinds", "modes", "jobs",
                                                           "counts", "totals", "fuzz_seconds", "build_seconds")},
               "cases_per_second": round(rate, 1), "failures": len(summary["failures"]), "env": _env()}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
