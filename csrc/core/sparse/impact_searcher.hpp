// Search over an impact index (learned sparse retrieval: SPLADE, uniCOIL, DeepImpact, or any
// precomputed term weights quantized to integers). The arrays are a Bm25View whose frequency
// slot holds the integer impact (>= 1) and whose block_max_x / term_max_x hold max impacts.
//
//     score(d) = sum over query terms t of w_q(t) * impact(d, t)
//
// Each term's contribution is a float product (w_q as float32 times the integer impact,
// <= 2^24 so exact in float); per document they are summed in double and cast to float
// once, as the BM25 searcher does. The double sum of n float products is exact, so the same
// whichever order an algorithm adds them in, when the products lie within a factor of
// 2^(29 - log2 n) of each other (2^22 for 128 terms): always for integer query weights
// (counts, Anserini's quantized queries), and for float weights unless one query's weights
// differ by millions of times. Ties go to the lower doc id.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sparse/bm25_searcher.hpp"
#include "sparse/index_data.hpp"
#include "text/analyzer.hpp"

namespace winnow::sparse {

/// Largest impact an index holds: integers up to 2^24 are exact in float32 (block maxima,
/// products with the query weight).
constexpr uint32_t kMaxImpact = 1u << 24;

class ImpactSearcher {
 public:
  /// `analyzer` turns query texts into terms (each occurrence adds weight 1).
  ImpactSearcher(const Bm25View& view, text::AnalyzerKind analyzer);

  const Bm25View& view() const { return view_; }

  /// Query texts -> (term id, count) queries (unknown terms dropped).
  WeightedQuery parse(const std::string& text) const;

  int64_t result_columns(int64_t k) const;

  /// Top-k of each weighted query (term ids with float weights, finite and >= 0; ids in
  /// range; a term may repeat, its weights add up) into scores (nq, kc) and ids (nq, kc),
  /// kc = result_columns(k), padded -inf / -1. Threads work on whole queries.
  void search(const std::vector<WeightedQuery>& queries, int64_t k, Algorithm algorithm, int threads, float* scores,
              int64_t* ids) const;
  void search_texts(const std::vector<std::string>& texts, int64_t k, Algorithm algorithm, int threads, float* scores,
                    int64_t* ids) const;

 private:
  Bm25View view_;
  text::Analyzer analyzer_;
};

/// Largest impact of each table block (B) and of each multi-block term (M): the pruning
/// bounds of an impact index (a single-block term's cursor takes its own from the block).
/// Returns the largest impact of the index (0 when empty).
uint32_t compute_impact_maxima(const Bm25View& v, int threads, float* block_max, float* multi_max);

}  // namespace winnow::sparse
