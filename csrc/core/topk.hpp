// Exact top-k selection with deterministic ties: higher score first, and among equal
// scores the lower id first. Every index and stage uses this so results never depend on
// thread scheduling or visiting order.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace winnow {

/// Columns of a top-k result over n candidates: min(k, n), so that a huge k never
/// allocates more than the index holds. k < 0 is std::invalid_argument.
inline int64_t result_columns(int64_t k, int64_t n) {
  if (k < 0) throw std::invalid_argument("k must be >= 0, got " + std::to_string(k));
  return std::min(k, std::max<int64_t>(n, 0));
}

/// True when (s1, id1) ranks strictly before (s2, id2).
inline bool ranks_before(float s1, int64_t id1, float s2, int64_t id2) {
  return s1 > s2 || (s1 == s2 && id1 < id2);
}

/// Bounded heap keeping the k best (score, id) pairs. The root is the worst kept entry.
class TopK {
 public:
  explicit TopK(int64_t k) : k_(k) { heap_.reserve(static_cast<size_t>(std::max<int64_t>(k, 0))); }

  int64_t k() const { return k_; }
  int64_t size() const { return static_cast<int64_t>(heap_.size()); }
  bool full() const { return size() >= k_; }

  /// Score a candidate must beat (or tie with a lower id) to enter; -inf until full.
  float threshold() const {
    return full() && k_ > 0 ? heap_.front().score : -std::numeric_limits<float>::infinity();
  }

  /// Would (score, id) enter the heap?
  bool would_enter(float score, int64_t id) const {
    if (k_ <= 0) return false;
    if (!full()) return true;
    return ranks_before(score, id, heap_.front().score, heap_.front().id);
  }

  /// would_enter() for a candidate whose id is costly to compute (a random memory access):
  /// `id_fn()` is only called when the score ties the threshold exactly.
  template <typename IdFn>
  bool would_enter_lazy(float score, IdFn&& id_fn) const {
    if (k_ <= 0) return false;
    if (!full()) return true;
    const Entry& root = heap_.front();
    if (score != root.score) return score > root.score;
    return id_fn() < root.id;
  }

  void push(float score, int64_t id) {
    if (!would_enter(score, id)) return;
    if (full()) {
      std::pop_heap(heap_.begin(), heap_.end(), WorseFirst{});
      heap_.back() = {score, id};
    } else {
      heap_.push_back({score, id});
    }
    std::push_heap(heap_.begin(), heap_.end(), WorseFirst{});
  }

  /// Write the kept entries best first into scores[k], ids[k], padding with -inf / -1.
  void write_sorted(float* scores, int64_t* ids) {
    // NaN (a damaged vector file can hold one) ranks last here: std::sort needs a strict weak
    // order, and a NaN compares false both ways, which lets introsort run past the range.
    // One O(k) scan picks the comparator, so the usual NaN-free sort pays no per-compare test.
    bool any_nan = false;
    for (const Entry& e : heap_) any_nan |= std::isnan(e.score);
    if (any_nan) {
      std::sort(heap_.begin(), heap_.end(), [](const Entry& a, const Entry& b) {
        const bool na = std::isnan(a.score), nb = std::isnan(b.score);
        if (na || nb) return na != nb ? nb : a.id < b.id;
        return ranks_before(a.score, a.id, b.score, b.id);
      });
    } else {
      std::sort(heap_.begin(), heap_.end(),
                [](const Entry& a, const Entry& b) { return ranks_before(a.score, a.id, b.score, b.id); });
    }
    int64_t i = 0;
    for (; i < size(); ++i) {
      scores[i] = heap_[i].score;
      ids[i] = heap_[i].id;
    }
    for (; i < k_; ++i) {
      scores[i] = -std::numeric_limits<float>::infinity();
      ids[i] = -1;
    }
    heap_.clear();
  }

 private:
  struct Entry {
    float score;
    int64_t id;
  };
  // Heap comparator: the "largest" element (root) is the one that ranks last.
  // (a function object, not a function pointer: the heap operations inline the comparison)
  struct WorseFirst {
    bool operator()(const Entry& a, const Entry& b) const { return ranks_before(a.score, a.id, b.score, b.id); }
  };
  int64_t k_;
  std::vector<Entry> heap_;
};

}  // namespace winnow
