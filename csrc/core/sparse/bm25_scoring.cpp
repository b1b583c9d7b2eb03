#include "sparse/bm25_scoring.hpp"

#include <stdexcept>

namespace winnow::sparse {

Scoring parse_scoring(const std::string& name) {
  if (name == "lucene") return Scoring::Lucene;
  if (name == "accurate") return Scoring::Accurate;
  if (name == "robertson") return Scoring::Robertson;
  throw std::invalid_argument("unknown scoring '" + name + "' (expected lucene, accurate or robertson)");
}

std::string scoring_name(Scoring s) {
  switch (s) {
    case Scoring::Lucene: return "lucene";
    case Scoring::Accurate: return "accurate";
    case Scoring::Robertson: return "robertson";
  }
  return "?";
}

}  // namespace winnow::sparse
