// The in-memory part of the BM25 builder: a term -> postings table for one segment shard.
//
// Why not std::unordered_map<std::string, std::vector<uint8_t>>: appending one posting there
// costs ~4 cache misses (bucket, node, string, vector) and the vectors' growth is most of the
// build's malloc/free. Here:
//   * an open-addressing slot array of {32-bit hash tag, term id} (8 bytes a slot, load <= 1/2);
//   * one 64-byte record per term holding the term (inline up to kInlineTermBytes, else an
//     offset into `long_terms_`), its counts and where its postings stream ends;
//   * every term's postings stream (varint doc - last_doc - 1, varint tf: the segment file's
//     encoding) lives in one arena of 1 MiB blocks, as a chain of slices of growing size
//     (16, 32, ... 8192 bytes; the last 4 bytes of a full slice link to the next one).
// So an append is about three cache misses: slot, record, stream tail.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace winnow::sparse {

class TermPostingsTable {
 public:
  static constexpr size_t kInlineTermBytes = 19;

  TermPostingsTable();

  /// Append posting (doc, tf) to `term`. `hash` is the term's 64-bit hash (term_hash);
  /// docs of one term must arrive in increasing order.
  void append(std::string_view term, uint64_t hash, uint32_t doc, uint32_t tf);

  /// Hint that a term with this hash comes soon (its slot is fetched into cache).
  void prefetch(uint64_t hash) const { __builtin_prefetch(&slots_[hash & slot_mask_]); }

  size_t n_terms() const { return records_.size(); }
  /// Bytes held (arena, records, slots, long terms): what the memory budget counts.
  size_t bytes() const;

  std::string_view term(uint32_t id) const {
    const TermRecord& r = records_[id];
    if (r.term_len <= kInlineTermBytes) return std::string_view(r.term, r.term_len);
    uint64_t off;
    std::memcpy(&off, r.term, sizeof(off));
    return std::string_view(long_terms_.data() + off, r.term_len);
  }
  uint32_t count(uint32_t id) const { return records_[id].count; }
  uint64_t cf(uint32_t id) const { return records_[id].cf; }
  /// Append term `id`'s postings stream (varint gap, varint tf per posting) to `out`.
  void copy_stream(uint32_t id, std::vector<uint8_t>& out) const;

  /// Append term `id`'s postings (absolute docs, tfs) to docs and tfs.
  void decode_postings(uint32_t id, std::vector<uint32_t>& docs, std::vector<uint32_t>& tfs) const;

  /// Drop everything, releasing memory.
  void clear();

 private:
  struct alignas(64) TermRecord {
    uint64_t head;        // arena position of the first slice
    uint64_t tail;        // arena position of the next byte to write
    uint64_t slice_end;   // arena position of the current slice's link field
    uint64_t cf;
    uint32_t count;
    uint32_t last_doc_plus1;  // 0: no posting yet
    uint32_t term_len;
    uint8_t level;            // size level of the current slice
    char term[kInlineTermBytes];  // the term, or (longer terms) a u64 offset into long_terms_
  };
  static_assert(sizeof(TermRecord) == 64, "one cache line a term");

  struct Slot {
    uint32_t tag;      // low 32 bits of the hash (its slot index bits, so growing needs no term)
    uint32_t id_plus1; // 0: empty
  };

  static constexpr int kBlockShift = 20;  // arena blocks of 1 MiB; slices never straddle blocks
  static constexpr uint64_t kBlockBytes = uint64_t(1) << kBlockShift;
  static constexpr int kMaxLevel = 9;     // slice sizes 16 << level, up to 8192
  static constexpr uint32_t slice_bytes(int level) { return 16u << level; }

  uint8_t* at(uint64_t pos) { return blocks_[pos >> kBlockShift].get() + (pos & (kBlockBytes - 1)); }
  const uint8_t* at(uint64_t pos) const { return blocks_[pos >> kBlockShift].get() + (pos & (kBlockBytes - 1)); }
  uint64_t new_slice(int level);  // arena position of a fresh slice
  void next_slice(TermRecord& r);  // link a new slice after r's full one
  uint32_t insert(std::string_view term, uint64_t hash, size_t slot);
  void grow_slots();
  bool equal(const TermRecord& r, std::string_view term) const;

  std::vector<Slot> slots_;
  size_t slot_mask_ = 0;
  std::vector<TermRecord> records_;
  std::vector<char> long_terms_;
  std::vector<std::unique_ptr<uint8_t[]>> blocks_;
  uint64_t arena_end_ = 0;  // next free arena position
};

/// 64-bit hash of a term: 8 bytes at a time (terms are short: most take one or two
/// multiplies), then a murmur3 finalizer so every bit mixes. Any hash gives the same index;
/// it only decides shards and slots.
inline uint64_t term_hash(std::string_view s) {
  constexpr uint64_t kMul = 0x9fb21c651e98df25ull;
  const char* p = s.data();
  const size_t size = s.size();
  uint64_t h = 0x9e3779b97f4a7c15ull ^ (size * 0xff51afd7ed558ccdull);
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  if (i < size) {
    uint64_t w = 0;
    if (size >= 8) {
      std::memcpy(&w, p + size - 8, 8);  // the last 8 bytes, overlapping the previous word
    } else {
      for (size_t j = 0; j < size; ++j) w |= static_cast<uint64_t>(static_cast<unsigned char>(p[j])) << (8 * j);
    }
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

}  // namespace winnow::sparse
