#include "sparse/block_codec.hpp"

#include <array>
#include <cstring>
#include <utility>

#include <immintrin.h>

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

namespace {

// -- AVX2 decoding of whole 8-value groups ---------------------------------------------------
//
// 8 values of width B take exactly B bytes, so group g starts at byte g * B. Value i of a
// group starts at bit i * B: byte (i * B) / 8, shift (i * B) % 8, and for B <= 25 it lies in
// the 4 bytes from there. Lanes 0-3 read a 16-byte load at the group's start, lanes 4-7 one
// at the byte of value 4; a per-B byte shuffle puts each value's 4 bytes in its lane, a
// per-lane shift and a mask finish it (the layout PISA's SIMD-BP128 decoders unpack with
// shuffles too, at its own bit order). Tables: per B, the shuffle and the shifts.
constexpr int kSimdMaxBits = 25;

struct GroupTables {
  alignas(32) uint8_t shuffle[kSimdMaxBits + 1][32];
  alignas(32) uint32_t shift[kSimdMaxBits + 1][8];
  int high_offset[kSimdMaxBits + 1];  // byte of value 4 within the group
  GroupTables() {
    for (int b = 1; b <= kSimdMaxBits; ++b) {
      high_offset[b] = (4 * b) / 8;
      for (int i = 0; i < 8; ++i) {
        const int bit = i * b;
        const int base = i < 4 ? 0 : high_offset[b];
        const int lane = i % 4;
        for (int k = 0; k < 4; ++k)
          shuffle[b][(i < 4 ? 0 : 16) + 4 * lane + k] = static_cast<uint8_t>(bit / 8 - base + k);
        shift[b][i] = static_cast<uint32_t>(bit % 8);
      }
    }
  }
};
const GroupTables kGroups;

// Unpack `groups` groups of 8 values of width b (1..25) from `in` to `out`. Reads up to
// (groups - 1) * b + high_offset + 16 bytes from `in` (the caller checks they are there).
__attribute__((target("avx2"))) void unpack_groups_avx2(const uint8_t* in, int b, int groups, uint32_t* out) {
  const __m256i shuffle = _mm256_load_si256(reinterpret_cast<const __m256i*>(kGroups.shuffle[b]));
  const __m256i shift = _mm256_load_si256(reinterpret_cast<const __m256i*>(kGroups.shift[b]));
  const __m256i mask = _mm256_set1_epi32(static_cast<int>((1u << b) - 1));
  const int high = kGroups.high_offset[b];
  for (int g = 0; g < groups; ++g, in += b, out += 8) {
    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in));
    const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + high));
    __m256i v = _mm256_shuffle_epi8(_mm256_set_m128i(hi, lo), shuffle);
    v = _mm256_and_si256(_mm256_srlv_epi32(v, shift), mask);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), v);
  }
}

// docs[i] = previous + 1 + gaps[0] + 1 + ... + gaps[i] in 32 bits, for n a multiple of 8;
// tfs[i] += 1. The caller proved the sums fit in 32 bits. Two passes: the prefix sums inside
// each group of 8 do not depend on each other (the CPU overlaps them), and only the second
// pass's scalar running total is carried from group to group (a lane-crossing permute on the
// carry chain cost ~5 cycles a group).
__attribute__((target("avx2"))) void finish_block_avx2(int n, uint32_t previous, uint32_t* docs, uint32_t* tfs) {
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i lane3 = _mm256_set1_epi32(3);
  for (int i = 0; i < n; i += 8) {
    __m256i x = _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(docs + i)), one);
    x = _mm256_add_epi32(x, _mm256_slli_si256(x, 4));  // prefix sums within each 128-bit half
    x = _mm256_add_epi32(x, _mm256_slli_si256(x, 8));
    // add the low half's total (lane 3) to the high half
    const __m256i low_total = _mm256_permutevar8x32_epi32(x, lane3);
    x = _mm256_add_epi32(x, _mm256_blend_epi32(_mm256_setzero_si256(), low_total, 0xF0));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(docs + i), x);
    __m256i t = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tfs + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tfs + i), _mm256_add_epi32(t, one));
  }
  uint32_t carry = previous;
  for (int i = 0; i < n; i += 8) {
    const uint32_t group_total = docs[i + 7];
    __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(docs + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(docs + i), _mm256_add_epi32(x, _mm256_set1_epi32(static_cast<int>(carry))));
    carry += group_total;
  }
}

const bool kHaveAvx2 = (__builtin_cpu_init(), __builtin_cpu_supports("avx2"));

// The scalar tail of the prefix sum (64 bits: with corrupt gaps it cannot wrap into range).
int64_t finish_block_scalar(int from, int n, int64_t doc, uint32_t* docs, uint32_t* tfs) {
  for (int i = from; i < n; ++i) {
    doc += static_cast<int64_t>(docs[i]) + 1;
    docs[i] = static_cast<uint32_t>(doc);
    tfs[i] += 1;
  }
  return doc;
}

// Bytes the SIMD unpack of `groups` groups of width b reads from its start.
size_t simd_read_extent(int b, int groups) {
  return b == 0 ? 0 : static_cast<size_t>(groups - 1) * b + kGroups.high_offset[b] + 16;
}
}  // namespace

int64_t decode_block_scalar(const uint8_t* p, size_t available, int n, int64_t previous_doc, uint32_t* docs,
                            uint32_t* tfs) {
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
  return finish_block_scalar(0, n, previous_doc, docs, tfs);
}

int64_t decode_block(const uint8_t* p, size_t available, int n, int64_t previous_doc, uint32_t* docs, uint32_t* tfs) {
  if (available < 2 + kPostingsPadding) return -2;
  const int db = p[0], tb = p[1];
  if (db > 32 || tb > 32 || n <= 0 || n > kBlockSize) return -2;
  const size_t doc_bytes = (static_cast<size_t>(n) * db + 7) / 8;
  const size_t tf_bytes = (static_cast<size_t>(n) * tb + 7) / 8;
  if (2 + doc_bytes + tf_bytes + kPostingsPadding > available) return -2;
  const int groups = n / 8;
  // SIMD for the whole groups when the widths allow it, the loads stay inside `available`,
  // and the 32-bit prefix sums cannot wrap (previous + n + n * (2^db - 1) < 2^32); the
  // remaining (n % 8) values, and everything else, take the scalar path.
  if (!kHaveAvx2 || groups == 0 || db > kSimdMaxBits || tb > kSimdMaxBits ||
      2 + simd_read_extent(db, groups) > available || 2 + doc_bytes + simd_read_extent(tb, groups) > available ||
      previous_doc + 1 + static_cast<int64_t>(n) * (int64_t{1} << db) >= (int64_t{1} << 32))
    return decode_block_scalar(p, available, n, previous_doc, docs, tfs);
  const int simd_n = groups * 8;
  if (db == 0) std::memset(docs, 0, sizeof(uint32_t) * n);
  else {
    unpack_groups_avx2(p + 2, db, groups, docs);
    kUnpack[db](p + 2 + static_cast<size_t>(groups) * db, n - simd_n, docs + simd_n);
  }
  if (tb == 0) std::memset(tfs, 0, sizeof(uint32_t) * n);
  else {
    unpack_groups_avx2(p + 2 + doc_bytes, tb, groups, tfs);
    kUnpack[tb](p + 2 + doc_bytes + static_cast<size_t>(groups) * tb, n - simd_n, tfs + simd_n);
  }
  finish_block_avx2(simd_n, static_cast<uint32_t>(previous_doc), docs, tfs);  // -1 -> 2^32 - 1: sums mod 2^32
  return finish_block_scalar(simd_n, n, static_cast<int64_t>(docs[simd_n - 1]), docs, tfs);
}

}  // namespace winnow::sparse
