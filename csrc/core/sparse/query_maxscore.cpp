#include <algorithm>

#include "sparse/query_algorithms.hpp"

namespace winnow::sparse {

namespace {
// Internal linkage on purpose: as a template with external linkage GCC inlined the BM25
// cursor code differently (windowed: 5% more instructions in BM25 search under callgrind).
template <typename Cursor>
void maxscore(std::vector<Cursor>& cursors, BufferedTopK& topk) {
  const size_t n = cursors.size();
  if (n == 0 || topk.k() <= 0) return;
  // Lists sorted by ascending upper bound; bound_prefix[i] = sum of max_score of lists 0..i.
  // A document that only occurs in lists 0..i scores at most bound_prefix[i].
  std::sort(cursors.begin(), cursors.end(),
            [](const Cursor& a, const Cursor& b) { return a.max_score() < b.max_score(); });
  std::vector<double> bound_prefix(n);
  double acc = 0.0;
  for (size_t i = 0; i < n; ++i) {
    acc += std::max(0.0f, cursors[i].max_score());  // clamp: robertson idf can be negative
    bound_prefix[i] = acc;
  }
  // Lists [0, first_essential) are non-essential: probed, never used to find candidates.
  size_t first_essential = 0;
  auto update_essential = [&]() {
    // A list becomes non-essential when its bound prefix cannot reach the threshold
    // even with a tie (strict: ties with a lower id could still enter).
    while (first_essential < n && topk.full() &&
           static_cast<float>(bound_prefix[first_essential]) < topk.threshold())
      ++first_essential;
  };

  uint32_t doc = kEndDoc;
  for (auto& c : cursors) doc = std::min(doc, c.doc());

  while (first_essential < n && doc != kEndDoc) {
    double score = 0.0;
    uint32_t next_doc = kEndDoc;
    for (size_t i = first_essential; i < n; ++i) {
      Cursor& c = cursors[i];
      if (c.doc() == doc) {
        score += c.score();
        c.next();
      }
      next_doc = std::min(next_doc, c.doc());
    }
    // Probe non-essential lists from the strongest down, while the document can still enter.
    bool alive = true;
    for (size_t j = first_essential; j-- > 0;) {
      double bound = score + bound_prefix[j];
      if (!topk.would_enter(static_cast<float>(bound), doc)) { alive = false; break; }
      // Block-max refinement: replace list j's global bound by its block's bound.
      Cursor& c = cursors[j];
      double block_bound = score + std::max(0.0f, c.block_max_score(doc)) + (j > 0 ? bound_prefix[j - 1] : 0.0);
      if (!topk.would_enter(static_cast<float>(block_bound), doc)) { alive = false; break; }
      c.next_geq(doc);
      if (c.doc() == doc) score += c.score();
    }
    if (alive) {
      bool was_full = topk.full();
      float before = topk.threshold();
      if (topk.would_enter(static_cast<float>(score), doc)) topk.push(static_cast<float>(score), doc);
      if (topk.full() && (!was_full || topk.threshold() != before)) update_essential();
    }
    doc = next_doc;
  }
}

}  // namespace

// One cursor type per translation unit: PostingCursor here, ImpactCursor where
// impact_query_algorithms.cpp includes this file with WINNOW_QUERY_CURSOR defined.
#ifndef WINNOW_QUERY_CURSOR
#define WINNOW_QUERY_CURSOR PostingCursor
#endif
void search_maxscore(std::vector<WINNOW_QUERY_CURSOR>& cursors, BufferedTopK& topk) {
  maxscore(cursors, topk);
}

}  // namespace winnow::sparse
