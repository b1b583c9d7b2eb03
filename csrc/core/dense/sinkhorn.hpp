// Balanced (uniform-marginal) assignment by entropy-regularised optimal transport, solved with
// log-domain Sinkhorn-Knopp, and PQ training whose assignment step is that balanced assignment:
// the constrained clustering of RepCONC (Zhan et al., "Learning Discrete Representations via
// Constrained Clustering for Effective and Efficient Dense Retrieval", WSDM 2022), whose solver
// is the SwAV Sinkhorn run independently per PQ sub-space.
//
// One problem: cost C (n, K) (squared distances of n samples to K centroids), sample marginals
// a (n) (default uniform 1/n), centroid marginals b (K) (default uniform 1/K). The plan is
//   P[i][j] = exp(log_v[i] + log_u[j] - C[i][j] / eps')
// with eps' = epsilon * scale, where scale is 1 or, with `scale_costs`, the half-range of C
// (the authors' 2022 code maps distances to [-1, 1]; a shift of C changes nothing). One
// iteration is a centroid update then a sample update (POT's ot.sinkhorn order; SwAV's rows
// then columns), so after any number of iterations the sample marginals hold exactly:
//   log_u[j] = log b[j] - logsumexp_i(log_v[i] - C[i][j] / eps')
//   log_v[i] = log a[i] - logsumexp_j(log_u[j] - C[i][j] / eps')
// Codes are the argmax of each plan row, argmin_j (C[i][j] / eps' - log_u[j]): nearest centroid
// with a per-centroid offset (the dual variable). Zero iterations = nearest centroid.
// Everything is deterministic for a given input whatever the thread count.
#pragma once

#include <cstdint>
#include <vector>

namespace winnow::dense {

struct SinkhornOptions {
  double epsilon = 0.05;   // entropic regularisation (relative to the cost scale below)
  int iterations = 30;     // centroid+sample update pairs (>= 0)
  bool scale_costs = true; // divide costs by their half-range per problem (authors' 2022 code)
  int threads = 1;         // batched calls: sub-spaces run in parallel
};

/// Usage of K centroids by n codes, per sub-space.
struct BalanceStats {
  std::vector<int64_t> counts;       // (M, K)
  std::vector<double> avg_imbalance; // (M): mean_k |1 - n_k / (n / K)| (RepCONC's diagnostic)
  std::vector<double> entropy;       // (M): entropy in bits of the code distribution (max log2 K)
};

/// Result of one Sinkhorn problem, besides codes and plan.
struct SinkhornInfo {
  double cost_scale = 1;        // the scale applied to C (eps' = epsilon * cost_scale)
  double marginal_error = 0;    // max_j |sum_i P[i][j] - b[j]| / b[j] of the returned plan
};

/// One problem. cost (n, K) row-major. sample_marginals (n) / centroid_marginals (K): positive
/// weights, normalised here; null = uniform. Outputs (caller-owned, any may be null):
/// codes (n), log_u (K), log_v (n), plan (n, K) float64. init_log_u (K, nullable) warm-starts
/// the centroid duals (only matters when iterations == 0 or as a better start).
SinkhornInfo sinkhorn(const float* cost, int64_t n, int64_t K, const float* sample_marginals,
                      const float* centroid_marginals, const SinkhornOptions& options, int32_t* codes,
                      double* log_u, double* log_v, double* plan, const double* init_log_u = nullptr);

/// M independent problems, cost (M, n, K); codes (n, M) int32 (PQ layout); marginal_error (M)
/// nullable; sub-spaces run on options.threads threads.
void sinkhorn_batched(const float* cost, int64_t M, int64_t n, int64_t K, const float* sample_marginals,
                      const SinkhornOptions& options, int32_t* codes, double* marginal_error);

/// Balanced PQ assignment of x (n, d) to centroids (M, K, d/M): the cost of sub-space m is the
/// squared L2 distance of x's m-th sub-vector to each centroid. codes (n, M) int32;
/// marginal_error (M) nullable. log_u (M, K) nullable: in = warm start when init_log_u, out.
void balanced_assign(const float* x, int64_t n, int64_t d, const float* centroids, int64_t M, int64_t K,
                     const float* sample_marginals, const SinkhornOptions& options, int32_t* codes,
                     double* marginal_error, double* log_u = nullptr, bool init_log_u = false);

/// Nearest-centroid PQ assignment (same layout, int32 codes): the index-time coding.
void nearest_assign(const float* x, int64_t n, int64_t d, const float* centroids, int64_t M, int64_t K,
                    int32_t* codes, int threads);

/// Counts, avg_imbalance and entropy of codes (n, M) over K centroids.
BalanceStats balance_stats(const int32_t* codes, int64_t n, int64_t M, int64_t K);

struct ConstrainedPQOptions {
  int niter = 20;              // Lloyd iterations with the balanced assignment step
  int init_niter = 10;         // plain k-means iterations for the initial codebook (no init given)
  SinkhornOptions sinkhorn;    // epsilon, iterations, scale_costs, threads (over sub-spaces)
  bool warm_start = true;      // start each Sinkhorn from the previous iteration's duals
  uint64_t seed = 1234;
};

struct ConstrainedPQResult {
  std::vector<float> centroids;               // (M, K, dsub)
  std::vector<double> mse_constrained;        // (niter): mean ||x - decode(balanced codes)||^2
  std::vector<double> mse_nearest;            // (niter): same with nearest-centroid codes
  std::vector<double> imbalance_constrained;  // (niter): mean over sub-spaces of avg_imbalance
  std::vector<double> imbalance_nearest;      // (niter)
  BalanceStats final_constrained;             // per sub-space, after the last update
  BalanceStats final_nearest;                 // per sub-space (index-time codes)
};

/// PQ k-means on x (n, d) whose assignment step is balanced_assign; centroid update = mean of
/// the assigned points (a centroid that receives none keeps its value). init (M, K, dsub)
/// nullable: else seeded plain k-means per sub-space. Requires n >= K.
ConstrainedPQResult train_constrained_pq(const float* x, int64_t n, int64_t d, int64_t M, int64_t K,
                                         const float* init, const ConstrainedPQOptions& options);

}  // namespace winnow::dense
