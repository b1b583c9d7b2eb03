// Bindings for the shared core pieces: section files, checksum, top-k, thread pool checks.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "array_utils.hpp"
#include "common.hpp"
#include "file_io.hpp"
#include "thread_pool.hpp"
#include "topk.hpp"

namespace py = pybind11;
using namespace winnow_py;

void bind_common(py::module_& m) {
  m.def(
      "write_section",
      [](const std::string& path, const std::string& tag, In<uint8_t> payload, uint16_t major,
         uint16_t minor, uint64_t count0, uint64_t count1) {
        check_ndim(payload, 1, "payload");
        winnow::SectionHeader h;
        h.tag = tag;
        h.major = major;
        h.minor = minor;
        h.count0 = count0;
        h.count1 = count1;
        const uint8_t* p = payload.data();
        size_t n = static_cast<size_t>(payload.size());
        py::gil_scoped_release nogil;
        winnow::write_section(path, h, p, n);
      },
      py::arg("path"), py::arg("tag"), py::arg("payload"), py::arg("major") = 1,
      py::arg("minor") = 0, py::arg("count0") = 0, py::arg("count1") = 0,
      "Write a checked section file (header + payload) and fsync it.");

  m.def(
      "read_section",
      [](const std::string& path, const std::string& tag, uint16_t max_major, bool mmap, bool verify) {
        std::shared_ptr<winnow::Section> s;
        {
          py::gil_scoped_release nogil;
          s = std::make_shared<winnow::Section>(winnow::read_section(path, tag, max_major, mmap, verify));
        }
        py::dict header;
        header["tag"] = s->header.tag;
        header["major"] = s->header.major;
        header["minor"] = s->header.minor;
        header["count0"] = s->header.count0;
        header["count1"] = s->header.count1;
        header["payload_bytes"] = s->header.payload_bytes;
        auto arr = view_array<uint8_t>(s->payload, s->payload_bytes, s);
        return py::make_tuple(header, arr);
      },
      py::arg("path"), py::arg("tag"), py::arg("max_major"), py::arg("mmap") = false, py::arg("verify") = true,
      "Read a section file; returns (header dict, read-only uint8 payload array).");

  m.def(
      "checksum64",
      [](In<uint8_t> data) {
        check_ndim(data, 1, "data");
        return winnow::checksum64(data.data(), static_cast<size_t>(data.size()));
      },
      py::arg("data"));

  m.def(
      "topk",
      [](In<float> scores, int64_t k) {
        check_ndim(scores, 1, "scores");
        if (k < 0) throw std::invalid_argument("k must be >= 0, got " + std::to_string(k));
        py::array_t<float> out_s(k);
        py::array_t<int64_t> out_i(k);
        const float* s = scores.data();
        int64_t n = scores.size();
        float* os = out_s.mutable_data();
        int64_t* oi = out_i.mutable_data();
        {
          py::gil_scoped_release nogil;
          winnow::TopK heap(k);
          for (int64_t i = 0; i < n; ++i) heap.push(s[i], i);
          heap.write_sorted(os, oi);
        }
        return py::make_tuple(out_s, out_i);
      },
      py::arg("scores"), py::arg("k"),
      "Exact top-k of a 1-D float32 array: (scores, ids), ties by lower id.");

  m.def(
      "_parallel_fail_at",
      [](int64_t n, int threads, int64_t fail_at) {
        py::gil_scoped_release nogil;
        winnow::parallel_for(n, threads, [&](int64_t i) {
          if (i == fail_at) throw std::invalid_argument("worker failed at item " + std::to_string(i));
        });
      },
      "Test hook: run a parallel loop whose item `fail_at` throws ValueError.");
}
