#include "text/unicode.hpp"

#include <cstddef>

namespace winnow::text {
namespace {
#include "text/char_tables.inc"

constexpr size_t kNumLowerPairs = sizeof(kLowerPairs) / sizeof(kLowerPairs[0]) / 2;
constexpr size_t kNumAlnumRanges = sizeof(kAlnumRanges) / sizeof(kAlnumRanges[0]) / 2;
}  // namespace

uint32_t java_to_lower_non_ascii(uint32_t cp) {
  // Binary search over the (from, to) pairs, sorted by `from`.
  size_t lo = 0, hi = kNumLowerPairs;
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    const uint32_t from = kLowerPairs[2 * mid];
    if (from == cp) return kLowerPairs[2 * mid + 1];
    if (from < cp) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return cp;
}

bool java_is_letter_or_digit_non_ascii(uint32_t cp) {
  // First range whose last code point is >= cp.
  size_t lo = 0, hi = kNumAlnumRanges;
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (kAlnumRanges[2 * mid + 1] < cp) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo < kNumAlnumRanges && kAlnumRanges[2 * lo] <= cp;
}

}  // namespace winnow::text
