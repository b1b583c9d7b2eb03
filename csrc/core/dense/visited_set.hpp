// Visited marks for graph searches: a tag per node, so "clear" is one increment instead of
// touching n bytes per query (hnswlib's VisitedList idea). Tags are uint16; when the counter
// wraps, the array is zeroed once every 65,535 searches.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace winnow::dense {

class VisitedSet {
 public:
  explicit VisitedSet(int64_t n) : tags_(static_cast<size_t>(n), 0) {}

  int64_t capacity() const { return static_cast<int64_t>(tags_.size()); }

  /// Start a new search over n nodes (grows the array when the graph grew).
  void reset(int64_t n) {
    if (n > capacity()) tags_.resize(static_cast<size_t>(n), 0);
    if (++current_ == 0) {  // wrapped: stale tags could equal the new value
      std::fill(tags_.begin(), tags_.end(), 0);
      current_ = 1;
    }
  }

  bool visited(int64_t i) const { return tags_[static_cast<size_t>(i)] == current_; }
  void mark(int64_t i) { tags_[static_cast<size_t>(i)] = current_; }
  /// Mark and report whether it was already marked (one memory access).
  bool test_and_mark(int64_t i) {
    uint16_t& t = tags_[static_cast<size_t>(i)];
    if (t == current_) return true;
    t = current_;
    return false;
  }
  const uint16_t* tag_address(int64_t i) const { return tags_.data() + i; }

 private:
  std::vector<uint16_t> tags_;
  uint16_t current_ = 0;
};

}  // namespace winnow::dense
