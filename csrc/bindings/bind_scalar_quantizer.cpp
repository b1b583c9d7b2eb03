// Bindings for the scalar quantizer (float32 / float16 / SQ8 codec), its CodeScorer, and the
// exhaustive and IVF searches over scalar-quantized codes (dense/sq_search.hpp).
// Arrays are float32 / uint8 C-contiguous and never converted (In<T> parameters); outputs are
// allocated with the GIL held and the core runs with it released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <string>

#include "array_utils.hpp"
#include "search_options.hpp"
#include "dense/float16.hpp"
#include "dense/scalar_quantizer.hpp"
#include "dense/sq_search.hpp"
#include "thread_pool.hpp"
#include "topk.hpp"

namespace py = pybind11;
using namespace winnow::dense;
using winnow_py::carray;
using winnow_py::check_ndim;
using winnow_py::In;
using winnow_py::S;
using winnow_py::str;

namespace {

void check_vectors(const carray<float>& x, const ScalarQuantizer& sq, const char* name) {
  check_ndim(x, 2, name);
  if (x.shape(1) != sq.d())
    throw std::invalid_argument(std::string(name) + " has " + str(x.shape(1)) + " columns, quantizer dim is " +
                                str(sq.d()));
}

void check_codes(const carray<uint8_t>& codes, const ScalarQuantizer& sq) {
  check_ndim(codes, 2, "codes");
  if (codes.shape(1) != sq.code_size())
    throw std::invalid_argument("codes have " + str(codes.shape(1)) + " columns, code_size is " +
                                str(sq.code_size()));
}

void check_range_array(const carray<float>& a, const ScalarQuantizer& sq, const char* name) {
  check_ndim(a, 1, name);
  if (a.shape(0) != sq.d())
    throw std::invalid_argument(std::string(name) + " has " + str(a.shape(0)) + " entries, quantizer dim is " +
                                str(sq.d()));
}

void check_rows(const carray<float>& a, int64_t n, int64_t d, const char* name) {
  if (a.ndim() != 2 || a.shape(0) != n || a.shape(1) != d)
    throw std::invalid_argument(std::string(name) + " must have shape (" + str(n) + ", " + str(d) + ")");
}

py::array_t<float> copy_out(const std::vector<float>& v) {
  py::array_t<float> out(static_cast<S>(v.size()));
  if (!v.empty()) std::memcpy(out.mutable_data(), v.data(), v.size() * sizeof(float));
  return out;
}

}  // namespace

void bind_scalar_quantizer(py::module_& m) {
  py::class_<ScalarQuantizer>(m, "ScalarQuantizer")
      .def(py::init([](int64_t d, const std::string& codec) { return ScalarQuantizer(d, parse_scalar_codec(codec)); }),
           py::arg("d"), py::arg("codec"))
      .def_property_readonly("d", &ScalarQuantizer::d)
      .def_property_readonly("codec", [](const ScalarQuantizer& sq) { return scalar_codec_name(sq.codec()); })
      .def_property_readonly("code_size", &ScalarQuantizer::code_size)
      .def_property_readonly("is_trained", &ScalarQuantizer::is_trained)
      .def_property_readonly("vmin", [](const ScalarQuantizer& sq) { return copy_out(sq.vmin()); },
                             "SQ8 per-dimension range minimum (d,), a copy; empty for float32 / float16")
      .def_property_readonly("vdiff", [](const ScalarQuantizer& sq) { return copy_out(sq.vdiff()); },
                             "SQ8 per-dimension range width (d,), a copy; empty for float32 / float16")
      .def(
          "train",
          [](ScalarQuantizer& sq, In<float> x) {
            check_vectors(x, sq, "x");
            const float* xp = x.data();
            const int64_t n = x.shape(0);
            py::gil_scoped_release nogil;
            sq.train(xp, n);
          },
          py::arg("x"))
      .def(
          "set_ranges",
          [](ScalarQuantizer& sq, In<float> vmin, In<float> vdiff) {
            check_range_array(vmin, sq, "vmin");
            check_range_array(vdiff, sq, "vdiff");
            sq.set_ranges(vmin.data(), vdiff.data());
          },
          py::arg("vmin"), py::arg("vdiff"))
      .def(
          "encode",
          [](const ScalarQuantizer& sq, In<float> x, int threads) {
            check_vectors(x, sq, "x");
            const int64_t n = x.shape(0);
            py::array_t<uint8_t> codes({static_cast<S>(n), static_cast<S>(sq.code_size())});
            uint8_t* cp = codes.mutable_data();
            const float* xp = x.data();
            {
              py::gil_scoped_release nogil;
              sq.encode(xp, n, cp, threads);
            }
            return codes;
          },
          py::arg("x"), py::arg("threads") = 1, "codes (n, code_size) uint8 of x (n, d)")
      .def(
          "decode",
          [](const ScalarQuantizer& sq, In<uint8_t> codes) {
            check_codes(codes, sq);
            const int64_t n = codes.shape(0);
            py::array_t<float> x({static_cast<S>(n), static_cast<S>(sq.d())});
            float* xp = x.mutable_data();
            const uint8_t* cp = codes.data();
            {
              py::gil_scoped_release nogil;
              sq.decode(cp, n, xp);
            }
            return x;
          },
          py::arg("codes"), "x (n, d) float32 from codes (n, code_size)")
      .def(
          "score",
          [](const ScalarQuantizer& sq, In<float> q, In<uint8_t> codes, const std::string& metric, bool one_by_one,
             bool simd) {
            check_ndim(q, 1, "q");
            if (q.shape(0) != sq.d())
              throw std::invalid_argument("q has " + str(q.shape(0)) + " entries, quantizer dim is " + str(sq.d()));
            check_codes(codes, sq);
            const Metric met = parse_metric(metric);
            const int64_t n = codes.shape(0);
            py::array_t<float> out(static_cast<S>(n));
            float* op = out.mutable_data();
            const uint8_t* cp = codes.data();
            const float* qp = q.data();
            {
              py::gil_scoped_release nogil;
              const CodeScorer scorer(sq, met, qp, simd);
              if (one_by_one) {
                for (int64_t i = 0; i < n; ++i) op[i] = scorer(cp + i * sq.code_size());
              } else {
                scorer.score_many(cp, n, op);
              }
            }
            return out;
          },
          py::arg("q"), py::arg("codes"), py::arg("metric") = "ip", py::arg("one_by_one") = false,
          py::arg("simd") = true,
          "CodeScorer scores (n,) of one query q (d,) against codes (n, code_size): score_many, or one "
          "operator() call per code with one_by_one; simd=False forces the scalar kernels (tests)");

  m.def("scalar_quantizer_kernel", [](bool simd) {
    ScalarQuantizer sq(1, ScalarCodec::Float32);
    const float q = 0.0f;
    return std::string(CodeScorer(sq, Metric::InnerProduct, &q, simd).kernel_name());
  }, py::arg("simd") = true, "The CodeScorer kernel in use: 'avx2' or 'scalar'.");

  m.def(
      "float16_portable_round_trip",
      [](In<float> x) {
        check_ndim(x, 1, "x");
        const int64_t n = x.shape(0);
        py::array_t<uint16_t> halves(static_cast<S>(n));
        py::array_t<float> back(static_cast<S>(n));
        uint16_t* hp = halves.mutable_data();
        float* bp = back.mutable_data();
        for (int64_t i = 0; i < n; ++i) {
          hp[i] = float_to_half(x.data()[i]);
          bp[i] = half_to_float(hp[i]);
        }
        return py::make_tuple(halves, back);
      },
      py::arg("x"), "(halves (n,) uint16, floats (n,)) through the portable (non-F16C) conversions (tests)");

  m.def(
      "sq_search",
      [](const ScalarQuantizer& sq, const std::string& metric, In<uint8_t> codes, py::object ids, py::object refine,
         In<float> x, int64_t k, int64_t refine_k, py::object allow, int threads) {
        check_codes(codes, sq);
        check_vectors(x, sq, "queries");
        const int64_t n = codes.shape(0);
        carray<int64_t> id_arr, allow_arr;
        carray<float> refine_arr;
        const int64_t* idp = nullptr;
        if (!ids.is_none()) {
          id_arr = winnow_py::as_carray<int64_t>(ids, "ids");
          if (id_arr.ndim() != 1 || id_arr.shape(0) != n)
            throw std::invalid_argument("ids must have shape (" + str(n) + ",)");
          idp = id_arr.data();
        }
        const float* rp = nullptr;
        if (!refine.is_none()) {
          refine_arr = winnow_py::as_carray<float>(refine, "refine");
          check_rows(refine_arr, n, sq.d(), "refine");
          rp = refine_arr.data();
        }
        const SearchOptions o = winnow_py::search_options(k, n, 1, refine_k, 0, allow, threads, allow_arr);
        const Metric met = parse_metric(metric);
        const int64_t nq = x.shape(0);
        py::array_t<float> scores({static_cast<S>(nq), static_cast<S>(o.k)});
        py::array_t<int64_t> out_ids({static_cast<S>(nq), static_cast<S>(o.k)});
        float* sp = scores.mutable_data();
        int64_t* ip = out_ids.mutable_data();
        const uint8_t* cp = codes.data();
        const float* xp = x.data();
        {
          py::gil_scoped_release nogil;
          sq_search(sq, met, cp, n, idp, rp, xp, nq, o, sp, ip);
        }
        return py::make_tuple(scores, out_ids);
      },
      py::arg("sq"), py::arg("metric"), py::arg("codes"), py::arg("ids") = py::none(),
      py::arg("refine") = py::none(), py::arg("x"), py::arg("k") = 10, py::arg("refine_k") = 0,
      py::arg("allow") = py::none(), py::arg("threads") = 1,
      "Exhaustive search over scalar-quantized codes (n, code_size); returns (scores (nq, kc) float32, "
      "ids (nq, kc) int64), kc = min(k, n).");

  m.def(
      "ivf_sq_search",
      [](In<float> centroids, In<int64_t> list_offsets, In<int64_t> ids, In<uint8_t> codes, const ScalarQuantizer& sq,
         bool residual, py::object refine, const std::string& metric, In<float> x, int64_t k, int64_t nprobe,
         int64_t refine_k, py::object allow, int threads) {
        IvfSqView v;
        check_ndim(centroids, 2, "centroids");
        v.nlist = centroids.shape(0);
        v.d = centroids.shape(1);
        v.n = ids.size();
        v.metric = parse_metric(metric);
        v.centroids = centroids.data();
        if (list_offsets.ndim() != 1 || list_offsets.shape(0) != v.nlist + 1)
          throw std::invalid_argument("list_offsets must have shape (" + str(v.nlist + 1) + ",)");
        v.list_offsets = list_offsets.data();
        v.ids = ids.data();
        v.sq = &sq;
        v.residual = residual;
        check_codes(codes, sq);
        if (codes.shape(0) != v.n) throw std::invalid_argument("codes have " + str(codes.shape(0)) + " rows, ids " + str(v.n));
        v.codes = codes.data();
        carray<float> refine_arr;
        carray<int64_t> allow_arr;
        if (!refine.is_none()) {
          refine_arr = winnow_py::as_carray<float>(refine, "refine");
          check_rows(refine_arr, v.n, v.d, "refine");
          v.refine = refine_arr.data();
        }
        check_vectors(x, sq, "queries");
        v.validate();
        const SearchOptions o = winnow_py::search_options(k, v.n, nprobe, refine_k, 0, allow, threads, allow_arr);
        const int64_t nq = x.shape(0);
        py::array_t<float> scores({static_cast<S>(nq), static_cast<S>(o.k)});
        py::array_t<int64_t> out_ids({static_cast<S>(nq), static_cast<S>(o.k)});
        float* sp = scores.mutable_data();
        int64_t* ip = out_ids.mutable_data();
        const float* xp = x.data();
        {
          py::gil_scoped_release nogil;
          ivf_sq_search(v, xp, nq, o, sp, ip);
        }
        return py::make_tuple(scores, out_ids);
      },
      py::arg("centroids"), py::arg("list_offsets"), py::arg("ids"), py::arg("codes"), py::arg("sq"),
      py::arg("residual") = false, py::arg("refine") = py::none(), py::arg("metric") = "ip", py::arg("x"),
      py::arg("k") = 10, py::arg("nprobe") = 1, py::arg("refine_k") = 0, py::arg("allow") = py::none(),
      py::arg("threads") = 1,
      "IVF search over scalar-quantized lists; returns (scores (nq, kc) float32, ids (nq, kc) int64), kc = min(k, n).");
}
