// Internal: the packed layout of 4-bit fast-scan codes, shared by packing (fastscan_pack.cpp)
// and the scan kernels (fastscan.cpp).
//
// Packed layout
// -------------
// M2 = M rounded up to even; npairs = M2 / 2; nblocks = ceil(n / 32).
// Block b (32 vectors b*32 .. b*32+31) occupies 16 * M2 bytes at offset b * 16 * M2 and is
// a sequence of npairs 32-byte groups, one per sub-quantizer pair (2p, 2p+1). In group p,
// bytes [0, 16) ("lane 0") hold sub-quantizer 2p and bytes [16, 32) ("lane 1") hold 2p+1.
// Within a lane, byte j holds vector lo(j) in its low nibble and vector 16 + lo(j) in its
// high nibble, where lo(j) = j / 2 + 8 * (j & 1) (even bytes: vectors 0..7, odd bytes:
// vectors 8..15). Padding vectors (>= n) and the padding sub-quantizer (M odd) have code 0.
//
// Why this layout: a 32-byte group is exactly one AVX2 register (two 128-bit lanes, the
// granularity of vpshufb), and the matching 32 bytes of the quantized table (M2, 16) are the
// two 16-entry LUTs of the pair, so the table is used as-is; AVX-512 reads two consecutive
// groups (4 sub-quantizers) and 64 table bytes at once. The shuffle results are summed as
// uint16 words (low byte + 256 * high byte) plus a second accumulator of the high bytes
// (word >> 8), and the low-byte sums are recovered at the end as acc - (acc_hi << 8)
// (exact modulo 2^16, the trick of faiss's pq4 kernels). That yields, per lane, the
// sums of vectors 0..7 (low nibbles, even bytes), 8..15 (low, odd), 16..23 (high, even),
// 24..31 (high, odd) in natural order; adding the lanes gives the 32 block scores.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace winnow::dense::fastscan_layout {

constexpr int64_t kBlock = 32;

inline int64_t even_m(int64_t M) { return (M + 1) & ~int64_t(1); }
inline int64_t block_bytes(int64_t M) { return 16 * even_m(M); }

// Byte / nibble position of vector r (0..31) inside a lane.
inline int byte_of(int r) {
  const int v = r & 15;
  return 2 * (v & 7) + (v >> 3);
}
inline int shift_of(int r) { return (r >> 4) * 4; }

inline void check_shape(int64_t n, int64_t M) {
  if (n < 0) throw std::invalid_argument("fastscan: n must be >= 0, got " + std::to_string(n));
  if (M < 1) throw std::invalid_argument("fastscan: M must be >= 1, got " + std::to_string(M));
}

}  // namespace winnow::dense::fastscan_layout
