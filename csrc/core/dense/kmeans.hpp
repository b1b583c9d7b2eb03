// k-means (Lloyd) for IVF coarse quantizers and PQ codebooks.
#pragma once

#include <cstdint>
#include <vector>

namespace winnow::dense {

struct KMeansOptions {
  int niter = 20;                        // Lloyd iterations
  uint64_t seed = 1234;                  // all randomness (sampling, init) from this seed
  bool kmeanspp = false;                 // k-means++ init (else k distinct random points)
  int64_t max_points_per_centroid = 256; // train on a seeded sample of at most k * this points
  int threads = 1;
  bool spherical = false;                // L2-normalise centroids after each update
};

struct KMeansResult {
  std::vector<float> centroids;          // (k, d)
  std::vector<double> objective;         // sum of squared distances after each iteration
  int64_t empty_clusters_repaired = 0;   // total over iterations (split of the largest cluster)
};

/// Train k centroids on x (n, d). Requires n >= k (std::invalid_argument otherwise).
KMeansResult kmeans(const float* x, int64_t n, int64_t d, int64_t k, const KMeansOptions& options);

/// For each x_i (n, d): index of the nearest centroid (L2) in assign (n) and, when `dist`
/// is not null, the squared distance in dist (n).
void assign_nearest(const float* x, int64_t n, const float* centroids, int64_t k, int64_t d, int64_t* assign,
                    float* dist, int threads);

}  // namespace winnow::dense
