// Packing and unpacking 4-bit PQ codes to and from the fast-scan layout (fastscan_layout.hpp).
#include <vector>

#include "dense/fastscan.hpp"
#include "dense/fastscan_layout.hpp"

namespace winnow::dense {

using namespace fastscan_layout;

int64_t fastscan_packed_bytes(int64_t n, int64_t M) {
  check_shape(n, M);
  return (n + kBlock - 1) / kBlock * block_bytes(M);
}

void fastscan_pack(const uint8_t* codes, int64_t n, int64_t M, uint8_t* packed) {
  check_shape(n, M);
  const int64_t cs = (M + 1) / 2;  // == npairs: byte p of a row holds sub-quantizers 2p, 2p+1
  const int64_t bb = block_bytes(M);
  const int64_t nblocks = (n + kBlock - 1) / kBlock;
  const uint8_t last_mask = (M & 1) ? 0x0f : 0xff;  // odd M: the padding sub-quantizer is 0
  std::vector<uint8_t> zero(static_cast<size_t>(cs), 0);
  const uint8_t* rows[kBlock];
  for (int64_t b = 0; b < nblocks; ++b) {
    for (int r = 0; r < kBlock; ++r) {
      const int64_t i = b * kBlock + r;
      rows[r] = i < n ? codes + i * cs : zero.data();
    }
    uint8_t* out = packed + b * bb;
    for (int64_t p = 0; p < cs; ++p) {
      const uint8_t mask = p == cs - 1 ? last_mask : 0xff;
      for (int j = 0; j < 16; ++j) {
        const int lo = (j >> 1) + 8 * (j & 1);
        const uint8_t x = rows[lo][p] & mask, y = rows[16 + lo][p] & mask;
        out[p * 32 + j] = static_cast<uint8_t>((x & 0x0f) | (y << 4));
        out[p * 32 + 16 + j] = static_cast<uint8_t>((x >> 4) | (y & 0xf0));
      }
    }
  }
}

void fastscan_unpack(const uint8_t* packed, int64_t n, int64_t M, uint8_t* codes) {
  check_shape(n, M);
  const int64_t cs = (M + 1) / 2;
  const int64_t bb = block_bytes(M);
  for (int64_t i = 0; i < n; ++i) {
    uint8_t* row = codes + i * cs;
    const uint8_t* blk = packed + (i / kBlock) * bb;
    const int r = static_cast<int>(i % kBlock);
    const int byte = byte_of(r), shift = shift_of(r);
    for (int64_t p = 0; p < cs; ++p) {
      const int c0 = (blk[p * 32 + byte] >> shift) & 15, c1 = (blk[p * 32 + 16 + byte] >> shift) & 15;
      row[p] = static_cast<uint8_t>(c0 | (c1 << 4));
    }
  }
}

}  // namespace winnow::dense
