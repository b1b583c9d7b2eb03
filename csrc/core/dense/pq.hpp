// Product quantization (Jegou et al., TPAMI 2011): d dims split into M sub-spaces of
// dsub = d / M dims, each quantized to one of ksub = 2^nbits centroids.
//
/// Layout: centroids (M, ksub, dsub).
/// Codes: nbits = 8 -> (n, M) uint8, one code per byte; nbits = 4 -> (n, ceil(M/2)) uint8,
/// sub-quantizer 2j in the low nibble and 2j+1 in the high nibble of byte j.
/// Look-up tables: (M, ksub) float32 per query; score(code) = sum_m lut[m, code_m], which for
/// InnerProduct equals <q, decode(code)> and for L2 equals -||q - decode(code)||^2.
#pragma once

#include <cstdint>
#include <vector>

#include "dense/kmeans.hpp"
#include "dense/metric.hpp"

namespace winnow::dense {

class ProductQuantizer {
 public:
  ProductQuantizer(int64_t d, int64_t M, int nbits);

  int64_t d() const { return d_; }
  int64_t M() const { return M_; }
  int nbits() const { return nbits_; }
  int64_t dsub() const { return dsub_; }
  int64_t ksub() const { return ksub_; }
  int64_t code_size() const { return nbits_ == 8 ? M_ : (M_ + 1) / 2; }

  /// (M, ksub, dsub) centroids; settable (imported or trained elsewhere).
  const std::vector<float>& centroids() const { return centroids_; }
  void set_centroids(const float* c);  // copies M * ksub * dsub floats
  bool is_trained() const { return trained_; }

  /// k-means per sub-space on x (n, d).
  void train(const float* x, int64_t n, const KMeansOptions& options);
  /// Nearest centroid per sub-space: codes (n, code_size).
  void encode(const float* x, int64_t n, uint8_t* codes, int threads) const;
  /// Reconstruction x (n, d) from codes (n, code_size).
  void decode(const uint8_t* codes, int64_t n, float* x) const;
  /// Sub-quantizer m's code of row i, from a (n, code_size) code array.
  int code_at(const uint8_t* row, int64_t m) const {
    return nbits_ == 8 ? row[m] : ((row[m >> 1] >> ((m & 1) * 4)) & 0xf);
  }
  /// lut (M, ksub) for one query q (d).
  void compute_lut(const float* q, Metric metric, float* lut) const;
  /// out[i] = sum_m lut[m, code_m(i)] for codes (n, code_size) (asymmetric distance computation).
  void adc(const float* lut, const uint8_t* codes, int64_t n, float* out) const;
  /// Same for selected rows only: out[j] = score of codes row ids[j].
  void adc_subset(const float* lut, const uint8_t* codes, const int64_t* ids, int64_t count, float* out) const;

 private:
  int64_t d_, M_, dsub_, ksub_;
  int nbits_;
  bool trained_ = false;
  std::vector<float> centroids_;
  // (M, dsub, ksub) copy of centroids_, rebuilt whenever they change: look-up tables are
  // then ksub-wide vector operations per dimension, with no per-query transposition.
  std::vector<float> centroids_t_;
  void transpose_centroids();
};

}  // namespace winnow::dense
