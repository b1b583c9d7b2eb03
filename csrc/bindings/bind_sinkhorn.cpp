// Bindings for balanced (Sinkhorn) assignment and constrained PQ training (dense/sinkhorn.hpp).
// float32 / int32 C-contiguous arrays, never converted (In<T> parameters); outputs allocated with the
// GIL held, the core runs with it released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "array_utils.hpp"
#include "dense/sinkhorn.hpp"

namespace py = pybind11;
using namespace winnow::dense;
using winnow_py::carray;
using winnow_py::In;
using winnow_py::S;
using winnow_py::str;
using winnow_py::check_ndim;

namespace {

// Defaults come from the core's option structs, so Python and C++ callers get the same ones.
const SinkhornOptions kSk{};
const ConstrainedPQOptions kCpq{};

SinkhornOptions sk_options(double epsilon, int iterations, bool scale_costs, int threads) {
  SinkhornOptions o;
  o.epsilon = epsilon;
  o.iterations = iterations;
  o.scale_costs = scale_costs;
  o.threads = threads;
  return o;
}

const float* marginals(const std::optional<carray<float>>& w, int64_t n, const char* name, const char* what) {
  if (!w) return nullptr;
  check_ndim(*w, 1, name);
  if (w->shape(0) != n)
    throw std::invalid_argument(std::string(name) + " has " + str(w->shape(0)) + " entries, expected " + str(n) +
                                " (" + what + ")");
  return w->data();
}

// x (n, d) against centroids (M, K, dsub): d must equal M * dsub.
void check_x_centroids(const carray<float>& x, const carray<float>& c) {
  check_ndim(x, 2, "x");
  check_ndim(c, 3, "centroids");
  if (x.shape(1) != c.shape(0) * c.shape(2))
    throw std::invalid_argument("x has " + str(x.shape(1)) + " columns, centroids (M, K, dsub) = (" +
                                str(c.shape(0)) + ", " + str(c.shape(1)) + ", " + str(c.shape(2)) +
                                ") give dim M * dsub = " + str(c.shape(0) * c.shape(2)));
  if (c.shape(0) <= 0 || c.shape(1) <= 0 || c.shape(2) <= 0)
    throw std::invalid_argument("centroids must have a positive shape, got (" + str(c.shape(0)) + ", " +
                                str(c.shape(1)) + ", " + str(c.shape(2)) + ")");
}

py::dict stats_dict(const BalanceStats& s, int64_t M, int64_t K) {
  py::array_t<int64_t> counts({static_cast<S>(M), static_cast<S>(K)});
  std::copy(s.counts.begin(), s.counts.end(), counts.mutable_data());
  py::dict d;
  d["counts"] = counts;
  d["avg_imbalance"] = py::array_t<double>(static_cast<S>(M), s.avg_imbalance.data());
  d["entropy"] = py::array_t<double>(static_cast<S>(M), s.entropy.data());
  return d;
}

}  // namespace

void bind_sinkhorn(py::module_& m) {
  m.def(
      "sinkhorn_plan",
      [](In<float> cost, double epsilon, int iterations, bool scale_costs,
         std::optional<In<float>> sample_marginals, std::optional<In<float>> centroid_marginals) {
        check_ndim(cost, 2, "cost");
        const int64_t n = cost.shape(0), K = cost.shape(1);
        if (K <= 0) throw std::invalid_argument("cost must have at least one column (centroid), got 0");
        const float* a = marginals(sample_marginals, n, "sample_marginals", "one per cost row");
        const float* b = marginals(centroid_marginals, K, "centroid_marginals", "one per cost column");
        py::array_t<double> plan({static_cast<S>(n), static_cast<S>(K)});
        py::array_t<int32_t> codes(static_cast<S>(n));
        py::array_t<double> lu(static_cast<S>(K)), lv(static_cast<S>(n));
        double* pp = plan.mutable_data();
        int32_t* cp = codes.mutable_data();
        double* up = lu.mutable_data();
        double* vp = lv.mutable_data();
        const float* c = cost.data();
        const SinkhornOptions o = sk_options(epsilon, iterations, scale_costs, 1);
        SinkhornInfo info;
        {
          py::gil_scoped_release nogil;
          info = sinkhorn(c, n, K, a, b, o, cp, up, vp, pp);
        }
        py::dict d;
        d["plan"] = plan;
        d["codes"] = codes;
        d["log_u"] = lu;
        d["log_v"] = lv;
        d["cost_scale"] = info.cost_scale;
        d["marginal_error"] = info.marginal_error;
        return d;
      },
      py::arg("cost"), py::arg("epsilon") = kSk.epsilon, py::arg("iterations") = kSk.iterations,
      py::arg("scale_costs") = kSk.scale_costs, py::arg("sample_marginals") = py::none(),
      py::arg("centroid_marginals") = py::none(),
      "One log-domain Sinkhorn problem on cost (n, K) float32: dict(plan (n, K) float64, codes (n,) int32, "
      "log_u (K,), log_v (n,), cost_scale, marginal_error).");

  m.def(
      "sinkhorn_codes",
      [](In<float> cost, double epsilon, int iterations, bool scale_costs,
         std::optional<In<float>> sample_marginals, int threads) {
        check_ndim(cost, 3, "cost");
        const int64_t M = cost.shape(0), n = cost.shape(1), K = cost.shape(2);
        if (K <= 0) throw std::invalid_argument("cost must have at least one centroid (axis 2), got 0");
        const float* a = marginals(sample_marginals, n, "sample_marginals", "one per sample, cost axis 1");
        py::array_t<int32_t> codes({static_cast<S>(n), static_cast<S>(M)});
        py::array_t<double> err(static_cast<S>(M));
        int32_t* cp = codes.mutable_data();
        double* ep = err.mutable_data();
        const float* c = cost.data();
        const SinkhornOptions o = sk_options(epsilon, iterations, scale_costs, threads);
        {
          py::gil_scoped_release nogil;
          sinkhorn_batched(c, M, n, K, a, o, cp, ep);
        }
        return py::make_tuple(codes, err);
      },
      py::arg("cost"), py::arg("epsilon") = kSk.epsilon, py::arg("iterations") = kSk.iterations,
      py::arg("scale_costs") = kSk.scale_costs, py::arg("sample_marginals") = py::none(),
      py::arg("threads") = kSk.threads,
      "Batched Sinkhorn codes for cost (M, n, K): (codes (n, M) int32, marginal_error (M,)).");

  m.def(
      "balanced_assign",
      [](In<float> x, In<float> centroids, double epsilon, int iterations, bool scale_costs,
         std::optional<In<float>> sample_marginals, int threads) {
        check_x_centroids(x, centroids);
        const int64_t n = x.shape(0), d = x.shape(1), M = centroids.shape(0), K = centroids.shape(1);
        const float* a = marginals(sample_marginals, n, "sample_marginals", "one per row of x");
        py::array_t<int32_t> codes({static_cast<S>(n), static_cast<S>(M)});
        py::array_t<double> err(static_cast<S>(M));
        int32_t* cp = codes.mutable_data();
        double* ep = err.mutable_data();
        const float* xp = x.data();
        const float* c = centroids.data();
        const SinkhornOptions o = sk_options(epsilon, iterations, scale_costs, threads);
        {
          py::gil_scoped_release nogil;
          balanced_assign(xp, n, d, c, M, K, a, o, cp, ep);
        }
        return py::make_tuple(codes, err);
      },
      py::arg("x"), py::arg("centroids"), py::arg("epsilon") = kSk.epsilon,
      py::arg("iterations") = kSk.iterations, py::arg("scale_costs") = kSk.scale_costs,
      py::arg("sample_marginals") = py::none(), py::arg("threads") = kSk.threads,
      "Balanced PQ codes of x (n, d) for centroids (M, K, d/M) by Sinkhorn on squared L2 distances: "
      "(codes (n, M) int32, marginal_error (M,)).");

  m.def(
      "nearest_assign",
      [](In<float> x, In<float> centroids, int threads) {
        check_x_centroids(x, centroids);
        const int64_t n = x.shape(0), d = x.shape(1), M = centroids.shape(0), K = centroids.shape(1);
        py::array_t<int32_t> codes({static_cast<S>(n), static_cast<S>(M)});
        int32_t* cp = codes.mutable_data();
        const float* xp = x.data();
        const float* c = centroids.data();
        {
          py::gil_scoped_release nogil;
          nearest_assign(xp, n, d, c, M, K, cp, threads);
        }
        return codes;
      },
      py::arg("x"), py::arg("centroids"), py::arg("threads") = 1,
      "Nearest-centroid PQ codes (n, M) int32 of x (n, d) for centroids (M, K, d/M).");

  m.def(
      "balance_stats",
      [](In<int32_t> codes, int64_t K) {
        check_ndim(codes, 2, "codes");
        if (K <= 0) throw std::invalid_argument("K must be > 0, got " + str(K));
        const int64_t n = codes.shape(0), M = codes.shape(1);
        const int32_t* cp = codes.data();
        BalanceStats s;
        {
          py::gil_scoped_release nogil;
          s = balance_stats(cp, n, M, K);
        }
        return stats_dict(s, M, K);
      },
      py::arg("codes"), py::arg("K"),
      "Code usage of codes (n, M) int32: dict(counts (M, K), avg_imbalance (M,), entropy (M,) in bits).");

  m.def(
      "train_constrained_pq",
      [](In<float> x, int64_t M, int64_t K, int niter, double epsilon, int iterations, bool scale_costs,
         std::optional<In<float>> init, int init_niter, bool warm_start, uint64_t seed, int threads) {
        check_ndim(x, 2, "x");
        const int64_t n = x.shape(0), d = x.shape(1);
        if (M <= 0 || d % M != 0)
          throw std::invalid_argument("x has " + str(d) + " columns, not a multiple of M=" + str(M));
        const float* ip = nullptr;
        if (init) {
          check_ndim(*init, 3, "init");
          if (init->shape(0) != M || init->shape(1) != K || init->shape(2) != d / M)
            throw std::invalid_argument("init has shape (" + str(init->shape(0)) + ", " + str(init->shape(1)) + ", " +
                                        str(init->shape(2)) + "), expected (M, K, dsub) = (" + str(M) + ", " +
                                        str(K) + ", " + str(d / M) + ")");
          ip = init->data();
        }
        ConstrainedPQOptions o;
        o.niter = niter;
        o.init_niter = init_niter;
        o.sinkhorn = sk_options(epsilon, iterations, scale_costs, threads);
        o.warm_start = warm_start;
        o.seed = seed;
        const float* xp = x.data();
        ConstrainedPQResult r;
        {
          py::gil_scoped_release nogil;
          r = train_constrained_pq(xp, n, d, M, K, ip, o);
        }
        py::array_t<float> centroids({static_cast<S>(M), static_cast<S>(K), static_cast<S>(d / M)});
        std::copy(r.centroids.begin(), r.centroids.end(), centroids.mutable_data());
        py::dict out;
        out["centroids"] = centroids;
        out["mse_constrained"] = py::cast(r.mse_constrained);
        out["mse_nearest"] = py::cast(r.mse_nearest);
        out["imbalance_constrained"] = py::cast(r.imbalance_constrained);
        out["imbalance_nearest"] = py::cast(r.imbalance_nearest);
        out["constrained"] = stats_dict(r.final_constrained, M, K);
        out["nearest"] = stats_dict(r.final_nearest, M, K);
        return out;
      },
      py::arg("x"), py::arg("M"), py::arg("K") = 256, py::arg("niter") = kCpq.niter,
      py::arg("epsilon") = kCpq.sinkhorn.epsilon, py::arg("iterations") = kCpq.sinkhorn.iterations,
      py::arg("scale_costs") = kCpq.sinkhorn.scale_costs, py::arg("init") = py::none(),
      py::arg("init_niter") = kCpq.init_niter, py::arg("warm_start") = kCpq.warm_start, py::arg("seed") = kCpq.seed,
      py::arg("threads") = kCpq.sinkhorn.threads,
      "Constrained PQ k-means on x (n, d): dict(centroids (M, K, d/M), per-iteration mse_constrained, "
      "mse_nearest, imbalance_constrained, imbalance_nearest, final 'constrained' / 'nearest' balance stats).");
}
