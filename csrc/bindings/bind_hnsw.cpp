// Binding of the HNSW graph (dense/hnsw_graph.hpp, dense/hnsw_search.hpp): converts arrays,
// releases the GIL around building and searching, and keeps borrowed numpy arrays alive.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "array_utils.hpp"
#include "common.hpp"
#include "dense/hnsw_graph.hpp"
#include "dense/hnsw_search.hpp"
#include "dense/scalar_quantizer.hpp"
#include "topk.hpp"

namespace py = pybind11;
using namespace winnow::dense;
using winnow_py::carray;
using winnow_py::In;

namespace {

/// The graph, the numpy arrays it borrows (a loaded or memory-mapped index), and a reader/
/// writer lock: searches from several Python threads run together, add/remove run alone.
struct PyHnsw {
  std::unique_ptr<HnswGraph> graph;
  std::vector<py::object> borrowed;
  std::shared_mutex mutex;
};

void check_rows(const carray<float>& x, int64_t d, const char* name) {
  if (x.ndim() != 2 || x.shape(1) != d)
    throw std::invalid_argument(std::string(name) + " must have shape (n, " + std::to_string(d) + ")");
}

template <typename T>
py::array_t<T> copy_of(const T* data, std::vector<py::ssize_t> shape) {
  py::array_t<T> out(shape);
  if (out.size() > 0) std::copy(data, data + out.size(), out.mutable_data());
  return out;
}

template <typename T>
const T* data_of(const py::dict& arrays, const char* key, int64_t expected, std::vector<py::object>& keep) {
  carray<T> a = winnow_py::as_carray<T>(arrays[key], key);
  if (expected >= 0 && a.size() != expected)
    throw winnow::FormatError(std::string("HNSW array ") + key + " has " + std::to_string(a.size()) +
                              " entries, expected " + std::to_string(expected));
  keep.push_back(a);
  return a.data();
}

}  // namespace

void bind_hnsw(py::module_& m) {
  py::class_<PyHnsw>(m, "HnswGraph")
      .def(py::init([](int64_t d, const std::string& metric, const std::string& payload, bool refine, int64_t M,
                       int64_t ef_construction, uint64_t seed) {
             auto h = std::make_unique<PyHnsw>();
             h->graph = std::make_unique<HnswGraph>(d, parse_metric(metric),
                                                    ScalarQuantizer(d, parse_scalar_codec(payload)), refine,
                                                    HnswBuildOptions{M, ef_construction, seed});
             return h;
           }),
           py::arg("d"), py::arg("metric"), py::arg("payload"), py::arg("refine"), py::arg("M"),
           py::arg("ef_construction"), py::arg("seed"))
      .def_static(
          "from_arrays",
          [](int64_t d, const std::string& metric, const std::string& payload, int64_t M, int64_t ef_construction,
             uint64_t seed, int64_t entry, int max_level, const py::dict& arrays) {
            auto h = std::make_unique<PyHnsw>();
            ScalarQuantizer sq(d, parse_scalar_codec(payload));
            const int64_t n = winnow_py::as_carray<int64_t>(arrays["upper_offsets"], "upper_offsets").size() - 1;
            if (n < 0) throw winnow::FormatError("HNSW array upper_offsets is empty");
            if (sq.codec() == ScalarCodec::SQ8)
              sq.set_ranges(data_of<float>(arrays, "sq_vmin", d, h->borrowed),
                            data_of<float>(arrays, "sq_vdiff", d, h->borrowed));
            HnswView v;
            v.n = n;
            v.d = d;
            v.M = M;
            v.metric = parse_metric(metric);
            v.sq = &sq;
            v.entry = entry;
            v.max_level = max_level;
            v.codes = data_of<uint8_t>(arrays, "codes", n * sq.code_size(), h->borrowed);
            v.links0 = data_of<int32_t>(arrays, "links0", n * (2 * M + 1), h->borrowed);
            v.upper_offsets = data_of<int64_t>(arrays, "upper_offsets", n + 1, h->borrowed);
            carray<int32_t> upper = winnow_py::as_carray<int32_t>(arrays["upper_links"], "upper_links");
            h->borrowed.push_back(upper);
            v.upper_links = upper.data();
            v.upper_size = upper.size();
            v.deleted = data_of<uint8_t>(arrays, "deleted", n, h->borrowed);
            if (arrays.contains("refine")) v.refine = data_of<float>(arrays, "refine", n * d, h->borrowed);
            h->graph = HnswGraph::borrow(v, HnswBuildOptions{M, ef_construction, seed});  // validates
            return h;
          },
          py::arg("d"), py::arg("metric"), py::arg("payload"), py::arg("M"), py::arg("ef_construction"),
          py::arg("seed"), py::arg("entry"), py::arg("max_level"), py::arg("arrays"))
      .def(
          "add",
          [](PyHnsw& h, In<float> x, int threads) {
            check_rows(x, h.graph->view().d, "vectors");
            {
              py::gil_scoped_release release;
              std::unique_lock<std::shared_mutex> lock(h.mutex);
              h.graph->add(x.data(), x.shape(0), threads);
            }
            h.borrowed.clear();  // add() copied any borrowed arrays (needs the GIL: decrefs)
          },
          py::arg("x"), py::arg("threads") = 1)
      .def(
          "train",
          [](PyHnsw& h, In<float> x) {
            check_rows(x, h.graph->view().d, "training vectors");
            py::gil_scoped_release release;
            std::unique_lock<std::shared_mutex> lock(h.mutex);
            h.graph->train(x.data(), x.shape(0));
          },
          py::arg("x"))
      .def(
          "reserve",
          [](PyHnsw& h, int64_t extra) {
            std::unique_lock<std::shared_mutex> lock(h.mutex);
            h.graph->reserve(extra);
            h.borrowed.clear();
          },
          py::arg("extra"))
      .def(
          "remove_rows",
          [](PyHnsw& h, In<int64_t> rows) {
            std::unique_lock<std::shared_mutex> lock(h.mutex);
            const int64_t removed = h.graph->remove(rows.data(), rows.size());
            h.borrowed.clear();
            return removed;
          },
          py::arg("rows"))
      .def(
          "search",
          [](PyHnsw& h, In<float> x, int64_t k, int64_t ef, int64_t refine_k, const py::object& allow, int threads,
             const py::object& ids) {
            const HnswView& v = h.graph->view();
            check_rows(x, v.d, "queries");
            HnswSearchOptions o;
            o.k = winnow::result_columns(k, v.n);
            o.ef = ef;
            o.refine_k = std::min<int64_t>(refine_k, v.n);
            o.threads = threads;
            o.any_deleted = h.graph->n_deleted() > 0;
            carray<uint8_t> mask;
            if (!allow.is_none()) {
              mask = winnow_py::as_carray<uint8_t>(allow, "allow mask");
              if (mask.size() != v.n) throw std::invalid_argument("allow mask must have one entry per row");
              o.allow = mask.data();
            }
            carray<int64_t> id_map;
            if (!ids.is_none()) {
              id_map = winnow_py::as_carray<int64_t>(ids, "ids");
              if (id_map.size() != v.n) throw std::invalid_argument("ids must have one entry per row");
              o.ids = id_map.data();
            }
            const int64_t nq = x.shape(0);
            py::array_t<float> scores({nq, o.k});
            py::array_t<int64_t> rows({nq, o.k});
            {
              py::gil_scoped_release release;
              std::shared_lock<std::shared_mutex> lock(h.mutex);
              hnsw_search(v, x.data(), nq, o, scores.mutable_data(), rows.mutable_data(), &h.graph->scratch_pool());
            }
            return py::make_tuple(scores, rows);
          },
          py::arg("x"), py::arg("k"), py::arg("ef"), py::arg("refine_k") = 0, py::arg("allow") = py::none(),
          py::arg("threads") = 1, py::arg("ids") = py::none())
      .def("arrays",
           [](PyHnsw& h) {  // copies: the graph may grow (and reallocate) after a save
             std::shared_lock<std::shared_mutex> lock(h.mutex);
             const HnswView& v = h.graph->view();
             const ScalarQuantizer& sq = h.graph->quantizer();
             py::dict out;
             out["codes"] = copy_of(v.codes, {v.n, sq.code_size()});
             out["links0"] = copy_of(v.links0, {v.n, v.width0()});
             out["upper_offsets"] = copy_of(v.upper_offsets, {v.n + 1});
             out["upper_links"] = copy_of(v.upper_links, {v.upper_size});
             out["deleted"] = copy_of(v.deleted, {v.n});
             if (v.refine) out["refine"] = copy_of(v.refine, {v.n, v.d});
             if (sq.codec() == ScalarCodec::SQ8) {
               out["sq_vmin"] = copy_of(sq.vmin().data(), {v.d});
               out["sq_vdiff"] = copy_of(sq.vdiff().data(), {v.d});
             }
             return out;
           })
      .def_property_readonly("n", [](const PyHnsw& h) { return h.graph->view().n; })
      .def_property_readonly("n_deleted", [](const PyHnsw& h) { return h.graph->n_deleted(); })
      .def_property_readonly("entry", [](const PyHnsw& h) { return h.graph->view().entry; })
      .def_property_readonly("max_level", [](const PyHnsw& h) { return h.graph->view().max_level; })
      .def_property_readonly("trained", [](const PyHnsw& h) { return h.graph->quantizer().is_trained(); })
      .def_property_readonly("level_counts", [](const PyHnsw& h) {
        const HnswView& v = h.graph->view();
        std::vector<int64_t> counts(static_cast<size_t>(v.max_level + 1), 0);
        for (int64_t i = 0; i < v.n; ++i) ++counts[static_cast<size_t>(v.level(i))];
        return counts;
      });
  m.def("hnsw_level", &hnsw_level, py::arg("seed"), py::arg("row"), py::arg("M"),
        "Level of `row` for `seed` (the counter-based level generator of the HNSW build).");
}
