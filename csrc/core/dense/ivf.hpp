// Inverted-file search (Sivic & Zisserman 2003; Jegou et al. 2011 IVFADC) over arrays the
// caller owns (numpy arrays or memory maps): the core is stateless, adding and removing
// vectors rebuild the sorted arrays on the Python side.
//
/// Layout (n vectors in nlist lists, stored sorted by list):
///   centroids    (nlist, d) float32       coarse quantizer
///   list_offsets (nlist + 1) int64        list l owns rows [list_offsets[l], list_offsets[l+1])
///   ids          (n) int64                user ids of the rows
///   payload, one of:
///     vectors    (n, d) float32           flat lists
///     codes      (n, code_size) uint8     PQ lists (8- or 4-bit, ProductQuantizer layout)
///     packed + packed_offsets (nlist + 1) 4-bit fast-scan lists, each packed on its own
///   refine       (n, d) float32, optional full vectors to re-score the best candidates
/// Residual PQ encodes x - centroid[list]; non-residual encodes x itself (needed for codes
/// learned elsewhere, e.g. constrained PQ).
#pragma once

#include <cstdint>

#include "dense/metric.hpp"
#include "dense/pq.hpp"

namespace winnow::dense {

enum class IvfPayload { Flat, PQ, FastScan };

struct IvfView {
  int64_t d = 0, nlist = 0, n = 0;
  Metric metric = Metric::InnerProduct;
  IvfPayload payload = IvfPayload::Flat;
  const float* centroids = nullptr;
  const int64_t* list_offsets = nullptr;
  const int64_t* ids = nullptr;
  const float* vectors = nullptr;
  const uint8_t* codes = nullptr;
  const uint8_t* packed = nullptr;
  const int64_t* packed_offsets = nullptr;
  const ProductQuantizer* pq = nullptr;
  bool residual = false;
  const float* refine = nullptr;

  /// Check offsets against n and the payload sizes; throws FormatError (a corrupt index).
  void validate(int64_t packed_bytes) const;
};

struct SearchOptions {
  int64_t k = 10;
  int64_t nprobe = 1;
  int64_t refine_k = 0;      // re-score this many best approximate candidates with `refine`
  int64_t rescore_k = 0;     // fast-scan: re-score with the float LUT before refinement
  const int64_t* allow = nullptr;  // sorted allowed ids; nullptr = all
  int64_t n_allow = 0;
  int threads = 1;
};

/// scores (nq, k), ids (nq, k) for queries x (nq, d), best first, padded -inf / -1.
void ivf_search(const IvfView& index, const float* x, int64_t nq, const SearchOptions& options, float* scores,
                int64_t* ids);

/// Exhaustive PQ search (no coarse quantizer): codes (n, code_size), ids (n) or nullptr
/// (row numbers), optional refine vectors (n, d).
void pq_search(const ProductQuantizer& pq, Metric metric, const uint8_t* codes, int64_t n, const int64_t* ids,
               const float* refine, const float* x, int64_t nq, const SearchOptions& options, float* scores,
               int64_t* out_ids);

}  // namespace winnow::dense
