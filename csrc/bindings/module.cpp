// winnow._core: the private binding module. One bind_<component>.cpp per component; this
// file only registers the error mapping, BUILD_INFO and calls each binder.
#include <pybind11/pybind11.h>

#include "build_info.hpp"
#include "common.hpp"

namespace py = pybind11;

void bind_common(py::module_& m);
void bind_text(py::module_& m);
void bind_bm25(py::module_& m);
void bind_dense(py::module_& m);
void bind_fastscan(py::module_& m);
void bind_ivf(py::module_& m);
void bind_hnsw(py::module_& m);
void bind_late(py::module_& m);
void bind_sinkhorn(py::module_& m);
void bind_scalar_quantizer(py::module_& m);

PYBIND11_MODULE(_core, m) {
  m.doc() = "Winnow C++ core (private; use the winnow package)";

  // FormatError -> winnow.errors.IndexFormatError (a ValueError defined in Python so that
  // users can catch it without importing the private module).
  static py::object format_error = py::module_::import("winnow.errors").attr("IndexFormatError");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const winnow::FormatError& e) {
      PyErr_SetString(format_error.ptr(), e.what());
    } catch (const winnow::Interrupted&) {
      PyErr_SetNone(PyExc_KeyboardInterrupt);
    }
  });

  py::dict info;
  info["compiler"] = winnow::compiler_version();
  info["flags"] = winnow::build_flags();
  info["simd"] = winnow::detect_simd_level();
  info["cxx_standard"] = __cplusplus;
  m.attr("BUILD_INFO") = info;

  bind_common(m);
  bind_text(m);
  bind_bm25(m);
  bind_dense(m);  // before bind_ivf: registers ProductQuantizer
  bind_fastscan(m);
  bind_ivf(m);
  bind_hnsw(m);
  bind_late(m);
  bind_sinkhorn(m);
  bind_scalar_quantizer(m);
}
