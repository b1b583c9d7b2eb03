#include "sparse/index_builder.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <queue>
#include <stdexcept>

#include "common.hpp"
#include "file_io.hpp"
#include "sparse/block_codec.hpp"
#include "thread_pool.hpp"

namespace winnow::sparse {
namespace {

void put_varint(std::vector<uint8_t>& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

uint64_t get_varint(const uint8_t*& p, const uint8_t* end) {
  uint64_t v = 0;
  for (int shift = 0; p < end && shift < 64; shift += 7) {
    uint8_t byte = *p++;
    v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return v;
  }
  throw FormatError("segment file: truncated varint");
}

uint32_t fnv1a(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

// One segment's terms in sorted order, read back from memory or from its file.
struct SegmentTerm {
  std::string_view term;
  const uint8_t* bytes;
  size_t n_bytes;
  uint32_t count;
  uint64_t cf;
};

// Segment file layout (temporary, never read by another version): a section file
// "SEGMENT" whose payload repeats: u32 term_len, term, u32 count, u64 cf, u64 n_bytes, bytes.
class SegmentReader {
 public:
  explicit SegmentReader(const std::string& path)
      : section_(read_section(path, "SEGMENT", 1, true, false)), p_(section_.payload),
        end_(section_.payload + section_.payload_bytes) {}
  bool next(SegmentTerm& out) {
    if (p_ >= end_) return false;
    uint32_t len = read<uint32_t>();
    out.term = std::string_view(reinterpret_cast<const char*>(take(len)), len);
    out.count = read<uint32_t>();
    out.cf = read<uint64_t>();
    uint64_t n = read<uint64_t>();
    out.bytes = take(n);
    out.n_bytes = n;
    return true;
  }

 private:
  template <typename T>
  T read() {
    T v;
    std::memcpy(&v, take(sizeof(T)), sizeof(T));
    return v;
  }
  const uint8_t* take(uint64_t n) {
    if (static_cast<uint64_t>(end_ - p_) < n) throw FormatError("segment file truncated");
    const uint8_t* r = p_;
    p_ += n;
    return r;
  }
  Section section_;
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace

Bm25Builder::Bm25Builder(BuildOptions options)
    : options_(std::move(options)), analyzer_(options_.analyzer),
      shards_(static_cast<size_t>(std::max(1, resolve_threads(options_.threads)))) {}

namespace {
// Sorted (term, tf, hash) counts of one document's terms.
Bm25Builder::TermCounts count_terms(std::vector<std::string>& terms) {
  std::sort(terms.begin(), terms.end());
  Bm25Builder::TermCounts out;
  for (size_t i = 0; i < terms.size();) {
    size_t j = i + 1;
    while (j < terms.size() && terms[j] == terms[i]) ++j;
    uint32_t h = fnv1a(terms[i]);
    out.push_back({std::move(terms[i]), static_cast<uint32_t>(j - i), h});
    i = j;
  }
  return out;
}
}  // namespace

size_t Bm25Builder::segment_bytes() const {
  size_t total = 0;
  for (const auto& sh : shards_) total += sh.bytes;
  return total;
}

std::vector<uint64_t> Bm25Builder::sorted_term_refs() const {
  std::vector<uint64_t> refs;
  for (uint64_t s = 0; s < shards_.size(); ++s)
    for (uint64_t i = 0; i < shards_[s].strings.size(); ++i) refs.push_back(s << 32 | i);
  std::sort(refs.begin(), refs.end(), [&](uint64_t a, uint64_t b) { return term_of(a) < term_of(b); });
  return refs;
}

void Bm25Builder::clear_segment() {
  for (auto& sh : shards_) sh = Shard();
}

Bm25Builder::~Bm25Builder() {
  for (auto& f : segment_files_) ::unlink(f.c_str());
}

void Bm25Builder::register_docno(const std::string& docno) {
  uint64_t h = std::hash<std::string>{}(docno);
  auto range = docno_hash_.equal_range(h);
  for (auto it = range.first; it != range.second; ++it) {
    uint32_t d = it->second;
    std::string_view existing(docno_bytes_.data() + docno_offsets_[d], docno_offsets_[d + 1] - docno_offsets_[d]);
    if (existing == docno)
      throw std::invalid_argument("duplicate document id '" + docno + "' (documents " + std::to_string(d) + " and " +
                                  std::to_string(docno_offsets_.size() - 1) + ")");
  }
  docno_hash_.emplace(h, static_cast<uint32_t>(docno_offsets_.size() - 1));
  docno_bytes_.insert(docno_bytes_.end(), docno.begin(), docno.end());
  docno_offsets_.push_back(docno_bytes_.size());
}

void Bm25Builder::add_texts(const std::vector<std::string>& docnos, const std::vector<std::string>& texts) {
  check_arg(docnos.size() == texts.size(), "docnos and texts differ in length (" + std::to_string(docnos.size()) +
                                               " vs " + std::to_string(texts.size()) + ")");
  std::vector<TermCounts> counted(texts.size());
  std::vector<uint32_t> lengths(texts.size());
  parallel_for(
      static_cast<int64_t>(texts.size()), options_.threads,
      [&](int64_t i) {
        std::vector<std::string> terms;
        analyzer_.analyze(texts[i], terms);
        lengths[i] = static_cast<uint32_t>(terms.size());
        counted[i] = count_terms(terms);
      },
      64);
  add_counted(docnos, counted, lengths);
}

void Bm25Builder::add_tokens(const std::vector<std::string>& docnos, const std::vector<std::vector<std::string>>& tokens) {
  check_arg(docnos.size() == tokens.size(), "docnos and tokens differ in length");
  std::vector<TermCounts> counted(tokens.size());
  std::vector<uint32_t> lengths(tokens.size());
  parallel_for(
      static_cast<int64_t>(tokens.size()), options_.threads,
      [&](int64_t i) {
        std::vector<std::string> terms;
        for (const auto& t : tokens[i])
          if (!t.empty()) terms.push_back(t);
        lengths[i] = static_cast<uint32_t>(terms.size());
        counted[i] = count_terms(terms);
      },
      64);
  add_counted(docnos, counted, lengths);
}

void Bm25Builder::add_impacts(const std::vector<std::string>& docnos, const std::vector<std::string>& terms,
                              const uint32_t* impacts, const int64_t* offsets) {
  const size_t n = docnos.size();
  check_arg(offsets[0] == 0 && offsets[n] == static_cast<int64_t>(terms.size()),
            "impact offsets must run from 0 to the number of terms (" + std::to_string(terms.size()) + ")");
  for (size_t i = 0; i < n; ++i) check_arg(offsets[i] <= offsets[i + 1], "impact offsets decrease at " + std::to_string(i));
  std::vector<TermCounts> counted(n);
  std::vector<uint32_t> lengths(n);
  std::vector<std::string> errors(n);  // worker threads never throw: the first error is rethrown here
  parallel_for(
      static_cast<int64_t>(n), options_.threads,
      [&](int64_t i) {
        uint64_t length = 0;
        TermCounts& out = counted[i];
        for (int64_t j = offsets[i]; j < offsets[i + 1]; ++j) {
          if (impacts[j] < 1) {
            errors[i] = "document '" + docnos[i] + "' term '" + terms[j] + "' has impact 0 (expected >= 1)";
            return;
          }
          length += impacts[j];
          out.push_back({terms[j], impacts[j], fnv1a(terms[j])});
        }
        std::sort(out.begin(), out.end(), [](const CountedTerm& a, const CountedTerm& b) { return a.term < b.term; });
        for (size_t j = 1; j < out.size(); ++j)
          if (out[j].term == out[j - 1].term) {
            errors[i] = "document '" + docnos[i] + "' has term '" + out[j].term + "' twice";
            return;
          }
        if (length > UINT32_MAX) {
          errors[i] = "document '" + docnos[i] + "' impacts sum to " + std::to_string(length) + ", over 2^32 - 1";
          return;
        }
        lengths[i] = static_cast<uint32_t>(length);
      },
      64);
  for (const auto& e : errors) check_arg(e.empty(), e);
  add_counted(docnos, counted, lengths);
}

void Bm25Builder::add_counted(const std::vector<std::string>& docnos, std::vector<TermCounts>& docs,
                              const std::vector<uint32_t>& lengths) {
  // Check all docnos of the batch first so a duplicate leaves the builder unchanged.
  for (size_t i = 0; i < docnos.size(); ++i) {
    check_arg(!docnos[i].empty(), "empty document id at batch position " + std::to_string(i));
    try {
      register_docno(docnos[i]);
    } catch (...) {
      for (size_t j = 0; j < i; ++j) {  // roll back this batch's docnos
        uint64_t h = std::hash<std::string>{}(docnos[j]);
        auto range = docno_hash_.equal_range(h);
        for (auto it = range.first; it != range.second; ++it)
          if (it->second >= norms_.size()) { docno_hash_.erase(it); break; }
      }
      docno_offsets_.resize(norms_.size() + 1);
      docno_bytes_.resize(docno_offsets_.back());
      throw;
    }
  }
  const int64_t first_doc = static_cast<int64_t>(norms_.size());
  check_arg(first_doc + static_cast<int64_t>(docs.size()) < 0xfffffffeLL, "too many documents for 32-bit doc ids");
  for (size_t i = 0; i < docs.size(); ++i) {
    norms_.push_back(lucene_length_to_byte(lengths[i]));
    doc_len_.push_back(lengths[i]);
    total_length_ += lengths[i];
    if (lengths[i] > 0) ++docs_with_terms_;
  }
  // Each shard appends the postings of its terms, documents in order. Hash-map lookups and
  // buffer appends are cache misses; spreading them over threads overlaps them.
  const uint32_t n_shards = static_cast<uint32_t>(shards_.size());
  parallel_for(n_shards, options_.threads, [&](int64_t s) {
    Shard& sh = shards_[s];
    for (size_t i = 0; i < docs.size(); ++i) {
      const int64_t doc = first_doc + static_cast<int64_t>(i);
      for (auto& ct : docs[i]) {
        if (ct.shard_hash % n_shards != static_cast<uint32_t>(s)) continue;
        auto it = sh.ids.find(ct.term);
        uint32_t id;
        if (it == sh.ids.end()) {
          id = static_cast<uint32_t>(sh.buffers.size());
          sh.bytes += ct.term.size() + 96;  // map node + vector headers, roughly
          sh.ids.emplace(ct.term, id);
          sh.strings.push_back(std::move(ct.term));
          sh.buffers.emplace_back();
        } else {
          id = it->second;
        }
        TermBuffer& buf = sh.buffers[id];
        size_t before = buf.bytes.capacity();
        put_varint(buf.bytes, static_cast<uint64_t>(doc - buf.last_doc - 1));
        put_varint(buf.bytes, ct.tf);
        sh.bytes += buf.bytes.capacity() - before;
        buf.last_doc = doc;
        buf.count += 1;
        buf.cf += ct.tf;
      }
    }
  });
  if (segment_bytes() > options_.memory_budget_bytes) flush_segment();
}

void Bm25Builder::flush_segment() {
  std::vector<uint64_t> order = sorted_term_refs();
  if (order.empty()) return;
  std::vector<uint8_t> payload;
  auto put = [&](const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    payload.insert(payload.end(), b, b + n);
  };
  for (uint64_t ref : order) {
    const std::string& t = term_of(ref);
    TermBuffer& buf = shards_[ref >> 32].buffers[ref & 0xffffffffu];
    uint32_t len = static_cast<uint32_t>(t.size());
    uint64_t n = buf.bytes.size();
    put(&len, 4);
    put(t.data(), t.size());
    put(&buf.count, 4);
    put(&buf.cf, 8);
    put(&n, 8);
    put(buf.bytes.data(), n);
    std::vector<uint8_t>().swap(buf.bytes);
  }
  std::string path = options_.temp_dir + "/winnow-segment-" + std::to_string(::getpid()) + "-" +
                     std::to_string(reinterpret_cast<uintptr_t>(this)) + "-" + std::to_string(segment_files_.size()) + ".seg";
  SectionHeader h;
  h.tag = "SEGMENT";
  h.count0 = order.size();
  write_section(path, h, payload.data(), payload.size());
  segment_files_.push_back(path);
  clear_segment();
}

Bm25Arrays Bm25Builder::finish() {
  Bm25Arrays out;
  out.stats.n_docs = n_docs();
  out.stats.n_docs_with_terms = docs_with_terms_;
  out.stats.total_length = total_length_;

  // Sources: flushed segment files (in doc order), then the in-memory segment.
  std::vector<std::unique_ptr<SegmentReader>> readers;
  if (!segment_files_.empty()) {
    flush_segment();
    for (auto& f : segment_files_) readers.push_back(std::make_unique<SegmentReader>(f));
  }
  std::vector<uint64_t> memory_order;
  if (readers.empty()) memory_order = sorted_term_refs();
  size_t n_sources = readers.empty() ? 1 : readers.size();
  std::vector<SegmentTerm> current(n_sources);
  std::vector<bool> live(n_sources, false);
  size_t memory_pos = 0;
  auto advance = [&](size_t s) {
    if (readers.empty()) {
      if (memory_pos >= memory_order.size()) { live[s] = false; return; }
      uint64_t ref = memory_order[memory_pos++];
      const TermBuffer& b = buffer_of(ref);
      current[s] = {term_of(ref), b.bytes.data(), b.bytes.size(), b.count, b.cf};
      live[s] = true;
    } else {
      live[s] = readers[s]->next(current[s]);
    }
  };
  using Item = std::pair<std::string_view, size_t>;
  auto cmp = [](const Item& a, const Item& b) { return a.first > b.first || (a.first == b.first && a.second > b.second); };
  std::priority_queue<Item, std::vector<Item>, decltype(cmp)> heap(cmp);
  for (size_t s = 0; s < n_sources; ++s) {
    advance(s);
    if (live[s]) heap.push({current[s].term, s});
  }

  std::vector<uint32_t> docs, tfs;
  while (!heap.empty()) {
    std::string_view term = heap.top().first;
    std::string term_copy(term);
    docs.clear();
    tfs.clear();
    uint64_t cf = 0;
    // Segments hold increasing doc ranges and the heap pops equal terms in segment order.
    while (!heap.empty() && heap.top().first == term_copy) {
      size_t s = heap.top().second;
      heap.pop();
      const SegmentTerm& st = current[s];
      const uint8_t* p = st.bytes;
      const uint8_t* end = st.bytes + st.n_bytes;
      int64_t doc = -1;
      for (uint32_t i = 0; i < st.count; ++i) {
        doc += static_cast<int64_t>(get_varint(p, end)) + 1;
        docs.push_back(static_cast<uint32_t>(doc));
        tfs.push_back(static_cast<uint32_t>(get_varint(p, end)));
      }
      cf += st.cf;
      advance(s);
      if (live[s]) heap.push({current[s].term, s});
    }
    out.term_bytes.insert(out.term_bytes.end(), term_copy.begin(), term_copy.end());
    out.term_offsets.push_back(out.term_bytes.size());
    out.df.push_back(static_cast<uint32_t>(docs.size()));
    out.cf.push_back(cf);
    int64_t prev = -1;
    for (size_t i = 0; i < docs.size(); i += kBlockSize) {
      int n = static_cast<int>(std::min<size_t>(kBlockSize, docs.size() - i));
      encode_block(docs.data() + i, tfs.data() + i, n, prev, out.postings);
      prev = docs[i + n - 1];
      out.block_last_doc.push_back(static_cast<uint32_t>(prev));
      out.block_offset.push_back(out.postings.size());
    }
    out.first_block.push_back(out.block_last_doc.size());
  }
  out.postings.resize(out.postings.size() + kPostingsPadding, 0);

  out.norms = std::move(norms_);
  out.doc_len = std::move(doc_len_);
  out.docno_bytes = std::move(docno_bytes_);
  out.docno_offsets = std::move(docno_offsets_);
  {
    Bm25View v = view_of(out);
    out.docno_order.resize(static_cast<size_t>(v.n_docs));
    for (uint32_t d = 0; d < out.docno_order.size(); ++d) out.docno_order[d] = d;
    std::sort(out.docno_order.begin(), out.docno_order.end(),
              [&](uint32_t a, uint32_t b) { return v.docno(a) < v.docno(b); });
  }
  out.block_max_x.resize(out.block_last_doc.size());
  out.term_max_x.resize(out.df.size());
  compute_block_maxima(view_of(out), options_.params, options_.threads, out.block_max_x.data(), out.term_max_x.data());

  // Reset to an empty builder.
  readers.clear();
  for (auto& f : segment_files_) ::unlink(f.c_str());
  segment_files_.clear();
  clear_segment();
  docno_hash_.clear();
  norms_ = {};
  doc_len_ = {};
  docno_bytes_ = {};
  docno_offsets_ = {0};
  total_length_ = 0;
  docs_with_terms_ = 0;
  return out;
}

}  // namespace winnow::sparse
