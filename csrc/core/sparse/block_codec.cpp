#include "sparse/block_codec.hpp"

#include <array>
#include <cstring>
#include <utility>

namespace winnow::sparse {
namespace {

int bits_needed(uint32_t v) { return v == 0 ? 0 : 32 - __builtin_clz(v); }

void pack(const uint32_t* values, int n, int bits, std::vector<uint8_t>& out) {
  size_t start = out.size();
  size_t bytes = (static_cast<size_t>(n) * bits + 7) / 8;
  out.resize(start + bytes, 0);
  if (bits == 0) return;
  uint8_t* base = out.data() + start;
  uint64_t bitpos = 0;
  for (int i = 0; i < n; ++i, bitpos += bits) {
    uint64_t v = static_cast<uint64_t>(values[i]) << (bitpos & 7);
    uint8_t* p = base + (bitpos >> 3);
    // at most 5 bytes touched (32 bits + 7 bits of offset)
    for (int byte = 0; v != 0; ++byte, v >>= 8) p[byte] |= static_cast<uint8_t>(v & 0xff);
  }
}

// Unpack n values of width `bits` (0..32). Specialised per width so the compiler can
// unroll the loop and keep the mask and shift in registers.
template <int B>
void unpack_fixed(const uint8_t* base, int n, uint32_t* out) {
  if constexpr (B == 0) {
    std::memset(out, 0, sizeof(uint32_t) * n);
  } else {
    constexpr uint64_t mask = (B == 32) ? 0xffffffffULL : ((1ULL << B) - 1);
    uint64_t bitpos = 0;
    for (int i = 0; i < n; ++i, bitpos += B) {
      uint64_t w;
      std::memcpy(&w, base + (bitpos >> 3), 8);
      out[i] = static_cast<uint32_t>((w >> (bitpos & 7)) & mask);
    }
  }
}

using UnpackFn = void (*)(const uint8_t*, int, uint32_t*);

template <int... Bs>
constexpr auto make_table(std::integer_sequence<int, Bs...>) {
  return std::array<UnpackFn, sizeof...(Bs)>{&unpack_fixed<Bs>...};
}

const auto kUnpack = make_table(std::make_integer_sequence<int, 33>{});
}

void encode_block(const uint32_t* docs, const uint32_t* tfs, int n, int64_t previous_doc, std::vector<uint8_t>& out) {
  uint32_t gaps[kBlockSize], tfm1[kBlockSize];
  uint32_t gap_or = 0, tf_or = 0;
  int64_t prev = previous_doc;
  for (int i = 0; i < n; ++i) {
    gaps[i] = static_cast<uint32_t>(static_cast<int64_t>(docs[i]) - prev - 1);
    prev = docs[i];
    tfm1[i] = tfs[i] - 1;
    gap_or |= gaps[i];
    tf_or |= tfm1[i];
  }
  int db = bits_needed(gap_or), tb = bits_needed(tf_or);
  out.push_back(static_cast<uint8_t>(db));
  out.push_back(static_cast<uint8_t>(tb));
  pack(gaps, n, db, out);
  pack(tfm1, n, tb, out);
}

int64_t decode_block(const uint8_t* p, size_t available, int n, int64_t previous_doc, uint32_t* docs, uint32_t* tfs) {
  if (available < 2 + kPostingsPadding) return -2;
  int db = p[0], tb = p[1];
  if (db > 32 || tb > 32 || n <= 0 || n > kBlockSize) return -2;
  size_t doc_bytes = (static_cast<size_t>(n) * db + 7) / 8;
  size_t tf_bytes = (static_cast<size_t>(n) * tb + 7) / 8;
  if (2 + doc_bytes + tf_bytes + kPostingsPadding > available) return -2;
  kUnpack[db](p + 2, n, docs);
  kUnpack[tb](p + 2 + doc_bytes, n, tfs);
  // 64-bit sum: at most 128 gaps of < 2^32 each, so it never wraps (a corrupt gap cannot
  // wrap back into range); the final compare against the block table bounds every doc.
  int64_t doc = previous_doc;
  for (int i = 0; i < n; ++i) {
    doc += static_cast<int64_t>(docs[i]) + 1;
    docs[i] = static_cast<uint32_t>(doc);
    tfs[i] += 1;
  }
  return doc;
}

}  // namespace winnow::sparse
