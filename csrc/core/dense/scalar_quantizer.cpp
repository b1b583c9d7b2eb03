// Scalar quantizer codec: training (SQ8 ranges), encoding and decoding. Formulas and code
// layouts are documented in scalar_quantizer.hpp; the scoring kernels live in code_scorer.cpp.
#include "dense/scalar_quantizer.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "common.hpp"
#include "dense/float16.hpp"
#include "thread_pool.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define WINNOW_X86 1
#define WINNOW_F16C __attribute__((target("avx,f16c")))
#endif

namespace winnow::dense {
namespace {

constexpr int64_t kEncodeBlock = 1024;  // rows per encoding task

[[noreturn]] void not_finite(const char* what, int64_t i, int64_t j, float v) {
  throw std::invalid_argument(std::string(what) + "[" + std::to_string(i) + ", " + std::to_string(j) + "] = " +
                              std::to_string(v) + " is not finite");
}

void check_finite_row(const float* x, int64_t d, int64_t i, const char* what) {
  for (int64_t j = 0; j < d; ++j)
    if (!std::isfinite(x[j])) not_finite(what, i, j, x[j]);
}

#ifdef WINNOW_X86
bool cpu_has_f16c() {
  static const bool has = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
  return has;
}

WINNOW_F16C void floats_to_halves_f16c(const float* x, int64_t n, uint16_t* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < n; ++i) out[i] = float_to_half(x[i]);
}

WINNOW_F16C void halves_to_floats_f16c(const uint16_t* h, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
  for (; i < n; ++i) out[i] = half_to_float(h[i]);
}
#endif

// Code rows are bytes with no alignment guarantee for uint16_t, so halves go through a small
// stack buffer and memcpy.
void encode_float16_row(const float* x, int64_t d, uint8_t* code) {
  uint16_t buf[256];
  for (int64_t j0 = 0; j0 < d; j0 += 256) {
    const int64_t m = std::min<int64_t>(256, d - j0);
#ifdef WINNOW_X86
    if (cpu_has_f16c()) floats_to_halves_f16c(x + j0, m, buf);
    else
#endif
      for (int64_t j = 0; j < m; ++j) buf[j] = float_to_half(x[j0 + j]);
    std::memcpy(code + 2 * j0, buf, static_cast<size_t>(m) * 2);
  }
}

void decode_float16_row(const uint8_t* code, int64_t d, float* x) {
  uint16_t buf[256];
  for (int64_t j0 = 0; j0 < d; j0 += 256) {
    const int64_t m = std::min<int64_t>(256, d - j0);
    std::memcpy(buf, code + 2 * j0, static_cast<size_t>(m) * 2);
#ifdef WINNOW_X86
    if (cpu_has_f16c()) halves_to_floats_f16c(buf, m, x + j0);
    else
#endif
      for (int64_t j = 0; j < m; ++j) x[j0 + j] = half_to_float(buf[j]);
  }
}

}  // namespace

ScalarCodec parse_scalar_codec(const std::string& name) {
  if (name == "float32") return ScalarCodec::Float32;
  if (name == "float16") return ScalarCodec::Float16;
  if (name == "sq8") return ScalarCodec::SQ8;
  throw std::invalid_argument("unknown scalar codec '" + name + "' (expected float32, float16 or sq8)");
}

std::string scalar_codec_name(ScalarCodec c) {
  switch (c) {
    case ScalarCodec::Float32: return "float32";
    case ScalarCodec::Float16: return "float16";
    default: return "sq8";
  }
}

ScalarQuantizer::ScalarQuantizer(int64_t d, ScalarCodec codec)
    : d_(d), codec_(codec), trained_(codec != ScalarCodec::SQ8) {
  check_arg(d > 0, "scalar quantizer dimension d must be > 0, got " + std::to_string(d));
}

int64_t ScalarQuantizer::code_size() const {
  switch (codec_) {
    case ScalarCodec::Float32: return 4 * d_;
    case ScalarCodec::Float16: return 2 * d_;
    default: return d_;
  }
}

void ScalarQuantizer::train(const float* x, int64_t n) {
  check_arg(n >= 1, "scalar quantizer training needs at least 1 vector, got " + std::to_string(n));
  for (int64_t i = 0; i < n; ++i) check_finite_row(x + i * d_, d_, i, "training vector");
  if (codec_ != ScalarCodec::SQ8) return;
  // faiss RS_minmax with rs_arg = 0: the range is exactly [min, max] per dimension.
  std::vector<float> lo(x, x + d_), hi(x, x + d_);
  for (int64_t i = 1; i < n; ++i) {
    const float* row = x + i * d_;
    for (int64_t j = 0; j < d_; ++j) {
      lo[j] = std::min(lo[j], row[j]);
      hi[j] = std::max(hi[j], row[j]);
    }
  }
  for (int64_t j = 0; j < d_; ++j) {
    hi[j] -= lo[j];
    check_arg(std::isfinite(hi[j]), "training vectors span a range too wide for float32 in dimension " +
                                        std::to_string(j));
  }
  vmin_ = std::move(lo);
  vdiff_ = std::move(hi);
  trained_ = true;
}

void ScalarQuantizer::set_ranges(const float* vmin, const float* vdiff) {
  check_arg(codec_ == ScalarCodec::SQ8, "set_ranges: the " + scalar_codec_name(codec_) + " codec has no ranges");
  for (int64_t j = 0; j < d_; ++j) {
    check_arg(std::isfinite(vmin[j]), "vmin[" + std::to_string(j) + "] = " + std::to_string(vmin[j]) + " is not finite");
    check_arg(std::isfinite(vdiff[j]) && vdiff[j] >= 0.0f,
              "vdiff[" + std::to_string(j) + "] = " + std::to_string(vdiff[j]) + ", must be finite and >= 0");
  }
  vmin_.assign(vmin, vmin + d_);
  vdiff_.assign(vdiff, vdiff + d_);
  trained_ = true;
}

void ScalarQuantizer::encode(const float* x, int64_t n, uint8_t* codes, int threads) const {
  check_arg(trained_, "ScalarQuantizer (sq8) is not trained (call train or set_ranges)");
  const int64_t cs = code_size();
  // Check everything first so that a bad value leaves no half-written output behind.
  for (int64_t i = 0; i < n; ++i) {
    const float* row = x + i * d_;
    check_finite_row(row, d_, i, "vector");
    if (codec_ == ScalarCodec::Float16)
      for (int64_t j = 0; j < d_; ++j)
        if (!(std::fabs(row[j]) < kFloat16Overflow))
          throw std::invalid_argument("vector[" + std::to_string(i) + ", " + std::to_string(j) + "] = " +
                                      std::to_string(row[j]) + " is outside the float16 range (|x| < 65520)");
  }
  parallel_for((n + kEncodeBlock - 1) / kEncodeBlock, threads, [&](int64_t blk) {
    const int64_t i0 = blk * kEncodeBlock, i1 = std::min(n, i0 + kEncodeBlock);
    for (int64_t i = i0; i < i1; ++i) {
      const float* row = x + i * d_;
      uint8_t* code = codes + i * cs;
      switch (codec_) {
        case ScalarCodec::Float32: std::memcpy(code, row, static_cast<size_t>(cs)); break;
        case ScalarCodec::Float16: encode_float16_row(row, d_, code); break;
        case ScalarCodec::SQ8:
          for (int64_t j = 0; j < d_; ++j) {
            // faiss Codec8bit: clamp to [0, 1], then truncate 255 t (t = 0 on an empty range)
            float t = 0.0f;
            if (vdiff_[j] != 0.0f) {
              t = (row[j] - vmin_[j]) / vdiff_[j];
              if (t < 0.0f) t = 0.0f;
              if (t > 1.0f) t = 1.0f;
            }
            code[j] = static_cast<uint8_t>(static_cast<int>(255.0f * t));
          }
          break;
      }
    }
  });
}

void ScalarQuantizer::decode(const uint8_t* codes, int64_t n, float* x) const {
  check_arg(trained_, "ScalarQuantizer (sq8) is not trained (call train or set_ranges)");
  const int64_t cs = code_size();
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* code = codes + i * cs;
    float* row = x + i * d_;
    switch (codec_) {
      case ScalarCodec::Float32: std::memcpy(row, code, static_cast<size_t>(cs)); break;
      case ScalarCodec::Float16: decode_float16_row(code, d_, row); break;
      case ScalarCodec::SQ8:
        for (int64_t j = 0; j < d_; ++j) row[j] = vmin_[j] + ((code[j] + 0.5f) / 255.0f) * vdiff_[j];
        break;
    }
  }
}

}  // namespace winnow::dense
