// The Porter stemmer exactly as Lucene's org.apache.lucene.analysis.en.PorterStemmer
// (a port of Martin Porter's original C implementation, with its "Bug 1/Bug 2" fixes and
// the extra "logi" -> "log" rule) implements it.
//
// Lucene stems Java chars (UTF-16 code units): only the ASCII letters a e i o u y act as
// vowels, every other unit is a consonant, and words of at most 2 units are left alone.
// To reproduce that exactly, stem ASCII words as bytes and other words as UTF-16.
#pragma once

#include <cstddef>

namespace winnow::text {

/// Stem `word[0, len)` in place; return the new length (never longer than `len`).
size_t porter_stem(char* word, size_t len);
size_t porter_stem(char16_t* word, size_t len);

}  // namespace winnow::text
