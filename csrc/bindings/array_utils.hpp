// Helpers shared by the bind_*.cpp files: no-copy array parameters and shape checks.
//
// The one rule for arrays crossing into the core: never a copy, and a mismatch is a ValueError.
// One helper, as_carray<T>, checks dtype and layout and borrows the very array. It is reached
// two ways:
//  - a bound function's array parameter is declared `In<T> x`: its caster (below) calls
//    as_carray<T>, so a float64, strided or transposed argument raises ValueError instead of
//    pybind's TypeError or a silent converting copy;
//  - anything reached through a py::object (dict entries, optional payloads) calls as_carray<T>
//    with the array's name.
// Never py::cast<carray<T>>: it converts into a temporary, and a pointer kept past the call
// would dangle.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace winnow_py {
namespace py = pybind11;

template <typename T>
using carray = py::array_t<T, py::array::c_style>;
using S = py::ssize_t;  // numpy shape entries

/// Number as text, for error messages ("x has 96 columns, index dim is 128").
inline std::string str(int64_t v) { return std::to_string(v); }

/// Throw ValueError unless `a` has `ndim` dimensions.
template <typename T>
void check_ndim(const carray<T>& a, int ndim, const char* name) {
  if (a.ndim() != ndim)
    throw std::invalid_argument(std::string(name) + " must have " + std::to_string(ndim) + " dimension(s), got " +
                                std::to_string(a.ndim()));
}

/// `obj` as a C-contiguous array of T without any conversion or copy; ValueError naming
/// `name` when the dtype or layout differs (the Python wrapper converts on purpose).
template <typename T>
carray<T> as_carray(const py::handle& obj, const char* name) {
  if (!carray<T>::check_(obj)) {
    std::string got = py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>();
    if (py::isinstance<py::array>(obj)) {
      auto a = py::reinterpret_borrow<py::array>(obj);
      got = (a.flags() & py::array::c_style ? "a C-contiguous " : "a non-contiguous ") +
            py::str(a.dtype()).cast<std::string>() + " array";
    }
    throw std::invalid_argument(std::string(name) + " must be a C-contiguous " +
                                py::str(py::dtype::of<T>()).cast<std::string>() + " numpy array, got " + got);
  }
  return py::reinterpret_borrow<carray<T>>(obj);
}

/// A bound function's array parameter: a carray<T> that only the no-copy caster below fills.
template <typename T>
class In : public carray<T> {
 public:
  In() = default;
  explicit In(carray<T>&& a) : carray<T>(std::move(a)) {}
};

/// Wrap a buffer owned by a shared_ptr<Owner> as a read-only 1-D numpy array without copying.
template <typename T, typename Owner>
py::array_t<T> view_array(const T* data, size_t n, std::shared_ptr<Owner> owner) {
  auto* holder = new std::shared_ptr<Owner>(std::move(owner));
  py::capsule cap(holder, [](void* p) { delete static_cast<std::shared_ptr<Owner>*>(p); });
  py::array_t<T> arr({static_cast<py::ssize_t>(n)}, {static_cast<py::ssize_t>(sizeof(T))}, data, cap);
  py::detail::array_proxy(arr.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return arr;
}

}  // namespace winnow_py

namespace pybind11::detail {
/// In<T> parameters: as_carray<T> (ValueError on a dtype or layout mismatch, never a copy).
/// pybind does not tell a caster the argument's name, so the message names the expected type.
// (the second argument in the same form as pybind's generic caster for object types, so that
// this specialization is the more specialized one rather than an ambiguous rival)
template <typename T>
struct type_caster<winnow_py::In<T>, enable_if_t<is_pyobject<winnow_py::In<T>>::value>> {
  PYBIND11_TYPE_CASTER(winnow_py::In<T>, const_name("numpy.ndarray[") + npy_format_descriptor<T>::name +
                                             const_name(", C-contiguous]"));
  bool load(handle src, bool /*convert*/) {
    value = winnow_py::In<T>(winnow_py::as_carray<T>(src, "array argument"));
    return true;
  }
  static handle cast(const winnow_py::In<T>& src, return_value_policy, handle) { return src.inc_ref(); }
};
}  // namespace pybind11::detail
