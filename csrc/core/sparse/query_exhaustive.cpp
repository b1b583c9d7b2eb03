#include "sparse/query_algorithms.hpp"

namespace winnow::sparse {

namespace {
// Internal linkage on purpose: as a template with external linkage GCC inlined the BM25
// cursor code differently (windowed: 5% more instructions in BM25 search under callgrind).
template <typename Cursor>
void exhaustive(std::vector<Cursor>& cursors, BufferedTopK& topk) {
  for (;;) {
    uint32_t doc = kEndDoc;
    for (auto& c : cursors) doc = std::min(doc, c.doc());
    if (doc == kEndDoc) return;
    double score = 0.0;
    for (auto& c : cursors) {
      if (c.doc() == doc) {
        score += c.score();
        c.next();
      }
    }
    const float f = static_cast<float>(score);
    if (topk.would_enter(f, doc)) topk.push(f, doc);
  }
}

}  // namespace

// One cursor type per translation unit: PostingCursor here, ImpactCursor where
// impact_query_algorithms.cpp includes this file with WINNOW_QUERY_CURSOR defined.
#ifndef WINNOW_QUERY_CURSOR
#define WINNOW_QUERY_CURSOR PostingCursor
#endif
void search_exhaustive(std::vector<WINNOW_QUERY_CURSOR>& cursors, BufferedTopK& topk) {
  exhaustive(cursors, topk);
}

}  // namespace winnow::sparse
