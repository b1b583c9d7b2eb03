"""Experiment report: significance against the baseline, tables (Markdown, CSV, JSON), plots.

Significance: for every split and metric, each pipeline's per-query values are compared
with the baseline's by a two-sided paired t-test over the qrels queries; the p-values of
the non-baseline pipelines are Holm-corrected together (one family per split and metric).
A pipeline gets ``+`` (better) or ``-`` (worse) when its corrected p-value is <= alpha.

Plots (PNG, matplotlib imported lazily; skipped with a notice when it is not installed):
``recall-<split>.png`` recall@k for k = 1..K per pipeline, ``tradeoff-<split>.png`` the
first metric against mean query latency.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

__all__ = ["recall_curve", "significance", "write_outputs", "markdown"]

MARK_MD = {"+": " ▲", "-": " ▼", "": ""}


def recall_curve(run: Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]],
                 rel: int | None, kmax: int) -> list[float]:
    """Mean recall@k for k = 1..kmax over the qrels queries (run order = rank order; a query
    without relevant documents, or not answered, counts 0, as in the table)."""
    total = np.zeros(kmax)
    threshold = rel or 1
    for qid, judged in qrels.items():
        relevant = {d for d, g in judged.items() if g >= threshold}
        docs = list(run.get(qid, {}))[:kmax]
        if not relevant or not docs:
            continue
        hits = np.cumsum(np.fromiter((d in relevant for d in docs), bool, len(docs))) / len(relevant)
        total[: len(hits)] += hits
        total[len(hits):] += hits[-1]
    return (total / max(1, len(qrels))).round(6).tolist()


def significance(per_query: Mapping[str, Mapping[str, Mapping[str, float]]], baseline: str,
                 metrics: Sequence[str], alpha: float) -> dict:
    """{pipeline: {"markers": {metric: "+"|"-"|""}, "p_values": {metric: Holm p}, "delta": {...}}}."""
    from winnow.significance import holm, paired_t_test

    others = [p for p in per_query if p != baseline]
    out: dict[str, dict] = {p: {"markers": {}, "p_values": {}, "delta": {}} for p in per_query}
    for m in metrics:
        qids = list(per_query[baseline][m])
        base = np.array([per_query[baseline][m][q] for q in qids])
        raw, deltas = [], []
        for p in others:
            vals = np.array([per_query[p][m][q] for q in qids])
            raw.append(paired_t_test(vals, base).pvalue)
            deltas.append(float(vals.mean() - base.mean()) if len(qids) else 0.0)
        adjusted = holm(raw) if raw else []
        for p, pv, d in zip(others, adjusted, deltas):
            pv = float(pv)
            out[p]["p_values"][m] = None if math.isnan(pv) else pv
            out[p]["delta"][m] = d
            out[p]["markers"][m] = ("+" if d > 0 else "-") if not math.isnan(pv) and pv <= alpha and d != 0 else ""
        out[baseline]["markers"][m] = ""
    return out


def _mb(nbytes) -> str:
    return "" if not nbytes else f"{nbytes / 1e6:.1f}"


def markdown(report: dict) -> str:
    lines = [f"# Experiment {report['name']}", "",
             f"Dataset `{report['dataset']['path']}` ({report['dataset']['layout']} layout); "
             f"k = {report['k']}; baseline **{report['baseline']}**; threads {report['threads']}.", ""]
    for s in report["splits"]:
        rel = f", binary measures count grade >= {s['rel']}" if s["rel"] else ""
        lines += [f"## {s['split']} ({s['queries']} queries, {s['kind']}{rel})", ""]
        head = ["pipeline", *s["metrics"], "ms/query", "index MB"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in s["rows"]:
            name = r["pipeline"] + (" (baseline)" if r["pipeline"] == report["baseline"] else "")
            cells = [f"{r['metrics'][m]:.4f}{MARK_MD[r['markers'].get(m, '')]}" for m in s["metrics"]]
            lines.append("| " + " | ".join([name, *cells, f"{r['ms_per_query']:.2f}", _mb(r["index_bytes"])]) + " |")
        lines.append("")
    lines += [f"▲/▼: significantly better/worse than the baseline ({report['test']}, alpha {report['alpha']:g}). "
              "ms/query: wall time of the whole batch divided by the number of queries (query encoding "
              "included for dense indexes with a model, excluded with precomputed query vectors).", "",
              "| pipeline | expression |", "|---|---|"]
    seen = {}
    for s in report["splits"]:
        for r in s["rows"]:
            seen.setdefault(r["pipeline"], r["expression"])
    lines += [f"| {p} | `{e}` |" for p, e in seen.items()]
    lines += ["", "| index | type | parameters | MB | build s | reused |", "|---|---|---|---|---|---|"]
    for n, i in report["indexes"].items():
        params = ", ".join(f"{k}={v}" for k, v in i["params"].items() if v is not None)
        build = "" if i["build_seconds"] is None else f"{i['build_seconds']:.1f}"
        lines.append(f"| {n} | {i['type']} | {params} | {_mb(i['bytes'])} | {build} | {i['reused']} |")
    c = report["cache"]
    lines += ["", f"Cache `{c['root']}`: reused {len(c['reused'])}, computed {len(c['computed'])}.", ""]
    return "\n".join(lines)


def _csv(report: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["split", "pipeline", "metric", "value", "marker", "p_holm", "delta", "ms_per_query",
                "index_bytes", "queries", "rel", "baseline"])
    for s in report["splits"]:
        for r in s["rows"]:
            for m in s["metrics"]:
                p = r["p_values"].get(m)
                w.writerow([s["split"], r["pipeline"], m, f"{r['metrics'][m]:.6f}", r["markers"].get(m, ""),
                            "" if p is None else f"{p:.6g}", f"{r['delta'].get(m, 0.0):.6f}",
                            f"{r['ms_per_query']:.4f}", r["index_bytes"], s["queries"], s["rel"] or "",
                            report["baseline"]])
    return buf.getvalue()


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def plots(report: dict, out: Path, log: Callable[[str], None]) -> list[str]:
    """Write the PNGs; returns their paths relative to ``out`` (empty without matplotlib)."""
    try:
        import matplotlib
    except ImportError:
        log("plots skipped: matplotlib is not installed (pip install 'winnow[plots]' or matplotlib)")
        return []
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    (out / "plots").mkdir(parents=True, exist_ok=True)
    written = []
    for s in report["splits"]:
        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
        for r in s["rows"]:
            curve = s["curves"][r["pipeline"]]
            ax.plot(np.arange(1, len(curve) + 1), curve, label=r["pipeline"], linewidth=1.6)
        ax.set_xscale("log")
        ax.set_xlim(1, report["k"])
        ax.set_ylim(0, 1)
        ax.set_xlabel("k (log scale)")
        ax.set_ylabel(f"recall@k{' (grade >= %d)' % s['rel'] if s['rel'] else ''}")
        ax.set_title(f"{report['name']} / {s['split']}: recall@k ({s['queries']} queries)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        rel_path = f"plots/recall-{_safe(s['split'])}.png"
        fig.savefig(out / rel_path)
        plt.close(fig)
        written.append(rel_path)

        metric = s["metrics"][0]
        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
        for r in s["rows"]:
            x, y = max(r["ms_per_query"], 1e-3), r["metrics"][metric]
            ax.scatter([x], [y], s=40)
            ax.annotate(r["pipeline"], (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel(f"mean query latency, ms (log scale; {report['threads']} thread(s))")
        ax.set_ylabel(metric)
        ax.set_title(f"{report['name']} / {s['split']}: {metric} vs latency")
        ax.grid(True, which="both", alpha=0.3)
        ax.margins(x=0.25, y=0.15)
        fig.tight_layout()
        rel_path = f"plots/tradeoff-{_safe(s['split'])}.png"
        fig.savefig(out / rel_path)
        plt.close(fig)
        written.append(rel_path)
    return written


def write_outputs(report: dict, out: Path, make_plots: bool, log: Callable[[str], None]) -> None:
    """table.md, table.csv, table.json (the report without the recall curves) and the plots."""
    out.mkdir(parents=True, exist_ok=True)
    report["plots"] = plots(report, out, log) if make_plots else []
    _write(out / "table.md", markdown(report))
    _write(out / "table.csv", _csv(report))
    slim = {**report, "splits": [{k: v for k, v in s.items() if k != "curves"} for s in report["splits"]]}
    _write(out / "table.json", json.dumps(slim, indent=1, default=str) + "\n")
    (out / "plots").mkdir(exist_ok=True)
    for s in report["splits"]:  # the data behind the recall plots
        _write(out / "plots" / f"recall-{_safe(s['split'])}.json", json.dumps(s["curves"]) + "\n")
