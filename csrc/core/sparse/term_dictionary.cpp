#include "sparse/term_dictionary.hpp"

#include <algorithm>
#include <stdexcept>

namespace winnow::sparse {
namespace {

void put_varint(std::vector<uint8_t>& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

}  // namespace

FrontCodedTerms front_code_terms(const char* term_bytes, size_t size, const UIntArray& term_offsets, int64_t n_terms) {
  if (n_terms < 0 || term_offsets[0] != 0 || term_offsets[n_terms] != size)
    throw std::invalid_argument("term offsets do not span the term bytes");
  FrontCodedTerms out;
  out.bytes.reserve(size);
  out.block_offsets.reserve(static_cast<size_t>(n_terms / kTermsPerBlock + 2));
  std::string_view prev;
  for (int64_t t = 0; t < n_terms; ++t) {
    const uint64_t a = term_offsets[t], b = term_offsets[t + 1];
    if (b < a || b > size || b - a > UINT32_MAX) throw std::invalid_argument("term offsets decrease at " + std::to_string(t));
    std::string_view term(term_bytes + a, static_cast<size_t>(b - a));
    if (t > 0 && !(prev < term)) throw std::invalid_argument("terms are not sorted at " + std::to_string(t));
    if (t % kTermsPerBlock == 0) {
      if (t > 0) out.block_offsets.push_back(out.bytes.size());
      put_varint(out.bytes, term.size());
      out.bytes.insert(out.bytes.end(), term.begin(), term.end());
    } else {
      size_t shared = 0;
      const size_t most = std::min(prev.size(), term.size());
      while (shared < most && prev[shared] == term[shared]) ++shared;
      put_varint(out.bytes, shared);
      put_varint(out.bytes, term.size() - shared);
      out.bytes.insert(out.bytes.end(), term.begin() + static_cast<std::ptrdiff_t>(shared), term.end());
    }
    prev = term;
  }
  out.block_offsets.push_back(out.bytes.size());
  if (n_terms == 0) out.block_offsets.assign(1, 0);
  return out;
}

bool TermDictionary::read_varint(size_t& pos, uint32_t& value) const {
  uint64_t v = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (pos >= size) return false;
    const uint8_t byte = bytes[pos++];
    v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      if (v > UINT32_MAX) return false;
      value = static_cast<uint32_t>(v);
      return true;
    }
  }
  return false;
}

bool TermDictionary::next_term(size_t& pos, bool first, std::string& term) const {
  uint32_t shared = 0, suffix = 0;
  if (!first && !read_varint(pos, shared)) return false;
  if (!read_varint(pos, suffix)) return false;
  if (shared > term.size() || suffix > size - pos) return false;
  term.resize(shared);
  term.append(reinterpret_cast<const char*>(bytes + pos), suffix);
  pos += suffix;
  return true;
}

int64_t TermDictionary::find(std::string_view target) const {
  // last block whose first term <= target
  int64_t lo = 0, hi = n_blocks();
  std::string term;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    size_t pos = block_offsets[mid];
    if (!next_term(pos, true, term)) return -1;
    if (std::string_view(term) <= target) lo = mid + 1; else hi = mid;
  }
  if (lo == 0) return -1;  // before the first term
  const int64_t j = lo - 1;
  size_t pos = block_offsets[j];
  const int64_t end = std::min<int64_t>(n_terms, (j + 1) * kTermsPerBlock);
  for (int64_t t = j * kTermsPerBlock; t < end; ++t) {
    if (!next_term(pos, t == j * kTermsPerBlock, term)) return -1;
    const int c = std::string_view(term).compare(target);
    if (c == 0) return t;
    if (c > 0) return -1;
  }
  return -1;
}

std::string TermDictionary::check() const {
  const int64_t nb = n_blocks();
  if (block_offsets[0] != 0 || block_offsets[nb] != size) return "term block offsets do not span the dictionary";
  for (int64_t j = 0; j < nb; ++j)
    if (block_offsets[j + 1] < block_offsets[j]) return "term block offsets decrease at " + std::to_string(j);
  // one buffer holds the previous term; a term after a block's first shares prev[0, shared),
  // so it sorts after prev exactly when its suffix sorts after prev[shared, ...): no copies
  std::string prev;
  for (int64_t j = 0; j < nb; ++j) {
    size_t pos = block_offsets[j];
    const size_t block_end = block_offsets[j + 1];
    const int64_t end = std::min<int64_t>(n_terms, (j + 1) * kTermsPerBlock);
    for (int64_t t = j * kTermsPerBlock; t < end; ++t) {
      const bool first = t == j * kTermsPerBlock;
      uint32_t shared = 0, suffix = 0;
      if ((!first && !read_varint(pos, shared)) || !read_varint(pos, suffix) || pos > block_end ||
          shared > prev.size() || suffix > block_end - pos)
        return "term " + std::to_string(t) + " does not decode within its block";
      const std::string_view tail(reinterpret_cast<const char*>(bytes + pos), suffix);
      if (t > 0 && !(tail > std::string_view(prev).substr(shared))) return "terms are not sorted at " + std::to_string(t);
      prev.resize(shared);
      prev.append(tail);
      pos += suffix;
    }
    if (pos != block_end) return "term block " + std::to_string(j) + " does not end where the next begins";
  }
  return "";
}

}  // namespace winnow::sparse
