// Bindings for IVF and exhaustive PQ search over caller-owned arrays (see dense/ivf.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "array_utils.hpp"
#include "search_options.hpp"
#include "dense/fastscan.hpp"
#include "dense/ivf.hpp"
#include "thread_pool.hpp"
#include "topk.hpp"

namespace py = pybind11;
using namespace winnow::dense;
using winnow_py::carray;
using winnow_py::In;

namespace {

std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

template <typename T>
void expect_shape(const carray<T>& a, std::initializer_list<int64_t> shape, const char* name) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  size_t i = 0;
  for (int64_t s : shape) {
    if (ok && s >= 0 && a.shape(i) != s) ok = false;
    ++i;
  }
  if (!ok) {
    std::string want = "(";
    i = 0;
    for (int64_t s : shape) want += (i++ ? ", " : "") + (s < 0 ? std::string("*") : std::to_string(s));
    throw std::invalid_argument(std::string(name) + " has shape " + shape_of(a) + ", expected " + want + ")");
  }
}

void check_queries(const carray<float>& x, int64_t d) {
  if (x.ndim() != 2) throw std::invalid_argument("queries must be 2-D (nq, d), got shape " + shape_of(x));
  if (x.shape(1) != d)
    throw std::invalid_argument("queries have " + std::to_string(x.shape(1)) + " columns, index dim is " +
                                std::to_string(d));
}

py::tuple outputs(int64_t nq, int64_t k) {
  return py::make_tuple(py::array_t<float>({nq, k}), py::array_t<int64_t>({nq, k}));
}

}  // namespace

void bind_ivf(py::module_& m) {
  m.def(
      "ivf_search",
      [](In<float> centroids, In<int64_t> list_offsets, In<int64_t> ids, const std::string& payload,
         py::object vectors, py::object codes, py::object packed, py::object packed_offsets, const ProductQuantizer* pq,
         bool residual, py::object refine, const std::string& metric, In<float> x, int64_t k, int64_t nprobe,
         int64_t refine_k, int64_t rescore_k, py::object allow, int threads) {
        IvfView v;
        if (centroids.ndim() != 2) throw std::invalid_argument("centroids must be 2-D (nlist, d)");
        v.nlist = centroids.shape(0);
        v.d = centroids.shape(1);
        v.n = ids.size();
        v.metric = parse_metric(metric);
        v.centroids = centroids.data();
        expect_shape(list_offsets, {v.nlist + 1}, "list_offsets");
        v.list_offsets = list_offsets.data();
        v.ids = ids.data();
        v.pq = pq;
        v.residual = residual;
        carray<float> vec_arr, refine_arr;
        carray<uint8_t> code_arr, packed_arr;
        carray<int64_t> poff_arr, allow_arr;
        int64_t packed_bytes = 0;
        if (payload == "flat") {
          v.payload = IvfPayload::Flat;
          vec_arr = winnow_py::as_carray<float>(vectors, "vectors");
          expect_shape(vec_arr, {v.n, v.d}, "vectors");
          v.vectors = vec_arr.data();
        } else if (payload == "pq") {
          v.payload = IvfPayload::PQ;
          if (!pq) throw std::invalid_argument("payload 'pq' needs a ProductQuantizer");
          code_arr = winnow_py::as_carray<uint8_t>(codes, "codes");
          expect_shape(code_arr, {v.n, pq->code_size()}, "codes");
          v.codes = code_arr.data();
        } else if (payload == "fastscan") {
          v.payload = IvfPayload::FastScan;
          if (!pq || pq->nbits() != 4) throw std::invalid_argument("payload 'fastscan' needs a 4-bit ProductQuantizer");
          packed_arr = winnow_py::as_carray<uint8_t>(packed, "packed");
          poff_arr = winnow_py::as_carray<int64_t>(packed_offsets, "packed_offsets");
          expect_shape(poff_arr, {v.nlist + 1}, "packed_offsets");
          v.packed = packed_arr.data();
          v.packed_offsets = poff_arr.data();
          packed_bytes = packed_arr.size();
        } else {
          throw std::invalid_argument("unknown payload '" + payload + "' (expected flat, pq or fastscan)");
        }
        if (!refine.is_none()) {
          refine_arr = winnow_py::as_carray<float>(refine, "refine");
          expect_shape(refine_arr, {v.n, v.d}, "refine");
          v.refine = refine_arr.data();
        }
        check_queries(x, v.d);
        v.validate(packed_bytes);
        SearchOptions o = winnow_py::search_options(k, v.n, nprobe, refine_k, rescore_k, allow, threads, allow_arr);
        const int64_t nq = x.shape(0);
        py::tuple out = outputs(nq, o.k);
        float* sp = out[0].cast<py::array_t<float>>().mutable_data();
        int64_t* ip = out[1].cast<py::array_t<int64_t>>().mutable_data();
        const float* xp = x.data();
        {
          py::gil_scoped_release nogil;
          ivf_search(v, xp, nq, o, sp, ip);
        }
        return out;
      },
      py::arg("centroids"), py::arg("list_offsets"), py::arg("ids"),
      py::arg("payload"), py::arg("vectors") = py::none(), py::arg("codes") = py::none(),
      py::arg("packed") = py::none(), py::arg("packed_offsets") = py::none(), py::arg("pq") = nullptr,
      py::arg("residual") = false, py::arg("refine") = py::none(), py::arg("metric") = "ip",
      py::arg("x"), py::arg("k") = 10, py::arg("nprobe") = 1, py::arg("refine_k") = 0,
      py::arg("rescore_k") = 0, py::arg("allow") = py::none(), py::arg("threads") = 1,
      "IVF search; returns (scores (nq, kc) float32, ids (nq, kc) int64), kc = min(k, n).");

  m.def(
      "pq_search",
      [](const ProductQuantizer& pq, const std::string& metric, In<uint8_t> codes, py::object ids,
         py::object refine, In<float> x, int64_t k, int64_t refine_k, py::object allow, int threads) {
        expect_shape(codes, {-1, pq.code_size()}, "codes");
        const int64_t n = codes.shape(0);
        carray<int64_t> id_arr, allow_arr;
        carray<float> refine_arr;
        const int64_t* idp = nullptr;
        if (!ids.is_none()) {
          id_arr = winnow_py::as_carray<int64_t>(ids, "ids");
          expect_shape(id_arr, {n}, "ids");
          idp = id_arr.data();
        }
        const float* rp = nullptr;
        if (!refine.is_none()) {
          refine_arr = winnow_py::as_carray<float>(refine, "refine");
          expect_shape(refine_arr, {n, pq.d()}, "refine");
          rp = refine_arr.data();
        }
        check_queries(x, pq.d());
        SearchOptions o = winnow_py::search_options(k, n, 1, refine_k, 0, allow, threads, allow_arr);
        Metric mt = parse_metric(metric);
        const int64_t nq = x.shape(0);
        py::tuple out = outputs(nq, o.k);
        float* sp = out[0].cast<py::array_t<float>>().mutable_data();
        int64_t* ip = out[1].cast<py::array_t<int64_t>>().mutable_data();
        const uint8_t* cp = codes.data();
        const float* xp = x.data();
        {
          py::gil_scoped_release nogil;
          pq_search(pq, mt, cp, n, idp, rp, xp, nq, o, sp, ip);
        }
        return out;
      },
      py::arg("pq"), py::arg("metric"), py::arg("codes"), py::arg("ids") = py::none(),
      py::arg("refine") = py::none(), py::arg("x"), py::arg("k") = 10, py::arg("refine_k") = 0,
      py::arg("allow") = py::none(), py::arg("threads") = 1,
      "Exhaustive PQ (ADC) search; returns (scores (nq, kc) float32, ids (nq, kc) int64), kc = min(k, n).");
}
