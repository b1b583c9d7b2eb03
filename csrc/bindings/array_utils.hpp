// Helpers shared by the bind_*.cpp files: no-copy array parameters and shape checks.
//
// The one rule for arrays crossing into the core: never a copy. Two spellings of it:
//  - a typed parameter `carray<T> x` with `py::arg("x").noconvert()`: pybind accepts only an
//    array of exactly T, C-contiguous, and passes that very array (mismatch: TypeError);
//  - anything reached through a py::object (dict entries, optional payloads): as_carray<T>
//    below (mismatch: ValueError naming the array). Never py::cast<carray<T>>: it converts
//    into a temporary, and a pointer kept past the call would dangle.
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
  if (!carray<T>::check_(obj))
    throw std::invalid_argument(std::string(name) + " must be a C-contiguous " +
                                py::str(py::dtype::of<T>()).cast<std::string>() + " numpy array");
  return py::reinterpret_borrow<carray<T>>(obj);
}

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
