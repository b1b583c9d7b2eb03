// Minimal fork-join parallelism: run fn(i) for i in [0, n) on up to `threads` threads.
// Work is handed out dynamically in chunks so uneven tasks balance. The first exception
// thrown by any worker is captured and rethrown on the calling thread after all workers
// joined (workers never call Python; see DESIGN.md section 3.5).
#pragma once

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace winnow {

/// `threads` is a count >= 1, or 0 for all cores; anything else is the caller's mistake.
inline void check_threads(int threads) {
  if (threads < 0)
    throw std::invalid_argument("threads must be >= 1, or 0 for all cores, got " + std::to_string(threads));
}

/// Number of threads to use: `requested` if > 0, else the hardware concurrency.
inline int resolve_threads(int requested) {
  check_threads(requested);
  if (requested > 0) return requested;
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

template <typename Fn>
void parallel_for(int64_t n, int threads, Fn&& fn, int64_t chunk = 1) {
  check_threads(threads);  // before the early return: a bad count fails even on empty input
  if (n <= 0) return;
  threads = std::max(1, std::min<int>(resolve_threads(threads), static_cast<int>((n + chunk - 1) / chunk)));
  if (threads == 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&]() {
    try {
      for (;;) {
        if (failed.load(std::memory_order_relaxed)) return;
        int64_t start = next.fetch_add(chunk);
        if (start >= n) return;
        int64_t end = std::min(n, start + chunk);
        for (int64_t i = start; i < end; ++i) fn(i);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      failed.store(true);
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace winnow
