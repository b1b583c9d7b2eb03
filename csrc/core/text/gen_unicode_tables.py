#!/usr/bin/env python3
"""Generate the character tables behind winnow's Lucene analyzer port.

Writes two files beside this script:
  * scanner_tables.inc  (included by standard_tokenizer.cpp): the JFlex DFA,
  * char_tables.inc     (included by unicode.cpp): lowercase mapping, letter/digit ranges.

Usage (needs Java >= 11 and the Lucene 9 jar that Anserini 0.21 / pyserini 0.21.0 ships):

    python csrc/core/text/gen_unicode_tables.py [--jar path/to/anserini-0.21.0-fatjar.jar]

Without --jar the script looks for pyserini's bundled fat jar. Building winnow never runs
this script: the generated unicode_tables.inc is committed.

Why the tables come from the jar and not from Python's unicodedata:
Lucene's StandardTokenizer is a JFlex scanner generated from the UAX#29 word-break grammar
(StandardTokenizerImpl.jflex) with JFlex's own Unicode data. Python's unicodedata exposes
neither the Word_Break, Script, Line_Break nor Extended_Pictographic properties that grammar
uses, and its Unicode version (15.0 in Python 3.11/3.12) differs from Lucene's and Java 17's
(Unicode 13). To be exact we read, via reflection, the scanner's own tables from the same
class that Anserini runs:

  * ZZ_CMAP_TOP / ZZ_CMAP_BLOCKS: code point -> character class (two-level table),
  * ZZ_ROWMAP / ZZ_TRANS: the DFA's transitions, ZZ_ATTRIBUTE (bit 0 = accepting,
    bit 3 = no further transitions), ZZ_ACTION (rule index per accepting state),

and, from the Java 17 runtime, Character.toLowerCase (LowerCaseFilter's per-code-point
mapping) and Character.isLetterOrDigit (for the "plain" analyzer). The scanner tables are
derived from Apache Lucene (Apache License 2.0).

JFlex actions of StandardTokenizerImpl (Lucene 9.x, read off its getNextToken switch):
action 1 is the "ignore this character" rule ([^] and lone regional indicators); actions
2..9 return a token (word, numeric, SE-Asian, ideographic, hiragana, katakana, hangul, emoji).
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

JAVA_SRC = r"""
import java.lang.reflect.Field;
public class DumpTables {
  static void arr(String name) throws Exception {
    Class<?> c = Class.forName("org.apache.lucene.analysis.standard.StandardTokenizerImpl");
    Field f = c.getDeclaredField(name); f.setAccessible(true);
    int[] a = (int[]) f.get(null);
    StringBuilder sb = new StringBuilder(); sb.append(name);
    for (int v : a) sb.append(' ').append(v);
    System.out.println(sb);
  }
  public static void main(String[] args) throws Exception {
    for (String n : new String[] {"ZZ_CMAP_TOP", "ZZ_CMAP_BLOCKS", "ZZ_ACTION", "ZZ_ROWMAP",
                                  "ZZ_TRANS", "ZZ_ATTRIBUTE", "ZZ_LEXSTATE"}) arr(n);
    StringBuilder sb = new StringBuilder("LOWER");
    for (int cp = 0; cp <= 0x10FFFF; cp++) {
      int l = Character.toLowerCase(cp);
      if (l != cp) sb.append(' ').append(cp).append(' ').append(l);
    }
    System.out.println(sb);
    sb = new StringBuilder("ALNUM");
    int start = -1;
    for (int cp = 0; cp <= 0x110000; cp++) {
      boolean in = cp <= 0x10FFFF && Character.isLetterOrDigit(cp);
      if (in && start < 0) start = cp;
      if (!in && start >= 0) { sb.append(' ').append(start).append(' ').append(cp - 1); start = -1; }
    }
    System.out.println(sb);
    System.out.println("JAVA " + System.getProperty("java.version"));
  }
}
"""


def find_jar():
    try:
        import pyserini  # noqa: F401

        base = os.path.dirname(pyserini.__file__)
        jars = sorted(glob.glob(os.path.join(base, "resources", "jars", "anserini-*-fatjar.jar")))
        if jars:
            return jars[-1]
    except ImportError:
        pass
    sys.exit("cannot find the Anserini/Lucene jar: pass --jar")


def dump(jar):
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "DumpTables.java"), "w") as f:
            f.write(JAVA_SRC)
        subprocess.run(["javac", "-cp", jar, "-d", tmp, os.path.join(tmp, "DumpTables.java")], check=True)
        out = subprocess.run(["java", "-cp", jar + os.pathsep + tmp, "DumpTables"], check=True,
                             capture_output=True, text=True).stdout
    tables = {}
    for line in out.splitlines():
        name, *vals = line.split(" ")
        tables[name] = vals if name == "JAVA" else [int(v) for v in vals]
    return tables


def c_array(ctype, name, values, per_line=24):
    lines = []
    for i in range(0, len(values), per_line):
        lines.append("    " + ",".join(str(v) for v in values[i:i + per_line]) + ",")
    return f"static const {ctype} {name}[{len(values)}] = {{\n" + "\n".join(lines) + "\n};\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jar", default=None)
    ap.add_argument("--outdir", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    jar = args.jar or find_jar()
    t = dump(jar)

    top, blocks = t["ZZ_CMAP_TOP"], t["ZZ_CMAP_BLOCKS"]
    assert len(top) == 0x110000 >> 8 and all(v % 256 == 0 for v in top)
    assert len(blocks) % 256 == 0 and len(blocks) // 256 <= 256 and max(blocks) < 256
    rowmap, trans, attr, action = t["ZZ_ROWMAP"], t["ZZ_TRANS"], t["ZZ_ATTRIBUTE"], t["ZZ_ACTION"]
    assert max(trans) < 127 and min(trans) >= -1 and max(rowmap) < 65536
    assert t["ZZ_LEXSTATE"][0] == 0
    lower = t["LOWER"]
    pairs = [(lower[i], lower[i + 1]) for i in range(0, len(lower), 2)]
    # LowerCaseFilter writes the lowercase code point back in place: it must keep the UTF-16 length.
    assert all((a >= 0x10000) == (b >= 0x10000) for a, b in pairs)
    alnum = t["ALNUM"]

    header = ("// GENERATED by gen_unicode_tables.py from " + os.path.basename(jar) +
              " (Lucene StandardTokenizerImpl, Apache License 2.0) and Java " + t["JAVA"][0] + ".\n"
              "// Do not edit; rerun the script instead.\n")
    out = [header, "// NOLINTBEGIN\n"]
    out.append(f"static constexpr int kNumCharClasses = {max(blocks) + 1};\n")
    out.append(f"static constexpr int kNumStates = {len(rowmap)};\n")
    out.append(c_array("uint8_t", "kCmapTop", [v >> 8 for v in top]))
    out.append(c_array("uint8_t", "kCmapBlocks", blocks, 32))
    out.append(c_array("uint16_t", "kRowMap", rowmap))
    out.append(c_array("int8_t", "kTrans", trans, 32))
    out.append(c_array("uint8_t", "kAttribute", attr))
    out.append(c_array("uint8_t", "kAction", action))
    out.append("// NOLINTEND\n")
    with open(os.path.join(args.outdir, "scanner_tables.inc"), "w") as f:
        f.write("".join(out))
    out = [header, "// NOLINTBEGIN\n"]
    out.append("// (code point, Character.toLowerCase(code point)) for every code point it changes, sorted.\n")
    out.append(c_array("uint32_t", "kLowerPairs", lower, 16))
    out.append("// Inclusive [first, last] ranges where Character.isLetterOrDigit is true, sorted.\n")
    out.append(c_array("uint32_t", "kAlnumRanges", alnum, 16))
    out.append("// NOLINTEND\n")
    with open(os.path.join(args.outdir, "char_tables.inc"), "w") as f:
        f.write("".join(out))
    print(f"wrote {args.outdir}: {max(blocks) + 1} classes, {len(rowmap)} states, {len(pairs)} lowercase pairs, "
          f"{len(alnum) // 2} letter/digit ranges")


if __name__ == "__main__":
    main()
