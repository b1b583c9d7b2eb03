// 4-bit PQ fast-scan: LUT quantization and the AVX-512BW / AVX2 / scalar scan kernels with
// run-time dispatch. See fastscan.hpp for the API and fastscan_layout.hpp for the packed layout
// (packing and unpacking are in fastscan_pack.cpp).
//
// Quantization keeps sum_m max_j lut_q[m, j] <= 65535, so no uint16 sum ever wraps and all
// three kernels compute the same integers.
#include "dense/fastscan.hpp"
#include "dense/fastscan_layout.hpp"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "topk.hpp"

namespace winnow::dense {

namespace {

using namespace fastscan_layout;

// ---------------------------------------------------------------------------------------
// Candidate collection: the kernels produce 32 uint16 sums per block and a bit mask of the
// lanes >= `cut`; only then (rarely) is the heap touched, out of line.
//
// Candidates above the cut go to a reservoir of 2 * cap entries (faiss's ReservoirTopN
// idea): appending is a few instructions, and when the reservoir is full it is cut back to
// the best cap with nth_element, which raises the cut. That is amortized O(1) per candidate
// instead of a heap push (matters for large k or rescore_k). The kept set is exactly the
// top cap by (sum desc, id asc), as with winnow::TopK.
struct Collector {
  struct Cand {
    uint32_t s;
    int64_t id;
  };
  static bool better(const Cand& a, const Cand& b) { return a.s > b.s || (a.s == b.s && a.id < b.id); }
  // as a function object: std::nth_element / std::sort inline it (a function pointer they
  // call indirectly per comparison)
  struct Better {
    bool operator()(const Cand& a, const Cand& b) const { return better(a, b); }
  };

  std::vector<Cand> buf;
  int64_t cap;
  int64_t n;
  const int64_t* id_map;  // candidate ids are id_map[pos] when not null (no rescoring)
  bool strict;            // ids are increasing positions: a tie with the cut never enters
  uint32_t cut = 0;       // candidates need (sum + offset) >= cut
  bool done = false;      // nothing of the current list can enter any more
  // Several lists scanned into one collector (IVF): the current list's integer score offset
  // (its coarse term in LUT units) and its tag; candidate ids are then tag << 32 | position.
  uint32_t offset = 0;
  int64_t list_tag = -1;
  // Position of the first vector of the code range being scanned (chunked exhaustive scans).
  int64_t pos_offset = 0;

  Collector(int64_t cap_, int64_t n_, const int64_t* map) : cap(cap_), n(n_), id_map(map), strict(map == nullptr) {
    buf.reserve(static_cast<size_t>(2 * cap));
  }

  /// The cut on the kernel's raw uint16 sums for the current list.
  uint32_t kernel_cut() const { return cut > offset ? cut - offset : 0; }

  void start_list(int64_t tag, int64_t size, uint32_t list_offset) {
    list_tag = tag;
    n = size;
    offset = list_offset;
    done = kernel_cut() > 65535;
  }

  void shrink() {
    std::nth_element(buf.begin(), buf.begin() + (cap - 1), buf.end(), Better());
    const uint32_t t = buf[static_cast<size_t>(cap - 1)].s;  // the cap-th best
    buf.resize(static_cast<size_t>(cap));
    cut = std::max(cut, strict ? t + 1 : t);
    if (kernel_cut() > 65535) done = true;
  }

  __attribute__((noinline)) void handle(int64_t base, const uint16_t* sums, uint32_t mask) {
    while (mask) {
      const int r = __builtin_ctz(mask);
      mask &= mask - 1;
      const int64_t pos = pos_offset + base + r;
      if (pos >= n) break;  // padding vectors sit at the end of the last block
      const uint32_t s = sums[r] + offset;
      if (s < cut) continue;  // the cut rose inside this block
      buf.push_back({s, list_tag >= 0 ? (list_tag << 32 | pos) : (id_map ? id_map[pos] : pos)});
      if (static_cast<int64_t>(buf.size()) >= 2 * cap) {
        shrink();
        if (done) return;
      }
    }
  }

  /// The best min(cap, found) candidates, best first.
  const std::vector<Cand>& finish() {
    if (static_cast<int64_t>(buf.size()) > cap) shrink();
    std::sort(buf.begin(), buf.end(), Better());
    return buf;
  }
};

// ---------------------------------------------------------------------------------------
// Scalar kernel (also the reference for the SIMD ones).
void scan_scalar(const uint8_t* packed, int64_t nblocks, int64_t M, const uint8_t* table, Collector& c) {
  const int64_t npairs = even_m(M) / 2;
  const int64_t bb = block_bytes(M);
  uint32_t acc[32];
  uint16_t sums[32];
  for (int64_t b = 0; b < nblocks && !c.done; ++b) {
    const uint8_t* codes = packed + b * bb;
    std::memset(acc, 0, sizeof(acc));
    for (int64_t p = 0; p < npairs; ++p) {
      for (int lane = 0; lane < 2; ++lane) {
        const uint8_t* g = codes + p * 32 + lane * 16;
        const uint8_t* lut = table + (2 * p + lane) * 16;
        for (int j = 0; j < 16; ++j) {
          const int lo = (j >> 1) + 8 * (j & 1);
          acc[lo] += lut[g[j] & 15];
          acc[16 + lo] += lut[g[j] >> 4];
        }
      }
    }
    uint32_t mask = 0;
    for (int r = 0; r < 32; ++r) {
      sums[r] = static_cast<uint16_t>(acc[r]);
      if (acc[r] >= c.kernel_cut()) mask |= 1u << r;
    }
    if (mask) c.handle(b * kBlock, sums, mask);
  }
}

// ---------------------------------------------------------------------------------------
// SIMD kernels. Both scan two blocks per iteration sharing the LUT registers; the number
// of steps per block is a template parameter for common M (fully unrolled, LUT preloaded
// into registers) with a run-time fallback (S = 0). Blocks are filtered against the cut
// with a SIMD compare; Collector::handle only sees blocks with a candidate.

// AVX2: one 32-byte group (sub-quantizer pair) per step.
struct Acc2 {
  __m256i a0, a1, a2, a3;
};

// Empty asm "touch" of the accumulators after each step: without it GCC re-associates the
// fully unrolled add chains into trees, keeping every shuffle result alive and spilling
// (measured ~2x slower).
template <typename Acc>
__attribute__((always_inline)) inline void keep_chain(Acc& a) {
  __asm__("" : "+v"(a.a0), "+v"(a.a1), "+v"(a.a2), "+v"(a.a3));
}

__attribute__((target("avx2"), always_inline)) inline void zero2(Acc2& a) {
  a.a0 = a.a1 = a.a2 = a.a3 = _mm256_setzero_si256();
}

__attribute__((target("avx2"), always_inline)) inline void step2(Acc2& a, const uint8_t* g_ptr, __m256i lut,
                                                                   __m256i low4) {
  const __m256i g = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g_ptr));
  const __m256i r0 = _mm256_shuffle_epi8(lut, _mm256_and_si256(g, low4));
  const __m256i r1 = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(g, 4), low4));
  a.a0 = _mm256_add_epi16(a.a0, r0);
  a.a1 = _mm256_add_epi16(a.a1, _mm256_srli_epi16(r0, 8));
  a.a2 = _mm256_add_epi16(a.a2, r1);
  a.a3 = _mm256_add_epi16(a.a3, _mm256_srli_epi16(r1, 8));
  keep_chain(a);
}

// Block sums: lo = vectors 0..15, hi = vectors 16..31; returns the mask of sums >= cut.
__attribute__((target("avx2"), always_inline)) inline uint32_t finish2(const Acc2& a, __m256i cut, __m256i& lo,
                                                                        __m256i& hi) {
  const __m256i e0 = _mm256_sub_epi16(a.a0, _mm256_slli_epi16(a.a1, 8));
  const __m256i e2 = _mm256_sub_epi16(a.a2, _mm256_slli_epi16(a.a3, 8));
  lo = _mm256_add_epi16(_mm256_permute2x128_si256(e0, a.a1, 0x20), _mm256_permute2x128_si256(e0, a.a1, 0x31));
  hi = _mm256_add_epi16(_mm256_permute2x128_si256(e2, a.a3, 0x20), _mm256_permute2x128_si256(e2, a.a3, 0x31));
  const __m256i m01 = _mm256_cmpeq_epi16(_mm256_max_epu16(lo, cut), lo);
  const __m256i m23 = _mm256_cmpeq_epi16(_mm256_max_epu16(hi, cut), hi);
  // packs interleaves lanes: [0..7, 16..23, 8..15, 24..31] -> reorder the 64-bit quarters
  const __m256i m = _mm256_permute4x64_epi64(_mm256_packs_epi16(m01, m23), 0xd8);
  return static_cast<uint32_t>(_mm256_movemask_epi8(m));
}

__attribute__((target("avx2"), always_inline)) inline __m256i lut2(const uint8_t* table, int64_t s) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(table + 32 * s));
}

template <int S>
__attribute__((target("avx2"))) void scan_avx2(const uint8_t* packed, int64_t nblocks, int64_t npairs,
                                                const uint8_t* table, Collector& c) {
  const int64_t steps = S > 0 ? S : npairs;
  const int64_t bb = 32 * steps;
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  // (LUTs are re-read from L1 each step: 16 ymm registers leave no room to keep them.)
  alignas(32) uint16_t sums[32];
  __m256i cut = _mm256_set1_epi16(static_cast<int16_t>(static_cast<uint16_t>(c.kernel_cut())));
  int64_t b = 0;
  for (; b + 2 <= nblocks; b += 2) {
    const uint8_t* g0 = packed + b * bb;
    const uint8_t* g1 = g0 + bb;
    Acc2 x, y;
    zero2(x);
    zero2(y);
    // The next two blocks are 64 * steps bytes: one cache line per step. IVF lists are short
    // and scattered (L3 or DRAM), where the hardware prefetcher alone leaves the loads stalling.
    const uint8_t* ahead = g0 + 2 * bb;
    for (int64_t s = 0; s < steps; ++s) {
      _mm_prefetch(reinterpret_cast<const char*>(ahead + 64 * s), _MM_HINT_T0);
      const __m256i lut = lut2(table, s);
      step2(x, g0 + 32 * s, lut, low4);
      step2(y, g1 + 32 * s, lut, low4);
    }
    __m256i xl, xh, yl, yh;
    const uint32_t mx = finish2(x, cut, xl, xh);
    const uint32_t my = finish2(y, cut, yl, yh);
    if (__builtin_expect((mx | my) != 0, 0)) {
      if (mx) {
        _mm256_store_si256(reinterpret_cast<__m256i*>(sums), xl);
        _mm256_store_si256(reinterpret_cast<__m256i*>(sums + 16), xh);
        c.handle(b * kBlock, sums, mx);
      }
      if (my && !c.done) {
        _mm256_store_si256(reinterpret_cast<__m256i*>(sums), yl);
        _mm256_store_si256(reinterpret_cast<__m256i*>(sums + 16), yh);
        c.handle((b + 1) * kBlock, sums, my);
      }
      if (c.done) return;
      cut = _mm256_set1_epi16(static_cast<int16_t>(static_cast<uint16_t>(c.kernel_cut())));
    }
  }
  if (b < nblocks) {
    const uint8_t* g0 = packed + b * bb;
    Acc2 x;
    zero2(x);
    for (int64_t s = 0; s < steps; ++s) step2(x, g0 + 32 * s, lut2(table, s), low4);
    __m256i xl, xh;
    const uint32_t mx = finish2(x, cut, xl, xh);
    if (mx) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(sums), xl);
      _mm256_store_si256(reinterpret_cast<__m256i*>(sums + 16), xh);
      c.handle(b * kBlock, sums, mx);
    }
  }
}

// AVX-512BW: two consecutive groups (4 sub-quantizers, 64 bytes) per step. An odd number of
// groups is padded by the caller's table (zero LUT rows) and a zero-masked 32-byte load.
// LUT registers kept across blocks up to this many steps (8 LUTs + 8 accumulators + temps
// fit the 32 zmm registers; more spills).
constexpr int kPreload = 8;

struct Acc5 {
  __m512i a0, a1, a2, a3;
};

__attribute__((target("avx512f,avx512bw"), always_inline)) inline void zero5(Acc5& a) {
  a.a0 = a.a1 = a.a2 = a.a3 = _mm512_setzero_si512();
}

__attribute__((target("avx512f,avx512bw"), always_inline)) inline void step5(Acc5& a, __m512i g, __m512i lut,
                                                                              __m512i low4) {
  const __m512i r0 = _mm512_shuffle_epi8(lut, _mm512_and_si512(g, low4));
  const __m512i r1 = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(g, 4), low4));
  a.a0 = _mm512_add_epi16(a.a0, r0);
  a.a1 = _mm512_add_epi16(a.a1, _mm512_srli_epi16(r0, 8));
  a.a2 = _mm512_add_epi16(a.a2, r1);
  a.a3 = _mm512_add_epi16(a.a3, _mm512_srli_epi16(r1, 8));
  keep_chain(a);
}

// 4x4 transpose of 128-bit lanes with sums: lane i of the result = sum over lanes of a_i,
// i.e. the 32 block sums in vector order. (maskz_ forms of the lane shuffle: the plain
// ones trip a GCC 12 -Wmaybe-uninitialized false positive.)
__attribute__((target("avx512f,avx512bw"), always_inline)) inline __m512i finish5(const Acc5& a) {
  const __m512i e0 = _mm512_sub_epi16(a.a0, _mm512_slli_epi16(a.a1, 8));
  const __m512i e2 = _mm512_sub_epi16(a.a2, _mm512_slli_epi16(a.a3, 8));
  const __m512i s01 = _mm512_add_epi16(_mm512_maskz_shuffle_i64x2(0xff, e0, a.a1, 0x88),
                                       _mm512_maskz_shuffle_i64x2(0xff, e0, a.a1, 0xdd));
  const __m512i s23 = _mm512_add_epi16(_mm512_maskz_shuffle_i64x2(0xff, e2, a.a3, 0x88),
                                       _mm512_maskz_shuffle_i64x2(0xff, e2, a.a3, 0xdd));
  return _mm512_add_epi16(_mm512_maskz_shuffle_i64x2(0xff, s01, s23, 0x88),
                          _mm512_maskz_shuffle_i64x2(0xff, s01, s23, 0xdd));
}

template <int S>
__attribute__((target("avx512f,avx512bw"), always_inline)) inline __m512i lut5(const __m512i* luts,
                                                                                const uint8_t* table, int64_t s) {
  if constexpr (S > 0 && S <= kPreload) return luts[s];
  return _mm512_loadu_si512(table + 64 * s);
}

template <int S>
__attribute__((target("avx512f,avx512bw"), always_inline)) inline __m512i codes5(const uint8_t* g, int64_t s,
                                                                                  int64_t steps, __mmask64 tail_mask) {
  if constexpr (S > 0) return _mm512_loadu_si512(g + 64 * s);
  return _mm512_maskz_loadu_epi8(s == steps - 1 ? tail_mask : ~0ULL, g + 64 * s);
}

// S = 64-byte steps per block when the number of groups is even (0: run-time, any parity).
template <int S>
__attribute__((target("avx512f,avx512bw"))) void scan_avx512(const uint8_t* packed, int64_t nblocks, int64_t npairs,
                                                              const uint8_t* table, Collector& c) {
  const int64_t steps = S > 0 ? S : (npairs + 1) / 2;
  const bool tail = S > 0 ? false : (npairs & 1) != 0;  // last step reads only 32 code bytes
  const int64_t bb = 32 * npairs;
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __mmask64 tail_mask = tail ? 0xffffffffULL : ~0ULL;
  // table is padded to 64 * steps bytes (zero rows), so full LUT loads are always valid
  __m512i luts[S > 0 && S <= kPreload ? S : 1];
  if (S > 0 && S <= kPreload)
    for (int s = 0; s < S; ++s) luts[s] = _mm512_loadu_si512(table + 64 * s);
  alignas(64) uint16_t sums[32];
  __m512i cut = _mm512_set1_epi16(static_cast<int16_t>(static_cast<uint16_t>(c.kernel_cut())));
  int64_t b = 0;
  for (; b + 2 <= nblocks; b += 2) {
    const uint8_t* g0 = packed + b * bb;
    const uint8_t* g1 = g0 + bb;
    Acc5 x, y;
    zero5(x);
    zero5(y);
    for (int64_t s = 0; s < steps; ++s) {
      const __m512i lut = lut5<S>(luts, table, s);
      step5(x, codes5<S>(g0, s, steps, tail_mask), lut, low4);
      step5(y, codes5<S>(g1, s, steps, tail_mask), lut, low4);
    }
    const __m512i sx = finish5(x), sy = finish5(y);
    const __mmask32 mx = _mm512_cmpge_epu16_mask(sx, cut);
    const __mmask32 my = _mm512_cmpge_epu16_mask(sy, cut);
    if (__builtin_expect((mx | my) != 0, 0)) {
      if (mx) {
        _mm512_store_si512(sums, sx);
        c.handle(b * kBlock, sums, mx);
      }
      if (my && !c.done) {
        _mm512_store_si512(sums, sy);
        c.handle((b + 1) * kBlock, sums, my);
      }
      if (c.done) return;
      cut = _mm512_set1_epi16(static_cast<int16_t>(static_cast<uint16_t>(c.kernel_cut())));
    }
  }
  if (b < nblocks) {
    const uint8_t* g0 = packed + b * bb;
    Acc5 x;
    zero5(x);
    for (int64_t s = 0; s < steps; ++s) step5(x, codes5<S>(g0, s, steps, tail_mask), lut5<S>(luts, table, s), low4);
    const __m512i sx = finish5(x);
    const __mmask32 mx = _mm512_cmpge_epu16_mask(sx, cut);
    if (mx) {
      _mm512_store_si512(sums, sx);
      c.handle(b * kBlock, sums, mx);
    }
  }
}
// ---------------------------------------------------------------------------------------
// Dispatch.
enum Kernel { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };
const char* const kKernelNames[] = {"scalar", "avx2", "avx512"};

bool cpu_has(int kernel) {
  if (kernel == kScalar) return true;
  __builtin_cpu_init();
  if (kernel == kAvx2) return __builtin_cpu_supports("avx2");
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
}

int auto_kernel() {
  static const int best = cpu_has(kAvx512) ? kAvx512 : cpu_has(kAvx2) ? kAvx2 : kScalar;
  return best;
}

std::atomic<int> g_forced{-1};

int current_kernel() {
  const int f = g_forced.load(std::memory_order_relaxed);
  return f >= 0 ? f : auto_kernel();
}

}  // namespace

// ---------------------------------------------------------------------------------------

// lut_q[m, j] = clamp(nearbyint((lut[m, j] - mins[m]) / delta), 0, 255) for 16 entries of one
// sub-quantizer, in double as the scalar loop: the AVX2 form performs the same IEEE
// operations (exact float->double conversion, subtraction, division, round-to-nearest-even),
// four at a time, so the tables are identical.
__attribute__((target("avx2"))) static void quantize_row_avx2(const float* lut, double lo, double delta,
                                                              uint8_t* out) {
  const __m256d vlo = _mm256_set1_pd(lo), vdelta = _mm256_set1_pd(delta);
  const __m256d zero = _mm256_setzero_pd(), top = _mm256_set1_pd(255.0);
  alignas(16) int32_t q[16];
  for (int i = 0; i < 4; ++i) {
    const __m256d v = _mm256_div_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(lut + 4 * i)), vlo), vdelta);
    const __m256d r = _mm256_round_pd(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_store_si128(reinterpret_cast<__m128i*>(q + 4 * i), _mm256_cvtpd_epi32(_mm256_min_pd(top, _mm256_max_pd(zero, r))));
  }
  for (int j = 0; j < 16; ++j) out[j] = static_cast<uint8_t>(q[j]);
}

// Min and max of the 16 entries of one sub-quantizer's LUT row; false when one is not finite
// (the values are then unused). Ties between -0 and +0 may resolve either way, which changes
// no table entry, bias or scale.
static bool row_range(const float* row, float& lo, float& hi) {
  lo = hi = row[0];
  bool finite = true;
  for (int j = 0; j < 16; ++j) {
    finite &= std::isfinite(row[j]);
    lo = std::min(lo, row[j]);
    hi = std::max(hi, row[j]);
  }
  return finite;
}

__attribute__((target("avx2"))) static bool row_range_avx2(const float* row, float& lo, float& hi) {
  const __m256 a = _mm256_loadu_ps(row), b = _mm256_loadu_ps(row + 8);
  // x - x is 0 for finite x and NaN for NaN / inf
  const __m256 fa = _mm256_cmp_ps(_mm256_sub_ps(a, a), _mm256_setzero_ps(), _CMP_EQ_OQ);
  const __m256 fb = _mm256_cmp_ps(_mm256_sub_ps(b, b), _mm256_setzero_ps(), _CMP_EQ_OQ);
  const bool finite = _mm256_movemask_ps(_mm256_and_ps(fa, fb)) == 0xff;
  __m256 mn = _mm256_min_ps(a, b), mx = _mm256_max_ps(a, b);
  __m128 mn4 = _mm_min_ps(_mm256_castps256_ps128(mn), _mm256_extractf128_ps(mn, 1));
  __m128 mx4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
  mn4 = _mm_min_ps(mn4, _mm_movehl_ps(mn4, mn4));
  mx4 = _mm_max_ps(mx4, _mm_movehl_ps(mx4, mx4));
  mn4 = _mm_min_ss(mn4, _mm_shuffle_ps(mn4, mn4, 1));
  mx4 = _mm_max_ss(mx4, _mm_shuffle_ps(mx4, mx4, 1));
  lo = _mm_cvtss_f32(mn4);
  hi = _mm_cvtss_f32(mx4);
  return finite;
}

QuantizedLut fastscan_quantize_lut(const float* lut, int64_t M) {
  check_shape(0, M);
  if (M > 16384) throw std::invalid_argument("fastscan: M must be <= 16384, got " + std::to_string(M));
  const int64_t M2 = even_m(M);
  static const bool has_avx2 = cpu_has(kAvx2);
  std::vector<double> mins(static_cast<size_t>(M));
  double max_range = 0.0, sum_range = 0.0, bias = 0.0;
  for (int64_t m = 0; m < M; ++m) {
    // min / max in float equal those of the exactly converted doubles
    const float* row = lut + m * 16;
    float lo, hi;
    const bool finite = has_avx2 ? row_range_avx2(row, lo, hi) : row_range(row, lo, hi);
    if (!finite) {
      for (int j = 0; j < 16; ++j)
        if (!std::isfinite(row[j]))
          throw std::invalid_argument("fastscan: LUT entry [" + std::to_string(m) + ", " + std::to_string(j) +
                                      "] is not finite");
    }
    const double dlo = lo, dhi = hi;
    mins[m] = dlo;
    bias += dlo;
    max_range = std::max(max_range, dhi - dlo);
    sum_range += dhi - dlo;
  }
  // round() adds at most 0.5 per sub-quantizer, so budget 65535 - M2 for the ranges.
  double delta = std::max(max_range / 255.0, sum_range / static_cast<double>(65535 - M2));
  if (!(delta > 0.0)) delta = 1.0;
  QuantizedLut q;
  // (M2, 16) plus zero rows up to a multiple of 64 bytes for the AVX-512 kernel's full loads
  q.table.assign(static_cast<size_t>((M2 * 16 + 63) / 64 * 64), 0);
  if (has_avx2) {
    for (int64_t m = 0; m < M; ++m) quantize_row_avx2(lut + m * 16, mins[m], delta, q.table.data() + m * 16);
  } else {
    for (int64_t m = 0; m < M; ++m)
      for (int j = 0; j < 16; ++j) {
        const double v = std::nearbyint((lut[m * 16 + j] - mins[m]) / delta);
        q.table[m * 16 + j] = static_cast<uint8_t>(std::min(255.0, std::max(0.0, v)));
      }
  }
  q.scale = static_cast<float>(delta);
  q.bias = static_cast<float>(bias);
  return q;
}

float fastscan_exact_score(const uint8_t* packed, int64_t i, int64_t M, const float* lut) {
  const uint8_t* blk = packed + (i / kBlock) * block_bytes(M);
  const int r = static_cast<int>(i % kBlock);
  const int byte = byte_of(r), shift = shift_of(r);
  float s = 0.0f;
  for (int64_t m = 0; m < M; ++m) s += lut[m * 16 + ((blk[(m >> 1) * 32 + (m & 1) * 16 + byte] >> shift) & 15)];
  return s;
}

// Exact float-LUT scores of `count` packed vectors (vector rows[i] of the packed list at
// lists[i]), each summed sequentially over m exactly as fastscan_exact_score, so the scores
// are identical. Sub-quantizer m of a vector sits at byte 16 m + byte_of(r) of its block
// (nibble shift_of(r)), so a vector is one byte pointer plus a fixed stride. One vector alone
// is a chain of M dependent adds (latency-bound); groups of 8 vectors with the same nibble
// (a compile-time shift) give 8 independent chains and ~4 instructions per look-up.
template <int SHIFT>
static void exact_scores_group(const uint8_t* const* col, int count, int64_t M, const float* lut, float* out) {
  const uint8_t* p[8];
  for (int r = 0; r < 8; ++r) p[r] = col[r < count ? r : 0];
  const uint8_t *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3], *p4 = p[4], *p5 = p[5], *p6 = p[6], *p7 = p[7];
  float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
  auto code = [](unsigned b) { return SHIFT ? (b >> 4) : (b & 15u); };
  for (int64_t off = 0; off < 16 * M; off += 16, lut += 16) {
    a0 += lut[code(p0[off])];
    a1 += lut[code(p1[off])];
    a2 += lut[code(p2[off])];
    a3 += lut[code(p3[off])];
    a4 += lut[code(p4[off])];
    a5 += lut[code(p5[off])];
    a6 += lut[code(p6[off])];
    a7 += lut[code(p7[off])];
    // eight scalar chains: GCC would otherwise pack them into vectors with a shuffle per add
    __asm__("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7));
  }
  const float acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
  for (int r = 0; r < count; ++r) out[r] = acc[r];
}

// `lists` holds one packed-list pointer per candidate, or is null with every candidate in
// `packed`. Candidates are visited low nibbles first, then high, 8 at a time (no allocation
// beyond one index array: this runs once per query).
static void exact_scores(const uint8_t* packed, const uint8_t* const* lists, const int64_t* rows, int64_t count,
                         int64_t M, const float* lut, float* out) {
  const int64_t bb = block_bytes(M);
  std::vector<int64_t> order(static_cast<size_t>(count));
  int64_t n_lo = 0, n_hi = count;
  for (int64_t i = 0; i < count; ++i) {
    if (shift_of(static_cast<int>(rows[i] % kBlock))) order[static_cast<size_t>(--n_hi)] = i;
    else order[static_cast<size_t>(n_lo++)] = i;
  }
  auto column = [&](int64_t i) {
    const int r = static_cast<int>(rows[i] % kBlock);
    return (lists ? lists[i] : packed) + (rows[i] / kBlock) * bb + byte_of(r);
  };
  const uint8_t* col[8];
  float tmp[8];
  for (int h = 0; h < 2; ++h) {
    const int64_t a = h ? n_lo : 0, b = h ? count : n_lo;
    for (int64_t g = a; g < b; g += 8) {
      const int cnt = static_cast<int>(std::min<int64_t>(8, b - g));
      for (int r = 0; r < cnt; ++r) col[r] = column(order[static_cast<size_t>(g + r)]);
      if (h) exact_scores_group<4>(col, cnt, M, lut, tmp);
      else exact_scores_group<0>(col, cnt, M, lut, tmp);
      for (int r = 0; r < cnt; ++r) out[order[static_cast<size_t>(g + r)]] = tmp[r];
    }
  }
}

// Prefetch the first two blocks of a packed list (the scan kernels prefetch two blocks ahead
// from there on); a hint only, never faults.
static void prefetch_head(const uint8_t* packed, int64_t n, int64_t M) {
  const int64_t bytes = std::min<int64_t>(2, (n + kBlock - 1) / kBlock) * block_bytes(M);
  for (int64_t off = 0; off < bytes; off += 64) _mm_prefetch(reinterpret_cast<const char*>(packed + off), _MM_HINT_T0);
}

// Run the best kernel over n packed vectors into collector c.
static void scan_dispatch(const uint8_t* packed, int64_t n, int64_t M, const QuantizedLut& q, Collector& c) {
  if (c.done || n == 0) return;
  const int64_t nblocks = (n + kBlock - 1) / kBlock;
  const int64_t npairs = even_m(M) / 2;
  switch (current_kernel()) {
    case kAvx512:
      switch (npairs) {  // common M: 8, 16, 32, 48, 64, 96, 128
        case 4: scan_avx512<2>(packed, nblocks, npairs, q.table.data(), c); break;
        case 8: scan_avx512<4>(packed, nblocks, npairs, q.table.data(), c); break;
        case 16: scan_avx512<8>(packed, nblocks, npairs, q.table.data(), c); break;
        case 24: scan_avx512<12>(packed, nblocks, npairs, q.table.data(), c); break;
        case 32: scan_avx512<16>(packed, nblocks, npairs, q.table.data(), c); break;
        case 48: scan_avx512<24>(packed, nblocks, npairs, q.table.data(), c); break;
        case 64: scan_avx512<32>(packed, nblocks, npairs, q.table.data(), c); break;
        default: scan_avx512<0>(packed, nblocks, npairs, q.table.data(), c);
      }
      break;
    case kAvx2:
      switch (npairs) {
        case 4: scan_avx2<4>(packed, nblocks, npairs, q.table.data(), c); break;
        case 8: scan_avx2<8>(packed, nblocks, npairs, q.table.data(), c); break;
        case 12: scan_avx2<12>(packed, nblocks, npairs, q.table.data(), c); break;
        case 16: scan_avx2<16>(packed, nblocks, npairs, q.table.data(), c); break;
        case 24: scan_avx2<24>(packed, nblocks, npairs, q.table.data(), c); break;
        case 32: scan_avx2<32>(packed, nblocks, npairs, q.table.data(), c); break;
        case 48: scan_avx2<48>(packed, nblocks, npairs, q.table.data(), c); break;
        default: scan_avx2<0>(packed, nblocks, npairs, q.table.data(), c);
      }
      break;
    default:
      scan_scalar(packed, nblocks, M, q.table.data(), c);
  }
}

// Top-k of one query from its collector: approximate scores, or exact re-scoring of the
// candidates (positions) with the float LUT.
static void write_results(const uint8_t* packed, int64_t M, const float* lut, int64_t k, bool rescore,
                          const int64_t* id_map, const QuantizedLut& q, Collector& c, float* scores, int64_t* ids) {
  const auto& cand = c.finish();
  const auto found = static_cast<int64_t>(cand.size());
  if (!rescore) {
    for (int64_t i = 0; i < k; ++i) {
      if (i < found) {
        scores[i] = q.bias + q.scale * static_cast<float>(cand[i].s);
        ids[i] = cand[i].id;
      } else {
        scores[i] = -std::numeric_limits<float>::infinity();
        ids[i] = -1;
      }
    }
    return;
  }
  std::vector<int64_t> rows(static_cast<size_t>(found));
  std::vector<float> exact(static_cast<size_t>(found));
  for (int64_t i = 0; i < found; ++i) rows[i] = cand[i].id;
  exact_scores(packed, nullptr, rows.data(), found, M, lut, exact.data());
  TopK best(std::min(k, found));
  for (int64_t i = 0; i < found; ++i) best.push(exact[i], id_map ? id_map[rows[i]] : rows[i]);
  best.write_sorted(scores, ids);
  for (int64_t i = best.k(); i < k; ++i) {
    scores[i] = -std::numeric_limits<float>::infinity();
    ids[i] = -1;
  }
}

// Code bytes per chunk of a batched exhaustive scan: fits L2 next to the tables.
constexpr int64_t kChunkBytes = int64_t(256) << 10;

void fastscan_search_batch(const uint8_t* packed, int64_t n, int64_t M, const float* luts, int64_t nq, int64_t k,
                           int64_t rescore_k, const int64_t* id_map, float* scores, int64_t* ids) {
  check_shape(n, M);
  if (k < 0) throw std::invalid_argument("fastscan: k must be >= 0, got " + std::to_string(k));
  if (rescore_k < 0) throw std::invalid_argument("fastscan: rescore_k must be >= 0, got " + std::to_string(rescore_k));
  if (nq < 0) throw std::invalid_argument("fastscan: nq must be >= 0, got " + std::to_string(nq));
  if (k == 0 || nq == 0) return;
  const bool rescore = rescore_k > 0;
  const int64_t cap = std::min(rescore ? std::max(k, rescore_k) : k, std::max<int64_t>(n, 1));
  const int64_t lut_size = M * 16;
  std::vector<QuantizedLut> tables;
  std::vector<Collector> collectors;
  tables.reserve(static_cast<size_t>(nq));
  collectors.reserve(static_cast<size_t>(nq));
  for (int64_t i = 0; i < nq; ++i) {
    tables.push_back(fastscan_quantize_lut(luts + i * lut_size, M));
    // With rescoring the candidates are positions (needed to re-read codes), mapped at the end.
    collectors.emplace_back(cap, n, rescore ? nullptr : id_map);
  }
  // One query: a single pass. Several: every query scans a chunk while it is in cache, chunk
  // after chunk in order, so each collector sees exactly the blocks (and candidates) of a
  // whole-array scan in the same order: identical results, one pass over memory per batch.
  const int64_t bb = block_bytes(M);
  const int64_t nblocks = (n + kBlock - 1) / kBlock;
  const int64_t chunk_blocks = nq == 1 ? std::max<int64_t>(nblocks, 1)
                                       : std::max<int64_t>(2, kChunkBytes / bb / 2 * 2);
  for (int64_t b0 = 0; b0 < nblocks; b0 += chunk_blocks) {
    const int64_t first = b0 * kBlock;
    const int64_t count = std::min(chunk_blocks * kBlock, n - first);
    for (int64_t i = 0; i < nq; ++i) {
      Collector& c = collectors[static_cast<size_t>(i)];
      c.pos_offset = first;
      scan_dispatch(packed + b0 * bb, count, M, tables[static_cast<size_t>(i)], c);
    }
  }
  for (int64_t i = 0; i < nq; ++i) {
    Collector& c = collectors[static_cast<size_t>(i)];
    c.pos_offset = 0;
    write_results(packed, M, luts + i * lut_size, k, rescore, id_map, tables[static_cast<size_t>(i)], c,
                  scores + i * k, ids + i * k);
  }
}

void fastscan_search(const uint8_t* packed, int64_t n, int64_t M, const float* lut, int64_t k, int64_t rescore_k,
                     const int64_t* id_map, float* scores, int64_t* ids) {
  fastscan_search_batch(packed, n, M, lut, 1, k, rescore_k, id_map, scores, ids);
}

void fastscan_search_lists(int64_t nlists, const uint8_t* const* packed, const int64_t* sizes, const float* offsets,
                           int64_t M, const float* lut, int64_t k, int64_t rescore_k, float* scores,
                           int64_t* list_index, int64_t* positions) {
  if (k < 0 || rescore_k < 0) throw std::invalid_argument("fastscan: k and rescore_k must be >= 0");
  for (int64_t l = 0; l < nlists; ++l) check_shape(sizes[l], M);
  auto pad = [&](int64_t from) {
    for (int64_t i = from; i < k; ++i) {
      scores[i] = -std::numeric_limits<float>::infinity();
      list_index[i] = -1;
      positions[i] = -1;
    }
  };
  int64_t total = 0;
  for (int64_t l = 0; l < nlists; ++l) total += sizes[l];
  if (k == 0) return;
  if (total == 0) return pad(0);
  const QuantizedLut q = fastscan_quantize_lut(lut, M);
  // Per-list offsets in LUT units, relative to the smallest (sums stay non-negative).
  float base = 0.0f;
  std::vector<uint32_t> units(static_cast<size_t>(nlists), 0);
  if (offsets != nullptr) {
    base = *std::min_element(offsets, offsets + nlists);
    for (int64_t l = 0; l < nlists; ++l)
      units[l] = static_cast<uint32_t>(std::min(1e9, std::nearbyint(static_cast<double>(offsets[l] - base) / q.scale)));
  }
  const bool rescore = rescore_k > 0;
  const int64_t cap = std::min(rescore ? std::max(k, rescore_k) : k, total);
  Collector c(cap, 0, nullptr);
  c.strict = false;  // positions restart per list: ties with the cut may still enter
  for (int64_t l = 0; l < nlists; ++l) {
    if (l + 1 < nlists) prefetch_head(packed[l + 1], sizes[l + 1], M);
    c.start_list(l, sizes[l], units[l]);
    scan_dispatch(packed[l], sizes[l], M, q, c);
  }
  const auto& cand = c.finish();
  const auto found = static_cast<int64_t>(cand.size());
  auto list_of = [](int64_t id) { return id >> 32; };
  auto pos_of = [](int64_t id) { return id & 0xffffffffLL; };
  if (!rescore) {
    const int64_t n_out = std::min(k, found);
    for (int64_t i = 0; i < n_out; ++i) {
      scores[i] = q.bias + base + q.scale * static_cast<float>(cand[i].s);
      list_index[i] = list_of(cand[i].id);
      positions[i] = pos_of(cand[i].id);
    }
    return pad(n_out);
  }
  // Exact re-scoring with the float LUT plus the list's exact offset; candidate ids are
  // tag << 32 | position, which orders like (list, position) for ties.
  std::vector<const uint8_t*> lists(static_cast<size_t>(found));
  std::vector<int64_t> rows(static_cast<size_t>(found));
  std::vector<float> exact(static_cast<size_t>(found));
  for (int64_t i = 0; i < found; ++i) {
    lists[i] = packed[list_of(cand[i].id)];
    rows[i] = pos_of(cand[i].id);
  }
  exact_scores(nullptr, lists.data(), rows.data(), found, M, lut, exact.data());
  TopK best(std::min(k, found));
  for (int64_t i = 0; i < found; ++i) {
    const int64_t l = list_of(cand[i].id);
    best.push(exact[i] + (offsets ? offsets[l] : 0.0f), cand[i].id);
  }
  std::vector<int64_t> ids(static_cast<size_t>(best.k()));
  best.write_sorted(scores, ids.data());
  for (int64_t i = 0; i < static_cast<int64_t>(ids.size()); ++i) {
    list_index[i] = list_of(ids[i]);
    positions[i] = pos_of(ids[i]);
  }
  pad(static_cast<int64_t>(ids.size()));
}

const char* fastscan_kernel() { return kKernelNames[current_kernel()]; }

void fastscan_force_kernel(const char* name) {
  const std::string s = name ? name : "";
  if (s.empty()) {
    g_forced.store(-1);
    return;
  }
  for (int kk = 0; kk < 3; ++kk) {
    if (s == kKernelNames[kk]) {
      if (!cpu_has(kk)) throw std::invalid_argument("fastscan: kernel '" + s + "' is not supported by this CPU");
      g_forced.store(kk);
      return;
    }
  }
  throw std::invalid_argument("fastscan: unknown kernel '" + s + "' (expected 'avx512', 'avx2', 'scalar' or '')");
}

}  // namespace winnow::dense
