// Product quantization (Jegou, Douze & Schmid, "Product quantization for nearest neighbor
// search", TPAMI 2011): training, encoding, decoding, look-up tables and asymmetric distance
// computation (ADC). Layouts are documented in pq.hpp.
#include "dense/pq.hpp"

#include <algorithm>
#include <string>

#include "common.hpp"
#include "dense/distances.hpp"
#include "thread_pool.hpp"

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

}  // namespace

ProductQuantizer::ProductQuantizer(int64_t d, int64_t M, int nbits) : d_(d), M_(M), dsub_(0), ksub_(0), nbits_(nbits) {
  check_arg(d > 0, "PQ dimension d must be > 0, got " + std::to_string(d));
  check_arg(M > 0, "PQ M must be > 0, got " + std::to_string(M));
  check_arg(d % M == 0, "PQ dimension d=" + std::to_string(d) + " is not a multiple of M=" + std::to_string(M));
  check_arg(nbits == 4 || nbits == 8, "PQ nbits must be 4 or 8, got " + std::to_string(nbits));
  dsub_ = d / M;
  ksub_ = int64_t(1) << nbits;
  centroids_.assign(static_cast<size_t>(M_ * ksub_ * dsub_), 0.0f);
}

void ProductQuantizer::set_centroids(const float* c) {
  std::copy(c, c + M_ * ksub_ * dsub_, centroids_.begin());
  trained_ = true;
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
  for (int64_t m = 0; m < M_; ++m) {
    const float* qm = q + m * dsub_;
    const float* cm = centroids_.data() + m * ksub_ * dsub_;
    float* out = lut + m * ksub_;
    if (metric == Metric::InnerProduct) {
      inner_products(qm, 1, cm, ksub_, dsub_, out);
    } else {
      for (int64_t c = 0; c < ksub_; ++c) {
        float s = 0;
        for (int64_t j = 0; j < dsub_; ++j) {
          const float diff = qm[j] - cm[c * dsub_ + j];
          s += diff * diff;
        }
        out[c] = -s;
      }
    }
  }
}

void ProductQuantizer::adc(const float* lut, const uint8_t* codes, int64_t n, float* out) const {
  const int64_t cs = code_size();
  if (nbits_ == 8) {
    for (int64_t i = 0; i < n; ++i) out[i] = adc_row8(lut, codes + i * cs, M_);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = adc_row4(lut, codes + i * cs, M_);
  }
}

void ProductQuantizer::adc_subset(const float* lut, const uint8_t* codes, const int64_t* ids, int64_t count,
                                  float* out) const {
  const int64_t cs = code_size();
  if (nbits_ == 8) {
    for (int64_t j = 0; j < count; ++j) out[j] = adc_row8(lut, codes + ids[j] * cs, M_);
  } else {
    for (int64_t j = 0; j < count; ++j) out[j] = adc_row4(lut, codes + ids[j] * cs, M_);
  }
}

}  // namespace winnow::dense
