// Lucene 9's StandardTokenizer (as used by Anserini 0.21): UAX#29 word boundaries.
//
// This runs the very DFA that JFlex generated for Lucene's StandardTokenizerImpl.jflex
// (tables extracted from the Lucene jar by gen_unicode_tables.py into scanner_tables.inc),
// with the same scanning discipline:
//   * longest match from the current position; a rule that matched earlier wins ties
//     (encoded in the tables);
//   * the "ignore" rule ([^], unpaired regional indicators, ...) consumes and drops text;
//     every other rule (word, number, SE-Asian run, ideograph, hiragana, katakana, hangul,
//     emoji) emits a token;
//   * JFlex reads a buffer of maxTokenLength = 255 UTF-16 code units and, with Lucene's
//     no-buffer-expansion skeleton, treats a full buffer as end of input: a match is never
//     longer than 255 UTF-16 units (a 300-letter word gives a 255-unit token and then a
//     45-unit one). A supplementary character that would straddle unit 255 is left for the
//     next token, as JFlex holds back a final high surrogate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace winnow::text {

/// A token as the half-open range [begin, end) of code point indices.
struct TokenSpan {
  uint32_t begin;
  uint32_t end;
};

inline constexpr int kMaxTokenLength = 255;  // StandardAnalyzer.DEFAULT_MAX_TOKEN_LENGTH

/// Append the tokens of the code points `cps[0, n)` to `out` (out is not cleared).
void standard_tokenize(const uint32_t* cps, size_t n, std::vector<TokenSpan>& out);

}  // namespace winnow::text
