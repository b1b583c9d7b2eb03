#!/usr/bin/env python3
"""Regenerate tests/data/lucene_analyzer_golden.jsonl: Lucene EnglishAnalyzer output as oracle.

Each line is {"source": ..., "text": ..., "tokens": [...]} where "tokens" is what pyserini
0.21.0 (Anserini 0.21, Lucene 9.x, Java 17) returns for
``Analyzer(get_lucene_analyzer()).analyze(text)``: StandardTokenizer -> EnglishPossessiveFilter
-> LowerCaseFilter -> StopFilter (33 English stop words) -> PorterStemFilter.

The texts are (a) hand-written edge cases (source "handwritten") and (b) a seeded sample of
documents and queries from the collections under ../shared/data (BEIR documents are
title + " " + text, as they are indexed).

This script needs pyserini 0.21.0 and a JVM; tests never run it (tests/unit/test_analyzer.py
only reads the jsonl it writes). Usage, from the repository root:

    /path/to/venv-with-pyserini/bin/python tests/data/make_lucene_golden.py [--data ../shared/data]
"""
import argparse
import json
import os
import random
import re

SEED = 20240521
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lucene_analyzer_golden.jsonl")

HANDWRITTEN = [
    # empty, whitespace, punctuation, stop words
    "", " ", "   \t\n  ", "!!!...???", "---", "the", "THE", "The And Of A An",
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these they this to was will with",
    "To be or not to be, that is the question.",
    # possessives and apostrophes
    "The fox's jumps 1,000.5 e.g. U.S.A.", "John's JOHN'S John\u2019s John\uff07s JOHN\uff07S", "James' dogs' bones",
    "it's don't can't won't o'clock rock'n'roll rock\u2019n\u2019roll o\u2019neil l'\u00e9t\u00e9 dell\u2019arte",
    "'quoted' ''double'' \"dq\" 's \u2019s x's's s's a'b'c", "Bob's's car's's", "children's 1990's '90s 1'000'000",
    # numbers
    "1,000.5 3.5mm 1.2.3.4 192.168.0.1 $100 10% -5 +1 1e10 3,14 1_000 2020-01-01 1/2",
    "12:30 12:30:45 v1.2.3 mp3 h2o covid-19 SARS-CoV-2 IL-6 p<0.05 x.1 1.5. 1..2 1,,2",
    "\u00bd \u00b2 \u2167 \u0663\u0664\u0665 \uff11\uff12\uff13 \u0967\u0968 1\uff0c000",
    # abbreviations, colons, underscores, hyphens
    "e.g. i.e. u.s.a U.S. Ph.D. A.B.C.D.E. etc. vs.", "a:b foo:bar:baz http: std::vector c:\\path",
    "foo_bar __init__ _x_ _ ___ a_1 1_a a\u203fb foo-bar foo--bar state-of-the-art wi-fi co-operation",
    "C++ C# .NET node.js F# x86_64 AT&T Q&A",
    # URLs, emails, handles
    "http://www.example.com/path?q=1&r=2#frag https://en.wikipedia.org/wiki/Porter_stemmer",
    "user@example.com first.last+tag@sub.example.co.uk @handle #hashtag www.example.com",
    # accents, other scripts, case mapping
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9 CAF\u00c9 \u00dcn\u00efc\u00f6d\u00e9 stra\u00dfe STRASSE",
    "\u0130stanbul I\u0307 \u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3 \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u01c5 \u1e9e \u2126",
    "\u0130s \u0130S \u0130T'S \u212aeeps \u212b", "\u01c4emal \u01c5emal \u03a3\u0391\u03a3 \u1e9e\u00df",
    "\u0420\u0443\u0441\u0441\u043a\u0438\u0439 \u0442\u0435\u043a\u0441\u0442 \u0430\u0431\u0432's",
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u0647\u0630\u0627 \u0646\u0635", "\u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e",
    "\u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd \u05e6\u05d4\"\u05dc \u05d1' \u05d0\"\u05d1\u05d2",
    # CJK, kana, hangul, SE Asian
    "\u4e2d\u6587\u5206\u8bcd\u6d4b\u8bd5", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8", "\u3072\u3089\u304c\u306a",
    "\u30ab\u30bf\u30ab\u30ca \u30ab_\u30ab \u30ab\u30fc\u30c9", "\uff76\uff80\uff76\uff85", "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8",
    "\u4e2d\u6587abc123def \u30c6\u30b9\u30c8123 abc\u4e2d\u6587", "\u6f22\u5b57\u30ab\u30ca\u6df7\u3058\u308a\u6587",
    "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22\u0e07\u0e48\u0e32\u0e22\u0e19\u0e34\u0e14\u0e40\u0e14\u0e35\u0e22\u0e27 \u0e02\u0e49\u0e2d\u0e04\u0e27\u0e32\u0e21",
    "\u0ea5\u0eb2\u0ea7 \u1019\u103c\u1014\u103a\u1019\u102c \u1781\u17d2\u1798\u17c2\u179a",
    # combining marks, format characters
    "cafe\u0301 e\u0301\u0301 \u0301abc a\u0301's", "a\u00adb soft\u00adhyphen", "a\u200bb zero\u200bwidth", "a\u200db a\u200cb a\u2060b",
    "\ufeffabc \ufeff", "1\u0301,000 3\u200b.5", "x\u0308y\u0308 \u0363",
    # emoji and symbols
    "I love \U0001f355 and \U0001f44d\U0001f3fd!", "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family",
    "\U0001f1fa\U0001f1f8 flag \U0001f1fa\U0001f1f8\U0001f1ec\U0001f1e7 \U0001f1fa", "1\ufe0f\u20e3 #\ufe0f\u20e3 *\u20e3 keycap",
    "\u00a9 \u2122 \u263a \u263a\ufe0f \u2764\ufe0f \u2600", "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f tag",
    "smile\U0001f600smile \U0001f600\U0001f600\U0001f600",
    # supplementary characters
    "\U0001d400\U0001d401\U0001d402 math bold", "\U00020000\U00020001 ext-B", "\U00010400\U00010401 Deseret", "\U0001e900\U0001e901",
    # control and odd code points
    "tab\there line\nbreak cr\r\nlf", "a\u2028b a\u0085b a\x01b", "\ufffd \ufffc a\ufffdb", "\ue000 \uffff \U0010ffff",
    "\u3000\u4e00\u3000", "\u00a0nbsp\u00a0", "x\u2019", "\u2018single\u2019 \u201cdouble\u201d",
    # stemming
    "running runs ran caresses ponies ties caress cats feed agreed plastered bled motoring sing",
    "conflated troubled sized hopping tanned falling hissing fizzed failing filing happy sky",
    "relational conditional rational valenci hesitanci digitizer conformabli radicalli differentli",
    "vileli analogousli vietnamization predication operator feudalism decisiveness hopefulness",
    "callousness formaliti sensitiviti sensibiliti triplicate formative formalize electriciti",
    "electrical hopeful goodness revival allowance inference airliner gyroscopic adjustable",
    "defensible irritant replacement adjustment dependent adoption homologou communism activate",
    "angulariti homologous effective bowdlerize probate rate cease controll roll generalizations",
    "oscillators yyy toy says syzygy ay by my ied ies sses ing eed ed is as us ss s",
    "archaeology biology Generalization GENERALIZATION Y Yes YELLOWING",
    "\u00e9s \u00e9ed \u00e9ing ca\u00f1ones na\u00efvet\u00e9s \u00fcbering", "\U0001d400ing \U0001d400s",
    # long tokens (StandardTokenizer splits at 255 UTF-16 units)
    "a" * 300, "ab" * 200, "1" * 600, "a" * 254 + "\U0001d400bc", "a" * 255 + "'s", "a.b" * 100,
    "running" * 50, "x" * 255, "x" * 256, "\u4e2d" * 300, "1,2" * 120, "a" * 253 + "'s tail", "a" * 250 + "_" * 10 + "b",
    # mixed prose
    "The QUICK brown fox's 2nd-place finish (at 10:30am) was e.g. 3.5x faster!",
    "\u03b2-catenin \u03b1 \u03bcg/ml 10\u03bcm TNF-\u03b1 5\u2032-3\u2032 IL-1\u03b2 Na+/K+-ATPase",
    "Q: what's the U.S.'s GDP? A: ~$21.43 trillion (2019).",
]


def load_collections(d):
    """Return {source: [text, ...]} for the collections and queries under d."""
    out = {}

    def add(src, text):
        out.setdefault(src, []).append(text)

    for name in ("scifact", "cranfield"):
        for line in open(f"{d}/{name}/corpus.jsonl", encoding="utf-8"):
            r = json.loads(line)
            add(f"{name}-docs", (r.get("title") or "") + " " + r["text"])
        for line in open(f"{d}/{name}/queries.jsonl", encoding="utf-8"):
            add(f"{name}-queries", json.loads(line)["text"])
    s = open(f"{d}/vaswani/doc-text.trec", encoding="utf-8").read()
    for m in re.finditer(r"<DOC>.*?</DOCNO>(.*?)</DOC>", s, re.S):
        add("vaswani-docs", m.group(1).strip())
    s = open(f"{d}/vaswani/query-text.trec", encoding="utf-8").read()
    for m in re.finditer(r"<title>(.*?)</title>", s, re.S):
        add("vaswani-queries", m.group(1).strip())
    for line in open(f"{d}/msmarco-dl19-pool/collection.tsv", encoding="utf-8"):
        add("msmarco-docs", line.rstrip("\n").split("\t", 1)[1])
    for f in ("msmarco-dl19-pool/queries.tsv", "msmarco/topics.dl19-passage.txt", "msmarco/topics.dl20.txt",
              "msmarco/topics.msmarco-passage.dev-subset.txt"):
        for line in open(f"{d}/{f}", encoding="utf-8"):
            add("msmarco-queries", line.rstrip("\n").split("\t", 1)[1])
    return out


# How many texts to sample per source (keeps the file near 1 MB).
SAMPLE = {"scifact-docs": 150, "cranfield-docs": 150, "vaswani-docs": 250, "msmarco-docs": 350,
          "scifact-queries": 100, "cranfield-queries": 100, "vaswani-queries": 93, "msmarco-queries": 307}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="regenerate lucene_analyzer_golden.jsonl (needs pyserini)")
    ap.add_argument("--data", default=os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "data")))
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()

    from pyserini.analysis import Analyzer, get_lucene_analyzer

    analyzer = Analyzer(get_lucene_analyzer())
    rng = random.Random(SEED)
    items = [("handwritten", t) for t in HANDWRITTEN]
    colls = load_collections(args.data)
    for src, n in SAMPLE.items():
        texts = colls[src]
        for i in sorted(rng.sample(range(len(texts)), min(n, len(texts)))):
            items.append((src, texts[i]))
    with open(args.out, "w", encoding="utf-8") as f:
        for src, text in items:
            tokens = list(analyzer.analyze(text))
            f.write(json.dumps({"source": src, "text": text, "tokens": tokens}, ensure_ascii=False) + "\n")
    print(f"wrote {len(items)} texts to {args.out}")


if __name__ == "__main__":
    main()
