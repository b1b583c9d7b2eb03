// k-means (Lloyd) with seeded sampling, random or k-means++ init and faiss-style repair of
// empty clusters. Assignment = argmin_c ||c||^2 - 2 <x, c> computed by the blocked
// inner-product kernel (distances.hpp); every step is deterministic for a seed whatever the
// thread count (assignments are per point, sums are accumulated sequentially).
#include "dense/kmeans.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string>

#include "common.hpp"
#include "dense/distances.hpp"
#include "thread_pool.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define WINNOW_KMEANS_X86 1
#endif

namespace winnow::dense {
namespace {

constexpr int64_t kPointBlock = 256;                    // points per assignment tile
constexpr int64_t kCentroidBlockBytes = int64_t(1) << 20;  // centroids per tile: ~1 MiB

// Deterministic uniform integer in [0, n) (std::uniform_int_distribution is not specified
// identically across standard libraries).
inline uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) { return rng() % n; }
inline double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// First `m` entries of a seeded random permutation of [0, n) (partial Fisher-Yates).
std::vector<int64_t> sample_indices(int64_t n, int64_t m, std::mt19937_64& rng) {
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t(0));
  for (int64_t i = 0; i < m; ++i) std::swap(perm[i], perm[i + uniform_below(rng, static_cast<uint64_t>(n - i))]);
  perm.resize(static_cast<size_t>(m));
  return perm;
}

// k-means++ (Arthur & Vassilvitskii, SODA 2007): each next centroid drawn with probability
// proportional to the squared distance to the nearest centroid chosen so far.
void kmeanspp_init(const float* x, int64_t n, int64_t d, int64_t k, std::mt19937_64& rng, int threads,
                   float* centroids) {
  std::vector<float> best(static_cast<size_t>(n), std::numeric_limits<float>::infinity());
  std::vector<float> xn(static_cast<size_t>(n));
  squared_norms(x, n, d, xn.data());
  int64_t pick = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(n)));
  for (int64_t c = 0; c < k; ++c) {
    std::copy(x + pick * d, x + (pick + 1) * d, centroids + c * d);
    if (c + 1 == k) break;
    const float* cv = centroids + c * d;
    const float cn = dot(cv, cv, d);
    parallel_for(
        (n + 4095) / 4096, threads,
        [&](int64_t blk) {
          const int64_t i0 = blk * 4096, i1 = std::min(n, i0 + 4096);
          std::vector<float> ip(static_cast<size_t>(i1 - i0));
          inner_products(cv, 1, x + i0 * d, i1 - i0, d, ip.data());
          for (int64_t i = i0; i < i1; ++i) {
            const float dist = std::max(0.0f, (xn[i] + cn) - 2.0f * ip[i - i0]);
            best[i] = std::min(best[i], dist);
          }
        });
    double total = 0;
    for (int64_t i = 0; i < n; ++i) total += best[i];
    if (!(total > 0)) {  // all remaining points coincide with chosen centroids
      pick = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(n)));
      continue;
    }
    const double target = uniform01(rng) * total;
    double acc = 0;
    pick = n - 1;
    for (int64_t i = 0; i < n; ++i) {
      acc += best[i];
      if (acc > target && best[i] > 0) {
        pick = i;
        break;
      }
    }
  }
}

// Sequential definition: over c = 0..nc-1, v = cn[c] - 2 row[c] replaces (b, a) with
// (v, c0 + c) when v < b (strict: ties keep the lower centroid index; NaN never enters).
void nearest_in_row_scalar(const float* row, const float* cn, int64_t nc, int64_t c0, float& b, int64_t& a) {
  for (int64_t c = 0; c < nc; ++c) {
    const float v = cn[c] - 2.0f * row[c];
    if (v < b) {
      b = v;
      a = c0 + c;
    }
  }
}

#ifdef WINNOW_KMEANS_X86
// The same result with 8 lanes: each lane keeps its first strict minimum, then the smallest
// value wins, ties to the lowest index; that is the sequential scan's first occurrence of the
// minimum. It replaces (b, a) only when strictly below b, as the scan would, and takes the
// value from the winning lane (bit-identical, +-0 included).
__attribute__((target("avx2"))) void nearest_in_row_avx2(const float* row, const float* cn, int64_t nc, int64_t c0,
                                                         float& b, int64_t& a) {
  const int64_t n8 = nc / 8 * 8;
  if (n8 > 0) {
    const __m256 two = _mm256_set1_ps(2.0f);
    __m256 lane_best = _mm256_set1_ps(std::numeric_limits<float>::infinity());
    __m256i lane_idx = _mm256_set1_epi32(-1);
    __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i step = _mm256_set1_epi32(8);
    for (int64_t c = 0; c < n8; c += 8) {
      // cn - 2 * row: multiply then subtract, as the scalar expression (no FMA contraction)
      const __m256 v = _mm256_sub_ps(_mm256_loadu_ps(cn + c), _mm256_mul_ps(two, _mm256_loadu_ps(row + c)));
      const __m256 lt = _mm256_cmp_ps(v, lane_best, _CMP_LT_OQ);
      lane_best = _mm256_blendv_ps(lane_best, v, lt);
      lane_idx = _mm256_blendv_epi8(lane_idx, idx, _mm256_castps_si256(lt));
      idx = _mm256_add_epi32(idx, step);
    }
    alignas(32) float lb[8];
    alignas(32) int32_t li[8];
    _mm256_store_ps(lb, lane_best);
    _mm256_store_si256(reinterpret_cast<__m256i*>(li), lane_idx);
    int w = -1;
    for (int l = 0; l < 8; ++l) {
      if (li[l] < 0) continue;
      if (w < 0 || lb[l] < lb[w] || (lb[l] == lb[w] && li[l] < li[w])) w = l;
    }
    if (w >= 0 && lb[w] < b) {
      b = lb[w];
      a = c0 + li[w];
    }
  }
  nearest_in_row_scalar(row + n8, cn + n8, nc - n8, c0 + n8, b, a);
}
#endif

void nearest_in_row(const float* row, const float* cn, int64_t nc, int64_t c0, float& b, int64_t& a) {
#ifdef WINNOW_KMEANS_X86
  static const bool has_avx2 = (__builtin_cpu_init(), __builtin_cpu_supports("avx2"));
  if (has_avx2 && nc < (int64_t(1) << 31)) return nearest_in_row_avx2(row, cn, nc, c0, b, a);
#endif
  nearest_in_row_scalar(row, cn, nc, c0, b, a);
}

}  // namespace

void assign_nearest(const float* x, int64_t n, const float* centroids, int64_t k, int64_t d, int64_t* assign,
                    float* dist, int threads) {
  check_arg(n >= 0 && k > 0 && d > 0, "assign_nearest needs n >= 0, k > 0, d > 0 (got n=" + std::to_string(n) +
                                          ", k=" + std::to_string(k) + ", d=" + std::to_string(d) + ")");
  if (n == 0) return;
  std::vector<float> cn(static_cast<size_t>(k));
  squared_norms(centroids, k, d, cn.data());
  const int64_t cb = std::max<int64_t>(16, kCentroidBlockBytes / (d * 4));
  parallel_for((n + kPointBlock - 1) / kPointBlock, threads, [&](int64_t blk) {
    const int64_t i0 = blk * kPointBlock, np = std::min(kPointBlock, n - i0);
    const int64_t kb = std::min(cb, k);
    std::vector<float> tile(static_cast<size_t>(np * kb));
    std::vector<float> best(static_cast<size_t>(np), std::numeric_limits<float>::infinity());
    std::vector<int64_t> arg(static_cast<size_t>(np), 0);
    for (int64_t c0 = 0; c0 < k; c0 += cb) {
      const int64_t nc = std::min(cb, k - c0);
      inner_products(x + i0 * d, np, centroids + c0 * d, nc, d, tile.data());
      for (int64_t i = 0; i < np; ++i)
        nearest_in_row(tile.data() + i * nc, cn.data() + c0, nc, c0, best[i], arg[i]);
    }
    std::vector<float> xn;
    if (dist) {
      xn.resize(static_cast<size_t>(np));
      squared_norms(x + i0 * d, np, d, xn.data());  // == dot(xi, xi, d) per row
    }
    for (int64_t i = 0; i < np; ++i) {
      assign[i0 + i] = arg[i];
      if (dist) dist[i0 + i] = std::max(0.0f, best[i] + xn[i]);
    }
  });
}

KMeansResult kmeans(const float* x, int64_t n, int64_t d, int64_t k, const KMeansOptions& options) {
  check_arg(d > 0, "kmeans: d must be > 0, got " + std::to_string(d));
  check_arg(k > 0, "kmeans: k must be > 0, got " + std::to_string(k));
  check_arg(n >= k, "kmeans: need at least k=" + std::to_string(k) + " training points, got n=" + std::to_string(n));
  check_arg(options.niter >= 0, "kmeans: niter must be >= 0, got " + std::to_string(options.niter));
  std::mt19937_64 rng(options.seed);
  const int threads = resolve_threads(options.threads);

  // Seeded sample of at most k * max_points_per_centroid points (faiss does the same).
  std::vector<float> sample;
  const float* xs = x;
  int64_t ns = n;
  if (options.max_points_per_centroid > 0 && n / k > options.max_points_per_centroid) {
    ns = k * options.max_points_per_centroid;
    std::vector<int64_t> idx = sample_indices(n, ns, rng);
    std::sort(idx.begin(), idx.end());  // sequential reads; order does not change the result
    sample.resize(static_cast<size_t>(ns * d));
    for (int64_t i = 0; i < ns; ++i) std::copy(x + idx[i] * d, x + (idx[i] + 1) * d, sample.data() + i * d);
    xs = sample.data();
  }

  KMeansResult res;
  res.centroids.resize(static_cast<size_t>(k * d));
  float* C = res.centroids.data();
  if (options.kmeanspp) {
    kmeanspp_init(xs, ns, d, k, rng, threads, C);
  } else {
    std::vector<int64_t> init = sample_indices(ns, k, rng);
    for (int64_t c = 0; c < k; ++c) std::copy(xs + init[c] * d, xs + (init[c] + 1) * d, C + c * d);
  }
  auto normalize = [&]() {
    for (int64_t c = 0; c < k; ++c) {
      float* cv = C + c * d;
      const double nrm = std::sqrt(static_cast<double>(dot(cv, cv, d)));
      if (nrm > 0)
        for (int64_t j = 0; j < d; ++j) cv[j] = static_cast<float>(cv[j] / nrm);
    }
  };
  if (options.spherical) normalize();

  std::vector<int64_t> assign(static_cast<size_t>(ns));
  std::vector<float> dist(static_cast<size_t>(ns));
  std::vector<double> sums(static_cast<size_t>(k * d));
  std::vector<int64_t> counts(static_cast<size_t>(k));
  for (int it = 0; it < options.niter; ++it) {
    assign_nearest(xs, ns, C, k, d, assign.data(), dist.data(), threads);
    double obj = 0;
    for (int64_t i = 0; i < ns; ++i) obj += dist[i];
    res.objective.push_back(obj);

    // Update: mean of the assigned points, accumulated in double.
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(counts.begin(), counts.end(), 0);
    for (int64_t i = 0; i < ns; ++i) {
      const int64_t c = assign[i];
      ++counts[c];
      double* s = sums.data() + c * d;
      const float* xi = xs + i * d;
      for (int64_t j = 0; j < d; ++j) s[j] += xi[j];
    }
    for (int64_t c = 0; c < k; ++c) {
      if (counts[c] == 0) continue;
      const double inv = 1.0 / static_cast<double>(counts[c]);
      for (int64_t j = 0; j < d; ++j) C[c * d + j] = static_cast<float>(sums[c * d + j] * inv);
    }

    // Empty clusters: split the largest cluster in two (faiss Clustering: copy its centroid,
    // perturb the pair symmetrically by a relative 1/1024, share its points' count).
    constexpr float kEps = 1.0f / 1024.0f;
    for (int64_t ci = 0; ci < k; ++ci) {
      if (counts[ci] != 0) continue;
      int64_t cj = 0;
      for (int64_t c = 1; c < k; ++c)
        if (counts[c] > counts[cj]) cj = c;
      std::copy(C + cj * d, C + (cj + 1) * d, C + ci * d);
      for (int64_t j = 0; j < d; ++j) {
        const float up = 1.0f + kEps, down = 1.0f - kEps;
        C[ci * d + j] *= (j % 2 == 0) ? up : down;
        C[cj * d + j] *= (j % 2 == 0) ? down : up;
      }
      counts[ci] = counts[cj] / 2;
      counts[cj] -= counts[ci];
      ++res.empty_clusters_repaired;
    }
    if (options.spherical) normalize();
  }
  return res;
}

}  // namespace winnow::dense
