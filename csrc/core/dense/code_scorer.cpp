// CodeScorer: one query against scalar-quantized codes (see scalar_quantizer.hpp for the
// tables). One kernel per (codec, form), AVX2+FMA+F16C or scalar, picked once per query.
//
// Every kernel is one pass over the d components of a code, 32 at a time into 4 independent
// 8-lane accumulators (then 8 at a time, then a scalar tail), in one of three forms:
//   Ip        sum_j a_j x_j                  (float32 / float16: a = q; SQ8: a = scaled q, x = c)
//   L2        -sum_j (a_j - x_j)^2           (float32 / float16: a = q)
//   L2Scaled  -sum_j (b_j - a_j c_j)^2       (SQ8: a = s, b = r)
// The build uses -ffp-contract=off, so the SIMD kernels use explicit FMA intrinsics.
#include <cstring>
#include <string>

#include "common.hpp"
#include "dense/float16.hpp"
#include "dense/scalar_quantizer.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define WINNOW_X86 1
#define WINNOW_SQ_AVX2 __attribute__((target("avx2,fma,f16c")))
#endif

namespace winnow::dense {
namespace {

enum class Form { Ip, L2, L2Scaled };

// ---------------------------------------------------------------- scalar
// Component j of a code as float.
template <ScalarCodec C>
inline float component(const uint8_t* code, int64_t j) {
  if constexpr (C == ScalarCodec::Float32) {
    float v;
    std::memcpy(&v, code + 4 * j, sizeof v);
    return v;
  } else if constexpr (C == ScalarCodec::Float16) {
    uint16_t h;
    std::memcpy(&h, code + 2 * j, sizeof h);
    return half_to_float(h);
  } else {
    return static_cast<float>(code[j]);
  }
}

template <Form F>
inline float term(float a, float b, float x) {
  if constexpr (F == Form::Ip) {
    (void)b;
    return a * x;
  } else if constexpr (F == Form::L2) {
    (void)b;
    const float diff = a - x;
    return diff * diff;
  } else {
    const float diff = b - a * x;
    return diff * diff;
  }
}

template <ScalarCodec C, Form F>
float kernel_scalar(const float* a, const float* b, int64_t d, const uint8_t* code) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t j = 0;
  for (; j + 4 <= d; j += 4) {
    s0 += term<F>(a[j], F == Form::L2Scaled ? b[j] : 0.0f, component<C>(code, j));
    s1 += term<F>(a[j + 1], F == Form::L2Scaled ? b[j + 1] : 0.0f, component<C>(code, j + 1));
    s2 += term<F>(a[j + 2], F == Form::L2Scaled ? b[j + 2] : 0.0f, component<C>(code, j + 2));
    s3 += term<F>(a[j + 3], F == Form::L2Scaled ? b[j + 3] : 0.0f, component<C>(code, j + 3));
  }
  for (; j < d; ++j) s0 += term<F>(a[j], F == Form::L2Scaled ? b[j] : 0.0f, component<C>(code, j));
  const float s = (s0 + s1) + (s2 + s3);
  return F == Form::Ip ? s : -s;
}

template <ScalarCodec C, Form F>
void kernel4_scalar(const float* a, const float* b, int64_t d, const uint8_t* const* codes, float* out) {
  for (int i = 0; i < 4; ++i) out[i] = kernel_scalar<C, F>(a, b, d, codes[i]);
}

#ifdef WINNOW_X86
// ---------------------------------------------------------------- AVX2 + FMA + F16C
// Components j .. j+7 of a code as 8 floats.
template <ScalarCodec C>
WINNOW_SQ_AVX2 inline __m256 load8(const uint8_t* code, int64_t j) {
  if constexpr (C == ScalarCodec::Float32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(code + 4 * j));
  } else if constexpr (C == ScalarCodec::Float16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(code + 2 * j)));
  } else {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(code + j))));
  }
}

template <ScalarCodec C, Form F>
WINNOW_SQ_AVX2 inline __m256 step8(const float* a, const float* b, const uint8_t* code, int64_t j, __m256 acc) {
  const __m256 x = load8<C>(code, j);
  const __m256 av = _mm256_loadu_ps(a + j);
  if constexpr (F == Form::Ip) {
    (void)b;
    return _mm256_fmadd_ps(av, x, acc);
  } else if constexpr (F == Form::L2) {
    (void)b;
    const __m256 diff = _mm256_sub_ps(av, x);
    return _mm256_fmadd_ps(diff, diff, acc);
  } else {
    const __m256 diff = _mm256_fnmadd_ps(av, x, _mm256_loadu_ps(b + j));  // b - a x
    return _mm256_fmadd_ps(diff, diff, acc);
  }
}

WINNOW_SQ_AVX2 inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
}

template <ScalarCodec C, Form F>
WINNOW_SQ_AVX2 float kernel_avx2(const float* a, const float* b, int64_t d, const uint8_t* code) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  int64_t j = 0;
  for (; j + 32 <= d; j += 32) {
    acc0 = step8<C, F>(a, b, code, j, acc0);
    acc1 = step8<C, F>(a, b, code, j + 8, acc1);
    acc2 = step8<C, F>(a, b, code, j + 16, acc2);
    acc3 = step8<C, F>(a, b, code, j + 24, acc3);
  }
  for (; j + 8 <= d; j += 8) acc0 = step8<C, F>(a, b, code, j, acc0);
  float s = hsum256(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; j < d; ++j) s += term<F>(a[j], F == Form::L2Scaled ? b[j] : 0.0f, component<C>(code, j));
  return F == Form::Ip ? s : -s;
}

// Four codes at once, each summed exactly as kernel_avx2 sums it (same lanes, same order), so
// score_gather and operator() agree bit for bit. The query tables are loaded once per step for
// all four codes.
template <ScalarCodec C, Form F>
WINNOW_SQ_AVX2 void kernel4_avx2(const float* a, const float* b, int64_t d, const uint8_t* const* codes, float* out) {
  __m256 acc[4][4];
  for (auto& row : acc)
    for (auto& v : row) v = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 32 <= d; j += 32) {
    for (int i = 0; i < 4; ++i) {
      acc[i][0] = step8<C, F>(a, b, codes[i], j, acc[i][0]);
      acc[i][1] = step8<C, F>(a, b, codes[i], j + 8, acc[i][1]);
      acc[i][2] = step8<C, F>(a, b, codes[i], j + 16, acc[i][2]);
      acc[i][3] = step8<C, F>(a, b, codes[i], j + 24, acc[i][3]);
    }
  }
  for (; j + 8 <= d; j += 8)
    for (int i = 0; i < 4; ++i) acc[i][0] = step8<C, F>(a, b, codes[i], j, acc[i][0]);
  for (int i = 0; i < 4; ++i) {
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(acc[i][0], acc[i][1]), _mm256_add_ps(acc[i][2], acc[i][3])));
    for (int64_t t = j; t < d; ++t) s += term<F>(a[t], F == Form::L2Scaled ? b[t] : 0.0f, component<C>(codes[i], t));
    out[i] = F == Form::Ip ? s : -s;
  }
}

bool cpu_has_avx2_fma_f16c() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          __builtin_cpu_supports("f16c");
  return has;
}
#endif

template <ScalarCodec C, Form F>
CodeScorer::Kernel pick(bool simd) {
#ifdef WINNOW_X86
  if (simd) return kernel_avx2<C, F>;
#else
  (void)simd;
#endif
  return kernel_scalar<C, F>;
}

template <ScalarCodec C, Form F>
CodeScorer::Kernel4 pick4(bool simd) {
#ifdef WINNOW_X86
  if (simd) return kernel4_avx2<C, F>;
#else
  (void)simd;
#endif
  return kernel4_scalar<C, F>;
}

CodeScorer::Kernel pick_kernel(ScalarCodec codec, Metric metric, bool simd) {
  const bool ip = metric == Metric::InnerProduct;
  switch (codec) {
    case ScalarCodec::Float32:
      return ip ? pick<ScalarCodec::Float32, Form::Ip>(simd) : pick<ScalarCodec::Float32, Form::L2>(simd);
    case ScalarCodec::Float16:
      return ip ? pick<ScalarCodec::Float16, Form::Ip>(simd) : pick<ScalarCodec::Float16, Form::L2>(simd);
    default:
      return ip ? pick<ScalarCodec::SQ8, Form::Ip>(simd) : pick<ScalarCodec::SQ8, Form::L2Scaled>(simd);
  }
}

CodeScorer::Kernel4 pick_kernel4(ScalarCodec codec, Metric metric, bool simd) {
  const bool ip = metric == Metric::InnerProduct;
  switch (codec) {
    case ScalarCodec::Float32:
      return ip ? pick4<ScalarCodec::Float32, Form::Ip>(simd) : pick4<ScalarCodec::Float32, Form::L2>(simd);
    case ScalarCodec::Float16:
      return ip ? pick4<ScalarCodec::Float16, Form::Ip>(simd) : pick4<ScalarCodec::Float16, Form::L2>(simd);
    default:
      return ip ? pick4<ScalarCodec::SQ8, Form::Ip>(simd) : pick4<ScalarCodec::SQ8, Form::L2Scaled>(simd);
  }
}

}  // namespace

CodeScorer::CodeScorer(const ScalarQuantizer& sq, Metric metric, const float* q, bool simd)
    : d_(sq.d()), code_size_(sq.code_size()), simd_(false) {
  check_arg(sq.is_trained(), "CodeScorer: the sq8 ScalarQuantizer is not trained (call train or set_ranges)");
#ifdef WINNOW_X86
  simd_ = simd && cpu_has_avx2_fma_f16c();
#else
  (void)simd;
#endif
  kernel_ = pick_kernel(sq.codec(), metric, simd_);
  kernel4_ = pick_kernel4(sq.codec(), metric, simd_);
  codec_ = sq.codec();
  metric_ = metric;
  prepare(sq, q);
}

void CodeScorer::prepare(const ScalarQuantizer& sq, const float* q) {
  check_arg(sq.codec() == codec_ && sq.d() == d_, "CodeScorer::prepare: another quantizer than at construction");
  if (sq.codec() != ScalarCodec::SQ8) {
    a_.assign(q, q + d_);  // reuses the capacity: no allocation after the first query
    return;
  }
  const Metric metric = metric_;
  // SQ8 tables (scalar_quantizer.hpp); the bias is summed in double once per query.
  const std::vector<float>& vmin = sq.vmin();
  const std::vector<float>& vdiff = sq.vdiff();
  a_.resize(static_cast<size_t>(d_));
  if (metric == Metric::InnerProduct) {
    double bias = 0.0;
    for (int64_t j = 0; j < d_; ++j) {
      const float step = vdiff[j] / 255.0f;
      a_[j] = q[j] * step;
      bias += static_cast<double>(q[j]) * (static_cast<double>(vmin[j]) + 0.5 * static_cast<double>(step));
    }
    bias_ = static_cast<float>(bias);
  } else {
    b_.resize(static_cast<size_t>(d_));
    for (int64_t j = 0; j < d_; ++j) {
      const float step = vdiff[j] / 255.0f;
      a_[j] = step;
      b_[j] = q[j] - vmin[j] - 0.5f * step;
    }
  }
}

void CodeScorer::score_many(const uint8_t* codes, int64_t n, float* out) const {
  const float* a = a_.data();
  const float* b = b_.data();
  for (int64_t i = 0; i < n; ++i) out[i] = kernel_(a, b, d_, codes + i * code_size_) + bias_;
}

void CodeScorer::score_gather(const uint8_t* const* codes, int64_t n, float* out) const {
  const float* a = a_.data();
  const float* b = b_.data();
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    kernel4_(a, b, d_, codes + i, out + i);
    for (int t = 0; t < 4; ++t) out[i + t] += bias_;
  }
  for (; i < n; ++i) out[i] = kernel_(a, b, d_, codes[i]) + bias_;
}

}  // namespace winnow::dense
