"""Tests for the C++ analyzers (winnow._core.Analyzer).

The "english" analyzer must equal Lucene's EnglishAnalyzer as Anserini 0.21 / pyserini 0.21.0
runs it, token for token. tests/data/lucene_analyzer_golden.jsonl holds pyserini's output for
hand-written edge cases and a seeded sample of real documents and queries; it was made by
tests/data/make_lucene_golden.py (needs pyserini; never run by the tests).
"""
import json
import os

import pytest

from winnow import _core

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "data", "lucene_analyzer_golden.jsonl")


@pytest.fixture(scope="module")
def english():
    return _core.Analyzer("english")


@pytest.fixture(scope="module")
def plain():
    return _core.Analyzer("plain")


def _golden():
    with open(GOLDEN, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _mismatch_report(records, got):
    bad = [(r, g) for r, g in zip(records, got) if g != r["tokens"]]
    lines = [f"{len(bad)} of {len(records)} texts differ from Lucene:"]
    for r, g in bad[:20]:
        lines.append(f"  [{r['source']}] text={r['text'][:100]!r}")
        lines.append(f"      lucene={r['tokens'][:30]!r}")
        lines.append(f"      winnow={g[:30]!r}")
    return bad, "\n".join(lines)


def test_golden_file_is_substantial():
    records = _golden()
    sources = {r["source"] for r in records}
    assert len(records) >= 1500
    assert sum(r["source"] == "handwritten" for r in records) >= 90
    assert {"msmarco-docs", "msmarco-queries", "scifact-docs", "cranfield-docs", "vaswani-docs"} <= sources


def test_english_matches_lucene_golden(english):
    records = _golden()
    got = [english.analyze(r["text"]) for r in records]
    bad, msg = _mismatch_report(records, got)
    assert not bad, msg


def test_english_analyze_many_matches_analyze(english):
    records = _golden()[:300]
    texts = [r["text"] for r in records]
    assert english.analyze_many(texts) == [english.analyze(t) for t in texts]


def test_kind_and_bad_kind():
    assert _core.Analyzer("english").kind == "english"
    assert _core.Analyzer("plain").kind == "plain"
    assert _core.Analyzer().kind == "english"
    with pytest.raises(ValueError, match="klingon"):
        _core.Analyzer("klingon")


# Expected values come from pyserini 0.21.0 (Lucene's PorterStemmer).
PORTER_PAIRS = {
    "caresses": "caress", "ponies": "poni", "ties": "ti", "caress": "caress", "cats": "cat",
    "feed": "feed", "agreed": "agre", "plastered": "plaster", "bled": "bled", "motoring": "motor",
    "sing": "sing", "conflated": "conflat", "troubled": "troubl", "sized": "size", "hopping": "hop",
    "tanned": "tan", "falling": "fall", "hissing": "hiss", "fizzed": "fizz", "failing": "fail",
    "filing": "file", "happy": "happi", "sky": "sky", "relational": "relat", "conditional": "condit",
    "rational": "ration", "valenci": "valenc", "hesitanci": "hesit", "digitizer": "digit",
    "conformabli": "conform", "radicalli": "radic", "differentli": "differ", "vileli": "vile",
    "analogousli": "analog", "vietnamization": "vietnam", "predication": "predic", "operator": "oper",
    "feudalism": "feudal", "decisiveness": "decis", "hopefulness": "hope", "callousness": "callous",
    "formaliti": "formal", "sensitiviti": "sensit", "sensibiliti": "sensibl", "triplicate": "triplic",
    "formative": "form", "formalize": "formal", "electriciti": "electr", "electrical": "electr",
    "hopeful": "hope", "goodness": "good", "revival": "reviv", "allowance": "allow",
    "inference": "infer", "airliner": "airlin", "gyroscopic": "gyroscop", "adjustable": "adjust",
    "defensible": "defens", "irritant": "irrit", "replacement": "replac", "adjustment": "adjust",
    "dependent": "depend", "adoption": "adopt", "communism": "commun", "activate": "activ",
    "angulariti": "angular", "homologous": "homolog", "effective": "effect", "bowdlerize": "bowdler",
    "probate": "probat", "rate": "rate", "cease": "ceas", "controll": "control", "roll": "roll",
    "generalizations": "gener", "oscillators": "oscil", "archaeology": "archaeolog", "yyy": "yyi",
    "says": "sai", "syzygy": "syzygi", "ied": "i", "ies": "i", "us": "us", "ss": "ss",
}


@pytest.mark.parametrize("word,stem", sorted(PORTER_PAIRS.items()))
def test_porter_stemmer_pairs(english, word, stem):
    assert english.analyze(word) == [stem]
    assert english.analyze(word.upper()) == [stem]  # LowerCaseFilter runs before stemming


def test_porter_short_and_non_ascii_words(english):
    # Words of at most 2 UTF-16 units are not stemmed; only ASCII aeiouy count as vowels.
    assert english.analyze("\u00e9s") == ["\u00e9s"]
    assert english.analyze("\u00e9ing") == ["\u00e9ing"]
    assert english.analyze("Caf\u00e9s r\u00e9sum\u00e9s") == ["caf\u00e9", "r\u00e9sum\u00e9"]


STOP_WORDS = (
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with"
).split()


def test_stop_words(english):
    assert len(STOP_WORDS) == 33
    for w in STOP_WORDS:
        assert english.analyze(w) == [], w
        assert english.analyze(w.upper()) == [], w
    assert english.analyze(" ".join(STOP_WORDS)) == []
    # U+0130 lowercases to ASCII 'i' (Java's simple case mapping): "İs" is the stop word "is".
    assert english.analyze("\u0130s") == []
    assert english.analyze("\u212aeeps") == ["keep"]  # KELVIN SIGN lowercases to 'k'
    assert english.analyze("thee those") == ["thee", "those"]


def test_possessives(english):
    assert english.analyze("John's") == ["john"]
    assert english.analyze("JOHN'S") == ["john"]
    assert english.analyze("John\u2019s") == ["john"]
    assert english.analyze("John\uff07s") == ["john"]
    assert english.analyze("James'") == ["jame"]
    assert english.analyze("dogs' bones") == ["dog", "bone"]
    assert english.analyze("it's") == []  # "it" is a stop word once "'s" is gone


def test_tokenizer_cases(english):
    assert english.analyze("The fox's jumps 1,000.5 e.g. U.S.A.") == ["fox", "jump", "1,000.5", "e.g", "u.s.a"]
    assert english.analyze("a:b foo_bar 3.5mm don't") == ["a:b", "foo_bar", "3.5mm", "don't"]
    assert english.analyze("\u4e2d\u6587\u3072\u3089") == ["\u4e2d", "\u6587", "\u3072", "\u3089"]


def test_long_tokens_split_at_255(english):
    assert english.analyze("a" * 300) == ["a" * 255, "a" * 45]
    assert english.analyze("b" * 255) == ["b" * 255]
    assert english.analyze("b" * 256) == ["b" * 255, "b"]


def test_empty_and_blank(english, plain):
    for a in (english, plain):
        assert a.analyze("") == []
        assert a.analyze("   \t\n ") == []
        assert a.analyze("!!! ... ???") == []
        assert a.analyze_many([]) == []
        assert a.analyze_many(["", "x"]) == [[], ["x"]]


def test_non_ascii_text(english, plain):
    assert english.analyze("CAF\u00c9 Stra\u00dfe \u0394\u0395\u039b\u03a4\u0391") == ["caf\u00e9", "stra\u00dfe", "\u03b4\u03b5\u03bb\u03c4\u03b1"]
    assert english.analyze("\U00010400\U00010401 deseret") == ["\U00010428\U00010429", "deseret"]
    assert english.analyze("I love \U0001f355!") == ["i", "love", "\U0001f355"]
    assert english.analyze("abc\ufffddef") == ["abc", "def"]


def test_invalid_utf8_bytes_become_replacement_char(english, plain):
    # A Python str cannot carry invalid UTF-8; bytes reach the C++ std::string unchanged.
    got = english.analyze(b"abc\xffdef caf\xc3")
    assert got == english.analyze("abc\ufffddef caf\ufffd")
    assert plain.analyze(b"ab\xe2\x82cd") == plain.analyze("ab\ufffdcd") == ["ab", "cd"]


def test_plain_analyzer(plain):
    assert plain.analyze("Hello, World! Foo_bar 3.5mm") == ["hello", "world", "foo", "bar", "3", "5mm"]
    assert plain.analyze("The running dogs' bones") == ["the", "running", "dogs", "bones"]  # no stop/stem
    assert plain.analyze("CAF\u00c9 na\u00efve \u4e2d\u6587 \u0663\u0664") == ["caf\u00e9", "na\u00efve", "\u4e2d\u6587", "\u0663\u0664"]
    assert plain.analyze("e.g. U.S.A. don't a:b") == ["e", "g", "u", "s", "a", "don", "t", "a", "b"]
    assert plain.analyze("\u0130STANBUL") == ["istanbul"]
    assert plain.analyze("x" * 300) == ["x" * 300]  # no length limit
