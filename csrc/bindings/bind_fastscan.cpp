// Bindings for the 4-bit PQ fast-scan kernel (csrc/core/dense/fastscan.hpp): pack/unpack of
// ProductQuantizer nbits=4 codes and the exhaustive top-k scan, threads over queries.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "array_utils.hpp"
#include "dense/fastscan.hpp"
#include "thread_pool.hpp"
#include "topk.hpp"

namespace py = pybind11;
using winnow_py::carray;
using winnow_py::In;

namespace {

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

void check_M(int64_t M) {
  if (M < 1) throw std::invalid_argument("M must be >= 1, got " + std::to_string(M));
}

void check_packed(const carray<uint8_t>& packed, int64_t n, int64_t M) {
  if (n < 0) throw std::invalid_argument("n must be >= 0, got " + std::to_string(n));
  check_M(M);
  winnow_py::check_ndim(packed, 1, "packed");
  const int64_t expected = winnow::dense::fastscan_packed_bytes(n, M);
  if (packed.size() != expected)
    throw std::invalid_argument("packed has " + std::to_string(packed.size()) + " bytes, expected " +
                                std::to_string(expected) + " for n=" + std::to_string(n) + ", M=" + std::to_string(M));
}

}  // namespace

void bind_fastscan(py::module_& m) {
  m.def(
      "fastscan_pack",
      [](const In<uint8_t>& codes, int64_t M) {
        check_M(M);
        winnow_py::check_ndim(codes, 2, "codes");
        const int64_t cs = (M + 1) / 2;
        if (codes.shape(1) != cs)
          throw std::invalid_argument("codes has shape " + shape_str(codes) + ", expected (n, " + std::to_string(cs) +
                                      ") for M=" + std::to_string(M) + " 4-bit codes");
        const int64_t n = codes.shape(0);
        py::array_t<uint8_t> packed(static_cast<py::ssize_t>(winnow::dense::fastscan_packed_bytes(n, M)));
        uint8_t* out = packed.mutable_data();
        const uint8_t* in = codes.data();
        {
          py::gil_scoped_release nogil;
          winnow::dense::fastscan_pack(in, n, M, out);
        }
        return packed;
      },
      py::arg("codes"), py::arg("M"),
      "Re-lay (n, ceil(M/2)) uint8 4-bit PQ codes into the fast-scan block layout (1-D uint8).");

  m.def(
      "fastscan_unpack",
      [](const In<uint8_t>& packed, int64_t n, int64_t M) {
        check_packed(packed, n, M);
        py::array_t<uint8_t> codes({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>((M + 1) / 2)});
        uint8_t* out = codes.mutable_data();
        const uint8_t* in = packed.data();
        {
          py::gil_scoped_release nogil;
          winnow::dense::fastscan_unpack(in, n, M, out);
        }
        return codes;
      },
      py::arg("packed"), py::arg("n"), py::arg("M"),
      "Inverse of fastscan_pack: (n, ceil(M/2)) uint8 codes.");

  m.def(
      "fastscan_search",
      [](const In<uint8_t>& packed, int64_t n, int64_t M, const In<float>& luts, int64_t k, int64_t rescore_k,
         const std::optional<In<int64_t>>& id_map, int threads) {
        check_packed(packed, n, M);
        if (luts.ndim() != 3 || luts.shape(1) != M || luts.shape(2) != 16)
          throw std::invalid_argument("luts has shape " + shape_str(luts) + ", expected (nq, " + std::to_string(M) +
                                      ", 16)");
        k = winnow::result_columns(k, n);  // at most n columns, whatever k asks for
        if (rescore_k < 0) throw std::invalid_argument("rescore_k must be >= 0, got " + std::to_string(rescore_k));
        rescore_k = std::min(rescore_k, n);
        winnow::check_threads(threads);
        const int64_t* map = nullptr;
        if (id_map) {
          winnow_py::check_ndim(*id_map, 1, "id_map");
          if (id_map->shape(0) != n)
            throw std::invalid_argument("id_map has " + std::to_string(id_map->shape(0)) + " entries, expected n=" +
                                        std::to_string(n));
          map = id_map->data();
        }
        const int64_t nq = luts.shape(0);
        py::array_t<float> scores({static_cast<py::ssize_t>(nq), static_cast<py::ssize_t>(k)});
        py::array_t<int64_t> ids({static_cast<py::ssize_t>(nq), static_cast<py::ssize_t>(k)});
        float* sp = scores.mutable_data();
        int64_t* ip = ids.mutable_data();
        const uint8_t* codes = packed.data();
        const float* lp = luts.data();
        {
          py::gil_scoped_release nogil;
          // groups of queries share each pass over the codes (fastscan_search_batch); threads
          // take whole groups, so the split never changes a result
          constexpr int64_t kGroup = 32;
          const int64_t nt = winnow::resolve_threads(threads);
          const int64_t group = std::max<int64_t>(1, std::min(kGroup, (nq + nt - 1) / nt));
          winnow::parallel_for((nq + group - 1) / group, threads, [&](int64_t g) {
            const int64_t q0 = g * group, cnt = std::min(group, nq - q0);
            winnow::dense::fastscan_search_batch(codes, n, M, lp + q0 * M * 16, cnt, k, rescore_k, map, sp + q0 * k,
                                                 ip + q0 * k);
          });
        }
        return py::make_tuple(scores, ids);
      },
      py::arg("packed"), py::arg("n"), py::arg("M"), py::arg("luts"), py::arg("k"),
      py::arg("rescore_k") = 0, py::arg("id_map") = py::none(), py::arg("threads") = 1,
      "Exhaustive top-k over packed 4-bit codes for each query LUT (nq, M, 16) float32; higher scores first. "
      "rescore_k > 0 re-scores the best max(k, rescore_k) approximate candidates with the float LUT. "
      "Returns (scores (nq, kc) float32, ids (nq, kc) int64), kc = min(k, n), padded with -inf / -1.");

  m.def("fastscan_kernel", []() { return std::string(winnow::dense::fastscan_kernel()); },
        "Name of the fast-scan kernel in use: 'avx512', 'avx2' or 'scalar'.");
  m.def(
      "fastscan_force_kernel", [](const std::string& name) { winnow::dense::fastscan_force_kernel(name.c_str()); },
      py::arg("name"), "Force a fast-scan kernel ('avx512', 'avx2', 'scalar'), or '' for automatic (tests, benchmarks).");
}
