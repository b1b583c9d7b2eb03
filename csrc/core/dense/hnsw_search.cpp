// HNSW queries (see hnsw_search.hpp).
#include "dense/hnsw_search.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include "common.hpp"
#include "dense/hnsw_layer_search.hpp"
#include "object_pool.hpp"
#include "thread_pool.hpp"
#include "topk.hpp"

namespace winnow::dense {
namespace {

using hnsw_detail::ScoredNode;
using hnsw_detail::Scratch;

constexpr int64_t kQueryChunk = 16;  // queries per worker hand-out

void search_one(const HnswView& g, const ScalarQuantizer& exact, const float* q, const HnswSearchOptions& o,
                Scratch& scratch, float* scores, int64_t* rows) {
  TopK top(o.k);
  if (g.n > 0) {
    const CodeScorer score(*g.sq, g.metric, q);
    const hnsw_detail::DirectLinks links{g};
    int32_t cur = static_cast<int32_t>(g.entry);
    float cur_score = score(g.code(cur));
    for (int lc = g.max_level; lc > 0; --lc) hnsw_detail::greedy_descend(g, score, links, lc, scratch, cur, cur_score);

    const uint8_t* deleted = o.any_deleted ? g.deleted : nullptr;
    const uint8_t* allow = o.allow;
    auto accept = [deleted, allow](int32_t r) { return (!deleted || !deleted[r]) && (!allow || allow[r]); };
    const int64_t ef = std::max({o.ef, o.k, o.refine_k});
    scratch.visited.reset(g.n);
    hnsw_detail::search_layer(g, score, links, 0, cur, cur_score, ef, accept, scratch);

    std::vector<ScoredNode>& found = scratch.results;
    if (o.refine_k > 0 && g.refine != nullptr) {
      // Keep the refine_k best approximate candidates, then rank them by their exact scores.
      hnsw_detail::sort_results(found);
      if (static_cast<int64_t>(found.size()) > o.refine_k) found.resize(static_cast<size_t>(o.refine_k));
      const CodeScorer exact_score(exact, g.metric, q);
      for (const ScoredNode& c : found)
        top.push(exact_score(reinterpret_cast<const uint8_t*>(g.refine + c.row * g.d)), c.row);
    } else {
      for (const ScoredNode& c : found) top.push(c.score, c.row);
    }
  }
  top.write_sorted(scores, rows);
  if (o.ids != nullptr)
    for (int64_t j = 0; j < o.k; ++j)
      if (rows[j] >= 0) rows[j] = o.ids[rows[j]];
}

void check_finite(const float* x, int64_t nq, int64_t d) {
  for (int64_t i = 0; i < nq * d; ++i)
    if (!std::isfinite(x[i]))
      throw std::invalid_argument("query vector " + std::to_string(i / d) + " holds a non-finite value (" +
                                  std::to_string(x[i]) + ") at column " + std::to_string(i % d));
}

}  // namespace

void hnsw_search(const HnswView& g, const float* x, int64_t nq, const HnswSearchOptions& o, float* scores,
                 int64_t* rows, ObjectPool<Scratch>* shared_pool) {
  check_arg(o.k >= 0, "k must be >= 0, got " + std::to_string(o.k));
  check_arg(o.ef >= 1, "ef must be >= 1, got " + std::to_string(o.ef));
  check_arg(o.refine_k >= 0, "refine_k must be >= 0, got " + std::to_string(o.refine_k));
  check_finite(x, nq, g.d);
  const ScalarQuantizer exact(g.d, ScalarCodec::Float32);
  ObjectPool<Scratch> local_pool;
  ObjectPool<Scratch>& pool = shared_pool ? *shared_pool : local_pool;
  const int64_t chunks = (nq + kQueryChunk - 1) / kQueryChunk;
  parallel_for(chunks, o.threads, [&](int64_t c) {
    std::unique_ptr<Scratch> scratch = pool.acquire([&] { return std::make_unique<Scratch>(g.n); });
    scratch->visited.reset(g.n);  // grows a pooled set made for a smaller graph
    for (int64_t i = c * kQueryChunk; i < std::min(nq, (c + 1) * kQueryChunk); ++i)
      search_one(g, exact, x + i * g.d, o, *scratch, scores + i * o.k, rows + i * o.k);
    pool.release(std::move(scratch));
  });
}

}  // namespace winnow::dense
