// Postings codec: blocks of up to 128 postings, each block =
//   u8 doc_bits, u8 tf_bits, then n doc gaps and n (tf - 1) values, each bit-packed
//   LSB-first at its width, byte-aligned per array.
// Doc gaps are doc - previous_doc - 1 (previous = last doc of the previous block, or -1),
// so gaps are >= 0. The postings buffer carries 8 zero bytes of padding at its end so the
// decoder may always load 8 bytes at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace winnow::sparse {

constexpr int kBlockSize = 128;
constexpr size_t kPostingsPadding = 8;

/// Append one encoded block of n (1..128) postings to `out`. docs are absolute and increasing.
void encode_block(const uint32_t* docs, const uint32_t* tfs, int n, int64_t previous_doc, std::vector<uint8_t>& out);

/// Bytes one block takes given its bit widths.
inline size_t block_bytes(int n, int doc_bits, int tf_bits) {
  return 2 + (static_cast<size_t>(n) * doc_bits + 7) / 8 + (static_cast<size_t>(n) * tf_bits + 7) / 8;
}

/// Decode a block of n postings starting at `p` (which has at least `available` bytes,
/// padding included). Returns the last decoded doc, or -2 if the block is malformed (widths
/// > 32 or reads past `available`). Docs are accumulated in 64 bits, so they strictly
/// increase from previous_doc + 1 and never wrap: a caller that requires the result to equal
/// the block table's last doc (< n_docs, checked once at load) thereby proves every decoded
/// doc is in range, for one compare per block. (Returned rather than passed in: a seventh
/// argument goes on the stack, measurable in the query loops.)
/// Whole 8-posting groups are unpacked with AVX2 where the CPU has it (block_codec.cpp);
/// the result is the same as decode_block_scalar's, which the tests check at every width.
int64_t decode_block(const uint8_t* p, size_t available, int n, int64_t previous_doc, uint32_t* docs, uint32_t* tfs);
int64_t decode_block_scalar(const uint8_t* p, size_t available, int n, int64_t previous_doc, uint32_t* docs,
                            uint32_t* tfs);

}  // namespace winnow::sparse
