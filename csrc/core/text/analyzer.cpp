// TEMPORARY minimal implementation so the build links; replaced by the full Lucene
// EnglishAnalyzer port (standard_tokenizer.cpp, porter_stemmer.cpp).
#include "text/analyzer.hpp"

#include <cctype>
#include <stdexcept>

namespace winnow::text {

AnalyzerKind parse_analyzer_kind(const std::string& name) {
  if (name == "english") return AnalyzerKind::English;
  if (name == "plain") return AnalyzerKind::Plain;
  throw std::invalid_argument("unknown analyzer '" + name + "' (expected 'english' or 'plain')");
}

std::string analyzer_kind_name(AnalyzerKind kind) { return kind == AnalyzerKind::English ? "english" : "plain"; }

void Analyzer::analyze(std::string_view text, std::vector<std::string>& out) const {
  out.clear();
  std::string cur;
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || u >= 0x80) {
      cur.push_back(static_cast<char>(std::tolower(u)));
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
}

}  // namespace winnow::text
