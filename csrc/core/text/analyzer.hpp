// Text analysis: UTF-8 text -> index terms.
//
// Kinds:
//   english  Lucene's EnglishAnalyzer as Anserini uses it (the default):
//            StandardTokenizer (UAX#29 word breaks, max token length 255) ->
//            EnglishPossessiveFilter -> LowerCaseFilter -> StopFilter (Lucene's 33 English
//            stop words) -> PorterStemFilter.
//   plain    lowercase, split on anything that is not a letter or digit; no stop words,
//            no stemming.
// Analyzer is immutable after construction and safe to use from many threads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace winnow::text {

enum class AnalyzerKind { English, Plain };

/// Parse "english" / "plain" (throws std::invalid_argument naming the value otherwise).
AnalyzerKind parse_analyzer_kind(const std::string& name);
std::string analyzer_kind_name(AnalyzerKind kind);

class Analyzer {
 public:
  explicit Analyzer(AnalyzerKind kind = AnalyzerKind::English) : kind_(kind) {}
  AnalyzerKind kind() const { return kind_; }

  /// Replace `out` with the terms of `text` (UTF-8; invalid bytes count as U+FFFD).
  void analyze(std::string_view text, std::vector<std::string>& out) const;

  std::vector<std::string> analyze(std::string_view text) const {
    std::vector<std::string> out;
    analyze(text, out);
    return out;
  }

 private:
  AnalyzerKind kind_;
};

}  // namespace winnow::text
