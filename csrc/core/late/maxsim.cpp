// Weighted MaxSim (see maxsim.hpp). Candidates are processed in blocks of kDocBlock
// documents; each block owns its scratch buffers (converted token rows, the (nq, L) score
// tile, PQ accumulators), so threads share nothing but read-only inputs.
#include "late/maxsim.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "common.hpp"
#include "dense/distances.hpp"
#include "thread_pool.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define WINNOW_HAVE_F16C_DISPATCH 1
#endif

namespace winnow::late {
namespace {

constexpr int64_t kDocBlock = 16;  // candidates per work item

std::string str(int64_t v) { return std::to_string(v); }

// Bounds of every candidate, checked on the calling thread before any work starts.
void check_candidates(int64_t nq, int64_t dim, int64_t T, const int64_t* offsets, int64_t ndocs,
                      const int64_t* doc_ids, int64_t n) {
  check_arg(nq >= 0, "nq must be >= 0, got " + str(nq));
  check_arg(dim > 0, "dim must be > 0, got " + str(dim));
  check_arg(T >= 0 && ndocs >= 0 && n >= 0, "negative size");
  for (int64_t c = 0; c < n; ++c) {
    const int64_t t = doc_ids[c];
    if (t < 0 || t >= ndocs)
      throw std::out_of_range("doc_ids[" + str(c) + "] = " + str(t) + " is out of range for " + str(ndocs) +
                              " documents");
    const int64_t a = offsets[t], b = offsets[t + 1];
    if (a < 0 || b < a || b > T)
      throw std::invalid_argument("offsets of document " + str(t) + " are [" + str(a) + ", " + str(b) +
                                  "), expected 0 <= start <= end <= " + str(T) + " token rows");
  }
}

// score = sum_i w_i * best_i (fixed order, double accumulator).
float weighted_sum(const float* best, const float* w, int64_t nq) {
  double s = 0;
  for (int64_t i = 0; i < nq; ++i) s += static_cast<double>(w ? w[i] : 1.0f) * static_cast<double>(best[i]);
  return static_cast<float>(s);
}

// Row maxima of the (nq, L) tile, weighted and summed.
float reduce_tile(const float* tile, int64_t nq, int64_t L, const float* w, float* best) {
  for (int64_t i = 0; i < nq; ++i) {
    const float* row = tile + i * L;
    float m = row[0];
    for (int64_t j = 1; j < L; ++j) m = row[j] > m ? row[j] : m;
    best[i] = m;
  }
  return weighted_sum(best, w, nq);
}

std::vector<float> make_half_table() {
  std::vector<float> t(65536);
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
      if (man == 0) {
        bits = sign;
      } else {  // subnormal: normalise
        int e = -1;
        uint32_t m = man;
        do {
          ++e;
          m <<= 1;
        } while ((m & 0x400u) == 0);
        bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((m & 0x3ffu) << 13);
      }
    } else if (exp == 31) {
      bits = sign | 0x7f800000u | (man << 13);
    } else {
      bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    std::memcpy(&f, &bits, sizeof f);
    t[h] = f;
  }
  return t;
}

const float* half_table() {
  static const std::vector<float> table = make_half_table();
  return table.data();
}

#ifdef WINNOW_HAVE_F16C_DISPATCH
__attribute__((target("avx,f16c"))) void halves_to_floats_f16c(const uint16_t* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
  const float* t = half_table();
  for (; i < n; ++i) dst[i] = t[src[i]];
}

bool cpu_has_f16c() {
  static const bool has = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
  return has;
}
#endif

void halves_to_floats(const uint16_t* src, int64_t n, float* dst) {
#ifdef WINNOW_HAVE_F16C_DISPATCH
  if (cpu_has_f16c()) {
    halves_to_floats_f16c(src, n, dst);
    return;
  }
#endif
  const float* t = half_table();
  for (int64_t i = 0; i < n; ++i) dst[i] = t[src[i]];
}

// Shared driver of the float16 and float32 paths: `rows(a, L, buf)` returns a pointer to the
// L float32 token rows starting at row a (converting into buf when needed).
template <typename RowsFn>
void maxsim_dense(const float* q, const float* w, int64_t nq, int64_t dim, const int64_t* offsets,
                  const int64_t* doc_ids, int64_t n, float* out, int threads, RowsFn rows) {
  const int64_t nblocks = (n + kDocBlock - 1) / kDocBlock;
  parallel_for(nblocks, threads, [&](int64_t blk) {
    std::vector<float> buf, tile, best(static_cast<size_t>(nq));
    const int64_t c1 = std::min(n, (blk + 1) * kDocBlock);
    for (int64_t c = blk * kDocBlock; c < c1; ++c) {
      const int64_t t = doc_ids[c], a = offsets[t], L = offsets[t + 1] - a;
      if (L == 0 || nq == 0) {
        out[c] = 0.0f;
        continue;
      }
      const float* D = rows(a, L, buf);
      tile.resize(static_cast<size_t>(nq * L));
      dense::inner_products(q, nq, D, L, dim, tile.data());
      out[c] = reduce_tile(tile.data(), nq, L, w, best.data());
    }
  });
}

// Sum of luts over the M sub-quantizers in ProductQuantizer::adc's order: four partial sums
// (sub-quantizers m = 0, 1, 2, 3 mod 4 in the full groups of four, then the tail),
// combined as (s0 + s1) + (s2 + s3). Vectorised over the nq query vectors: lt is the
// transposed table (M, ksub, nq), acc holds 4 * nq partial sums.
template <int NBITS>
void pq_token_scores(const float* lt, int64_t nq, int64_t M, int64_t ksub, const uint8_t* code, float* acc,
                     float* s) {
  auto code_at = [code](int64_t m) -> int {
    return NBITS == 8 ? code[m] : ((code[m >> 1] >> ((m & 1) * 4)) & 0xf);
  };
  float* a0 = acc;
  float* a1 = acc + nq;
  float* a2 = acc + 2 * nq;
  float* a3 = acc + 3 * nq;
  std::fill(acc, acc + 4 * nq, 0.0f);
  const int64_t stride = ksub * nq;
  int64_t m = 0;
  for (; m + 4 <= M; m += 4) {
    const float* t0 = lt + m * stride + code_at(m) * nq;
    const float* t1 = lt + (m + 1) * stride + code_at(m + 1) * nq;
    const float* t2 = lt + (m + 2) * stride + code_at(m + 2) * nq;
    const float* t3 = lt + (m + 3) * stride + code_at(m + 3) * nq;
    for (int64_t i = 0; i < nq; ++i) {
      a0[i] += t0[i];
      a1[i] += t1[i];
      a2[i] += t2[i];
      a3[i] += t3[i];
    }
  }
  // Tail: 8-bit adc adds it all to s0; 4-bit adc adds a last whole byte to (s0, s1) and
  // the lone low nibble of an odd M to s2.
  for (; m < M; ++m) {
    float* dst = a0;
    if (NBITS == 4) dst = (M % 2 == 1 && m == M - 1) ? a2 : ((m & 1) ? a1 : a0);
    const float* t0 = lt + m * stride + code_at(m) * nq;
    for (int64_t i = 0; i < nq; ++i) dst[i] += t0[i];
  }
  for (int64_t i = 0; i < nq; ++i) s[i] = (a0[i] + a1[i]) + (a2[i] + a3[i]);
}

template <int NBITS>
void maxsim_pq_impl(const float* lt, const float* w, int64_t nq, int64_t M, const uint8_t* codes,
                    const int64_t* offsets, const int64_t* doc_ids, int64_t n, float* out, int threads) {
  const int64_t ksub = int64_t(1) << NBITS;
  const int64_t cs = NBITS == 8 ? M : (M + 1) / 2;
  const int64_t nblocks = (n + kDocBlock - 1) / kDocBlock;
  parallel_for(nblocks, threads, [&](int64_t blk) {
    std::vector<float> acc(static_cast<size_t>(4 * nq)), s(static_cast<size_t>(nq)), best(static_cast<size_t>(nq));
    const int64_t c1 = std::min(n, (blk + 1) * kDocBlock);
    for (int64_t c = blk * kDocBlock; c < c1; ++c) {
      const int64_t t = doc_ids[c], a = offsets[t], b = offsets[t + 1];
      if (a == b || nq == 0) {
        out[c] = 0.0f;
        continue;
      }
      std::fill(best.begin(), best.end(), -std::numeric_limits<float>::infinity());
      for (int64_t j = a; j < b; ++j) {
        pq_token_scores<NBITS>(lt, nq, M, ksub, codes + j * cs, acc.data(), s.data());
        for (int64_t i = 0; i < nq; ++i) best[i] = s[i] > best[i] ? s[i] : best[i];
      }
      out[c] = weighted_sum(best.data(), w, nq);
    }
  });
}

}  // namespace

float half_to_float(uint16_t h) { return half_table()[h]; }

void maxsim_f16(const float* q, const float* w, int64_t nq, int64_t dim, const uint16_t* tokens, int64_t T,
                const int64_t* offsets, int64_t ndocs, const int64_t* doc_ids, int64_t n, float* out,
                int threads) {
  check_candidates(nq, dim, T, offsets, ndocs, doc_ids, n);
  maxsim_dense(q, w, nq, dim, offsets, doc_ids, n, out, threads,
               [tokens, dim](int64_t a, int64_t L, std::vector<float>& buf) -> const float* {
                 buf.resize(static_cast<size_t>(L * dim));
                 halves_to_floats(tokens + a * dim, L * dim, buf.data());
                 return buf.data();
               });
}

void maxsim_f32(const float* q, const float* w, int64_t nq, int64_t dim, const float* tokens, int64_t T,
                const int64_t* offsets, int64_t ndocs, const int64_t* doc_ids, int64_t n, float* out,
                int threads) {
  check_candidates(nq, dim, T, offsets, ndocs, doc_ids, n);
  maxsim_dense(q, w, nq, dim, offsets, doc_ids, n, out, threads,
               [tokens, dim](int64_t a, int64_t, std::vector<float>&) -> const float* { return tokens + a * dim; });
}

void maxsim_pq(const float* luts, const float* w, int64_t nq, int64_t M, int nbits, const uint8_t* codes,
               int64_t T, const int64_t* offsets, int64_t ndocs, const int64_t* doc_ids, int64_t n, float* out,
               int threads) {
  check_arg(nbits == 8 || nbits == 4, "nbits must be 8 or 4, got " + str(nbits));
  check_arg(M > 0, "M must be > 0, got " + str(M));
  check_candidates(nq, 1, T, offsets, ndocs, doc_ids, n);
  const int64_t ksub = int64_t(1) << nbits;
  // Transpose luts (nq, M, ksub) -> (M, ksub, nq) so one code selects a contiguous row of nq.
  std::vector<float> lt(static_cast<size_t>(M * ksub * nq));
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t mk = 0; mk < M * ksub; ++mk) lt[static_cast<size_t>(mk * nq + i)] = luts[i * M * ksub + mk];
  if (nbits == 8)
    maxsim_pq_impl<8>(lt.data(), w, nq, M, codes, offsets, doc_ids, n, out, threads);
  else
    maxsim_pq_impl<4>(lt.data(), w, nq, M, codes, offsets, doc_ids, n, out, threads);
}

}  // namespace winnow::late
