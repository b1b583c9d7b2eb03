// Bindings for the dense core: exact search, k-means, nearest-centroid assignment and the
// product quantizer. Arrays are float32 / uint8 / int64 C-contiguous and never converted
// (In<T> parameters: the Python wrappers convert on purpose); outputs are allocated with the GIL
// held and the core runs with it released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string>

#include "array_utils.hpp"
#include "dense/distances.hpp"
#include "dense/kmeans.hpp"
#include "dense/pq.hpp"
#include "topk.hpp"

namespace py = pybind11;
using namespace winnow::dense;
using winnow_py::carray;
using winnow_py::In;
using winnow_py::S;
using winnow_py::str;
using winnow_py::check_ndim;

namespace {

void check_cols(const carray<float>& a, const char* name, int64_t d, const char* what) {
  if (a.shape(1) != d)
    throw std::invalid_argument(std::string(name) + " has " + str(a.shape(1)) + " columns, " + what + " dim is " +
                                str(d));
}

void check_codes(const carray<uint8_t>& codes, const ProductQuantizer& pq) {
  check_ndim(codes, 2, "codes");
  if (codes.shape(1) != pq.code_size())
    throw std::invalid_argument("codes have " + str(codes.shape(1)) + " columns, PQ code_size is " +
                                str(pq.code_size()));
}

void check_lut(const carray<float>& lut, const ProductQuantizer& pq) {
  check_ndim(lut, 2, "lut");
  if (lut.shape(0) != pq.M() || lut.shape(1) != pq.ksub())
    throw std::invalid_argument("lut has shape (" + str(lut.shape(0)) + ", " + str(lut.shape(1)) + "), expected (M, ksub) = (" +
                                str(pq.M()) + ", " + str(pq.ksub()) + ")");
}

void check_trained(const ProductQuantizer& pq) {
  if (!pq.is_trained()) throw std::invalid_argument("ProductQuantizer is not trained (call train or set_centroids)");
}

}  // namespace

void bind_dense(py::module_& m) {
  m.def(
      "dense_exact_search",
      [](In<float> x, In<float> y, int64_t k, const std::string& metric, int threads,
         std::optional<In<float>> y_norms) {
        check_ndim(x, 2, "x");
        check_ndim(y, 2, "y");
        const Metric met = parse_metric(metric);
        const int64_t nq = x.shape(0), nb = y.shape(0), d = y.shape(1);
        k = winnow::result_columns(k, nb);
        check_cols(x, "x", d, "index");
        if (d <= 0) throw std::invalid_argument("index dim must be > 0, got " + str(d));
        const float* yn = nullptr;
        if (y_norms) {
          check_ndim(*y_norms, 1, "y_norms");
          if (y_norms->shape(0) != nb)
            throw std::invalid_argument("y_norms has " + str(y_norms->shape(0)) + " entries, y has " + str(nb) + " rows");
          yn = y_norms->data();
        }
        py::array_t<float> scores({static_cast<S>(nq), static_cast<S>(k)});
        py::array_t<int64_t> ids({static_cast<S>(nq), static_cast<S>(k)});
        float* sp = scores.mutable_data();
        int64_t* ip = ids.mutable_data();
        const float* xp = x.data();
        const float* yp = y.data();
        {
          py::gil_scoped_release nogil;
          exact_search(xp, nq, yp, nb, d, met, k, sp, ip, threads, yn);
        }
        return py::make_tuple(scores, ids);
      },
      py::arg("x"), py::arg("y"), py::arg("k"), py::arg("metric") = "ip",
      py::arg("threads") = 1, py::arg("y_norms") = py::none(),
      "Exact top-k of x (nq, d) against y (nb, d): (scores (nq, kc) float32, ids (nq, kc) int64), kc = min(k, nb).");

  m.def(
      "all_finite",
      [](In<float> x) {
        const float* p = x.data();
        const int64_t n = x.size();
        bool ok = true;
        {
          py::gil_scoped_release nogil;
          // |v| <= FLT_MAX is false for NaN and +-inf; no early exit inside a chunk, so the
          // compare vectorizes
          constexpr int64_t kChunk = 4096;
          for (int64_t a = 0; a < n && ok; a += kChunk) {
            const int64_t b = std::min(n, a + kChunk);
            bool chunk_ok = true;
            for (int64_t i = a; i < b; ++i) chunk_ok &= std::fabs(p[i]) <= std::numeric_limits<float>::max();
            ok = chunk_ok;
          }
        }
        return ok;
      },
      py::arg("x"),
      "True when every entry of the C-contiguous float32 array x is finite (a fast pre-check: "
      "winnow.validation.check_finite names the offending entry).");

  m.def(
      "dense_squared_norms",
      [](In<float> x) {
        check_ndim(x, 2, "x");
        const int64_t n = x.shape(0), d = x.shape(1);
        py::array_t<float> out(static_cast<S>(n));
        float* op = out.mutable_data();
        const float* xp = x.data();
        {
          py::gil_scoped_release nogil;
          squared_norms(xp, n, d, op);
        }
        return out;
      },
      py::arg("x"), "Squared L2 norms (n,) of the rows of x (n, d).");

  m.def(
      "kmeans",
      [](In<float> x, int64_t k, int niter, uint64_t seed, bool kmeanspp, int64_t max_points_per_centroid,
         int threads, bool spherical) {
        check_ndim(x, 2, "x");
        const int64_t n = x.shape(0), d = x.shape(1);
        KMeansOptions o;
        o.niter = niter;
        o.seed = seed;
        o.kmeanspp = kmeanspp;
        o.max_points_per_centroid = max_points_per_centroid;
        o.threads = threads;
        o.spherical = spherical;
        const float* xp = x.data();
        KMeansResult r;
        {
          py::gil_scoped_release nogil;
          r = kmeans(xp, n, d, k, o);
        }
        py::array_t<float> centroids({static_cast<S>(k), static_cast<S>(d)});
        std::memcpy(centroids.mutable_data(), r.centroids.data(), r.centroids.size() * sizeof(float));
        return py::make_tuple(centroids, py::cast(r.objective), r.empty_clusters_repaired);
      },
      py::arg("x"), py::arg("k"), py::arg("niter") = 20, py::arg("seed") = 1234,
      py::arg("kmeanspp") = false, py::arg("max_points_per_centroid") = 256, py::arg("threads") = 1,
      py::arg("spherical") = false,
      "Lloyd k-means on x (n, d): (centroids (k, d), objective per iteration, empty clusters repaired).");

  m.def(
      "assign_nearest",
      [](In<float> x, In<float> centroids, int threads) {
        check_ndim(x, 2, "x");
        check_ndim(centroids, 2, "centroids");
        const int64_t n = x.shape(0), k = centroids.shape(0), d = centroids.shape(1);
        check_cols(x, "x", d, "centroid");
        if (k <= 0) throw std::invalid_argument("centroids must have at least one row");
        py::array_t<int64_t> assign(static_cast<S>(n));
        py::array_t<float> dist(static_cast<S>(n));
        int64_t* ap = assign.mutable_data();
        float* dp = dist.mutable_data();
        const float* xp = x.data();
        const float* cp = centroids.data();
        {
          py::gil_scoped_release nogil;
          assign_nearest(xp, n, cp, k, d, ap, dp, threads);
        }
        return py::make_tuple(assign, dist);
      },
      py::arg("x"), py::arg("centroids"), py::arg("threads") = 1,
      "Nearest centroid (L2) of each row of x: (assign (n,) int64, squared distance (n,) float32).");

  py::class_<ProductQuantizer>(m, "ProductQuantizer")
      .def(py::init<int64_t, int64_t, int>(), py::arg("d"), py::arg("M"), py::arg("nbits"))
      .def_property_readonly("d", &ProductQuantizer::d)
      .def_property_readonly("M", &ProductQuantizer::M)
      .def_property_readonly("nbits", &ProductQuantizer::nbits)
      .def_property_readonly("dsub", &ProductQuantizer::dsub)
      .def_property_readonly("ksub", &ProductQuantizer::ksub)
      .def_property_readonly("code_size", &ProductQuantizer::code_size)
      .def_property_readonly("is_trained", &ProductQuantizer::is_trained)
      .def_property_readonly("centroids",
                             [](const ProductQuantizer& pq) {
                               py::array_t<float> out({static_cast<S>(pq.M()), static_cast<S>(pq.ksub()),
                                                       static_cast<S>(pq.dsub())});
                               std::memcpy(out.mutable_data(), pq.centroids().data(),
                                           pq.centroids().size() * sizeof(float));
                               return out;
                             })
      .def(
          "set_centroids",
          [](ProductQuantizer& pq, In<float> c) {
            check_ndim(c, 3, "centroids");
            if (c.shape(0) != pq.M() || c.shape(1) != pq.ksub() || c.shape(2) != pq.dsub())
              throw std::invalid_argument("centroids have shape (" + str(c.shape(0)) + ", " + str(c.shape(1)) + ", " +
                                          str(c.shape(2)) + "), expected (M, ksub, dsub) = (" + str(pq.M()) + ", " +
                                          str(pq.ksub()) + ", " + str(pq.dsub()) + ")");
            pq.set_centroids(c.data());
          },
          py::arg("centroids"))
      .def(
          "train",
          [](ProductQuantizer& pq, In<float> x, int niter, uint64_t seed, int threads,
             int64_t max_points_per_centroid) {
            check_ndim(x, 2, "x");
            check_cols(x, "x", pq.d(), "PQ");
            KMeansOptions o;
            o.niter = niter;
            o.seed = seed;
            o.threads = threads;
            o.max_points_per_centroid = max_points_per_centroid;
            const float* xp = x.data();
            const int64_t n = x.shape(0);
            {
              py::gil_scoped_release nogil;
              pq.train(xp, n, o);
            }
          },
          py::arg("x"), py::arg("niter") = 25, py::arg("seed") = 1234, py::arg("threads") = 1,
          py::arg("max_points_per_centroid") = 256)
      .def(
          "encode",
          [](const ProductQuantizer& pq, In<float> x, int threads) {
            check_ndim(x, 2, "x");
            check_cols(x, "x", pq.d(), "PQ");
            check_trained(pq);
            const int64_t n = x.shape(0);
            py::array_t<uint8_t> codes({static_cast<S>(n), static_cast<S>(pq.code_size())});
            uint8_t* cp = codes.mutable_data();
            const float* xp = x.data();
            {
              py::gil_scoped_release nogil;
              pq.encode(xp, n, cp, threads);
            }
            return codes;
          },
          py::arg("x"), py::arg("threads") = 1)
      .def(
          "decode",
          [](const ProductQuantizer& pq, In<uint8_t> codes) {
            check_codes(codes, pq);
            check_trained(pq);
            const int64_t n = codes.shape(0);
            py::array_t<float> x({static_cast<S>(n), static_cast<S>(pq.d())});
            float* xp = x.mutable_data();
            const uint8_t* cp = codes.data();
            {
              py::gil_scoped_release nogil;
              pq.decode(cp, n, xp);
            }
            return x;
          },
          py::arg("codes"))
      .def(
          "compute_lut",
          [](const ProductQuantizer& pq, In<float> q, const std::string& metric) {
            check_ndim(q, 1, "q");
            if (q.shape(0) != pq.d())
              throw std::invalid_argument("q has " + str(q.shape(0)) + " entries, PQ dim is " + str(pq.d()));
            check_trained(pq);
            const Metric met = parse_metric(metric);
            py::array_t<float> lut({static_cast<S>(pq.M()), static_cast<S>(pq.ksub())});
            float* lp = lut.mutable_data();
            const float* qp = q.data();
            {
              py::gil_scoped_release nogil;
              pq.compute_lut(qp, met, lp);
            }
            return lut;
          },
          py::arg("q"), py::arg("metric") = "ip")
      .def(
          "compute_luts",
          [](const ProductQuantizer& pq, In<float> x, const std::string& metric) {
            check_ndim(x, 2, "x");
            if (x.shape(1) != pq.d())
              throw std::invalid_argument("x has " + str(x.shape(1)) + " columns, PQ dim is " + str(pq.d()));
            check_trained(pq);
            const Metric met = parse_metric(metric);
            const int64_t nq = x.shape(0);
            const int64_t lut_size = pq.M() * pq.ksub();
            py::array_t<float> luts({static_cast<S>(nq), static_cast<S>(pq.M()), static_cast<S>(pq.ksub())});
            float* lp = luts.mutable_data();
            const float* xp = x.data();
            {
              py::gil_scoped_release nogil;
              for (int64_t i = 0; i < nq; ++i) pq.compute_lut(xp + i * pq.d(), met, lp + i * lut_size);
            }
            return luts;
          },
          py::arg("x"), py::arg("metric") = "ip",
          "Look-up tables (nq, M, ksub) of queries x (nq, d), one compute_lut per row.")
      .def(
          "adc",
          [](const ProductQuantizer& pq, In<float> lut, In<uint8_t> codes) {
            check_lut(lut, pq);
            check_codes(codes, pq);
            const int64_t n = codes.shape(0);
            py::array_t<float> out(static_cast<S>(n));
            float* op = out.mutable_data();
            const float* lp = lut.data();
            const uint8_t* cp = codes.data();
            {
              py::gil_scoped_release nogil;
              pq.adc(lp, cp, n, op);
            }
            return out;
          },
          py::arg("lut"), py::arg("codes"))
      .def(
          "adc_subset",
          [](const ProductQuantizer& pq, In<float> lut, In<uint8_t> codes, In<int64_t> ids) {
            check_lut(lut, pq);
            check_codes(codes, pq);
            check_ndim(ids, 1, "ids");
            const int64_t n = codes.shape(0), count = ids.shape(0);
            const int64_t* idp = ids.data();
            for (int64_t j = 0; j < count; ++j)
              if (idp[j] < 0 || idp[j] >= n)
                throw py::index_error("ids[" + str(j) + "] = " + str(idp[j]) + " is out of range for " + str(n) +
                                      " codes");
            py::array_t<float> out(static_cast<S>(count));
            float* op = out.mutable_data();
            const float* lp = lut.data();
            const uint8_t* cp = codes.data();
            {
              py::gil_scoped_release nogil;
              pq.adc_subset(lp, cp, idp, count, op);
            }
            return out;
          },
          py::arg("lut"), py::arg("codes"), py::arg("ids"));
}
