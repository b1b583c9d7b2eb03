// The options of the list/scan searches (dense/ivf.hpp SearchOptions) from binding arguments,
// shared by bind_ivf.cpp and bind_scalar_quantizer.cpp. k is capped at the n rows searched (the
// output has min(k, n) columns), and so are the candidate depths refine_k / rescore_k: no
// request can allocate more than the index holds. `allow` (None or sorted int64 ids) is
// borrowed into `allow_arr`, which must outlive the search.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <string>

#include "array_utils.hpp"
#include "dense/ivf.hpp"
#include "thread_pool.hpp"
#include "topk.hpp"

namespace winnow_py {

inline winnow::dense::SearchOptions search_options(int64_t k, int64_t n, int64_t nprobe, int64_t refine_k,
                                                   int64_t rescore_k, const py::object& allow, int threads,
                                                   carray<int64_t>& allow_arr) {
  if (refine_k < 0) throw std::invalid_argument("refine_k must be >= 0, got " + std::to_string(refine_k));
  if (rescore_k < 0) throw std::invalid_argument("rescore_k must be >= 0, got " + std::to_string(rescore_k));
  winnow::check_threads(threads);
  winnow::dense::SearchOptions o;
  o.k = winnow::result_columns(k, n);
  o.nprobe = nprobe;
  o.refine_k = std::min(refine_k, n);
  o.rescore_k = std::min(rescore_k, n);
  o.threads = threads;
  if (!allow.is_none()) {
    allow_arr = as_carray<int64_t>(allow, "allow");
    if (allow_arr.ndim() != 1) throw std::invalid_argument("allow must be a 1-D int64 array of ids");
    o.allow = allow_arr.data();
    o.n_allow = allow_arr.size();
    for (int64_t i = 1; i < o.n_allow; ++i)
      if (o.allow[i] < o.allow[i - 1]) throw std::invalid_argument("allow must be sorted ascending");
  }
  return o;
}

}  // namespace winnow_py
