// Bindings for late-interaction scoring (csrc/core/late/maxsim.hpp): weighted MaxSim of one
// query's vectors against candidate documents of a token matrix stored as float16, float32
// or PQ codes. Arrays are C-contiguous and never converted (In<T> parameters; float16 token
// matrices, read-only memmaps included, pass through without a copy); the output is
// allocated with the GIL held and the core runs with it released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "array_utils.hpp"
#include "late/maxsim.hpp"

namespace py = pybind11;
using winnow_py::carray;
using winnow_py::In;
using winnow_py::S;
using winnow_py::str;
using winnow_py::check_ndim;

namespace {

const float* weights_ptr(const std::optional<carray<float>>& w, int64_t nq) {
  if (!w) return nullptr;
  check_ndim(*w, 1, "weights");
  if (w->shape(0) != nq)
    throw std::invalid_argument("weights has " + str(w->shape(0)) + " entries, expected one per query vector (" +
                                str(nq) + ")");
  return w->data();
}

void check_offsets_ids(const carray<int64_t>& offsets, const carray<int64_t>& doc_ids) {
  check_ndim(offsets, 1, "offsets");
  check_ndim(doc_ids, 1, "doc_ids");
  if (offsets.shape(0) < 1) throw std::invalid_argument("offsets must have ndocs + 1 >= 1 entries, got 0");
}

// q (nq, dim) against a dense token matrix; returns scores (n,).
template <typename Elem, typename Fn>
py::array_t<float> run_dense(const carray<float>& q, const std::optional<carray<float>>& weights,
                             const py::array& tokens, const carray<int64_t>& offsets,
                             const carray<int64_t>& doc_ids, int threads, Fn core) {
  check_ndim(q, 2, "q");
  if (tokens.ndim() != 2)
    throw std::invalid_argument("tokens must have 2 dimension(s), got " + str(tokens.ndim()));
  check_offsets_ids(offsets, doc_ids);
  const int64_t nq = q.shape(0), dim = q.shape(1), T = tokens.shape(0);
  if (tokens.shape(1) != dim)
    throw std::invalid_argument("tokens have dim " + str(tokens.shape(1)) + ", query dim is " + str(dim));
  if (dim <= 0) throw std::invalid_argument("query dim must be > 0, got " + str(dim));
  const float* wp = weights_ptr(weights, nq);
  const int64_t n = doc_ids.shape(0), ndocs = offsets.shape(0) - 1;
  py::array_t<float> out(static_cast<S>(n));
  float* op = out.mutable_data();
  const float* qp = q.data();
  const Elem* tp = static_cast<const Elem*>(tokens.data());
  const int64_t* offp = offsets.data();
  const int64_t* idp = doc_ids.data();
  {
    py::gil_scoped_release nogil;
    core(qp, wp, nq, dim, tp, T, offp, ndocs, idp, n, op, threads);
  }
  return out;
}

bool is_c_contiguous(const py::array& a) { return (a.flags() & py::array::c_style) != 0; }

}  // namespace

void bind_late(py::module_& m) {
  m.def(
      "maxsim_f16",
      [](In<float> q, std::optional<In<float>> weights, py::array tokens, In<int64_t> offsets,
         In<int64_t> doc_ids, int threads) {
        const py::dtype dt = tokens.dtype();
        if (!(dt.is(py::dtype("float16")) || dt.is(py::dtype::of<uint16_t>())) || !is_c_contiguous(tokens))
          throw std::invalid_argument("tokens must be a C-contiguous float16 numpy array, got " +
                                      py::str(dt).cast<std::string>() +
                                      (is_c_contiguous(tokens) ? "" : " (not C-contiguous)"));
        return run_dense<uint16_t>(q, weights, tokens, offsets, doc_ids, threads, winnow::late::maxsim_f16);
      },
      py::arg("q"), py::arg("weights") = py::none(), py::arg("tokens"),
      py::arg("offsets"), py::arg("doc_ids"), py::arg("threads") = 1,
      "Weighted MaxSim sum_i w_i max_j <q_i, tokens_j> of q (nq, dim) float32 against the candidate documents "
      "doc_ids (n,) int64 of a float16 token matrix (T, dim), document t owning rows offsets[t]:offsets[t+1] "
      "(offsets (ndocs + 1,) int64); weights (nq,) float32 or None (all 1). Returns scores (n,) float32.");

  m.def(
      "maxsim_f32",
      [](In<float> q, std::optional<In<float>> weights, In<float> tokens, In<int64_t> offsets,
         In<int64_t> doc_ids, int threads) {
        return run_dense<float>(q, weights, tokens, offsets, doc_ids, threads, winnow::late::maxsim_f32);
      },
      py::arg("q"), py::arg("weights") = py::none(), py::arg("tokens"),
      py::arg("offsets"), py::arg("doc_ids"), py::arg("threads") = 1,
      "Same as maxsim_f16 for a float32 token matrix (T, dim).");

  m.def(
      "maxsim_pq",
      [](In<float> luts, std::optional<In<float>> weights, In<uint8_t> codes, In<int64_t> offsets,
         In<int64_t> doc_ids, int threads) {
        check_ndim(luts, 3, "luts");
        check_ndim(codes, 2, "codes");
        check_offsets_ids(offsets, doc_ids);
        const int64_t nq = luts.shape(0), M = luts.shape(1), ksub = luts.shape(2);
        if (ksub != 256 && ksub != 16)
          throw std::invalid_argument("luts have ksub " + str(ksub) + ", expected 256 (nbits 8) or 16 (nbits 4)");
        const int nbits = ksub == 256 ? 8 : 4;
        if (M <= 0) throw std::invalid_argument("luts have M = 0 sub-quantizers");
        const int64_t cs = nbits == 8 ? M : (M + 1) / 2;
        if (codes.shape(1) != cs)
          throw std::invalid_argument("codes have " + str(codes.shape(1)) + " columns, expected code_size " + str(cs) +
                                      " for M = " + str(M) + ", nbits = " + str(nbits));
        const float* wp = weights_ptr(weights, nq);
        const int64_t n = doc_ids.shape(0), ndocs = offsets.shape(0) - 1, T = codes.shape(0);
        py::array_t<float> out(static_cast<S>(n));
        float* op = out.mutable_data();
        const float* lp = luts.data();
        const uint8_t* cp = codes.data();
        const int64_t* offp = offsets.data();
        const int64_t* idp = doc_ids.data();
        {
          py::gil_scoped_release nogil;
          winnow::late::maxsim_pq(lp, wp, nq, M, nbits, cp, T, offp, ndocs, idp, n, op, threads);
        }
        return out;
      },
      py::arg("luts"), py::arg("weights") = py::none(), py::arg("codes"),
      py::arg("offsets"), py::arg("doc_ids"), py::arg("threads") = 1,
      "Weighted MaxSim from PQ codes (T, code_size) uint8 through per-query-vector look-up tables luts "
      "(nq, M, ksub) float32 (ProductQuantizer.compute_lut(q_i, 'ip') stacked; ksub 256 -> nbits 8, 16 -> "
      "nbits 4); <q_i, token_j> equals ProductQuantizer.adc(luts[i], codes)[j] exactly. Returns scores (n,).");
}
