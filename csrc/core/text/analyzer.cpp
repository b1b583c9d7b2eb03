// Analyzer pipelines. English = Lucene 9 EnglishAnalyzer as Anserini 0.21 builds it:
// StandardTokenizer -> EnglishPossessiveFilter -> LowerCaseFilter -> StopFilter -> PorterStemFilter.
#include "text/analyzer.hpp"

#include <cstdint>
#include <stdexcept>

#include "text/english_filters.hpp"
#include "text/porter_stemmer.hpp"
#include "text/standard_tokenizer.hpp"
#include "text/unicode.hpp"
#include "text/utf8.hpp"

namespace winnow::text {

AnalyzerKind parse_analyzer_kind(const std::string& name) {
  if (name == "english") return AnalyzerKind::English;
  if (name == "plain") return AnalyzerKind::Plain;
  throw std::invalid_argument("unknown analyzer '" + name + "' (expected 'english' or 'plain')");
}

std::string analyzer_kind_name(AnalyzerKind kind) { return kind == AnalyzerKind::English ? "english" : "plain"; }

namespace {

// Per-thread scratch space, so that analyze() allocates nothing once warm and the const
// Analyzer stays safe to share between threads.
struct Scratch {
  std::vector<uint32_t> cps;
  std::vector<TokenSpan> spans;
  std::u16string utf16;
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// Writes terms into `out`, reusing the strings (and their capacity) already there.
class TermWriter {
 public:
  explicit TermWriter(std::vector<std::string>& out) : out_(out) {}
  std::string& next() {
    if (n_ == out_.size()) out_.emplace_back();
    std::string& s = out_[n_++];
    s.clear();
    return s;
  }
  void drop_last() { --n_; }
  void finish() { out_.resize(n_); }

 private:
  std::vector<std::string>& out_;
  size_t n_ = 0;
};

// PorterStemFilter on a lowercased UTF-8 term. Lucene stems UTF-16 units; ASCII terms are
// stemmed as bytes (identical), others through UTF-16 so that lengths and positions match.
void stem_term(std::string& term, bool ascii, std::u16string& buf) {
  if (ascii) {
    term.resize(porter_stem(term.data(), term.size()));
    return;
  }
  std::vector<uint32_t> tmp;  // rare path
  decode_utf8(term, tmp);
  buf.clear();
  for (uint32_t cp : tmp) {
    if (cp >= 0x10000) {
      buf.push_back(static_cast<char16_t>(0xD800 + ((cp - 0x10000) >> 10)));
      buf.push_back(static_cast<char16_t>(0xDC00 + ((cp - 0x10000) & 0x3FF)));
    } else {
      buf.push_back(static_cast<char16_t>(cp));
    }
  }
  const size_t len = porter_stem(buf.data(), buf.size());
  term.clear();
  for (size_t i = 0; i < len; ++i) {
    uint32_t cp = buf[i];
    if (cp >= 0xD800 && cp < 0xDC00 && i + 1 < len && buf[i + 1] >= 0xDC00 && buf[i + 1] < 0xE000) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (buf[i + 1] - 0xDC00);
      ++i;
    } else if (cp >= 0xD800 && cp < 0xE000) {
      cp = kReplacementChar;  // a pair split by stemming; cannot happen (only ASCII is cut)
    }
    append_utf8(term, cp);
  }
}

void analyze_english(std::string_view text, std::vector<std::string>& out) {
  Scratch& s = scratch();
  s.cps.clear();
  s.spans.clear();
  decode_utf8(text, s.cps);
  standard_tokenize(s.cps.data(), s.cps.size(), s.spans);
  TermWriter w(out);
  for (const TokenSpan& span : s.spans) {
    const uint32_t* cp = s.cps.data() + span.begin;
    const uint32_t n = strip_english_possessive(cp, span.end - span.begin);
    std::string& term = w.next();
    bool ascii = true;
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t c = cp[i];
      if (c < 0x80) {
        term.push_back(static_cast<char>((c >= 'A' && c <= 'Z') ? c + 32 : c));
      } else {
        // Lowercasing may land in ASCII (U+0130 -> 'i', U+212A KELVIN SIGN -> 'k'): "İs"
        // becomes the stop word "is", so decide on the lowercased code point.
        const uint32_t lc = java_to_lower(c);
        if (lc >= 0x80) ascii = false;
        append_utf8(term, lc);
      }
    }
    if (ascii && is_english_stop_word(term)) {
      w.drop_last();
      continue;
    }
    stem_term(term, ascii, s.utf16);
  }
  w.finish();
}

void analyze_plain(std::string_view text, std::vector<std::string>& out) {
  Scratch& s = scratch();
  s.cps.clear();
  decode_utf8(text, s.cps);
  TermWriter w(out);
  std::string* term = nullptr;
  for (uint32_t c : s.cps) {
    if (java_is_letter_or_digit(c)) {
      if (term == nullptr) term = &w.next();
      append_utf8(*term, java_to_lower(c));
    } else {
      term = nullptr;
    }
  }
  w.finish();
}

}  // namespace

void Analyzer::analyze(std::string_view text, std::vector<std::string>& out) const {
  if (kind_ == AnalyzerKind::English) {
    analyze_english(text, out);
  } else {
    analyze_plain(text, out);
  }
}

}  // namespace winnow::text
