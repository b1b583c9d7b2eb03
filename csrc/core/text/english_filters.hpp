// Lucene's EnglishPossessiveFilter and English stop set (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET).
#pragma once

#include <cstdint>
#include <string_view>

namespace winnow::text {

/// EnglishPossessiveFilter (runs before lowercasing): the length of the token `cps[0, n)`
/// with a trailing 's / ’s (U+2019) / ＇s (U+FF07), s or S, removed.
inline uint32_t strip_english_possessive(const uint32_t* cps, uint32_t n) {
  if (n >= 2) {
    const uint32_t q = cps[n - 2], s = cps[n - 1];
    if ((q == '\'' || q == 0x2019 || q == 0xFF07) && (s == 's' || s == 'S')) return n - 2;
  }
  return n;
}

/// True for Lucene's 33 English stop words (a an and are as at be but by for if in into is
/// it no not of on or such that the their then there these they this to was will with).
/// Compared after lowercasing, as StopFilter follows LowerCaseFilter.
bool is_english_stop_word(std::string_view term);

}  // namespace winnow::text
