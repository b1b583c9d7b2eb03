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

void compute_impact_maxima(const Bm25View& v, int threads, float* block_max, float* term_max) {
  parallel_for(
      v.n_terms, threads,
      [&](int64_t t) {
        uint32_t docs[kBlockSize], impacts[kBlockSize];
        uint32_t term_m = 0;
        int64_t remaining = v.df[t];
        for (uint64_t blk = v.first_block[t]; blk < v.first_block[t + 1]; ++blk) {
          int n = static_cast<int>(std::min<int64_t>(remaining, kBlockSize));
          remaining -= n;
          int64_t prev = blk == v.first_block[t] ? -1 : static_cast<int64_t>(v.block_last_doc[blk - 1]);
          if (decode_block(v.postings + v.block_offset[blk], v.postings_size - v.block_offset[blk], n, prev, docs,
                           impacts) != static_cast<int64_t>(v.block_last_doc[blk]))
            v.corrupt("postings block " + std::to_string(blk) + " does not decode to its block table");
          uint32_t m = *std::max_element(impacts, impacts + n);
          block_max[blk] = static_cast<float>(m);
          term_m = std::max(term_m, m);
        }
        term_max[t] = static_cast<float>(term_m);
      },
      256);
}

}  // namespace winnow::sparse
