// Shared types and error classes of the Winnow core. Pure C++17, no Python headers.
//
// Error mapping (done once in csrc/bindings/module.cpp):
//   std::invalid_argument -> ValueError         (bad argument values / shapes)
//   std::out_of_range     -> IndexError         (bad ids)
//   winnow::FormatError   -> winnow.IndexFormatError (a ValueError; unreadable/unsupported files)
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace winnow {

using idx_t = int64_t;  // ids and counts crossing the API (faiss habit)

/// An index file is unreadable, truncated, corrupt or of an unsupported version.
/// The message always names the path.
class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Raised from worker loops when the caller asked to stop (Ctrl-C between chunks).
class Interrupted : public std::runtime_error {
 public:
  Interrupted() : std::runtime_error("interrupted") {}
};

[[noreturn]] inline void throw_invalid(const std::string& msg) { throw std::invalid_argument(msg); }

inline void check_arg(bool ok, const std::string& msg) {
  if (!ok) throw std::invalid_argument(msg);
}

}  // namespace winnow
