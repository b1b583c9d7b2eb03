// Scalar quantization of dense vectors: every dimension is stored on its own, as float32,
// float16 (IEEE half, round to nearest even) or 8 bits (SQ8).
//
// SQ8 is faiss's QT_8bit (non-uniform: one range per dimension, trained as per-dimension
// min / max, faiss RS_minmax with rs_arg = 0), with faiss's formulas, so that codes and ranges
// imported from faiss decode and score as faiss does:
//   encode  t = clamp((x_j - vmin_j) / vdiff_j, 0, 1)  (t = 0 where vdiff_j == 0)
//           code_j = (int)(255 * t)                    (truncation)
//   decode  x_j = vmin_j + ((code_j + 0.5) / 255) * vdiff_j
// so a value inside the trained range decodes to the middle of its bucket of width
// vdiff_j / 255: the decode error is at most half a step, vdiff_j / 510 (plus float rounding).
//
// Codes: (n, code_size) uint8 rows; code_size = 4 d (float32, native little-endian floats),
// 2 d (float16, little-endian halves) or d (SQ8, one byte per dimension).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dense/metric.hpp"

namespace winnow::dense {

enum class ScalarCodec { Float32, Float16, SQ8 };

/// "float32" | "float16" | "sq8"; anything else raises std::invalid_argument.
ScalarCodec parse_scalar_codec(const std::string& name);
std::string scalar_codec_name(ScalarCodec c);

class ScalarQuantizer {
 public:
  ScalarQuantizer(int64_t d, ScalarCodec codec);

  int64_t d() const { return d_; }
  ScalarCodec codec() const { return codec_; }
  /// Bytes per vector: 4 d, 2 d or d.
  int64_t code_size() const;
  /// float32 / float16 need no training (always true); SQ8 after train or set_ranges.
  bool is_trained() const { return trained_; }

  /// SQ8: per-dimension ranges vmin = min, vdiff = max - min over x (n, d), n >= 1, all
  /// finite. float32 / float16: checks x is finite and does nothing else.
  void train(const float* x, int64_t n);
  /// SQ8 ranges (d each); empty for float32 / float16.
  const std::vector<float>& vmin() const { return vmin_; }
  const std::vector<float>& vdiff() const { return vdiff_; }
  /// SQ8 ranges from elsewhere (faiss import, a loaded index): d finite values each, vdiff >= 0.
  void set_ranges(const float* vmin, const float* vdiff);

  /// codes (n, code_size) of x (n, d). Non-finite values (and, for float16, values beyond
  /// the float16 range) raise std::invalid_argument; SQ8 clamps values outside the trained range.
  void encode(const float* x, int64_t n, uint8_t* codes, int threads) const;
  /// x (n, d) from codes (n, code_size).
  void decode(const uint8_t* codes, int64_t n, float* x) const;

 private:
  int64_t d_;
  ScalarCodec codec_;
  bool trained_;
  std::vector<float> vmin_, vdiff_;
};

/// Scores one query against encoded vectors. Prepared once per query: SQ8 folds the ranges
/// into per-dimension tables so that its inner loop is one fused multiply-add per byte
///   ip:  <q, decode(c)>   = bias + sum_j a_j c_j,  a_j = q_j vdiff_j / 255,
///                           bias = sum_j q_j (vmin_j + 0.5 vdiff_j / 255)
///   l2: -||q - decode(c)||^2 = -sum_j (r_j - s_j c_j)^2,  s_j = vdiff_j / 255,
///                           r_j = q_j - vmin_j - 0.5 s_j
/// Higher is better everywhere (see metric.hpp); equal to scoring the decoded vector up to
/// float rounding. The kernel (AVX2+FMA+F16C or scalar) is chosen once at construction.
/// Keeps pointers into nothing: the tables are copies, the quantizer may go away.
class CodeScorer {
 public:
  /// q (d). simd = false forces the scalar kernels (tests).
  CodeScorer(const ScalarQuantizer& sq, Metric metric, const float* q, bool simd = true);
  /// Re-prepare for another query q (d) with the same quantizer, kernels and metric, reusing the
  /// tables' memory (graph construction scores from many base nodes in a row).
  void prepare(const ScalarQuantizer& sq, const float* q);

  /// Score of one code (code_size bytes). Hot: one call per graph edge.
  float operator()(const uint8_t* code) const { return kernel_(a_.data(), b_.data(), d_, code) + bias_; }
  /// out[i] = score of codes row i, codes (n, code_size) contiguous.
  void score_many(const uint8_t* codes, int64_t n, float* out) const;
  /// out[i] = score of the code at codes[i], for n codes scattered in memory (graph neighbours).
  /// Four at a time: four independent memory streams in flight instead of one (faiss's
  /// distances_batch_4 idea). Each score is bit-identical to operator() on that code.
  void score_gather(const uint8_t* const* codes, int64_t n, float* out) const;

  /// "avx2" or "scalar": the kernel chosen.
  const char* kernel_name() const { return simd_ ? "avx2" : "scalar"; }

  /// (a, b, d, code) -> score without the bias.
  using Kernel = float (*)(const float*, const float*, int64_t, const uint8_t*);
  /// (a, b, d, codes[4], out[4]): four scores without the bias.
  using Kernel4 = void (*)(const float*, const float*, int64_t, const uint8_t* const*, float*);

 private:
  Kernel kernel_;
  Kernel4 kernel4_;
  ScalarCodec codec_;
  Metric metric_;
  int64_t d_, code_size_;
  float bias_ = 0.0f;
  bool simd_;
  std::vector<float> a_, b_;  // per-dimension tables (d each; b empty where unused)
};

}  // namespace winnow::dense
