#include "sparse/query_algorithms.hpp"

namespace winnow::sparse {

template <typename Cursor>
void search_exhaustive(std::vector<Cursor>& cursors, TopK& topk, const uint32_t* tie_key) {
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
    if (topk.would_enter_lazy(f, [&]() { return key_of(doc, tie_key); })) topk.push(f, key_of(doc, tie_key));
  }
}

template void search_exhaustive(std::vector<PostingCursor>&, TopK&, const uint32_t*);
template void search_exhaustive(std::vector<ImpactCursor>&, TopK&, const uint32_t*);

}  // namespace winnow::sparse
