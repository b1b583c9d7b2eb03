// Front-coded term dictionary (BM25 / impact index format 2): the T sorted terms in blocks of
// kTermsPerBlock, each term after a block's first stored as the bytes it shares with the
// previous term plus its own suffix (sorted terms share long prefixes: ~2.7x smaller than
// plain bytes + u64 offsets on the synthetic MS MARCO-like vocabulary).
//
// Layout (T terms, J = ceil(T / 16) blocks):
//   bytes: blocks back to back; block j holds terms [16 j, min(16 j + 16, T)):
//     its first term:   varint length, the term's bytes
//     each later term:  varint shared (prefix bytes in common with the previous term),
//                       varint suffix length, the suffix bytes
//   block_offsets (J + 1) u32 or u64: where block j starts in bytes; [J] = bytes' size
// Varints are LEB128 (7 bits a byte, low first), at most 5 bytes, values < 2^32.
//
// Lookup: binary search over the blocks' first terms (stored whole), then a scan of at most
// 16 terms: O(log J + 16) term decodes, no per-term array.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sparse/uint_array.hpp"

namespace winnow::sparse {

constexpr int64_t kTermsPerBlock = 16;

struct FrontCodedTerms {
  std::vector<uint8_t> bytes;
  std::vector<uint64_t> block_offsets{0};
};

/// Front-code n_terms sorted terms given as bytes + (n_terms + 1) offsets. Throws
/// std::invalid_argument if the offsets do not span the bytes or the terms are not strictly
/// increasing.
FrontCodedTerms front_code_terms(const char* term_bytes, size_t size, const UIntArray& term_offsets, int64_t n_terms);

/// A read-only view of a front-coded dictionary (arrays owned elsewhere: numpy, mmap).
struct TermDictionary {
  int64_t n_terms = 0;
  const uint8_t* bytes = nullptr;
  size_t size = 0;
  UIntArray block_offsets;  // (n_blocks() + 1)

  int64_t n_blocks() const { return (n_terms + kTermsPerBlock - 1) / kTermsPerBlock; }

  /// Term id, or -1. Assumes check() passed.
  int64_t find(std::string_view term) const;

  /// Call fn(term id, term) for every term in order. Assumes check() passed.
  template <typename Fn>
  void for_each(Fn&& fn) const {
    std::string term;
    for (int64_t j = 0; j < n_blocks(); ++j) {
      size_t pos = block_offsets[j];
      const int64_t end = std::min<int64_t>(n_terms, (j + 1) * kTermsPerBlock);
      for (int64_t t = j * kTermsPerBlock; t < end; ++t) {
        next_term(pos, t == j * kTermsPerBlock, term);
        fn(t, std::string_view(term));
      }
    }
  }

  /// "" when the dictionary is well formed (offsets span the bytes and rise, every block
  /// decodes to its terms exactly within its bytes, terms strictly increase), else what is
  /// wrong. O(size + n_terms).
  std::string check() const;

 private:
  /// Decode the term at `pos` into `term` (whose content is the previous term unless
  /// `first`), advancing pos. False if it would read past the end or is malformed.
  bool next_term(size_t& pos, bool first, std::string& term) const;
  bool read_varint(size_t& pos, uint32_t& value) const;
};

}  // namespace winnow::sparse
