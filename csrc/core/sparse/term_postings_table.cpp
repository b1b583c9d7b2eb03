#include "sparse/term_postings_table.hpp"

#include <algorithm>
#include <stdexcept>

namespace winnow::sparse {
namespace {
// Varint-encode v at p; returns the byte count (1..5 for 32-bit values).
inline int put_varint32(uint8_t* p, uint32_t v) {
  int n = 0;
  while (v >= 0x80) {
    p[n++] = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  p[n++] = static_cast<uint8_t>(v);
  return n;
}

}  // namespace

TermPostingsTable::TermPostingsTable() { clear(); }

void TermPostingsTable::clear() {
  slots_.assign(1024, Slot{0, 0});
  slots_.shrink_to_fit();
  slot_mask_ = slots_.size() - 1;
  std::vector<TermRecord>().swap(records_);
  std::vector<char>().swap(long_terms_);
  blocks_.clear();
  blocks_.shrink_to_fit();
  arena_end_ = 0;
}

size_t TermPostingsTable::bytes() const {
  return blocks_.size() * kBlockBytes + records_.capacity() * sizeof(TermRecord) + slots_.size() * sizeof(Slot) +
         long_terms_.capacity();
}

uint64_t TermPostingsTable::new_slice(int level) {
  const uint64_t size = slice_bytes(level);
  if (arena_end_ + size > blocks_.size() * kBlockBytes) {  // a slice never straddles two blocks
    // Positions are linked as u32 counts of 8 bytes: 32 GiB of arena per shard.
    if (blocks_.size() >= (uint64_t(1) << 35) / kBlockBytes)
      throw std::length_error("BM25 builder: over 32 GiB of postings in one in-memory segment (lower memory_budget_mb)");
    blocks_.emplace_back(new uint8_t[kBlockBytes]);
    arena_end_ = (blocks_.size() - 1) * kBlockBytes;
  }
  uint64_t pos = arena_end_;
  arena_end_ += size;
  return pos;
}

void TermPostingsTable::next_slice(TermRecord& r) {
  int level = std::min<int>(r.level + 1, kMaxLevel);
  uint64_t pos = new_slice(level);
  uint32_t link = static_cast<uint32_t>(pos >> 3);
  std::memcpy(at(r.slice_end), &link, 4);
  r.level = static_cast<uint8_t>(level);
  r.tail = pos;
  r.slice_end = pos + slice_bytes(level) - 4;
}

bool TermPostingsTable::equal(const TermRecord& r, std::string_view term) const {
  if (r.term_len != term.size()) return false;
  if (term.size() <= kInlineTermBytes) return std::memcmp(r.term, term.data(), term.size()) == 0;
  uint64_t off;
  std::memcpy(&off, r.term, sizeof(off));
  return std::memcmp(long_terms_.data() + off, term.data(), term.size()) == 0;
}

void TermPostingsTable::grow_slots() {
  std::vector<Slot> old(slots_.size() * 2, Slot{0, 0});
  old.swap(slots_);
  slot_mask_ = slots_.size() - 1;
  for (const Slot& s : old) {
    if (!s.id_plus1) continue;
    size_t i = s.tag & slot_mask_;  // the tag is the hash's low bits: no need to touch the term
    while (slots_[i].id_plus1) i = (i + 1) & slot_mask_;
    slots_[i] = s;
  }
}

uint32_t TermPostingsTable::insert(std::string_view term, uint64_t hash, size_t slot) {
  if (records_.size() >= 0xfffffffeu) throw std::length_error("BM25 builder: over 2^32 - 2 terms in one segment");
  const uint32_t id = static_cast<uint32_t>(records_.size());
  TermRecord& r = records_.emplace_back();
  std::memset(&r, 0, sizeof(r));
  r.term_len = static_cast<uint32_t>(term.size());
  if (term.size() > 0xffffffffu) throw std::length_error("BM25 builder: term over 4 GiB");
  if (term.size() <= kInlineTermBytes) {
    std::memcpy(r.term, term.data(), term.size());
  } else {
    uint64_t off = long_terms_.size();
    long_terms_.insert(long_terms_.end(), term.begin(), term.end());
    std::memcpy(r.term, &off, sizeof(off));
  }
  r.head = r.tail = new_slice(0);
  r.slice_end = r.head + slice_bytes(0) - 4;
  slots_[slot] = Slot{static_cast<uint32_t>(hash), id + 1};
  if (records_.size() * 2 > slots_.size()) grow_slots();
  return id;
}

void TermPostingsTable::append(std::string_view term, uint64_t hash, uint32_t doc, uint32_t tf) {
  const uint32_t tag = static_cast<uint32_t>(hash);
  size_t i = tag & slot_mask_;
  uint32_t id;
  for (;;) {
    const Slot s = slots_[i];
    if (!s.id_plus1) {
      id = insert(term, hash, i);
      break;
    }
    if (s.tag == tag && equal(records_[s.id_plus1 - 1], term)) {
      id = s.id_plus1 - 1;
      break;
    }
    i = (i + 1) & slot_mask_;
  }
  TermRecord& r = records_[id];
  uint8_t buf[10];
  int n = put_varint32(buf, doc - r.last_doc_plus1);  // doc - last_doc - 1, last_doc = -1 at first
  n += put_varint32(buf + n, tf);
  if (r.tail + n <= r.slice_end) {
    uint8_t* p = at(r.tail);
    for (int j = 0; j < n; ++j) p[j] = buf[j];  // n is 2..10: a loop, not a memmove call
    r.tail += n;
  } else {
    for (int j = 0; j < n; ++j) {
      if (r.tail == r.slice_end) next_slice(r);
      *at(r.tail++) = buf[j];
    }
  }
  r.last_doc_plus1 = doc + 1;
  r.count += 1;
  r.cf += tf;
}

void TermPostingsTable::copy_stream(uint32_t id, std::vector<uint8_t>& out) const {
  const TermRecord& r = records_[id];
  uint64_t pos = r.head;
  int level = 0;
  for (;;) {
    const uint64_t end = pos + slice_bytes(level) - 4;
    if (r.tail >= pos && r.tail <= end) {  // the last slice
      const uint8_t* p = at(pos);
      out.insert(out.end(), p, p + (r.tail - pos));
      return;
    }
    const uint8_t* p = at(pos);
    out.insert(out.end(), p, p + (end - pos));
    uint32_t link;
    std::memcpy(&link, at(end), 4);
    pos = static_cast<uint64_t>(link) << 3;
    level = std::min(level + 1, kMaxLevel);
  }
}

void TermPostingsTable::decode_postings(uint32_t id, std::vector<uint32_t>& docs, std::vector<uint32_t>& tfs) const {
  const TermRecord& r = records_[id];
  uint64_t slice = r.head;
  int level = 0;
  const uint8_t* p = at(slice);
  const uint8_t* end;  // end of the bytes to read in this slice
  auto set_end = [&]() {
    const uint64_t slice_end = slice + slice_bytes(level) - 4;
    end = p + ((r.tail >= slice && r.tail <= slice_end) ? r.tail - slice : slice_end - slice);
  };
  set_end();
  auto next_byte = [&]() -> uint8_t {
    if (p == end) {  // the stream continues in the next slice
      uint32_t link;
      std::memcpy(&link, end, 4);
      slice = static_cast<uint64_t>(link) << 3;
      level = std::min(level + 1, kMaxLevel);
      p = at(slice);
      set_end();
    }
    return *p++;
  };
  auto varint = [&]() {
    uint32_t v = 0;
    for (int shift = 0;; shift += 7) {
      uint8_t b = next_byte();
      v |= static_cast<uint32_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
  };
  int64_t doc = -1;
  for (uint32_t i = 0; i < r.count; ++i) {
    doc += static_cast<int64_t>(varint()) + 1;
    docs.push_back(static_cast<uint32_t>(doc));
    tfs.push_back(varint());
  }
}

}  // namespace winnow::sparse
