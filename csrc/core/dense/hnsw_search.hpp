// HNSW queries over a read-only graph view (owned arrays or memory maps): greedy descent
// through the upper levels, then a best-first search of level 0 with `ef` results
// (Malkov & Yashunin 2018, algorithm 5), optionally re-scored exactly from float32 vectors.
#pragma once

#include <cstdint>

#include "dense/hnsw_graph.hpp"
#include "object_pool.hpp"

namespace winnow::dense {

struct HnswSearchOptions {
  int64_t k = 10;
  int64_t ef = 64;        // size of the dynamic result list; raised to k (and refine_k) when smaller
  int64_t refine_k = 0;   // re-score this many best candidates with view.refine (0 = no re-scoring)
  const uint8_t* allow = nullptr;  // (n) 1 = may be returned; nullptr = every row
  const int64_t* ids = nullptr;    // (n) user ids to report instead of rows; nullptr = rows
  bool any_deleted = true;         // false skips the per-node deleted test (no row is deleted)
  int threads = 1;
};

/// scores (nq, k), ids (nq, k) for queries x (nq, d), best first (ties: lower row), padded
/// -inf / -1 when fewer than k rows are reachable and accepted. Deleted rows never appear.
/// Non-finite query values are std::invalid_argument. `pool` (may be nullptr) keeps per-thread
/// buffers (visited tags of n nodes) between calls: a graph passes its own.
void hnsw_search(const HnswView& graph, const float* x, int64_t nq, const HnswSearchOptions& options,
                 float* scores, int64_t* ids, ObjectPool<hnsw_detail::Scratch>* pool = nullptr);

}  // namespace winnow::dense
