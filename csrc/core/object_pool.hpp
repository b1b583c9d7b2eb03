// A pool of reusable scratch objects for concurrent workers: each worker takes one, uses it for
// a chunk of work and gives it back, so per-query buffers (visited tags of n nodes, heaps) are
// allocated once per thread instead of once per query.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

namespace winnow {

template <typename T>
class ObjectPool {
 public:
  /// A pooled object, or a new one from `make()` when none is free.
  template <typename Make>
  std::unique_ptr<T> acquire(Make&& make) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!free_.empty()) {
        std::unique_ptr<T> obj = std::move(free_.back());
        free_.pop_back();
        return obj;
      }
    }
    return make();
  }

  void release(std::unique_ptr<T> obj) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(std::move(obj));
  }

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<T>> free_;
};

}  // namespace winnow
