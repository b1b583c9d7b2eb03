// Exact top-k for document-at-a-time search, with O(1) amortised inserts: TopK's heap, kept
// for small k, costs two O(log k) sifts per insert, which was 23% of BM25 search at k=1000
// (perf, 1M passages: the heap's sifts mispredict on every level). Above kHeapMaxK,
// candidates that beat the threshold are appended to a buffer of up to 2k entries; when it
// fills, nth_element keeps the k best and the k-th best becomes the threshold (the exact
// k-th best of everything seen so far, so pruning stays exact; it only moves in steps).
// Same interface and the same order as TopK: higher score first, ties to the lower tie key.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "topk.hpp"

namespace winnow {

class BufferedTopK {
 public:
  /// k at or below this keeps TopK's heap: its threshold rises with every insert, which is
  /// what prunes best when only a few documents can enter.
  static constexpr int64_t kHeapMaxK = 100;

  explicit BufferedTopK(int64_t k, const uint32_t* tie_key = nullptr)
      : k_(k), heap_(k > kHeapMaxK ? 0 : k, tie_key), before_{tie_key} {
    if (k_ > kHeapMaxK) buffer_.reserve(static_cast<size_t>(2 * k_));
  }

  int64_t k() const { return k_; }
  /// True once a threshold exists (k candidates were kept).
  bool full() const { return small() ? heap_.full() : has_threshold_; }
  /// Score a candidate must beat (or tie with a lower key) to enter; -inf until full.
  float threshold() const {
    if (small()) return heap_.threshold();
    return has_threshold_ ? threshold_.score : -std::numeric_limits<float>::infinity();
  }

  bool would_enter(float score, int64_t id) const {
    if (small()) return heap_.would_enter(score, id);
    return !has_threshold_ || before_(Entry{score, id}, threshold_);
  }

  void push(float score, int64_t id) {
    if (small()) return heap_.push(score, id);
    if (!would_enter(score, id)) return;
    buffer_.push_back({score, id});
    if (static_cast<int64_t>(buffer_.size()) >= (has_threshold_ ? 2 * k_ : k_)) compact();
  }

  /// Write the kept entries best first into scores[k], ids[k], padding with -inf / -1.
  void write_sorted(float* scores, int64_t* ids) {
    if (small()) return heap_.write_sorted(scores, ids);
    if (static_cast<int64_t>(buffer_.size()) > k_) compact();  // sort k entries, not up to 2k
    std::sort(buffer_.begin(), buffer_.end(), before_);
    int64_t i = 0;
    for (; i < std::min<int64_t>(k_, static_cast<int64_t>(buffer_.size())); ++i) {
      scores[i] = buffer_[i].score;
      ids[i] = buffer_[i].id;
    }
    for (; i < k_; ++i) {
      scores[i] = -std::numeric_limits<float>::infinity();
      ids[i] = -1;
    }
    buffer_.clear();
  }

 private:
  struct Entry {
    float score;
    int64_t id;
  };
  // "a ranks before b": higher score, then lower tie key (scores are never NaN in sparse search).
  struct Before {
    const uint32_t* tie_key;
    int64_t key(int64_t id) const { return tie_key ? tie_key[id] : id; }
    bool operator()(const Entry& a, const Entry& b) const {
      if (a.score != b.score) return a.score > b.score;
      return key(a.id) < key(b.id);
    }
  };

  bool small() const { return k_ <= kHeapMaxK; }

  void compact() {
    std::nth_element(buffer_.begin(), buffer_.begin() + (k_ - 1), buffer_.end(), before_);
    buffer_.resize(static_cast<size_t>(k_));
    threshold_ = buffer_.back();
    has_threshold_ = true;
  }

  int64_t k_;
  TopK heap_;
  Before before_;
  std::vector<Entry> buffer_;
  Entry threshold_{0.0f, 0};
  bool has_threshold_ = false;
};

}  // namespace winnow
