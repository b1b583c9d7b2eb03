// Register-blocked inner-product kernels with run-time dispatch (AVX-512F, AVX2+FMA, scalar).
//
// inner_products computes out (nq, nb) = x (nq, d) . y (nb, d)^T in tiles of R query rows x
// C database rows; every tile keeps R*C vector accumulators in registers and reads each loaded
// x / y vector C / R times (AVX-512: 4x4 tile = 16 zmm accumulators, 8 loads per 16 FMAs).
// The build has no -march flag and uses -ffp-contract=off, so the SIMD paths live in
// functions compiled with __attribute__((target(...))) and use explicit FMA intrinsics.
//
// Summation order of one pair (identical in every tile shape, see ip_kernels.hpp):
//   AVX-512: 16 lane partial sums p (FMA over d, the d tail by masked loads), then
//            t = (p[0:4] + p[8:12]) + (p[4:8] + p[12:16]); result = (t0 + t2) + (t1 + t3).
//   AVX2:    8 lane partial sums p (d tail by masked loads), then
//            ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7)).
//   scalar:  sequential over d.
//   d < 32 (SIMD paths): sequential over d with FMA (transposed kernel, small_d_*).
#include "dense/ip_kernels.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>

#include "dense/distances.hpp"

#if defined(__x86_64__) || defined(__i386__)
// GCC 12 falsely reports the _mm512_undefined_ps() idiom inside the intrinsic headers as
// uninitialized when they are inlined into target("avx512f") functions (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#define WINNOW_X86 1
#define WINNOW_AVX512 __attribute__((target("avx512f")))
#define WINNOW_AVX2 __attribute__((target("avx2,fma")))
#endif

namespace winnow::dense {
namespace detail {
namespace {

IpKernel detect_kernel() {
#ifdef WINNOW_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return IpKernel::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return IpKernel::Avx2;
#endif
  return IpKernel::Scalar;
}

const IpKernel g_best = detect_kernel();
constexpr int64_t kSmallD = 32;  // below this the SIMD paths use the transposed kernel
std::atomic<int> g_forced{-1};

// ---------------------------------------------------------------- scalar
template <int R, int C>
void tile_scalar(const float* x, const float* y, int64_t d, float* out, int64_t ldo) {
  float acc[R][C] = {};
  for (int64_t k = 0; k < d; ++k) {
    for (int r = 0; r < R; ++r) {
      const float xv = x[r * d + k];
      for (int c = 0; c < C; ++c) acc[r][c] += xv * y[c * d + k];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) out[r * ldo + c] = acc[r][c];
}

#ifdef WINNOW_X86
// ---------------------------------------------------------------- AVX-512F
WINNOW_AVX512 inline float reduce512(__m512 v) {
  __m128 t = _mm_add_ps(_mm_add_ps(_mm512_castps512_ps128(v), _mm512_extractf32x4_ps(v, 2)),
                        _mm_add_ps(_mm512_extractf32x4_ps(v, 1), _mm512_extractf32x4_ps(v, 3)));
  __m128 u = _mm_add_ps(t, _mm_movehl_ps(t, t));             // (t0 + t2, t1 + t3, ..)
  return _mm_cvtss_f32(_mm_add_ss(u, _mm_shuffle_ps(u, u, 1)));  // (t0 + t2) + (t1 + t3)
}

// Transposing reduction of 16 accumulators (same per-pair order as reduce512).
// acc[r][c] ends up in lane 4 r + c of the result.
WINNOW_AVX512 inline __m512 reduce16(__m512 (&acc)[4][4]) {
  __m512 L[16];
  for (int e = 0; e < 4; ++e)
    for (int q = 0; q < 4; ++q) L[e * 4 + q] = acc[q][e];
  __m512 s[8], t[4], u[2];
  for (int i = 0; i < 8; ++i)  // quarters 0,1 <- L[2i] (q0+q2, q1+q3); quarters 2,3 <- L[2i+1]
    s[i] = _mm512_add_ps(_mm512_shuffle_f32x4(L[2 * i], L[2 * i + 1], 0x44),
                         _mm512_shuffle_f32x4(L[2 * i], L[2 * i + 1], 0xEE));
  for (int i = 0; i < 4; ++i)  // quarter j <- full 4-lane partials of L[4i + j]
    t[i] = _mm512_add_ps(_mm512_shuffle_f32x4(s[2 * i], s[2 * i + 1], 0x88),
                         _mm512_shuffle_f32x4(s[2 * i], s[2 * i + 1], 0xDD));
  for (int i = 0; i < 2; ++i)
    u[i] = _mm512_add_ps(_mm512_unpacklo_ps(t[2 * i], t[2 * i + 1]), _mm512_unpackhi_ps(t[2 * i], t[2 * i + 1]));
  __m512d lo = _mm512_unpacklo_pd(_mm512_castps_pd(u[0]), _mm512_castps_pd(u[1]));
  __m512d hi = _mm512_unpackhi_pd(_mm512_castps_pd(u[0]), _mm512_castps_pd(u[1]));
  return _mm512_add_ps(_mm512_castpd_ps(lo), _mm512_castpd_ps(hi));
}

template <int R, int C>
WINNOW_AVX512 void tile_avx512(const float* x, const float* y, int64_t d, float* out, int64_t ldo) {
  __m512 acc[4][4];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= d; k += 16) {
    __m512 yv[C];
    for (int c = 0; c < C; ++c) yv[c] = _mm512_loadu_ps(y + c * d + k);
    for (int r = 0; r < R; ++r) {
      const __m512 xv = _mm512_loadu_ps(x + r * d + k);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_fmadd_ps(xv, yv[c], acc[r][c]);
    }
  }
  if (k < d) {
    const __mmask16 m = static_cast<__mmask16>((1u << (d - k)) - 1u);
    __m512 yv[C];
    for (int c = 0; c < C; ++c) yv[c] = _mm512_maskz_loadu_ps(m, y + c * d + k);
    for (int r = 0; r < R; ++r) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + r * d + k);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_fmadd_ps(xv, yv[c], acc[r][c]);
    }
  }
  if constexpr (R == 4 && C == 4) {
    const __m512 f = reduce16(acc);
    _mm_storeu_ps(out, _mm512_castps512_ps128(f));
    _mm_storeu_ps(out + ldo, _mm512_extractf32x4_ps(f, 1));
    _mm_storeu_ps(out + 2 * ldo, _mm512_extractf32x4_ps(f, 2));
    _mm_storeu_ps(out + 3 * ldo, _mm512_extractf32x4_ps(f, 3));
  } else {
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) out[r * ldo + c] = reduce512(acc[r][c]);
  }
}

// ---------------------------------------------------------------- AVX2 + FMA
WINNOW_AVX2 inline float reduce256(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  __m128 a = _mm_hadd_ps(lo, lo), b = _mm_hadd_ps(hi, hi);  // (p0+p1, p2+p3), (p4+p5, p6+p7)
  a = _mm_hadd_ps(a, a);
  b = _mm_hadd_ps(b, b);
  return _mm_cvtss_f32(_mm_add_ss(a, b));
}

WINNOW_AVX2 inline __m256i tail_mask256(int64_t rem) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rem)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// R <= 4, C <= 2: at most 8 accumulators + 2 y + 1 x of the 16 ymm registers.
template <int R, int C>
WINNOW_AVX2 void tile_avx2(const float* x, const float* y, int64_t d, float* out, int64_t ldo) {
  __m256 acc[4][2];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= d; k += 8) {
    __m256 yv[C];
    for (int c = 0; c < C; ++c) yv[c] = _mm256_loadu_ps(y + c * d + k);
    for (int r = 0; r < R; ++r) {
      __m256 xv = _mm256_loadu_ps(x + r * d + k);
      // Keep xv in a register: GCC otherwise folds the load into each of the C FMAs,
      // reading every x vector C times (load ports, not FMAs, then bound the loop).
      __asm__("" : "+x"(xv));
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(xv, yv[c], acc[r][c]);
    }
  }
  if (k < d) {
    const __m256i m = tail_mask256(d - k);
    __m256 yv[C];
    for (int c = 0; c < C; ++c) yv[c] = _mm256_maskload_ps(y + c * d + k, m);
    for (int r = 0; r < R; ++r) {
      const __m256 xv = _mm256_maskload_ps(x + r * d + k, m);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(xv, yv[c], acc[r][c]);
    }
  }
  if constexpr (R == 4 && C == 2) {
    // hadd tree over 8 accumulators: lane i <- acc[i / 2][i % 2], same order as reduce256.
    __m256 h01 = _mm256_hadd_ps(acc[0][0], acc[0][1]), h23 = _mm256_hadd_ps(acc[1][0], acc[1][1]);
    __m256 h45 = _mm256_hadd_ps(acc[2][0], acc[2][1]), h67 = _mm256_hadd_ps(acc[3][0], acc[3][1]);
    __m256 a = _mm256_hadd_ps(h01, h23), b = _mm256_hadd_ps(h45, h67);
    __m256 f = _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
    alignas(32) float tmp[8];
    _mm256_store_ps(tmp, f);
    for (int r = 0; r < 4; ++r) {
      out[r * ldo] = tmp[2 * r];
      out[r * ldo + 1] = tmp[2 * r + 1];
    }
  } else {
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) out[r * ldo + c] = reduce256(acc[r][c]);
  }
}

// One query row against 8 database rows: 8 independent FMA chains (a 1x2 tile has 2, and
// one FMA chain per step is latency-bound: ~2 FMAs per FMA latency instead of 2 per cycle).
// Each pair is summed exactly as in tile_avx2 (8 lane partial sums, masked tail, reduce256).
WINNOW_AVX2 void row8_avx2(const float* x, const float* y, int64_t d, float* out) {
  __m256 acc[8];
  for (int c = 0; c < 8; ++c) acc[c] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= d; k += 8) {
    const __m256 xv = _mm256_loadu_ps(x + k);
    for (int c = 0; c < 8; ++c) acc[c] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(y + c * d + k), acc[c]);
  }
  if (k < d) {
    const __m256i m = tail_mask256(d - k);
    const __m256 xv = _mm256_maskload_ps(x + k, m);
    for (int c = 0; c < 8; ++c) acc[c] = _mm256_fmadd_ps(xv, _mm256_maskload_ps(y + c * d + k, m), acc[c]);
  }
  for (int c = 0; c < 8; ++c) out[c] = reduce256(acc[c]);
}

// ---------------------------------------------------------------- small d (d < kSmallD)
// With few dimensions the per-pair horizontal reduction would dominate, so the database rows
// are transposed in groups of 4 vectors' width (yt (d, 4 W)) and each query element is
// broadcast against them: out[i, j] = sum_k x[i, k] yt[k, j], summed sequentially over k.
WINNOW_AVX512 void small_d_avx512(const float* x, int64_t nq, const float* y, int64_t nb, int64_t d, float* out) {
  alignas(64) float yt[kSmallD * 64];
  for (int64_t j0 = 0; j0 < nb; j0 += 64) {
    const int64_t nc = std::min<int64_t>(64, nb - j0);
    for (int64_t k = 0; k < d; ++k)
      for (int64_t c = 0; c < 64; ++c) yt[k * 64 + c] = c < nc ? y[(j0 + c) * d + k] : 0.0f;
    for (int64_t i = 0; i < nq; ++i) {
      __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int64_t k = 0; k < d; ++k) {
        const __m512 xv = _mm512_set1_ps(x[i * d + k]);
        a0 = _mm512_fmadd_ps(xv, _mm512_load_ps(yt + k * 64), a0);
        a1 = _mm512_fmadd_ps(xv, _mm512_load_ps(yt + k * 64 + 16), a1);
        a2 = _mm512_fmadd_ps(xv, _mm512_load_ps(yt + k * 64 + 32), a2);
        a3 = _mm512_fmadd_ps(xv, _mm512_load_ps(yt + k * 64 + 48), a3);
      }
      float* o = out + i * nb + j0;
      const __m512 acc[4] = {a0, a1, a2, a3};
      for (int v = 0; v < 4; ++v) {
        const int64_t rem = nc - v * 16;
        if (rem <= 0) break;
        const __mmask16 m = rem >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << rem) - 1u);
        _mm512_mask_storeu_ps(o + v * 16, m, acc[v]);
      }
    }
  }
}

WINNOW_AVX2 void small_d_avx2(const float* x, int64_t nq, const float* y, int64_t nb, int64_t d, float* out) {
  alignas(32) float yt[kSmallD * 32];
  for (int64_t j0 = 0; j0 < nb; j0 += 32) {
    const int64_t nc = std::min<int64_t>(32, nb - j0);
    for (int64_t k = 0; k < d; ++k)
      for (int64_t c = 0; c < 32; ++c) yt[k * 32 + c] = c < nc ? y[(j0 + c) * d + k] : 0.0f;
    for (int64_t i = 0; i < nq; ++i) {
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int64_t k = 0; k < d; ++k) {
        const __m256 xv = _mm256_set1_ps(x[i * d + k]);
        a0 = _mm256_fmadd_ps(xv, _mm256_load_ps(yt + k * 32), a0);
        a1 = _mm256_fmadd_ps(xv, _mm256_load_ps(yt + k * 32 + 8), a1);
        a2 = _mm256_fmadd_ps(xv, _mm256_load_ps(yt + k * 32 + 16), a2);
        a3 = _mm256_fmadd_ps(xv, _mm256_load_ps(yt + k * 32 + 24), a3);
      }
      alignas(32) float tmp[32];
      _mm256_store_ps(tmp, a0);
      _mm256_store_ps(tmp + 8, a1);
      _mm256_store_ps(tmp + 16, a2);
      _mm256_store_ps(tmp + 24, a3);
      std::copy(tmp, tmp + nc, out + i * nb + j0);
    }
  }
}
#endif  // WINNOW_X86

// ---------------------------------------------------------------- tiling driver
using TileFn = void (*)(const float*, const float*, int64_t, float*, int64_t);

template <template <int, int> class K, int RMAX, int CMAX>
struct Tiles {
  static TileFn get(int r, int c) {
    static const TileFn table[4][4] = {
        {K<1, 1>::fn, K<1, 2>::fn, K<1, 3>::fn, K<1, 4>::fn},
        {K<2, 1>::fn, K<2, 2>::fn, K<2, 3>::fn, K<2, 4>::fn},
        {K<3, 1>::fn, K<3, 2>::fn, K<3, 3>::fn, K<3, 4>::fn},
        {K<4, 1>::fn, K<4, 2>::fn, K<4, 3>::fn, K<4, 4>::fn},
    };
    return table[r - 1][c - 1];
  }
};

template <int R, int C>
struct ScalarK {
  static constexpr TileFn fn = tile_scalar<R, C>;
};
#ifdef WINNOW_X86
template <int R, int C>
struct Avx512K {
  static constexpr TileFn fn = tile_avx512<R, C>;
};
template <int R, int C>
struct Avx2K {  // columns beyond 2 are never requested (CMAX = 2)
  static constexpr TileFn fn = tile_avx2<R, (C > 2 ? 2 : C)>;
};
#endif

// Database rows are taken in groups of ~16 KiB (a multiple of C rows) that stay in L1; for
// each group, every R-row query tile runs over the group's C-row tiles, so the query rows
// (R * d floats) are read from L2 once per group rather than once per C database rows. The
// caller sizes y so that it stays in L2 across the query loop. `row_fn` (optional) handles
// query rows left over from R-row tiles, CROW database rows at a time. Only the loop order
// differs between shapes: each pair is summed by the same kernel order.
constexpr int64_t kL1GroupBytes = 16 << 10;

template <template <int, int> class K, int RMAX, int CMAX>
void run_tiles(const float* x, int64_t nq, const float* y, int64_t nb, int64_t d, float* out,
               TileFn row_fn = nullptr, int64_t crow = 0) {
  const TileFn full = Tiles<K, RMAX, CMAX>::get(RMAX, CMAX);
  int64_t group = std::max<int64_t>(CMAX, kL1GroupBytes / (d * 4) / CMAX * CMAX);
  if (row_fn != nullptr) group = std::max(group, crow) / crow * crow;
  const int64_t nq_full = row_fn != nullptr ? nq / RMAX * RMAX : nq;
  for (int64_t g0 = 0; g0 < nb; g0 += group) {
    const int64_t g1 = std::min(nb, g0 + group);
    for (int64_t i = 0; i < nq_full; i += RMAX) {
      const int r = static_cast<int>(std::min<int64_t>(RMAX, nq - i));
      for (int64_t j = g0; j < g1; j += CMAX) {
        const int c = static_cast<int>(std::min<int64_t>(CMAX, g1 - j));
        const TileFn fn = (r == RMAX && c == CMAX) ? full : Tiles<K, RMAX, CMAX>::get(r, c);
        fn(x + i * d, y + j * d, d, out + i * nb + j, nb);
      }
    }
    for (int64_t i = nq_full; i < nq; ++i) {  // leftover rows: one query at a time, wide tiles
      int64_t j = g0;
      for (; j + crow <= g1; j += crow) row_fn(x + i * d, y + j * d, d, out + i * nb + j, nb);
      for (; j < g1; j += CMAX) {
        const int c = static_cast<int>(std::min<int64_t>(CMAX, g1 - j));
        Tiles<K, RMAX, CMAX>::get(1, c)(x + i * d, y + j * d, d, out + i * nb + j, nb);
      }
    }
  }
}

#ifdef WINNOW_X86
void row8_avx2_tile(const float* x, const float* y, int64_t d, float* out, int64_t) { row8_avx2(x, y, d, out); }
#endif

}  // namespace

IpKernel ip_kernel() {
  const int f = g_forced.load(std::memory_order_relaxed);
  return f >= 0 ? static_cast<IpKernel>(f) : g_best;
}

const char* ip_kernel_name() {
  switch (ip_kernel()) {
    case IpKernel::Avx512: return "avx512";
    case IpKernel::Avx2: return "avx2";
    default: return "scalar";
  }
}

void force_ip_kernel(const char* name) {
  const std::string n = name ? name : "";
  int want = -1;
  if (n == "avx512") want = static_cast<int>(IpKernel::Avx512);
  else if (n == "avx2") want = static_cast<int>(IpKernel::Avx2);
  else if (n == "scalar") want = static_cast<int>(IpKernel::Scalar);
  if (want > static_cast<int>(g_best)) want = static_cast<int>(g_best);  // unsupported: best available
  g_forced.store(want, std::memory_order_relaxed);
}

}  // namespace detail

void inner_products(const float* x, int64_t nq, const float* y, int64_t nb, int64_t d, float* out) {
  if (nq <= 0 || nb <= 0) return;
  if (d <= 0) {
    std::fill(out, out + nq * nb, 0.0f);
    return;
  }
  using namespace detail;
  switch (ip_kernel()) {
#ifdef WINNOW_X86
    case IpKernel::Avx512:
      if (d < kSmallD) small_d_avx512(x, nq, y, nb, d, out);
      else run_tiles<Avx512K, 4, 4>(x, nq, y, nb, d, out);
      return;
    case IpKernel::Avx2:
      if (d < kSmallD) small_d_avx2(x, nq, y, nb, d, out);
      else run_tiles<Avx2K, 4, 2>(x, nq, y, nb, d, out, row8_avx2_tile, 8);
      return;
#endif
    default: run_tiles<ScalarK, 4, 4>(x, nq, y, nb, d, out); return;
  }
}

float dot(const float* a, const float* b, int64_t d) {
  float r = 0.0f;
  inner_products(a, 1, b, 1, d, &r);
  return r;
}

#ifdef WINNOW_X86
namespace {
// Small d on the SIMD kernels: the pair is summed sequentially over k with FMA from 0 (the
// small_d_* kernels' order), here without their per-call transposition into a 32-wide tile.
WINNOW_AVX2 void small_d_norms_fma(const float* x, int64_t n, int64_t d, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float* r = x + i * d;
    float s = 0.0f;
    for (int64_t k = 0; k < d; ++k) s = __builtin_fmaf(r[k], r[k], s);
    out[i] = s;
  }
}
}  // namespace
#endif

void squared_norms(const float* x, int64_t n, int64_t d, float* out) {
#ifdef WINNOW_X86
  if (d > 0 && d < detail::kSmallD && detail::ip_kernel() != detail::IpKernel::Scalar) {
    small_d_norms_fma(x, n, d, out);
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) out[i] = dot(x + i * d, x + i * d, d);
}

}  // namespace winnow::dense
