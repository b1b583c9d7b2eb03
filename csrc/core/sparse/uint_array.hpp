// UIntArray: a read-only unsigned integer table stored at 1, 2, 4 or 8 bytes per entry, the
// width chosen when an index is saved (the narrowest that holds its largest value; see
// index/bm25_layout.py). Reads return u64 through one switch on the width, predictable since
// a table never changes width, so code indexing a table is the same at every width.
#pragma once

#include <cstdint>

namespace winnow::sparse {

struct UIntArray {
  const void* data = nullptr;
  int width = 8;  // bytes per entry: 1, 2, 4 or 8

  UIntArray() = default;
  UIntArray(const uint8_t* p) : data(p), width(1) {}
  UIntArray(const uint16_t* p) : data(p), width(2) {}
  UIntArray(const uint32_t* p) : data(p), width(4) {}
  UIntArray(const uint64_t* p) : data(p), width(8) {}

  uint64_t operator[](int64_t i) const {
    switch (width) {
      case 1: return static_cast<const uint8_t*>(data)[i];
      case 2: return static_cast<const uint16_t*>(data)[i];
      case 4: return static_cast<const uint32_t*>(data)[i];
      default: return static_cast<const uint64_t*>(data)[i];
    }
  }
};

}  // namespace winnow::sparse
