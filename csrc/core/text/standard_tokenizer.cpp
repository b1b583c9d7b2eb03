#include "text/standard_tokenizer.hpp"

namespace winnow::text {
namespace {
#include "text/scanner_tables.inc"

// Attribute bits of JFlex's ZZ_ATTRIBUTE.
constexpr uint8_t kAttrFinal = 1;       // accepting state
constexpr uint8_t kAttrNoTransit = 8;   // no way out: stop scanning
// ZZ_ACTION value of the rule that drops what it matched; others emit a token.
constexpr uint8_t kIgnoreAction = 1;

// JFlex's zzCMap(): code point -> character class.
inline int char_class(uint32_t cp) {
  if (cp < 256) return kCmapBlocks[cp];
  if (cp > 0x10FFFF) return kCmapBlocks[(static_cast<uint32_t>(kCmapTop[0xFFFD >> 8]) << 8) | (0xFFFD & 255)];
  return kCmapBlocks[(static_cast<uint32_t>(kCmapTop[cp >> 8]) << 8) | (cp & 255)];
}

static_assert(kNumStates < 128, "states must fit int8_t");
}  // namespace

void standard_tokenize(const uint32_t* cps, size_t n, std::vector<TokenSpan>& out) {
  size_t pos = 0;
  while (pos < n) {
    const size_t start = pos;
    int state = 0;  // ZZ_LEXSTATE[YYINITIAL]
    int action = (kAttribute[0] & kAttrFinal) ? 0 : -1;
    size_t marked = start;
    size_t cur = start;
    int units = 0;  // UTF-16 units read since `start` (the JFlex buffer holds kMaxTokenLength)
    while (cur < n) {
      const uint32_t c = cps[cur];
      units += c >= 0x10000 ? 2 : 1;
      if (units > kMaxTokenLength) break;  // buffer full: JFlex sees end of input
      const int next = kTrans[kRowMap[state] + char_class(c)];
      if (next < 0) break;
      state = next;
      ++cur;
      const uint8_t attr = kAttribute[state];
      if (attr & kAttrFinal) {
        action = state;
        marked = cur;
        if (attr & kAttrNoTransit) break;
      }
    }
    if (action < 0 || marked == start) {
      // Cannot happen with Lucene's grammar ([^] matches any character); be safe anyway.
      pos = start + 1;
      continue;
    }
    if (kAction[action] != kIgnoreAction) {
      out.push_back(TokenSpan{static_cast<uint32_t>(start), static_cast<uint32_t>(marked)});
    }
    pos = marked;
  }
}

}  // namespace winnow::text
