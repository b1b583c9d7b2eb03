// Product quantization (Jegou, Douze & Schmid, "Product quantization for nearest neighbor
// search", TPAMI 2011): training, encoding, decoding, look-up tables and asymmetric distance
// computation (ADC). Layouts are documented in pq.hpp.
#include "dense/pq.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "common.hpp"
#include "dense/distances.hpp"
#include "dense/ip_kernels.hpp"
#include "thread_pool.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define WINNOW_PQ_X86 1
#endif

namespace winnow::dense {
namespace {

constexpr int64_t kEncodeBlock = 1024;  // rows per encoding task

// Score of one code row. 8-bit: four independent partial sums (table lookups have no data
// dependence on each other); 4-bit: even / odd sub-quantizers from the low / high nibbles.
inline float adc_row8(const float* lut, const uint8_t* c, int64_t M) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t m = 0;
  const float* t = lut;
  for (; m + 4 <= M; m += 4, t += 4 * 256) {
    s0 += t[c[m]];
    s1 += t[256 + c[m + 1]];
    s2 += t[512 + c[m + 2]];
    s3 += t[768 + c[m + 3]];
  }
  for (; m < M; ++m, t += 256) s0 += t[c[m]];
  return (s0 + s1) + (s2 + s3);
}

inline uint64_t load8(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Four rows at once (rows[r], each M codes), every row summed exactly as adc_row8 does (same
// four partial sums in the same order), so the scores are bit-identical. Interleaving the
// rows gives 16 independent add chains, and the codes are read 8 at a time (one load, then
// byte extracts) instead of one load per code: the LUT reads are the only memory traffic
// left per code (faiss's distance_four_codes idea).
inline void adc_rows8x4(const float* lut, const uint8_t* const* rows, int64_t M, float* out) {
  float s[4][4] = {};
  int64_t m = 0;
  const float* t = lut;
  for (; m + 8 <= M; m += 8, t += 8 * 256) {
    for (int r = 0; r < 4; ++r) {
      const uint64_t v = load8(rows[r] + m);
      s[r][0] += t[v & 0xff];
      s[r][1] += t[256 + ((v >> 8) & 0xff)];
      s[r][2] += t[512 + ((v >> 16) & 0xff)];
      s[r][3] += t[768 + ((v >> 24) & 0xff)];
      s[r][0] += t[1024 + ((v >> 32) & 0xff)];
      s[r][1] += t[1280 + ((v >> 40) & 0xff)];
      s[r][2] += t[1536 + ((v >> 48) & 0xff)];
      s[r][3] += t[1792 + (v >> 56)];
    }
  }
  for (; m + 4 <= M; m += 4, t += 4 * 256)
    for (int r = 0; r < 4; ++r) {
      const uint8_t* c = rows[r];
      s[r][0] += t[c[m]];
      s[r][1] += t[256 + c[m + 1]];
      s[r][2] += t[512 + c[m + 2]];
      s[r][3] += t[768 + c[m + 3]];
    }
  for (; m < M; ++m, t += 256)
    for (int r = 0; r < 4; ++r) s[r][0] += t[rows[r][m]];
  for (int r = 0; r < 4; ++r) out[r] = (s[r][0] + s[r][1]) + (s[r][2] + s[r][3]);
}

inline float adc_row4(const float* lut, const uint8_t* c, int64_t M) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const int64_t full = M / 2;  // bytes holding two sub-quantizers
  int64_t j = 0;
  const float* t = lut;
  for (; j + 2 <= full; j += 2, t += 64) {
    const uint8_t b0 = c[j], b1 = c[j + 1];
    s0 += t[b0 & 15];
    s1 += t[16 + (b0 >> 4)];
    s2 += t[32 + (b1 & 15)];
    s3 += t[48 + (b1 >> 4)];
  }
  for (; j < full; ++j, t += 32) {
    s0 += t[c[j] & 15];
    s1 += t[16 + (c[j] >> 4)];
  }
  if (M % 2) s2 += t[c[full] & 15];  // odd M: the last byte holds one sub-quantizer
  return (s0 + s1) + (s2 + s3);
}

// Inner-product table of one sub-space from transposed centroids ct (dsub, ksub): out[c] =
// sum_j qm[j] * ct[j, c], summed sequentially over j with FMA from 0. That is exactly the
// order of inner_products' small-d SIMD kernels (d < 32, ip_kernels.cpp), so the tables are
// bit-identical to computing them through inner_products, minus its per-call transposition.
constexpr int64_t kSmallDsub = 32;  // ip_kernels.cpp's kSmallD
#ifdef WINNOW_PQ_X86
template <int V>  // V vectors of 8 table entries
__attribute__((target("avx2,fma"), always_inline)) inline void lut_ip_chunk(const float* qm, const float* ct,
                                                                            int64_t dsub, int64_t ksub, float* out) {
  __m256 a[V];
  for (int v = 0; v < V; ++v) a[v] = _mm256_setzero_ps();
  for (int64_t j = 0; j < dsub; ++j) {
    const __m256 xv = _mm256_set1_ps(qm[j]);
    for (int v = 0; v < V; ++v) a[v] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(ct + j * ksub + 8 * v), a[v]);
  }
  for (int v = 0; v < V; ++v) _mm256_storeu_ps(out + 8 * v, a[v]);
}

__attribute__((target("avx2,fma"))) void lut_ip_fma(const float* qm, const float* ct, int64_t dsub, int64_t ksub,
                                                    float* out) {
  int64_t c = 0;
  for (; c + 32 <= ksub; c += 32) lut_ip_chunk<4>(qm, ct + c, dsub, ksub, out + c);
  for (; c + 8 <= ksub; c += 8) lut_ip_chunk<1>(qm, ct + c, dsub, ksub, out + c);
}
#endif

// L2 table from transposed centroids: out[c] = -sum_j (qm[j] - ct[j, c])^2, sequential over
// j without contraction (the build's -ffp-contract=off), as the row-wise scalar loop did.
void lut_l2(const float* qm, const float* ct, int64_t dsub, int64_t ksub, float* out) {
  float acc[256];
  std::fill(acc, acc + ksub, 0.0f);
  for (int64_t j = 0; j < dsub; ++j) {
    const float qj = qm[j];
    const float* row = ct + j * ksub;
    for (int64_t c = 0; c < ksub; ++c) {
      const float diff = qj - row[c];
      acc[c] += diff * diff;
    }
  }
  for (int64_t c = 0; c < ksub; ++c) out[c] = -acc[c];
}

}  // namespace

ProductQuantizer::ProductQuantizer(int64_t d, int64_t M, int nbits) : d_(d), M_(M), dsub_(0), ksub_(0), nbits_(nbits) {
  check_arg(d > 0, "PQ dimension d must be > 0, got " + std::to_string(d));
  check_arg(M > 0, "PQ M must be > 0, got " + std::to_string(M));
  check_arg(d % M == 0, "PQ dimension d=" + std::to_string(d) + " is not a multiple of M=" + std::to_string(M));
  check_arg(nbits == 4 || nbits == 8, "PQ nbits must be 4 or 8, got " + std::to_string(nbits));
  dsub_ = d / M;
  ksub_ = int64_t(1) << nbits;
  centroids_.assign(static_cast<size_t>(M_ * ksub_ * dsub_), 0.0f);
  centroids_t_ = centroids_;
}

void ProductQuantizer::set_centroids(const float* c) {
  std::copy(c, c + M_ * ksub_ * dsub_, centroids_.begin());
  transpose_centroids();
  trained_ = true;
}

void ProductQuantizer::transpose_centroids() {
  centroids_t_.resize(centroids_.size());
  for (int64_t m = 0; m < M_; ++m)
    for (int64_t c = 0; c < ksub_; ++c)
      for (int64_t j = 0; j < dsub_; ++j)
        centroids_t_[(m * dsub_ + j) * ksub_ + c] = centroids_[(m * ksub_ + c) * dsub_ + j];
}

void ProductQuantizer::train(const float* x, int64_t n, const KMeansOptions& options) {
  check_arg(n >= ksub_, "PQ training needs at least ksub=" + std::to_string(ksub_) + " vectors, got " +
                            std::to_string(n));
  std::vector<float> sub(static_cast<size_t>(n * dsub_));
  for (int64_t m = 0; m < M_; ++m) {
    for (int64_t i = 0; i < n; ++i)
      std::copy(x + i * d_ + m * dsub_, x + i * d_ + (m + 1) * dsub_, sub.data() + i * dsub_);
    KMeansOptions o = options;
    o.seed = options.seed + static_cast<uint64_t>(m);
    o.spherical = false;
    KMeansResult r = kmeans(sub.data(), n, dsub_, ksub_, o);
    std::copy(r.centroids.begin(), r.centroids.end(), centroids_.begin() + m * ksub_ * dsub_);
  }
  transpose_centroids();
  trained_ = true;
}

void ProductQuantizer::encode(const float* x, int64_t n, uint8_t* codes, int threads) const {
  const int64_t cs = code_size();
  parallel_for((n + kEncodeBlock - 1) / kEncodeBlock, threads, [&](int64_t blk) {
    const int64_t i0 = blk * kEncodeBlock, nr = std::min(kEncodeBlock, n - i0);
    std::vector<float> sub(static_cast<size_t>(nr * dsub_));
    std::vector<int64_t> assign(static_cast<size_t>(nr));
    std::fill(codes + i0 * cs, codes + (i0 + nr) * cs, uint8_t(0));
    for (int64_t m = 0; m < M_; ++m) {
      for (int64_t i = 0; i < nr; ++i)
        std::copy(x + (i0 + i) * d_ + m * dsub_, x + (i0 + i) * d_ + (m + 1) * dsub_, sub.data() + i * dsub_);
      assign_nearest(sub.data(), nr, centroids_.data() + m * ksub_ * dsub_, ksub_, dsub_, assign.data(), nullptr, 1);
      for (int64_t i = 0; i < nr; ++i) {
        uint8_t* row = codes + (i0 + i) * cs;
        const auto a = static_cast<uint8_t>(assign[i]);
        if (nbits_ == 8) row[m] = a;
        else row[m >> 1] |= static_cast<uint8_t>(a << ((m & 1) * 4));
      }
    }
  });
}

void ProductQuantizer::decode(const uint8_t* codes, int64_t n, float* x) const {
  const int64_t cs = code_size();
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* row = codes + i * cs;
    for (int64_t m = 0; m < M_; ++m) {
      const float* c = centroids_.data() + (m * ksub_ + code_at(row, m)) * dsub_;
      std::copy(c, c + dsub_, x + i * d_ + m * dsub_);
    }
  }
}

void ProductQuantizer::compute_lut(const float* q, Metric metric, float* lut) const {
#ifdef WINNOW_PQ_X86
  const bool fma_tables = metric == Metric::InnerProduct && dsub_ < kSmallDsub &&
                          detail::ip_kernel() != detail::IpKernel::Scalar;
#else
  const bool fma_tables = false;
#endif
  for (int64_t m = 0; m < M_; ++m) {
    const float* qm = q + m * dsub_;
    const float* ct = centroids_t_.data() + m * dsub_ * ksub_;
    float* out = lut + m * ksub_;
    if (metric == Metric::L2) {
      lut_l2(qm, ct, dsub_, ksub_, out);
    } else if (fma_tables) {
#ifdef WINNOW_PQ_X86
      lut_ip_fma(qm, ct, dsub_, ksub_, out);
#endif
    } else {
      inner_products(qm, 1, centroids_.data() + m * ksub_ * dsub_, ksub_, dsub_, out);
    }
  }
}

void ProductQuantizer::adc(const float* lut, const uint8_t* codes, int64_t n, float* out) const {
  const int64_t cs = code_size();
  if (nbits_ == 8) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
      const uint8_t* const rows[4] = {codes + i * cs, codes + (i + 1) * cs, codes + (i + 2) * cs,
                                      codes + (i + 3) * cs};
      adc_rows8x4(lut, rows, M_, out + i);
    }
    for (; i < n; ++i) out[i] = adc_row8(lut, codes + i * cs, M_);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = adc_row4(lut, codes + i * cs, M_);
  }
}

void ProductQuantizer::adc_subset(const float* lut, const uint8_t* codes, const int64_t* ids, int64_t count,
                                  float* out) const {
  const int64_t cs = code_size();
  if (nbits_ == 8) {
    int64_t j = 0;
    for (; j + 4 <= count; j += 4) {
      const uint8_t* const rows[4] = {codes + ids[j] * cs, codes + ids[j + 1] * cs, codes + ids[j + 2] * cs,
                                      codes + ids[j + 3] * cs};
      adc_rows8x4(lut, rows, M_, out + j);
    }
    for (; j < count; ++j) out[j] = adc_row8(lut, codes + ids[j] * cs, M_);
  } else {
    for (int64_t j = 0; j < count; ++j) out[j] = adc_row4(lut, codes + ids[j] * cs, M_);
  }
}

}  // namespace winnow::dense
