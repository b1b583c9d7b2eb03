// Exact dense similarity kernels with run-time SIMD dispatch (AVX-512, AVX2+FMA, scalar).
// All arrays are row-major float32; the caller owns every output.
#pragma once

#include <cstdint>

#include "dense/metric.hpp"

namespace winnow::dense {

/// out (nq, nb) = x (nq, d) . y (nb, d)^T. Register-blocked; single-threaded (callers split work).
void inner_products(const float* x, int64_t nq, const float* y, int64_t nb, int64_t d, float* out);

/// out (n) = ||x_i||^2 for x (n, d).
void squared_norms(const float* x, int64_t n, int64_t d, float* out);

/// Dot product of two d-vectors (dispatching kernel; for small ad-hoc uses).
float dot(const float* a, const float* b, int64_t d);

/// Exact top-k: for each query x_i (nq, d) the k database rows of y (nb, d) with the highest
/// score under `metric`, written best first to scores (nq, k) / ids (nq, k) (ties: lower id;
/// padding -inf / -1 when k > nb). `y_norms` (nb) = squared norms of y, needed for L2
/// (computed here when nullptr). Processes the database in cache-sized blocks; `threads`
/// splits queries (nq >= threads) or database blocks (few queries).
void exact_search(const float* x, int64_t nq, const float* y, int64_t nb, int64_t d, Metric metric, int64_t k,
                  float* scores, int64_t* ids, int threads, const float* y_norms = nullptr);

}  // namespace winnow::dense
