// Bindings for the scalar quantizer (float32 / float16 / SQ8 codec) and its CodeScorer.
// Arrays are float32 / uint8 C-contiguous and never converted (In<T> parameters); outputs are
// allocated with the GIL held and the core runs with it released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <string>

#include "array_utils.hpp"
#include "dense/float16.hpp"
#include "dense/scalar_quantizer.hpp"

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
}
