// Exact top-k selection with deterministic ties: higher score first, and among equal
// scores the lower tie key first. Every index and stage uses this so results never depend on
// thread scheduling or visiting order. The tie key of an id is the id itself, or
// tie_key[id] when a key table is given (BM25's docno rank, Anserini's tie rule); the table
// is read only when two scores are exactly equal, so a search that keeps doc ids in the heap
// pays no random access per candidate (it cost ~19% of BM25 search at k=1000 when the key
// was looked up for every heap entry).
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
/// tie_key (optional, one entry per id) orders equal scores; ids are stored and returned.
class TopK {
 public:
  explicit TopK(int64_t k, const uint32_t* tie_key = nullptr) : k_(k), worse_first_{tie_key} {
    heap_.reserve(static_cast<size_t>(std::max<int64_t>(k, 0)));
  }

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
    const Entry& root = heap_.front();
    return worse_first_(Entry{score, id}, root);
  }

  void push(float score, int64_t id) {
    if (!would_enter(score, id)) return;
    if (full()) {
      std::pop_heap(heap_.begin(), heap_.end(), worse_first_);
      heap_.back() = {score, id};
    } else {
      heap_.push_back({score, id});
    }
    std::push_heap(heap_.begin(), heap_.end(), worse_first_);
  }

  /// Write the kept entries best first into scores[k], ids[k], padding with -inf / -1.
  void write_sorted(float* scores, int64_t* ids) {
    // NaN (a damaged vector file can hold one) ranks last here: std::sort needs a strict weak
    // order, and a NaN compares false both ways, which lets introsort run past the range.
    // One O(k) scan picks the comparator, so the usual NaN-free sort pays no per-compare test.
    bool any_nan = false;
    for (const Entry& e : heap_) any_nan |= std::isnan(e.score);
    const WorseFirst& before = worse_first_;  // "a ranks before b" is exactly the heap order
    if (any_nan) {
      std::sort(heap_.begin(), heap_.end(), [&before](const Entry& a, const Entry& b) {
        const bool na = std::isnan(a.score), nb = std::isnan(b.score);
        if (na || nb) return na != nb ? nb : before.key(a.id) < before.key(b.id);
        return before(a, b);
      });
    } else {
      std::sort(heap_.begin(), heap_.end(), before);
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
  // Heap comparator, true when a ranks before b: the "largest" element (root) is the one that
  // ranks last. (A function object, not a function pointer: the heap operations inline it.)
  struct WorseFirst {
    const uint32_t* tie_key;
    int64_t key(int64_t id) const { return tie_key ? tie_key[id] : id; }
    bool operator()(const Entry& a, const Entry& b) const {
      if (a.score != b.score) return a.score > b.score;  // NaN never reaches here in search
      return key(a.id) < key(b.id);
    }
  };
  int64_t k_;
  WorseFirst worse_first_;
  std::vector<Entry> heap_;
};

}  // namespace winnow
