// Exact (brute-force) top-k search over a dense matrix.
//
// The database is processed in blocks of rows that fit in L2 (~1 MiB of vectors); for each
// block the (queries x block) score tile is computed by the register-blocked kernel
// (ip_kernels.cpp) and pushed into one TopK heap per query. L2 uses
//   -||x - y||^2 = -((||y||^2 - 2 <x, y>) + ||x||^2)
// so only inner products run in the kernel. Threads split the queries when there are at
// least as many queries as threads, else database ranges (per-thread heaps merged at the end;
// ties by lower id keep the merge deterministic).
#include "dense/distances.hpp"

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "common.hpp"
#include "thread_pool.hpp"
#include "topk.hpp"

namespace winnow::dense {
namespace {

constexpr int64_t kL2BlockBytes = int64_t(1) << 20;  // database rows per block: ~1 MiB
constexpr int64_t kQueryBlock = 64;                   // queries per tile

int64_t db_block_rows(int64_t d) { return std::max<int64_t>(16, kL2BlockBytes / (d * 4)); }

// Scan database rows [j0, j1) for queries x (nq, d); heaps[i] receives query i's candidates.
void scan_range(const float* x, int64_t nq, const float* y, int64_t j0, int64_t j1, int64_t d, Metric metric,
                const float* y_norms, const float* x_norms, TopK* heaps) {
  const int64_t bs = db_block_rows(d);
  std::vector<float> tile(static_cast<size_t>(std::min<int64_t>(nq, kQueryBlock) * std::min(bs, j1 - j0)));
  for (int64_t q0 = 0; q0 < nq; q0 += kQueryBlock) {
    const int64_t nqb = std::min(kQueryBlock, nq - q0);
    for (int64_t b0 = j0; b0 < j1; b0 += bs) {
      const int64_t nbb = std::min(bs, j1 - b0);
      inner_products(x + q0 * d, nqb, y + b0 * d, nbb, d, tile.data());
      for (int64_t i = 0; i < nqb; ++i) {
        TopK& heap = heaps[q0 + i];
        const float* row = tile.data() + i * nbb;
        // Ids only increase during a scan, so a candidate can only enter by beating the
        // current worst score strictly (a tie would lose on the id).
        float thr = heap.threshold();
        bool full = heap.full();
        if (metric == Metric::InnerProduct) {
          int64_t j = 0;
          while (j < nbb) {
            // Once the heap is full, skip 8 scores at a time when none beats the threshold
            // (a branch-free test the compiler vectorizes); same pushes as one by one.
            if (full && j + 8 <= nbb) {
              bool any = false;
              for (int u = 0; u < 8; ++u) any |= row[j + u] > thr;
              if (!any) {
                j += 8;
                continue;
              }
            }
            const int64_t stop = std::min(nbb, j + 8);
            for (; j < stop; ++j) {
              const float s = row[j];
              if (full && !(s > thr)) continue;
              heap.push(s, b0 + j);
              thr = heap.threshold();
              full = heap.full();
            }
          }
        } else {
          const float xn = x_norms[q0 + i];
          const float* yn = y_norms + b0;
          for (int64_t j = 0; j < nbb; ++j) {
            const float s = std::min(0.0f, -((yn[j] - 2.0f * row[j]) + xn));
            if (full && !(s > thr)) continue;
            heap.push(s, b0 + j);
            thr = heap.threshold();
            full = heap.full();
          }
        }
      }
    }
  }
}

}  // namespace

void exact_search(const float* x, int64_t nq, const float* y, int64_t nb, int64_t d, Metric metric, int64_t k,
                  float* scores, int64_t* ids, int threads, const float* y_norms) {
  check_arg(nq >= 0, "nq must be >= 0, got " + std::to_string(nq));
  check_arg(nb >= 0, "nb must be >= 0, got " + std::to_string(nb));
  check_arg(d > 0, "d must be > 0, got " + std::to_string(d));
  check_arg(k >= 0, "k must be >= 0, got " + std::to_string(k));
  const int nthreads = resolve_threads(threads);  // checks threads, before the early return
  if (nq == 0 || k == 0) return;

  std::vector<float> yn_buf, xn;
  if (metric == Metric::L2) {
    if (y_norms == nullptr && nb > 0) {
      yn_buf.resize(static_cast<size_t>(nb));
      parallel_for(
          (nb + 4095) / 4096, nthreads,
          [&](int64_t c) {
            const int64_t b = c * 4096;
            squared_norms(y + b * d, std::min<int64_t>(4096, nb - b), d, yn_buf.data() + b);
          });
      y_norms = yn_buf.data();
    }
    xn.resize(static_cast<size_t>(nq));
    squared_norms(x, nq, d, xn.data());
  }

  if (nq >= nthreads || nthreads == 1 || nb == 0) {
    // Split the queries: blocks of up to kQueryBlock, at least one block per thread.
    const int64_t qb = std::max<int64_t>(1, std::min(kQueryBlock, (nq + nthreads - 1) / nthreads));
    parallel_for((nq + qb - 1) / qb, nthreads, [&](int64_t blk) {
      const int64_t q0 = blk * qb, n = std::min(qb, nq - q0);
      std::vector<TopK> heaps(static_cast<size_t>(n), TopK(k));
      scan_range(x + q0 * d, n, y, 0, nb, d, metric, y_norms, xn.empty() ? nullptr : xn.data() + q0,
                 heaps.data());
      for (int64_t i = 0; i < n; ++i) heaps[i].write_sorted(scores + (q0 + i) * k, ids + (q0 + i) * k);
    });
    return;
  }

  // Few queries: split the database into one range per thread, then merge the heaps.
  const int64_t T = std::min<int64_t>(nthreads, nb);
  std::vector<float> part_s(static_cast<size_t>(T * nq * k));
  std::vector<int64_t> part_i(static_cast<size_t>(T * nq * k));
  parallel_for(T, static_cast<int>(T), [&](int64_t t) {
    const int64_t j0 = nb * t / T, j1 = nb * (t + 1) / T;
    std::vector<TopK> heaps(static_cast<size_t>(nq), TopK(k));
    scan_range(x, nq, y, j0, j1, d, metric, y_norms, xn.empty() ? nullptr : xn.data(), heaps.data());
    for (int64_t i = 0; i < nq; ++i) heaps[i].write_sorted(&part_s[(t * nq + i) * k], &part_i[(t * nq + i) * k]);
  });
  TopK merged(k);
  for (int64_t i = 0; i < nq; ++i) {
    for (int64_t t = 0; t < T; ++t)
      for (int64_t r = 0; r < k; ++r) {
        const size_t p = static_cast<size_t>((t * nq + i) * k + r);
        if (part_i[p] >= 0) merged.push(part_s[p], part_i[p]);
      }
    merged.write_sorted(scores + i * k, ids + i * k);
  }
}

}  // namespace winnow::dense
