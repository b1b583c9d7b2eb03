// Bindings for the BM25 inverted index: builder, searcher and the index arrays.
// Arrays cross as numpy (no copies): the builder's vectors are handed over with a capsule,
// and the searcher keeps references to the arrays it was built from (owned or mmapped).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "array_utils.hpp"
#include "sparse/bm25_searcher.hpp"
#include "sparse/impact_searcher.hpp"
#include "sparse/index_builder.hpp"
#include "thread_pool.hpp"

namespace py = pybind11;
using namespace winnow::sparse;
using winnow_py::carray;

namespace {

template <typename T>
py::array_t<T> to_numpy(std::vector<T>&& v) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule cap(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>({static_cast<py::ssize_t>(owned->size())}, {static_cast<py::ssize_t>(sizeof(T))},
                        owned->data(), cap);
}

py::dict arrays_to_dict(Bm25Arrays&& a) {
  py::dict d;
  d["term_bytes"] = to_numpy(std::vector<uint8_t>(a.term_bytes.begin(), a.term_bytes.end()));
  d["term_offsets"] = to_numpy(std::move(a.term_offsets));
  d["df"] = to_numpy(std::move(a.df));
  d["cf"] = to_numpy(std::move(a.cf));
  d["term_postings"] = to_numpy(std::move(a.term_postings));
  d["multi_terms"] = to_numpy(std::move(a.multi_terms));
  d["multi_first_block"] = to_numpy(std::move(a.multi_first_block));
  d["multi_max_x"] = to_numpy(std::move(a.multi_max_x));
  d["block_last_doc"] = to_numpy(std::move(a.block_last_doc));
  d["block_offset"] = to_numpy(std::move(a.block_offset));
  d["block_max_x"] = to_numpy(std::move(a.block_max_x));
  d["postings"] = to_numpy(std::move(a.postings));
  d["norms"] = to_numpy(std::move(a.norms));
  d["doc_len"] = to_numpy(std::move(a.doc_len));
  d["docno_bytes"] = to_numpy(std::vector<uint8_t>(a.docno_bytes.begin(), a.docno_bytes.end()));
  d["docno_offsets"] = to_numpy(std::move(a.docno_offsets));
  d["docno_order"] = to_numpy(std::move(a.docno_order));
  return d;
}

py::dict stats_to_dict(const Bm25Stats& s) {
  py::dict d;
  d["n_docs"] = s.n_docs;
  d["n_docs_with_terms"] = s.n_docs_with_terms;
  d["total_length"] = s.total_length;
  return d;
}

// The view's arrays, taken from the caller's dict without copies (as_carray: exact dtype,
// C-contiguous, else ValueError) and kept alive here: the view points into them, and the
// caller's dict may be changed or dropped after the call.
struct ViewArrays {
  std::vector<py::object> keep;

  template <typename T>
  const T* get(const py::dict& arrays, const char* name, size_t* count, size_t expected = SIZE_MAX) {
    if (!arrays.contains(name)) throw std::invalid_argument(std::string("BM25 index array '") + name + "' is missing");
    const std::string label = std::string("BM25 index array '") + name + "'";
    carray<T> arr = winnow_py::as_carray<T>(arrays[name], label.c_str());
    winnow_py::check_ndim(arr, 1, label.c_str());
    const size_t n = static_cast<size_t>(arr.size());
    if (expected != SIZE_MAX && n != expected)
      throw std::invalid_argument(label + " has " + std::to_string(n) + " entries, expected " + std::to_string(expected));
    if (count) *count = n;
    keep.push_back(arr);
    return arr.data();
  }

  /// An unsigned table of any width in `widths` (bytes: 1, 2, 4, 8), taken by its dtype.
  UIntArray get_uint(const py::dict& arrays, const char* name, std::initializer_list<int> widths, size_t expected) {
    if (!arrays.contains(name)) throw std::invalid_argument(std::string("BM25 index array '") + name + "' is missing");
    py::handle obj = arrays[name];
    // not an array: as_carray raises, naming the type
    if (!py::isinstance<py::array>(obj)) return get<uint64_t>(arrays, name, nullptr, expected);
    py::dtype dt = py::reinterpret_borrow<py::array>(obj).dtype();
    const int width = dt.kind() == 'u' ? static_cast<int>(dt.itemsize()) : 0;
    std::string allowed;
    for (int w : widths) {
      allowed += (allowed.empty() ? "uint" : ", uint") + std::to_string(8 * w);
      if (w != width) continue;
      switch (w) {
        case 1: return get<uint8_t>(arrays, name, nullptr, expected);
        case 2: return get<uint16_t>(arrays, name, nullptr, expected);
        case 4: return get<uint32_t>(arrays, name, nullptr, expected);
        default: return get<uint64_t>(arrays, name, nullptr, expected);
      }
    }
    throw std::invalid_argument(std::string("BM25 index array '") + name + "' has dtype " +
                                py::str(dt).cast<std::string>() + ", expected one of " + allowed);
  }
};

// Searcher plus the numpy arrays its view points into (kept alive here).
struct PySearcher {
  ViewArrays arrays;
  std::unique_ptr<Bm25Searcher> searcher;
};

Bm25View make_view(const py::dict& arrays, const py::dict& stats, ViewArrays& keep, const std::string& source) {
  Bm25View v;
  size_t n = 0;
  v.source = source;
  v.block_last_doc = keep.get<uint32_t>(arrays, "block_last_doc", &n);
  v.n_blocks = static_cast<int64_t>(n);
  v.norms = keep.get<uint8_t>(arrays, "norms", &n);
  v.n_docs = static_cast<int64_t>(n);
  v.multi_max_x = keep.get<float>(arrays, "multi_max_x", &n);
  v.n_multi = static_cast<int64_t>(n);
  v.multi_terms = keep.get<uint32_t>(arrays, "multi_terms", nullptr, v.n_multi);
  // widths as index/bm25_layout.py saves them (u64 offsets and u32 counts: the builder's)
  v.df = keep.get_uint(arrays, "df", {1, 2, 4}, SIZE_MAX);
  v.n_terms = static_cast<int64_t>(py::len(arrays["df"]));
  if (arrays.contains("term_dict")) {  // format 2: front-coded terms
    v.front_coded = true;
    v.terms.n_terms = v.n_terms;
    v.terms.bytes = keep.get<uint8_t>(arrays, "term_dict", &v.terms.size);
    v.terms.block_offsets = keep.get_uint(arrays, "term_block_offsets", {4, 8}, v.terms.n_blocks() + 1);
  } else {  // the builder's output and format 1: plain bytes + offsets
    v.term_bytes = reinterpret_cast<const char*>(keep.get<uint8_t>(arrays, "term_bytes", &v.term_bytes_size));
    v.term_offsets = keep.get_uint(arrays, "term_offsets", {4, 8}, v.n_terms + 1);
  }
  v.term_postings = keep.get_uint(arrays, "term_postings", {4, 8}, v.n_terms + 1);
  v.multi_first_block = keep.get_uint(arrays, "multi_first_block", {4, 8}, v.n_multi + 1);
  v.block_offset = keep.get_uint(arrays, "block_offset", {4, 8}, v.n_blocks);
  v.block_max_x = keep.get<float>(arrays, "block_max_x", nullptr, v.n_blocks);
  v.postings = keep.get<uint8_t>(arrays, "postings", &v.postings_size);
  v.doc_len = keep.get_uint(arrays, "doc_len", {1, 2, 4}, v.n_docs);
  if (!arrays.contains("docno_range")) {  // docnos str(start + i) need no table (index/bm25_layout.py)
    v.docno_bytes = reinterpret_cast<const char*>(keep.get<uint8_t>(arrays, "docno_bytes", &v.docno_bytes_size));
    v.docno_offsets = keep.get_uint(arrays, "docno_offsets", {4, 8}, v.n_docs + 1);
  }
  v.stats.n_docs = v.n_docs;
  for (const char* key : {"n_docs_with_terms", "total_length"})
    if (!stats.contains(key)) throw std::invalid_argument(std::string("BM25 stats lack '") + key + "'");
  v.stats.n_docs_with_terms = py::cast<int64_t>(stats["n_docs_with_terms"]);
  v.stats.total_length = py::cast<uint64_t>(stats["total_length"]);
  // "idf_df" (T,) present: this index is a shard and stats are the whole collection's
  // (see Bm25View::idf_df), so n_docs_with_terms may exceed this shard's n_docs
  if (arrays.contains("idf_df")) v.idf_df = keep.get<uint32_t>(arrays, "idf_df", nullptr, v.n_terms);
  const int64_t most = v.idf_df ? INT64_MAX : v.n_docs;
  if (v.stats.n_docs_with_terms < 0 || v.stats.n_docs_with_terms > most)
    throw std::invalid_argument("BM25 stats: n_docs_with_terms " + std::to_string(v.stats.n_docs_with_terms) +
                                " is not in [0, n_docs = " + std::to_string(v.n_docs) + "]");
  return v;
}

// Every term of the view, in id order (front-coded or plain).
py::list terms_of(const Bm25View& v) {
  py::list out(v.n_terms);
  auto put = [&](int64_t t, std::string_view term) {
    out[t] = py::reinterpret_steal<py::object>(
        PyUnicode_DecodeUTF8(term.data(), static_cast<py::ssize_t>(term.size()), "surrogateescape"));
  };
  if (v.front_coded) {
    v.terms.for_each(put);
  } else {
    for (int64_t t = 0; t < v.n_terms; ++t) put(t, v.term(t));
  }
  return out;
}

// Impact searcher plus the arrays its view points into.
struct PyImpactSearcher {
  ViewArrays arrays;
  std::unique_ptr<ImpactSearcher> searcher;
};

// (scores, ids) outputs of a search: (nq, min(k, n_docs)), allocated with the GIL held.
template <typename Searcher>
py::tuple search_outputs(const Searcher& s, size_t nq, int64_t k) {
  const auto cols = static_cast<py::ssize_t>(s.result_columns(k));
  return py::make_tuple(py::array_t<float>({static_cast<py::ssize_t>(nq), cols}),
                        py::array_t<int64_t>({static_cast<py::ssize_t>(nq), cols}));
}

}  // namespace

void bind_bm25(py::module_& m) {
  py::class_<Bm25Builder>(m, "Bm25Builder")
      .def(py::init([](float k1, float b, const std::string& scoring, const std::string& analyzer, int threads,
                       double memory_budget_mb, const std::string& temp_dir) {
             BuildOptions o;
             o.params = make_params(k1, b, scoring);  // core validation
             o.analyzer = winnow::text::parse_analyzer_kind(analyzer);
             winnow::check_threads(threads);  // before any document is read
             o.threads = threads;
             if (!(memory_budget_mb > 0)) throw std::invalid_argument("memory_budget_mb must be > 0");
             o.memory_budget_bytes = static_cast<size_t>(memory_budget_mb * 1024 * 1024);
             o.temp_dir = temp_dir;
             return std::make_unique<Bm25Builder>(o);
           }),
           py::arg("k1"), py::arg("b"), py::arg("scoring"), py::arg("analyzer"), py::arg("threads"),
           py::arg("memory_budget_mb"), py::arg("temp_dir"))
      .def("add_texts",
           [](Bm25Builder& self, const std::vector<std::string>& docnos, const std::vector<std::string>& texts) {
             py::gil_scoped_release nogil;
             self.add_texts(docnos, texts);
           })
      .def("add_tokens",
           [](Bm25Builder& self, const std::vector<std::string>& docnos,
              const std::vector<std::vector<std::string>>& tokens) {
             py::gil_scoped_release nogil;
             self.add_tokens(docnos, tokens);
           })
      .def("add_impacts",
           [](Bm25Builder& self, const std::vector<std::string>& docnos, const std::vector<std::string>& terms,
              winnow_py::In<uint32_t> impacts, winnow_py::In<int64_t> offsets) {
             if (static_cast<size_t>(offsets.size()) != docnos.size() + 1)
               throw std::invalid_argument("offsets has " + std::to_string(offsets.size()) + " entries, expected " +
                                           std::to_string(docnos.size() + 1));
             if (static_cast<size_t>(impacts.size()) != terms.size())
               throw std::invalid_argument("impacts has " + std::to_string(impacts.size()) + " entries for " +
                                           std::to_string(terms.size()) + " terms");
             const uint32_t* ip = impacts.data();
             const int64_t* op = offsets.data();
             py::gil_scoped_release nogil;
             self.add_impacts(docnos, terms, ip, op);
           },
           py::arg("docnos"), py::arg("terms"), py::arg("impacts"), py::arg("offsets"))
      .def_property_readonly("n_docs", &Bm25Builder::n_docs)
      .def_property_readonly("n_segments_flushed", &Bm25Builder::n_segments_flushed)
      .def("finish", [](Bm25Builder& self) {
        Bm25Arrays a;
        {
          py::gil_scoped_release nogil;
          a = self.finish();
        }
        py::dict stats = stats_to_dict(a.stats);
        return py::make_tuple(arrays_to_dict(std::move(a)), stats);
      });

  py::class_<PySearcher>(m, "Bm25Searcher")
      .def(py::init([](py::dict arrays, py::dict stats, float k1, float b, const std::string& scoring,
                       const std::string& analyzer, bool validate, const std::string& source) {
             auto s = std::make_unique<PySearcher>();
             Bm25View v = make_view(arrays, stats, s->arrays, source);
             Bm25Params p = make_params(k1, b, scoring);
             auto kind = winnow::text::parse_analyzer_kind(analyzer);
             const uint32_t* order = nullptr;
             if (arrays.contains("docno_order")) order = s->arrays.get<uint32_t>(arrays, "docno_order", nullptr, v.n_docs);
             {
               py::gil_scoped_release nogil;
               if (validate) v.validate();
               s->searcher = std::make_unique<Bm25Searcher>(v, p, kind);
               if (order) s->searcher->set_docno_order(order);
             }
             return s;
           }),
           py::arg("arrays"), py::arg("stats"), py::arg("k1"), py::arg("b"), py::arg("scoring"),
           py::arg("analyzer"), py::arg("validate") = true, py::arg("source") = "")
      .def(
          "search",
          [](PySearcher& self, const std::vector<std::string>& texts, int64_t k, const std::string& algorithm,
             int threads, bool ties_by_docno) {
            auto alg = parse_algorithm(algorithm);
            py::tuple out = search_outputs(*self.searcher, texts.size(), k);
            float* sp = out[0].cast<py::array_t<float>>().mutable_data();
            int64_t* ip = out[1].cast<py::array_t<int64_t>>().mutable_data();
            {
              py::gil_scoped_release nogil;
              self.searcher->search_texts(texts, k, alg, threads, sp, ip, ties_by_docno);
            }
            return out;
          },
          py::arg("texts"), py::arg("k"), py::arg("algorithm") = "maxscore", py::arg("threads") = 1,
          py::arg("ties_by_docno") = false)
      .def(
          "search_terms",
          [](PySearcher& self, const std::vector<std::vector<std::string>>& terms, int64_t k,
             const std::string& algorithm, int threads, bool ties_by_docno) {
            auto alg = parse_algorithm(algorithm);
            py::tuple out = search_outputs(*self.searcher, terms.size(), k);
            float* sp = out[0].cast<py::array_t<float>>().mutable_data();
            int64_t* ip = out[1].cast<py::array_t<int64_t>>().mutable_data();
            {
              py::gil_scoped_release nogil;
              self.searcher->search_terms(terms, k, alg, threads, sp, ip, ties_by_docno);
            }
            return out;
          },
          py::arg("terms"), py::arg("k"), py::arg("algorithm") = "maxscore", py::arg("threads") = 1,
          py::arg("ties_by_docno") = false)
      .def("find_term", [](PySearcher& self, const std::string& t) { return self.searcher->view().find_term(t); })
      .def("terms", [](PySearcher& self) { return terms_of(self.searcher->view()); })
      .def("postings",
           [](PySearcher& self, int64_t term) {
             const auto& v = self.searcher->view();
             if (term < 0 || term >= v.n_terms) throw py::index_error("term id " + std::to_string(term) + " out of range");
             py::array_t<uint32_t> docs(v.df[term]), tfs(v.df[term]);
             uint32_t* dp = docs.mutable_data();
             uint32_t* tp = tfs.mutable_data();
             {
               py::gil_scoped_release nogil;
               self.searcher->postings(term, dp, tp);
             }
             return py::make_tuple(docs, tfs);
           })
      .def("score_one", [](PySearcher& self, int64_t term, float boost, uint32_t tf,
                           int64_t doc) { return self.searcher->score_one(term, boost, tf, doc); });

  m.def(
      "bm25_block_maxima",
      [](py::dict arrays, py::dict stats, float k1, float b, const std::string& scoring, int threads,
         const std::string& source) {
        ViewArrays keep;
        Bm25View v = make_view(arrays, stats, keep, source);
        Bm25Params p = make_params(k1, b, scoring);
        py::array_t<float> block_max(v.n_blocks), term_max(v.n_multi);
        float* bp = block_max.mutable_data();
        float* tp = term_max.mutable_data();
        {
          py::gil_scoped_release nogil;
          v.validate();
          compute_block_maxima(v, p, threads, bp, tp);
        }
        return py::make_tuple(block_max, term_max);
      },
      py::arg("arrays"), py::arg("stats"), py::arg("k1"), py::arg("b"), py::arg("scoring"), py::arg("threads") = 1,
      py::arg("source") = "",
      "Recompute the maxima of tf * norm_inverse for other k1/b/scoring: (block_max_x (B,), multi_max_x (M,)).");

  py::class_<PyImpactSearcher>(m, "ImpactSearcher")
      .def(py::init([](py::dict arrays, py::dict stats, const std::string& analyzer, bool validate,
                       const std::string& source) {
             auto s = std::make_unique<PyImpactSearcher>();
             Bm25View v = make_view(arrays, stats, s->arrays, source);
             auto kind = winnow::text::parse_analyzer_kind(analyzer);
             {
               py::gil_scoped_release nogil;
               if (validate) v.validate();
               s->searcher = std::make_unique<ImpactSearcher>(v, kind);
             }
             return s;
           }),
           py::arg("arrays"), py::arg("stats"), py::arg("analyzer"), py::arg("validate") = true,
           py::arg("source") = "")
      .def(
          "search",
          [](PyImpactSearcher& self, const std::vector<std::string>& texts, int64_t k, const std::string& algorithm,
             int threads) {
            auto alg = parse_algorithm(algorithm);
            py::tuple out = search_outputs(*self.searcher, texts.size(), k);
            float* sp = out[0].cast<py::array_t<float>>().mutable_data();
            int64_t* ip = out[1].cast<py::array_t<int64_t>>().mutable_data();
            {
              py::gil_scoped_release nogil;
              self.searcher->search_texts(texts, k, alg, threads, sp, ip);
            }
            return out;
          },
          py::arg("texts"), py::arg("k"), py::arg("algorithm") = "maxscore", py::arg("threads") = 1)
      .def(
          "search_weighted",
          // query i = terms[offsets[i] .. offsets[i+1]) with weights[...]; unknown terms dropped
          [](PyImpactSearcher& self, const std::vector<std::string>& terms, winnow_py::In<float> weights,
             winnow_py::In<int64_t> offsets, int64_t k, const std::string& algorithm, int threads) {
            auto alg = parse_algorithm(algorithm);
            if (offsets.size() < 1 || static_cast<size_t>(weights.size()) != terms.size())
              throw std::invalid_argument("weights has " + std::to_string(weights.size()) + " entries for " +
                                          std::to_string(terms.size()) + " terms");
            const size_t nq = static_cast<size_t>(offsets.size()) - 1;
            const int64_t* op = offsets.data();
            const float* wp = weights.data();
            if (op[0] != 0 || op[nq] != static_cast<int64_t>(terms.size()))
              throw std::invalid_argument("offsets must run from 0 to the number of terms");
            std::vector<WeightedQuery> queries(nq);
            for (size_t q = 0; q < nq; ++q) {
              if (op[q + 1] < op[q]) throw std::invalid_argument("offsets decrease at " + std::to_string(q));
              for (int64_t j = op[q]; j < op[q + 1]; ++j) {
                int64_t id = self.searcher->view().find_term(terms[j]);
                if (id >= 0) queries[q].push_back({id, wp[j]});
              }
            }
            py::tuple out = search_outputs(*self.searcher, nq, k);
            float* sp = out[0].cast<py::array_t<float>>().mutable_data();
            int64_t* ip = out[1].cast<py::array_t<int64_t>>().mutable_data();
            {
              py::gil_scoped_release nogil;
              self.searcher->search(queries, k, alg, threads, sp, ip);
            }
            return out;
          },
          py::arg("terms"), py::arg("weights"), py::arg("offsets"), py::arg("k"), py::arg("algorithm") = "maxscore",
          py::arg("threads") = 1)
      .def("find_term", [](PyImpactSearcher& self, const std::string& t) { return self.searcher->view().find_term(t); })
      .def("terms", [](PyImpactSearcher& self) { return terms_of(self.searcher->view()); });

  m.def(
      "impact_maxima",
      [](py::dict arrays, py::dict stats, int threads, const std::string& source) {
        ViewArrays keep;
        Bm25View v = make_view(arrays, stats, keep, source);
        py::array_t<float> block_max(v.n_blocks), term_max(v.n_multi);
        float* bp = block_max.mutable_data();
        float* tp = term_max.mutable_data();
        uint32_t top = 0;
        {
          py::gil_scoped_release nogil;
          v.validate();
          top = compute_impact_maxima(v, threads, bp, tp);
        }
        return py::make_tuple(block_max, term_max, top);
      },
      py::arg("arrays"), py::arg("stats"), py::arg("threads") = 1, py::arg("source") = "",
      "Largest impact per table block and per multi-block term, and of the index: (block_max_x (B,), "
      "multi_max_x (M,), max_impact).");

  m.def(
      "front_code_terms",
      [](winnow_py::In<uint8_t> term_bytes, winnow_py::In<uint64_t> term_offsets) {
        const int64_t n_terms = static_cast<int64_t>(term_offsets.size()) - 1;
        if (n_terms < 0) throw std::invalid_argument("term_offsets is empty, expected n_terms + 1 entries");
        const char* bytes = reinterpret_cast<const char*>(term_bytes.data());
        const size_t size = static_cast<size_t>(term_bytes.size());
        const uint64_t* offs = term_offsets.data();
        FrontCodedTerms coded;
        {
          py::gil_scoped_release nogil;
          coded = front_code_terms(bytes, size, UIntArray(offs), n_terms);
        }
        return py::make_tuple(to_numpy(std::move(coded.bytes)), to_numpy(std::move(coded.block_offsets)));
      },
      py::arg("term_bytes"), py::arg("term_offsets"),
      "Front-coded dictionary (bytes, block offsets) of sorted terms (csrc/core/sparse/term_dictionary.hpp).");

  m.def(
      "encode_postings_block",
      [](winnow_py::In<uint32_t> docs, winnow_py::In<uint32_t> tfs, int64_t previous_doc) {
        const int n = static_cast<int>(docs.size());
        if (n < 1 || n > kBlockSize || tfs.size() != docs.size())
          throw std::invalid_argument("a block holds 1 to 128 postings, docs and tfs of one length");
        std::vector<uint8_t> out;
        encode_block(docs.data(), tfs.data(), n, previous_doc, out);
        out.resize(out.size() + kPostingsPadding, 0);
        return to_numpy(std::move(out));
      },
      py::arg("docs"), py::arg("tfs"), py::arg("previous_doc"),
      "One postings block as the index stores it, with the 8 padding bytes (for codec tests).");
  m.def(
      "decode_postings_block",
      [](winnow_py::In<uint8_t> bytes, int n, int64_t previous_doc, bool scalar) {
        if (n < 1 || n > kBlockSize) throw std::invalid_argument("a block holds 1 to 128 postings");
        py::array_t<uint32_t> docs(n), tfs(n);
        auto decode = scalar ? &decode_block_scalar : &decode_block;
        int64_t last = decode(bytes.data(), static_cast<size_t>(bytes.size()), n, previous_doc, docs.mutable_data(),
                              tfs.mutable_data());
        return py::make_tuple(last, docs, tfs);
      },
      py::arg("bytes"), py::arg("n"), py::arg("previous_doc"), py::arg("scalar") = false,
      "Decode one block: (last doc or -2 if malformed, docs, tfs); scalar=True skips the SIMD path.");

  m.def("lucene_length_to_byte", &lucene_length_to_byte);
  m.def("lucene_byte_to_length", &lucene_byte_to_length);
}
