// Search over scalar-quantized vectors (float32 / float16 / SQ8 codes, scalar_quantizer.hpp):
// exhaustive (faiss IndexScalarQuantizer) and inverted-file (faiss IndexIVFScalarQuantizer),
// over arrays the caller owns (numpy arrays or memory maps), like ivf.hpp.
//
/// Layout of the IVF variant (n vectors in nlist lists, stored sorted by list, as ivf.hpp):
///   centroids    (nlist, d) float32
///   list_offsets (nlist + 1) int64
///   ids          (n) int64
///   codes        (n, code_size) uint8     codes of x, or of x - centroid[list] (residual)
///   refine       (n, d) float32, optional full vectors to re-score the best candidates
/// Residual scores: ip <q, c + r> = <q, c> + <q, r>; l2 -||(q - c) - r||^2.
#pragma once

#include <cstdint>

#include "dense/ivf.hpp"  // SearchOptions
#include "dense/metric.hpp"
#include "dense/scalar_quantizer.hpp"

namespace winnow::dense {

/// Exhaustive top-k over codes (n, code_size); ids (n) or nullptr (row numbers); optional
/// refine vectors (n, d) re-score the best o.refine_k candidates exactly. Queries x (nq, d).
/// One query (or an allow-list) scans with CodeScorer (fewer queries than threads: each
/// query's rows split between the threads); batches of kSqBatchQueries or more decode the
/// codes block by block and score them with the blocked float kernel, so the scores of the two
/// paths agree up to float rounding (not bit for bit). Threads never change a result.
void sq_search(const ScalarQuantizer& sq, Metric metric, const uint8_t* codes, int64_t n, const int64_t* ids,
               const float* refine, const float* x, int64_t nq, const SearchOptions& options, float* scores,
               int64_t* out_ids);

constexpr int64_t kSqBatchQueries = 8;

struct IvfSqView {
  int64_t d = 0, nlist = 0, n = 0;
  Metric metric = Metric::InnerProduct;
  const float* centroids = nullptr;
  const int64_t* list_offsets = nullptr;
  const int64_t* ids = nullptr;
  const uint8_t* codes = nullptr;
  const ScalarQuantizer* sq = nullptr;
  bool residual = false;
  const float* refine = nullptr;

  /// Offsets against n, quantizer dimension; throws FormatError (a corrupt index).
  void validate() const;
};

/// scores (nq, k), ids (nq, k) for queries x (nq, d), best first, padded -inf / -1.
void ivf_sq_search(const IvfSqView& index, const float* x, int64_t nq, const SearchOptions& options, float* scores,
                   int64_t* ids);

}  // namespace winnow::dense
