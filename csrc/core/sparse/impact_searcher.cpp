#include "sparse/impact_searcher.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include "sparse/block_codec.hpp"
#include "sparse/impact_cursor.hpp"
#include "sparse/query_algorithms.hpp"
#include "thread_pool.hpp"
#include "topk.hpp"

namespace winnow::sparse {

ImpactSearcher::ImpactSearcher(const Bm25View& view, text::AnalyzerKind analyzer) : view_(view), analyzer_(analyzer) {}

WeightedQuery ImpactSearcher::parse(const std::string& text) const {
  std::map<int64_t, float> counts;
  for (const auto& t : analyzer_.analyze(text)) {
    int64_t id = view_.find_term(t);
    if (id >= 0) counts[id] += 1.0f;
  }
  return WeightedQuery(counts.begin(), counts.end());
}

int64_t ImpactSearcher::result_columns(int64_t k) const { return winnow::result_columns(k, view_.n_docs); }

void ImpactSearcher::search_texts(const std::vector<std::string>& texts, int64_t k, Algorithm algorithm, int threads,
                                  float* scores, int64_t* ids) const {
  check_threads(threads);
  std::vector<WeightedQuery> queries(texts.size());
  parallel_for(static_cast<int64_t>(texts.size()), threads, [&](int64_t i) { queries[i] = parse(texts[i]); }, 16);
  search(queries, k, algorithm, threads, scores, ids);
}

void ImpactSearcher::search(const std::vector<WeightedQuery>& queries, int64_t k_requested, Algorithm algorithm,
                            int threads, float* scores, int64_t* ids) const {
  check_threads(threads);
  const int64_t k = result_columns(k_requested);
  // Checked before any work: a negative or NaN weight would break the bounds (w * max impact).
  for (size_t qi = 0; qi < queries.size(); ++qi)
    for (const auto& [term, weight] : queries[qi]) {
      if (term < 0 || term >= view_.n_terms) throw std::out_of_range("term id " + std::to_string(term) + " out of range");
      if (!(weight >= 0.0f && std::isfinite(weight)))
        throw std::invalid_argument("query " + std::to_string(qi) + " has term weight " + std::to_string(weight) +
                                    ", expected a finite number >= 0");
    }
  parallel_for(static_cast<int64_t>(queries.size()), threads, [&](int64_t qi) {
    // a term given twice counts once with the summed weight (one cursor per term)
    std::map<int64_t, float> merged;
    for (const auto& [term, weight] : queries[qi]) merged[term] += weight;
    std::vector<ImpactCursor> cursors;
    cursors.reserve(merged.size());
    for (const auto& [term, weight] : merged)
      if (weight > 0.0f) cursors.emplace_back(view_, term, weight);
    BufferedTopK topk(k);
    if (algorithm == Algorithm::Exhaustive) search_exhaustive(cursors, topk);
    else if (algorithm == Algorithm::MaxScore) search_maxscore(cursors, topk);
    else search_windowed(cursors, topk);
    topk.write_sorted(scores + qi * k, ids + qi * k);
  });
}

uint32_t compute_impact_maxima(const Bm25View& v, int threads, float* block_max, float* multi_max) {
  parallel_for(
      v.n_multi, threads,
      [&](int64_t i) {
        uint32_t term_m = 0;
        decode_table_blocks(v, i, [&](uint64_t blk, const uint32_t*, const uint32_t* impacts, int n) {
          uint32_t m = *std::max_element(impacts, impacts + n);
          block_max[blk] = static_cast<float>(m);
          term_m = std::max(term_m, m);
        });
        multi_max[i] = static_cast<float>(term_m);
      },
      16);
  // the largest impact of all: the table maxima, and every single-block term's block (decoded
  // by a cursor, which checks it)
  uint32_t top = 0;
  for (int64_t i = 0; i < v.n_multi; ++i) top = std::max(top, static_cast<uint32_t>(multi_max[i]));
  for (int64_t t = 0; t < v.n_terms; ++t)
    if (v.df[t] <= static_cast<uint64_t>(kBlockSize)) top = std::max(top, static_cast<uint32_t>(ImpactCursor(v, t, 1.0f).max_score()));
  return top;
}

}  // namespace winnow::sparse
