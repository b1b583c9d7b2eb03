// Bindings for text analysis: winnow.index.analyze(text, analyzer="english").
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "text/analyzer.hpp"

namespace py = pybind11;
using winnow::text::Analyzer;

void bind_text(py::module_& m) {
  py::class_<Analyzer>(m, "Analyzer")
      .def(py::init([](const std::string& kind) { return Analyzer(winnow::text::parse_analyzer_kind(kind)); }),
           py::arg("kind") = "english")
      .def_property_readonly("kind", [](const Analyzer& a) { return winnow::text::analyzer_kind_name(a.kind()); })
      .def(
          "analyze",
          [](const Analyzer& a, const std::string& text) {
            std::vector<std::string> out;
            {
              py::gil_scoped_release nogil;
              a.analyze(text, out);
            }
            return out;
          },
          py::arg("text"))
      .def(
          "analyze_many",
          [](const Analyzer& a, const std::vector<std::string>& texts) {
            std::vector<std::vector<std::string>> out(texts.size());
            {
              py::gil_scoped_release nogil;
              for (size_t i = 0; i < texts.size(); ++i) a.analyze(texts[i], out[i]);
            }
            return out;
          },
          py::arg("texts"));
}
