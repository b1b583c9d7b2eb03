// Log-domain Sinkhorn (see sinkhorn.hpp for the formulas) and constrained PQ training.
//
// Each half-iteration is a logsumexp over the rows or the columns of -C/eps' shifted by the
// other side's duals. Arguments are formed in double (C / eps' reaches ~1e3 for the authors'
// eps = 0.003) and the exponentials, all of arguments <= 0 after the max shift, are taken by a
// float exp (Cephes polynomial, relative error ~1e-7; SSE2 four at a time) and summed in double. The
// column logsumexp runs over the row-major cost in two row passes (column maxima, then sums),
// so every loop is contiguous. Costs per iteration: 2 n K exponentials.
#include "dense/sinkhorn.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common.hpp"
#include "dense/distances.hpp"
#include "dense/kmeans.hpp"
#include "thread_pool.hpp"

namespace winnow::dense {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// exp(x) for x in [-87, 88] (clamped), Cephes expf: x = n ln2 + r, |r| <= ln2 / 2, exp(r) by
// a polynomial, 2^n through the exponent bits; relative error ~1e-7. The SSE2 block below runs
// the same float operations four at a time (gcc does not vectorise the scalar form under the
// default -ftrapping-math), so both give bit-identical results.
inline float fast_expf(float x) {
  x = std::max(x, -87.0f);
  x = std::min(x, 88.0f);
  float fx = x * 1.44269504088896341f;
  fx = (fx + 12582912.0f) - 12582912.0f;  // round to nearest integer (1.5 * 2^23 trick)
  float r = x - fx * 0.693359375f;
  r = r - fx * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * (r * r) + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(fx) + 127) << 23;
  float s;
  std::memcpy(&s, &bits, sizeof(s));
  return y * s;
}

// e[j] = fast_expf(z[j]) for j < k.
void exp_block(const float* z, float* e, int64_t k) {
  int64_t j = 0;
#if defined(__SSE2__)
  const __m128 lo = _mm_set1_ps(-87.0f), hi = _mm_set1_ps(88.0f), log2e = _mm_set1_ps(1.44269504088896341f);
  const __m128 magic = _mm_set1_ps(12582912.0f), c1 = _mm_set1_ps(0.693359375f), c2 = _mm_set1_ps(-2.12194440e-4f);
  const __m128 one = _mm_set1_ps(1.0f);
  const __m128 p0 = _mm_set1_ps(1.9875691500e-4f), p1 = _mm_set1_ps(1.3981999507e-3f),
               p2 = _mm_set1_ps(8.3334519073e-3f), p3 = _mm_set1_ps(4.1665795894e-2f),
               p4 = _mm_set1_ps(1.6666665459e-1f), p5 = _mm_set1_ps(5.0000001201e-1f);
  for (; j + 4 <= k; j += 4) {
    __m128 x = _mm_min_ps(_mm_max_ps(_mm_loadu_ps(z + j), lo), hi);
    __m128 fx = _mm_sub_ps(_mm_add_ps(_mm_mul_ps(x, log2e), magic), magic);
    __m128 r = _mm_sub_ps(x, _mm_mul_ps(fx, c1));
    r = _mm_sub_ps(r, _mm_mul_ps(fx, c2));
    __m128 p = _mm_add_ps(_mm_mul_ps(p0, r), p1);
    p = _mm_add_ps(_mm_mul_ps(p, r), p2);
    p = _mm_add_ps(_mm_mul_ps(p, r), p3);
    p = _mm_add_ps(_mm_mul_ps(p, r), p4);
    p = _mm_add_ps(_mm_mul_ps(p, r), p5);
    const __m128 y = _mm_add_ps(_mm_add_ps(_mm_mul_ps(p, _mm_mul_ps(r, r)), r), one);
    const __m128i bits = _mm_slli_epi32(_mm_add_epi32(_mm_cvttps_epi32(fx), _mm_set1_epi32(127)), 23);
    _mm_storeu_ps(e + j, _mm_mul_ps(y, _mm_castsi128_ps(bits)));
  }
#endif
  for (; j < k; ++j) e[j] = fast_expf(z[j]);
}

// Sum of e[0..k) in double with four independent accumulators (order fixed: deterministic).
double sum4(const float* e, int64_t k) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t j = 0;
  for (; j + 4 <= k; j += 4) {
    s0 += e[j];
    s1 += e[j + 1];
    s2 += e[j + 2];
    s3 += e[j + 3];
  }
  for (; j < k; ++j) s0 += e[j];
  return (s0 + s1) + (s2 + s3);
}

// log of normalised positive weights w (n), or uniform -log n when w is null.
std::vector<double> log_marginals(const float* w, int64_t n, const char* name) {
  std::vector<double> out(static_cast<size_t>(n));
  if (w == nullptr) {
    std::fill(out.begin(), out.end(), -std::log(static_cast<double>(n)));
    return out;
  }
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    check_arg(std::isfinite(w[i]) && w[i] > 0, std::string(name) + "[" + std::to_string(i) +
                                                   "] = " + std::to_string(w[i]) + ", must be finite and > 0");
    total += w[i];
  }
  for (int64_t i = 0; i < n; ++i) out[i] = std::log(static_cast<double>(w[i]) / total);
  return out;
}

// D (n, K) = squared L2 distances of sub (n, dsub) to C (K, dsub), clamped at 0.
void sub_distances(const float* sub, int64_t n, int64_t dsub, const float* C, int64_t K, float* D) {
  std::vector<float> xn(static_cast<size_t>(n)), cn(static_cast<size_t>(K));
  squared_norms(sub, n, dsub, xn.data());
  squared_norms(C, K, dsub, cn.data());
  inner_products(sub, n, C, K, dsub, D);
  for (int64_t i = 0; i < n; ++i) {
    float* row = D + i * K;
    for (int64_t j = 0; j < K; ++j) row[j] = std::max(0.0f, (xn[i] + cn[j]) - 2.0f * row[j]);
  }
}

// Sub-vectors m of x (n, d) into out (n, dsub).
void extract_sub(const float* x, int64_t n, int64_t d, int64_t m, int64_t dsub, float* out) {
  for (int64_t i = 0; i < n; ++i) std::copy(x + i * d + m * dsub, x + i * d + (m + 1) * dsub, out + i * dsub);
}

void check_options(const SinkhornOptions& o) {
  check_arg(std::isfinite(o.epsilon) && o.epsilon > 0,
            "sinkhorn: epsilon must be > 0, got " + std::to_string(o.epsilon));
  check_arg(o.iterations >= 0, "sinkhorn: iterations must be >= 0, got " + std::to_string(o.iterations));
}

}  // namespace

SinkhornInfo sinkhorn(const float* cost, int64_t n, int64_t K, const float* sample_marginals,
                      const float* centroid_marginals, const SinkhornOptions& options, int32_t* codes,
                      double* log_u, double* log_v, double* plan, const double* init_log_u) {
  check_options(options);
  check_arg(n >= 0 && K > 0, "sinkhorn: need n >= 0 and K > 0 (got n=" + std::to_string(n) + ", K=" +
                                 std::to_string(K) + ")");
  SinkhornInfo info;
  if (n == 0) return info;
  for (int64_t t = 0; t < n * K; ++t)
    check_arg(std::isfinite(cost[t]), "sinkhorn: cost[" + std::to_string(t / K) + ", " + std::to_string(t % K) +
                                          "] is not finite");
  const std::vector<double> la = log_marginals(sample_marginals, n, "sample_marginals");
  const std::vector<double> lb = log_marginals(centroid_marginals, K, "centroid_marginals");
  if (options.scale_costs) {
    const auto mm = std::minmax_element(cost, cost + n * K);
    const double half = (static_cast<double>(*mm.second) - static_cast<double>(*mm.first)) / 2;
    info.cost_scale = half > 0 ? half : 1.0;
  }
  const double inv = 1.0 / (options.epsilon * info.cost_scale);

  std::vector<double> lu(static_cast<size_t>(K), 0.0), lv(static_cast<size_t>(n), 0.0);
  if (init_log_u) std::copy(init_log_u, init_log_u + K, lu.begin());
  std::vector<double> colmax(static_cast<size_t>(K)), colsum(static_cast<size_t>(K));
  std::vector<float> e(static_cast<size_t>(K)), z(static_cast<size_t>(K));
  std::vector<double> t(static_cast<size_t>(K));

  // log_v[i] = log a[i] - logsumexp_j(log_u[j] - C[i][j] / eps')
  auto sample_update = [&]() {
    for (int64_t i = 0; i < n; ++i) {
      const float* c = cost + i * K;
      for (int64_t j = 0; j < K; ++j) t[j] = lu[j] - static_cast<double>(c[j]) * inv;
      double mx = kNegInf;
      for (int64_t j = 0; j < K; ++j) mx = std::max(mx, t[j]);
      for (int64_t j = 0; j < K; ++j) z[j] = static_cast<float>(t[j] - mx);
      exp_block(z.data(), e.data(), K);
      lv[i] = la[i] - (mx + std::log(sum4(e.data(), K)));
    }
  };
  // colsum[j] = sum_i exp(log_v[i] + shift[j] - C[i][j] / eps') with colmax = max_i (...).
  auto column_lse = [&](bool with_lu) {
    std::fill(colmax.begin(), colmax.end(), kNegInf);
    for (int64_t i = 0; i < n; ++i) {
      const float* c = cost + i * K;
      for (int64_t j = 0; j < K; ++j) {
        const double v = lv[i] + (with_lu ? lu[j] : 0.0) - static_cast<double>(c[j]) * inv;
        colmax[j] = std::max(colmax[j], v);
      }
    }
    std::fill(colsum.begin(), colsum.end(), 0.0);
    for (int64_t i = 0; i < n; ++i) {
      const float* c = cost + i * K;
      if (with_lu) {
        for (int64_t j = 0; j < K; ++j)
          z[j] = static_cast<float>(lv[i] + lu[j] - static_cast<double>(c[j]) * inv - colmax[j]);
      } else {
        for (int64_t j = 0; j < K; ++j) z[j] = static_cast<float>(lv[i] - static_cast<double>(c[j]) * inv - colmax[j]);
      }
      exp_block(z.data(), e.data(), K);
      for (int64_t j = 0; j < K; ++j) colsum[j] += e[j];
    }
  };

  for (int it = 0; it < options.iterations; ++it) {
    column_lse(false);  // log_u[j] = log b[j] - logsumexp_i(log_v[i] - C[i][j] / eps')
    for (int64_t j = 0; j < K; ++j) lu[j] = lb[j] - (colmax[j] + std::log(colsum[j]));
    sample_update();
  }
  if (options.iterations == 0) sample_update();

  if (codes) {
    for (int64_t i = 0; i < n; ++i) {
      const float* c = cost + i * K;
      double best = kNegInf;
      int32_t arg = 0;
      for (int64_t j = 0; j < K; ++j) {
        const double v = lu[j] - static_cast<double>(c[j]) * inv;
        if (v > best) {  // strict: ties keep the lower centroid
          best = v;
          arg = static_cast<int32_t>(j);
        }
      }
      codes[i] = arg;
    }
  }
  // Centroid-marginal error of the plan (sample marginals hold by construction).
  column_lse(true);
  for (int64_t j = 0; j < K; ++j) {
    const double mass = std::exp(colmax[j]) * colsum[j], target = std::exp(lb[j]);
    info.marginal_error = std::max(info.marginal_error, std::abs(mass - target) / target);
  }
  if (plan) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < K; ++j)
        plan[i * K + j] = std::exp(lv[i] + lu[j] - static_cast<double>(cost[i * K + j]) * inv);
  }
  if (log_u) std::copy(lu.begin(), lu.end(), log_u);
  if (log_v) std::copy(lv.begin(), lv.end(), log_v);
  return info;
}

void sinkhorn_batched(const float* cost, int64_t M, int64_t n, int64_t K, const float* sample_marginals,
                      const SinkhornOptions& options, int32_t* codes, double* marginal_error) {
  check_options(options);
  check_arg(M >= 0 && n >= 0 && K > 0, "sinkhorn: need M >= 0, n >= 0, K > 0");
  parallel_for(M, options.threads, [&](int64_t m) {
    std::vector<int32_t> c(static_cast<size_t>(n));
    SinkhornInfo info = sinkhorn(cost + m * n * K, n, K, sample_marginals, nullptr, options, c.data(), nullptr,
                                 nullptr, nullptr);
    for (int64_t i = 0; i < n; ++i) codes[i * M + m] = c[i];
    if (marginal_error) marginal_error[m] = info.marginal_error;
  });
}

void balanced_assign(const float* x, int64_t n, int64_t d, const float* centroids, int64_t M, int64_t K,
                     const float* sample_marginals, const SinkhornOptions& options, int32_t* codes,
                     double* marginal_error, double* log_u, bool init_log_u) {
  check_options(options);
  check_arg(M > 0 && K > 0 && d > 0 && d % M == 0,
            "balanced_assign: d=" + std::to_string(d) + " must be a positive multiple of M=" + std::to_string(M));
  const int64_t dsub = d / M;
  parallel_for(M, options.threads, [&](int64_t m) {
    std::vector<float> sub(static_cast<size_t>(n * dsub)), D(static_cast<size_t>(n * K));
    std::vector<int32_t> c(static_cast<size_t>(n));
    extract_sub(x, n, d, m, dsub, sub.data());
    sub_distances(sub.data(), n, dsub, centroids + m * K * dsub, K, D.data());
    double* lu = log_u ? log_u + m * K : nullptr;
    SinkhornInfo info = sinkhorn(D.data(), n, K, sample_marginals, nullptr, options, c.data(), lu, nullptr,
                                 nullptr, (lu && init_log_u) ? lu : nullptr);
    for (int64_t i = 0; i < n; ++i) codes[i * M + m] = c[i];
    if (marginal_error) marginal_error[m] = info.marginal_error;
  });
}

void nearest_assign(const float* x, int64_t n, int64_t d, const float* centroids, int64_t M, int64_t K,
                    int32_t* codes, int threads) {
  check_arg(M > 0 && K > 0 && d > 0 && d % M == 0,
            "nearest_assign: d=" + std::to_string(d) + " must be a positive multiple of M=" + std::to_string(M));
  if (n == 0) return;
  const int64_t dsub = d / M;
  parallel_for(M, threads, [&](int64_t m) {
    std::vector<float> sub(static_cast<size_t>(n * dsub));
    std::vector<int64_t> a(static_cast<size_t>(n));
    extract_sub(x, n, d, m, dsub, sub.data());
    assign_nearest(sub.data(), n, centroids + m * K * dsub, K, dsub, a.data(), nullptr, 1);
    for (int64_t i = 0; i < n; ++i) codes[i * M + m] = static_cast<int32_t>(a[i]);
  });
}

BalanceStats balance_stats(const int32_t* codes, int64_t n, int64_t M, int64_t K) {
  BalanceStats s;
  s.counts.assign(static_cast<size_t>(M * K), 0);
  s.avg_imbalance.assign(static_cast<size_t>(M), 0.0);
  s.entropy.assign(static_cast<size_t>(M), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t m = 0; m < M; ++m) {
      const int32_t c = codes[i * M + m];
      check_arg(c >= 0 && c < K, "codes[" + std::to_string(i) + ", " + std::to_string(m) + "] = " +
                                     std::to_string(c) + " is outside [0, " + std::to_string(K) + ")");
      ++s.counts[m * K + c];
    }
  if (n == 0) return s;
  const double expected = static_cast<double>(n) / static_cast<double>(K);
  for (int64_t m = 0; m < M; ++m) {
    double imb = 0, h = 0;
    for (int64_t k = 0; k < K; ++k) {
      const double c = static_cast<double>(s.counts[m * K + k]);
      imb += std::abs(1.0 - c / expected);
      if (c > 0) {
        const double p = c / static_cast<double>(n);
        h -= p * std::log2(p);
      }
    }
    s.avg_imbalance[m] = imb / static_cast<double>(K);
    s.entropy[m] = h;
  }
  return s;
}

ConstrainedPQResult train_constrained_pq(const float* x, int64_t n, int64_t d, int64_t M, int64_t K,
                                         const float* init, const ConstrainedPQOptions& options) {
  check_options(options.sinkhorn);
  check_arg(M > 0 && K > 0 && d > 0 && d % M == 0,
            "constrained PQ: d=" + std::to_string(d) + " must be a positive multiple of M=" + std::to_string(M));
  check_arg(n >= K, "constrained PQ training needs at least K=" + std::to_string(K) + " vectors, got " +
                        std::to_string(n));
  check_arg(options.niter >= 0 && options.init_niter >= 0, "constrained PQ: niter and init_niter must be >= 0");
  const int64_t dsub = d / M;
  const int niter = options.niter;
  ConstrainedPQResult res;
  res.centroids.resize(static_cast<size_t>(M * K * dsub));
  // Per (iteration, sub-space) sums, reduced in a fixed order afterwards (deterministic).
  std::vector<double> sse_c(static_cast<size_t>(niter * M)), sse_n(static_cast<size_t>(niter * M));
  std::vector<double> imb_c(static_cast<size_t>(niter * M)), imb_n(static_cast<size_t>(niter * M));
  std::vector<int32_t> final_c(static_cast<size_t>(n * M)), final_n(static_cast<size_t>(n * M));
  SinkhornOptions so = options.sinkhorn;
  so.threads = 1;

  parallel_for(M, options.sinkhorn.threads, [&](int64_t m) {
    std::vector<float> sub(static_cast<size_t>(n * dsub)), D(static_cast<size_t>(n * K));
    extract_sub(x, n, d, m, dsub, sub.data());
    float* C = res.centroids.data() + m * K * dsub;
    if (init) {
      std::copy(init + m * K * dsub, init + (m + 1) * K * dsub, C);
    } else {
      KMeansOptions ko;
      ko.niter = options.init_niter;
      ko.seed = options.seed + static_cast<uint64_t>(m);
      ko.max_points_per_centroid = 0;  // all points: the balanced steps use all of them too
      KMeansResult kr = kmeans(sub.data(), n, dsub, K, ko);
      std::copy(kr.centroids.begin(), kr.centroids.end(), C);
    }
    std::vector<double> lu(static_cast<size_t>(K), 0.0);
    std::vector<int32_t> codes(static_cast<size_t>(n)), near(static_cast<size_t>(n));
    std::vector<double> sums(static_cast<size_t>(K * dsub));
    std::vector<int64_t> cnt(static_cast<size_t>(K));
    std::vector<int64_t> a(static_cast<size_t>(n));
    for (int it = 0; it < niter; ++it) {
      sub_distances(sub.data(), n, dsub, C, K, D.data());
      sinkhorn(D.data(), n, K, nullptr, nullptr, so, codes.data(), lu.data(), nullptr, nullptr,
               (options.warm_start && it > 0) ? lu.data() : nullptr);
      std::fill(sums.begin(), sums.end(), 0.0);
      std::fill(cnt.begin(), cnt.end(), 0);
      for (int64_t i = 0; i < n; ++i) {
        const int32_t c = codes[i];
        ++cnt[c];
        for (int64_t t = 0; t < dsub; ++t) sums[c * dsub + t] += sub[i * dsub + t];
      }
      for (int64_t k = 0; k < K; ++k)
        if (cnt[k] > 0)
          for (int64_t t = 0; t < dsub; ++t)
            C[k * dsub + t] = static_cast<float>(sums[k * dsub + t] / static_cast<double>(cnt[k]));
      // Statistics after the update: constrained codes and index-time (nearest) codes.
      assign_nearest(sub.data(), n, C, K, dsub, a.data(), nullptr, 1);
      double sc = 0, sn = 0;
      for (int64_t i = 0; i < n; ++i) {
        near[i] = static_cast<int32_t>(a[i]);
        for (int64_t t = 0; t < dsub; ++t) {
          const double dc = sub[i * dsub + t] - C[codes[i] * dsub + t];
          const double dn = sub[i * dsub + t] - C[near[i] * dsub + t];
          sc += dc * dc;
          sn += dn * dn;
        }
      }
      sse_c[it * M + m] = sc;
      sse_n[it * M + m] = sn;
      imb_c[it * M + m] = balance_stats(codes.data(), n, 1, K).avg_imbalance[0];
      imb_n[it * M + m] = balance_stats(near.data(), n, 1, K).avg_imbalance[0];
    }
    if (niter == 0) {
      sub_distances(sub.data(), n, dsub, C, K, D.data());
      sinkhorn(D.data(), n, K, nullptr, nullptr, so, codes.data(), nullptr, nullptr, nullptr);
      assign_nearest(sub.data(), n, C, K, dsub, a.data(), nullptr, 1);
      for (int64_t i = 0; i < n; ++i) near[i] = static_cast<int32_t>(a[i]);
    }
    for (int64_t i = 0; i < n; ++i) {
      final_c[i * M + m] = codes[i];
      final_n[i * M + m] = near[i];
    }
  });

  for (int it = 0; it < niter; ++it) {
    double sc = 0, sn = 0, ic = 0, in = 0;
    for (int64_t m = 0; m < M; ++m) {
      sc += sse_c[it * M + m];
      sn += sse_n[it * M + m];
      ic += imb_c[it * M + m];
      in += imb_n[it * M + m];
    }
    res.mse_constrained.push_back(sc / static_cast<double>(n));
    res.mse_nearest.push_back(sn / static_cast<double>(n));
    res.imbalance_constrained.push_back(ic / static_cast<double>(M));
    res.imbalance_nearest.push_back(in / static_cast<double>(M));
  }
  res.final_constrained = balance_stats(final_c.data(), n, M, K);
  res.final_nearest = balance_stats(final_n.data(), n, M, K);
  return res;
}

}  // namespace winnow::dense
