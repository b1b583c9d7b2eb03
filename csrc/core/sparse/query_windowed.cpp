#include <algorithm>
#include <cstring>

#include "sparse/query_algorithms.hpp"

namespace winnow::sparse {

namespace {
constexpr uint32_t kWindow = 4096;  // documents per window: accumulators stay in L1/L2

// Per-thread window accumulators, zero between uses (cleared as read).
struct WindowScratch {
  double acc[kWindow];
  uint64_t matched[kWindow / 64];
};
// Out of line on purpose: with the thread_local inlined, GCC rematerialised its address at
// each use in the loops below, a __tls_get_addr call per posting (6% of windowed search's
// instructions at k=1000 under callgrind). A call's result is computed once.
[[gnu::noinline]] WindowScratch& window_scratch() {
  static thread_local WindowScratch scratch{};
  return scratch;
}

// Internal linkage on purpose: as a template with external linkage GCC inlined the BM25
// cursor code differently (windowed: 5% more instructions in BM25 search under callgrind).
template <typename Cursor>
void windowed(std::vector<Cursor>& cursors, BufferedTopK& topk) {
  const size_t n = cursors.size();
  if (n == 0 || topk.k() <= 0) return;
  std::sort(cursors.begin(), cursors.end(),
            [](const Cursor& a, const Cursor& b) { return a.max_score() < b.max_score(); });
  std::vector<double> bound_prefix(n);  // sum of max scores of lists 0..i
  double acc_bound = 0.0;
  for (size_t i = 0; i < n; ++i) {
    acc_bound += std::max(0.0f, cursors[i].max_score());
    bound_prefix[i] = acc_bound;
  }
  size_t first_essential = 0;
  auto update_essential = [&]() {
    while (first_essential < n && topk.full() && static_cast<float>(bound_prefix[first_essential]) < topk.threshold())
      ++first_essential;
  };

  WindowScratch& scratch = window_scratch();
  double* const acc = scratch.acc;
  uint64_t* const matched = scratch.matched;

  for (;;) {
    update_essential();
    if (first_essential >= n) return;
    uint32_t start = kEndDoc;
    for (size_t i = first_essential; i < n; ++i) start = std::min(start, cursors[i].doc());
    if (start == kEndDoc) return;
    const uint32_t end = start + kWindow < start ? kEndDoc : start + kWindow;  // overflow-safe

    // words_used: bit w set when matched[w] is non-zero, so the scan below visits only the
    // words with matches (a sparse window's empty words were a mispredicted branch each)
    uint64_t words_used = 0;
    for (size_t i = first_essential; i < n; ++i) {
      cursors[i].for_each_until(end, [&](uint32_t doc, float s) {
        uint32_t off = doc - start;
        acc[off] += s;
        matched[off >> 6] |= uint64_t(1) << (off & 63);
        words_used |= uint64_t(1) << (off >> 6);
      });
    }
    const double non_essential_bound = first_essential > 0 ? bound_prefix[first_essential - 1] : 0.0;
    // The threshold, refreshed after each push: most candidates fail one float compare, and
    // only an exact tie asks the top-k (tie keys). Same answers as topk.would_enter.
    float threshold = topk.threshold();  // -inf until full
    auto may_enter = [&](double bound, uint32_t doc) {
      const float b = static_cast<float>(bound);
      return b > threshold || (b == threshold && topk.would_enter(b, doc));
    };
    static_assert(kWindow / 64 == 64, "one bit of words_used per word of matched");
    while (words_used) {
      const uint32_t word = static_cast<uint32_t>(__builtin_ctzll(words_used));
      words_used &= words_used - 1;
      uint64_t bits = matched[word];
      matched[word] = 0;
      while (bits) {
        uint32_t off = word * 64 + static_cast<uint32_t>(__builtin_ctzll(bits));
        bits &= bits - 1;
        double score = acc[off];
        acc[off] = 0.0;
        uint32_t doc = start + off;
        if (!may_enter(score + non_essential_bound, doc)) continue;
        bool alive = true;
        for (size_t j = first_essential; j-- > 0;) {
          Cursor& c = cursors[j];
          double block_bound = score + std::max(0.0f, c.block_max_score(doc)) + (j > 0 ? bound_prefix[j - 1] : 0.0);
          if (!may_enter(block_bound, doc)) { alive = false; break; }
          c.next_geq(doc);
          if (c.doc() == doc) score += c.score();
          if (j > 0 && !may_enter(score + bound_prefix[j - 1], doc)) {
            alive = false;
            break;
          }
        }
        if (alive && may_enter(score, doc)) {
          topk.push(static_cast<float>(score), doc);
          threshold = topk.threshold();
        }
      }
    }
  }
}

}  // namespace

// One cursor type per translation unit: PostingCursor here, ImpactCursor where
// impact_query_algorithms.cpp includes this file with WINNOW_QUERY_CURSOR defined.
#ifndef WINNOW_QUERY_CURSOR
#define WINNOW_QUERY_CURSOR PostingCursor
#endif
void search_windowed(std::vector<WINNOW_QUERY_CURSOR>& cursors, BufferedTopK& topk) {
  windowed(cursors, topk);
}

}  // namespace winnow::sparse
