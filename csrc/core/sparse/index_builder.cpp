#include "sparse/index_builder.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <stdexcept>

#include "common.hpp"
#include "file_io.hpp"
#include "sparse/block_codec.hpp"
#include "sparse/order_by_bytes.hpp"
#include "thread_pool.hpp"

namespace winnow::sparse {
namespace {

uint64_t get_varint(const uint8_t*& p, const uint8_t* end) {
  uint64_t v = 0;
  for (int shift = 0; p < end && shift < 64; shift += 7) {
    uint8_t byte = *p++;
    v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return v;
  }
  throw FormatError("segment file: truncated varint");
}

// Append the postings of a (varint doc gap, varint tf) stream of `count` postings; its docs
// are absolute (the first gap counts from -1).
void decode_stream(const uint8_t* p, const uint8_t* end, uint32_t count, std::vector<uint32_t>& docs,
                   std::vector<uint32_t>& tfs) {
  int64_t doc = -1;
  for (uint32_t i = 0; i < count; ++i) {
    doc += static_cast<int64_t>(get_varint(p, end)) + 1;
    docs.push_back(static_cast<uint32_t>(doc));
    tfs.push_back(static_cast<uint32_t>(get_varint(p, end)));
  }
}

// One term of a merge source (a segment file, or the in-memory segment), in term order.
struct SourceTerm {
  std::string_view term;
  uint64_t cf;
  uint32_t count;
  const uint8_t* bytes;  // its postings stream in a segment file; nullptr: in memory at `ref`
  uint64_t n_bytes;
  uint64_t ref;          // shard << 32 | id, for in-memory terms
};

// Segment file layout (temporary, never read by another version): a magic u64, then per
// term in order: u32 term_len, term, u32 count, u64 cf, u64 n_bytes, bytes.
constexpr uint64_t kSegmentMagic = 0x31474553'4e4e4957ull;  // "WINNSEG1"

class SegmentWriter {
 public:
  explicit SegmentWriter(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
    if (!f_) throw FormatError(path + ": cannot create segment file");
    std::setvbuf(f_, nullptr, _IOFBF, size_t(1) << 20);
    put(&kSegmentMagic, 8);
  }
  ~SegmentWriter() {
    if (f_) std::fclose(f_);
  }
  void term(std::string_view t, uint32_t count, uint64_t cf, const std::vector<uint8_t>& bytes) {
    uint32_t len = static_cast<uint32_t>(t.size());
    uint64_t n = bytes.size();
    put(&len, 4);
    put(t.data(), t.size());
    put(&count, 4);
    put(&cf, 8);
    put(&n, 8);
    put(bytes.data(), n);
  }
  void close() {
    int rc = std::fclose(f_);
    f_ = nullptr;
    if (rc != 0) throw FormatError(path_ + ": cannot write segment file (disk full?)");
  }

 private:
  void put(const void* p, size_t n) {
    if (n && std::fwrite(p, 1, n, f_) != n) throw FormatError(path_ + ": cannot write segment file (disk full?)");
  }
  std::string path_;
  std::FILE* f_;
};

// All terms of a segment file (mapped), in order.
std::vector<SourceTerm> read_segment(const MappedFile& file, const std::string& path) {
  const uint8_t* p = file.data();
  const uint8_t* end = p + file.size();
  auto take = [&](uint64_t n) {
    if (static_cast<uint64_t>(end - p) < n) throw FormatError(path + ": segment file truncated");
    const uint8_t* r = p;
    p += n;
    return r;
  };
  auto read = [&](auto& v) { std::memcpy(&v, take(sizeof(v)), sizeof(v)); };
  uint64_t magic;
  read(magic);
  if (magic != kSegmentMagic) throw FormatError(path + ": not a segment file");
  std::vector<SourceTerm> terms;
  while (p < end) {
    SourceTerm t{};
    uint32_t len;
    read(len);
    t.term = std::string_view(reinterpret_cast<const char*>(take(len)), len);
    read(t.count);
    read(t.cf);
    read(t.n_bytes);
    t.bytes = take(t.n_bytes);
    terms.push_back(t);
  }
  return terms;
}

// One term range's share of the final arrays (offsets relative to the range).
struct RangeOutput {
  std::vector<char> term_bytes;
  std::vector<uint64_t> term_ends;    // per term: end of its bytes in term_bytes
  std::vector<uint32_t> df;
  std::vector<uint64_t> cf;
  std::vector<uint64_t> term_starts;  // per term: start of its postings in `postings`
  std::vector<uint32_t> multi_terms;  // terms (of this range) with more than one block
  std::vector<uint64_t> multi_ends;   // per multi-block term: end of its blocks in block_last_doc
  std::vector<uint32_t> block_last_doc;
  std::vector<uint64_t> block_offset; // per table block: start of its bytes in postings
  std::vector<uint8_t> postings;
};

template <typename T>
void append_shifted(std::vector<T>& out, const std::vector<T>& in, T shift) {
  size_t at = out.size();
  out.resize(at + in.size());
  for (size_t i = 0; i < in.size(); ++i) out[at + i] = in[i] + shift;
}

template <typename T>
void append_all(std::vector<T>& out, const std::vector<T>& in) {
  out.insert(out.end(), in.begin(), in.end());
}

}  // namespace

Bm25Builder::Bm25Builder(BuildOptions options)
    : options_(std::move(options)), analyzer_(options_.analyzer),
      shards_(static_cast<size_t>(std::max(1, resolve_threads(options_.threads)))) {}

size_t Bm25Builder::segment_bytes() const {
  size_t total = 0;
  for (const auto& sh : shards_) total += sh.bytes();
  return total;
}

std::vector<uint64_t> Bm25Builder::sorted_term_refs() const {
  std::vector<uint64_t> refs;
  for (uint64_t s = 0; s < shards_.size(); ++s)
    for (uint32_t id = 0; id < shards_[s].n_terms(); ++id) refs.push_back(s << 32 | id);
  auto term = [&](uint32_t i) { return shards_[refs[i] >> 32].term(static_cast<uint32_t>(refs[i])); };
  std::vector<uint64_t> sorted(refs.size());
  const std::vector<uint32_t> order = order_by_bytes(refs.size(), term, options_.threads);
  for (size_t i = 0; i < order.size(); ++i) sorted[i] = refs[order[i]];
  return sorted;
}

void Bm25Builder::clear_segment() {
  for (auto& sh : shards_) sh.clear();
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

namespace {
// Append one document's terms (`terms`: its tokens) to `chunk` as distinct terms with their
// counts.
template <typename Chunk>
void push_counted_document(std::vector<std::string_view>& terms, Chunk& chunk) {
  // Grouped by hash (then bytes, should two terms share a hash): integer compares, and the
  // order of a document's terms does not matter to the postings.
  auto& hashed = chunk.hashed;
  hashed.clear();
  for (std::string_view t : terms) hashed.emplace_back(term_hash(t), t);
  std::sort(hashed.begin(), hashed.end());
  for (size_t i = 0; i < hashed.size();) {
    size_t j = i + 1;
    while (j < hashed.size() && hashed[j] == hashed[i]) ++j;
    const std::string_view t = hashed[i].second;
    chunk.terms.push_back({hashed[i].first, chunk.chars.size(), static_cast<uint32_t>(t.size()), static_cast<uint32_t>(j - i)});
    chunk.chars.insert(chunk.chars.end(), t.begin(), t.end());
    i = j;
  }
  chunk.doc_end.push_back(static_cast<uint32_t>(chunk.terms.size()));
}
}  // namespace

template <typename AnalyzeOne>
void Bm25Builder::analyze_batch(size_t n, AnalyzeOne&& analyze_one) {
  const size_t n_chunks = (n + kChunkDocs - 1) / kChunkDocs;
  if (chunks_.size() < n_chunks) chunks_.resize(n_chunks);
  parallel_for(static_cast<int64_t>(n_chunks), options_.threads, [&](int64_t c) {
    AnalyzedChunk& chunk = chunks_[c];
    chunk.clear();
    const size_t end = std::min(n, (c + 1) * kChunkDocs);
    for (size_t i = c * kChunkDocs; i < end && chunk.error.empty(); ++i) analyze_one(i, chunk);
  });
  // Workers never throw: the first error (in document order) is raised here.
  for (size_t c = 0; c < n_chunks; ++c) check_arg(chunks_[c].error.empty(), chunks_[c].error);
}

void Bm25Builder::add_texts(const std::vector<std::string>& docnos, const std::vector<std::string>& texts) {
  check_arg(docnos.size() == texts.size(), "docnos and texts differ in length (" + std::to_string(docnos.size()) +
                                               " vs " + std::to_string(texts.size()) + ")");
  analyze_batch(texts.size(), [&](size_t i, AnalyzedChunk& chunk) {
    auto& tokens = chunk.tokens;
    auto& views = chunk.views;
    analyzer_.analyze(texts[i], tokens);
    views.assign(tokens.begin(), tokens.end());
    chunk.lengths.push_back(static_cast<uint32_t>(tokens.size()));
    push_counted_document(views, chunk);
  });
  add_counted(docnos, (texts.size() + kChunkDocs - 1) / kChunkDocs);
}

void Bm25Builder::add_tokens(const std::vector<std::string>& docnos, const std::vector<std::vector<std::string>>& tokens) {
  check_arg(docnos.size() == tokens.size(), "docnos and tokens differ in length");
  analyze_batch(tokens.size(), [&](size_t i, AnalyzedChunk& chunk) {
    auto& views = chunk.views;
    views.clear();
    for (const auto& t : tokens[i])
      if (!t.empty()) views.push_back(t);
    chunk.lengths.push_back(static_cast<uint32_t>(views.size()));
    push_counted_document(views, chunk);
  });
  add_counted(docnos, (tokens.size() + kChunkDocs - 1) / kChunkDocs);
}

void Bm25Builder::add_impacts(const std::vector<std::string>& docnos, const std::vector<std::string>& terms,
                              const uint32_t* impacts, const int64_t* offsets) {
  const size_t n = docnos.size();
  check_arg(offsets[0] == 0 && offsets[n] == static_cast<int64_t>(terms.size()),
            "impact offsets must run from 0 to the number of terms (" + std::to_string(terms.size()) + ")");
  for (size_t i = 0; i < n; ++i) check_arg(offsets[i] <= offsets[i + 1], "impact offsets decrease at " + std::to_string(i));
  analyze_batch(n, [&](size_t i, AnalyzedChunk& chunk) {
    auto& doc = chunk.impacts;  // (term, impact)
    doc.clear();
    uint64_t length = 0;
    for (int64_t j = offsets[i]; j < offsets[i + 1]; ++j) {
      if (impacts[j] < 1) {
        chunk.error = "document '" + docnos[i] + "' term '" + terms[j] + "' has impact 0 (expected >= 1)";
        return;
      }
      length += impacts[j];
      doc.emplace_back(terms[j], impacts[j]);
    }
    std::sort(doc.begin(), doc.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t j = 1; j < doc.size(); ++j)
      if (doc[j].first == doc[j - 1].first) {
        chunk.error = "document '" + docnos[i] + "' has term '" + std::string(doc[j].first) + "' twice";
        return;
      }
    if (length > UINT32_MAX) {
      chunk.error = "document '" + docnos[i] + "' impacts sum to " + std::to_string(length) + ", over 2^32 - 1";
      return;
    }
    for (const auto& [t, impact] : doc) {
      chunk.terms.push_back({term_hash(t), chunk.chars.size(), static_cast<uint32_t>(t.size()), impact});
      chunk.chars.insert(chunk.chars.end(), t.begin(), t.end());
    }
    chunk.doc_end.push_back(static_cast<uint32_t>(chunk.terms.size()));
    chunk.lengths.push_back(static_cast<uint32_t>(length));
  });
  add_counted(docnos, (n + kChunkDocs - 1) / kChunkDocs);
}

void Bm25Builder::add_counted(const std::vector<std::string>& docnos, size_t n_chunks) {
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
  check_arg(first_doc + static_cast<int64_t>(docnos.size()) < 0xfffffffeLL, "too many documents for 32-bit doc ids");
  for (size_t c = 0; c < n_chunks; ++c)
    for (uint32_t length : chunks_[c].lengths) {
      norms_.push_back(lucene_length_to_byte(length));
      doc_len_.push_back(length);
      total_length_ += length;
      if (length > 0) ++docs_with_terms_;
    }
  // Each shard appends the postings of its terms, documents in order. Table lookups and
  // stream appends are cache misses; spreading them over threads overlaps them, and
  // prefetching the slot a few terms ahead overlaps them within a thread.
  const uint32_t n_shards = static_cast<uint32_t>(shards_.size());
  parallel_for(n_shards, options_.threads, [&](int64_t s) {
    TermPostingsTable& table = shards_[s];
    uint32_t doc = static_cast<uint32_t>(first_doc);
    for (size_t c = 0; c < n_chunks; ++c) {
      const AnalyzedChunk& chunk = chunks_[c];
      const size_t n_terms = chunk.terms.size();
      auto mine = [&](size_t j) { return n_shards == 1 || shard_of(chunk.terms[j].hash) == static_cast<uint32_t>(s); };
      constexpr size_t kAhead = 8;
      for (size_t j = 0; j < std::min(kAhead, n_terms); ++j)
        if (mine(j)) table.prefetch(chunk.terms[j].hash);
      size_t j = 0;
      for (uint32_t end : chunk.doc_end) {
        for (; j < end; ++j) {
          if (j + kAhead < n_terms && mine(j + kAhead)) table.prefetch(chunk.terms[j + kAhead].hash);
          if (!mine(j)) continue;
          const AnalyzedChunk::Term& t = chunk.terms[j];
          table.append(chunk.term(t), t.hash, doc, t.tf);
        }
        ++doc;
      }
    }
  });
  if (segment_bytes() > options_.memory_budget_bytes) flush_segment();
}

void Bm25Builder::flush_segment() {
  std::vector<uint64_t> order = sorted_term_refs();
  if (order.empty()) return;
  std::string path = options_.temp_dir + "/winnow-segment-" + std::to_string(::getpid()) + "-" +
                     std::to_string(reinterpret_cast<uintptr_t>(this)) + "-" + std::to_string(segment_files_.size()) + ".seg";
  segment_files_.push_back(path);  // unlinked by the destructor even if writing fails
  SegmentWriter writer(path);
  std::vector<uint8_t> bytes;
  for (uint64_t ref : order) {
    const TermPostingsTable& table = shards_[ref >> 32];
    const uint32_t id = static_cast<uint32_t>(ref);
    bytes.clear();
    table.copy_stream(id, bytes);
    writer.term(table.term(id), table.count(id), table.cf(id), bytes);
  }
  writer.close();
  clear_segment();
}

Bm25Arrays Bm25Builder::finish() {
  Bm25Arrays out;
  out.stats.n_docs = n_docs();
  out.stats.n_docs_with_terms = docs_with_terms_;
  out.stats.total_length = total_length_;

  // Sources, each in term order: the flushed segment files (in doc order; the in-memory
  // segment is flushed last), or else the in-memory segment alone.
  std::vector<std::unique_ptr<MappedFile>> files;
  std::vector<std::vector<SourceTerm>> sources;
  if (!segment_files_.empty()) {
    flush_segment();
    for (const auto& f : segment_files_) {
      files.push_back(std::make_unique<MappedFile>(f));
      sources.push_back(read_segment(*files.back(), f));
    }
  } else {
    std::vector<SourceTerm>& memory = sources.emplace_back();
    const std::vector<uint64_t> refs = sorted_term_refs();
    memory.reserve(refs.size());
    for (uint64_t ref : refs) {
      const TermPostingsTable& table = shards_[ref >> 32];
      const uint32_t id = static_cast<uint32_t>(ref);
      memory.push_back({table.term(id), table.cf(id), table.count(id), nullptr, 0, ref});
    }
  }
  const size_t n_sources = sources.size();

  // Term ranges of about equal postings (by the largest source), merged in parallel; a
  // term's blocks do not depend on where they land, so concatenating the ranges gives the
  // serial merge's arrays.
  const int threads = resolve_threads(options_.threads);
  const size_t n_ranges = threads == 1 ? 1 : static_cast<size_t>(threads) * 16;
  size_t largest = 0;
  for (size_t s = 1; s < n_sources; ++s)
    if (sources[s].size() > sources[largest].size()) largest = s;
  std::vector<std::string_view> splitters;  // range r >= 1 starts at splitters[r - 1]
  {
    const auto& terms = sources[largest];
    uint64_t total = 0, seen = 0;
    for (const auto& t : terms) total += t.count;
    size_t i = 0;
    for (size_t r = 1; r < n_ranges; ++r) {
      while (i < terms.size() && seen * n_ranges < total * r) seen += terms[i++].count;
      if (i < terms.size()) splitters.push_back(terms[i].term);
    }
  }
  const size_t n_used = splitters.size() + 1;
  // bounds[s][r]: first term of source s in range r
  std::vector<std::vector<size_t>> bounds(n_sources, std::vector<size_t>(n_used + 1));
  for (size_t s = 0; s < n_sources; ++s) {
    const auto& terms = sources[s];
    bounds[s][0] = 0;
    bounds[s][n_used] = terms.size();
    for (size_t r = 1; r < n_used; ++r)
      bounds[s][r] = static_cast<size_t>(
          std::lower_bound(terms.begin(), terms.end(), splitters[r - 1],
                           [](const SourceTerm& t, std::string_view key) { return t.term < key; }) -
          terms.begin());
  }

  std::vector<RangeOutput> ranges(n_used);
  parallel_for(static_cast<int64_t>(n_used), threads, [&](int64_t r) {
    RangeOutput& o = ranges[r];
    std::vector<size_t> pos(n_sources), stop(n_sources);
    for (size_t s = 0; s < n_sources; ++s) {
      pos[s] = bounds[s][r];
      stop[s] = bounds[s][r + 1];
    }
    std::vector<uint32_t> docs, tfs;
    for (;;) {
      std::string_view term;
      uint64_t cf = 0;
      docs.clear();
      tfs.clear();
      if (n_sources == 1) {  // the in-memory segment alone: no merging, no comparisons
        if (pos[0] >= stop[0]) break;
        const SourceTerm& st = sources[0][pos[0]++];
        term = st.term;
        cf = st.cf;
        if (st.bytes) {
          decode_stream(st.bytes, st.bytes + st.n_bytes, st.count, docs, tfs);
        } else {
          shards_[st.ref >> 32].decode_postings(static_cast<uint32_t>(st.ref), docs, tfs);
        }
      } else {
        bool any = false;
        for (size_t s = 0; s < n_sources; ++s)
          if (pos[s] < stop[s] && (!any || sources[s][pos[s]].term < term)) {
            term = sources[s][pos[s]].term;
            any = true;
          }
        if (!any) break;
        // Segments hold increasing doc ranges: take the term from each, in segment order.
        for (size_t s = 0; s < n_sources; ++s) {
          if (pos[s] >= stop[s] || sources[s][pos[s]].term != term) continue;
          const SourceTerm& st = sources[s][pos[s]++];
          decode_stream(st.bytes, st.bytes + st.n_bytes, st.count, docs, tfs);  // segment files only
          cf += st.cf;
        }
      }
      o.term_bytes.insert(o.term_bytes.end(), term.begin(), term.end());
      o.term_ends.push_back(o.term_bytes.size());
      o.df.push_back(static_cast<uint32_t>(docs.size()));
      o.cf.push_back(cf);
      o.term_starts.push_back(o.postings.size());
      // block tables for terms of more than one block only (index_data.hpp)
      const bool table = docs.size() > static_cast<size_t>(kBlockSize);
      int64_t prev = -1;
      for (size_t i = 0; i < docs.size(); i += kBlockSize) {
        int n = static_cast<int>(std::min<size_t>(kBlockSize, docs.size() - i));
        if (table) o.block_offset.push_back(o.postings.size());
        encode_block(docs.data() + i, tfs.data() + i, n, prev, o.postings);
        prev = docs[i + n - 1];
        if (table) o.block_last_doc.push_back(static_cast<uint32_t>(prev));
      }
      if (table) {
        o.multi_terms.push_back(static_cast<uint32_t>(o.df.size() - 1));
        o.multi_ends.push_back(o.block_last_doc.size());
      }
    }
  });
  files.clear();
  sources.clear();
  clear_segment();

  size_t n_terms = 0, n_term_bytes = 0, n_multi = 0, n_blocks = 0, n_postings_bytes = 0;
  for (const auto& o : ranges) {
    n_terms += o.df.size();
    n_multi += o.multi_terms.size();
    n_term_bytes += o.term_bytes.size();
    n_blocks += o.block_last_doc.size();
    n_postings_bytes += o.postings.size();
  }
  out.term_bytes.reserve(n_term_bytes);
  out.term_offsets.reserve(n_terms + 1);
  out.df.reserve(n_terms);
  out.cf.reserve(n_terms);
  out.term_postings.reserve(n_terms + 1);
  out.multi_terms.reserve(n_multi);
  out.multi_first_block.reserve(n_multi + 1);
  out.block_last_doc.reserve(n_blocks);
  out.block_offset.reserve(n_blocks);
  out.postings.reserve(n_postings_bytes + kPostingsPadding);
  for (auto& o : ranges) {
    append_shifted<uint64_t>(out.term_offsets, o.term_ends, out.term_bytes.size());
    append_all(out.term_bytes, o.term_bytes);
    append_shifted<uint32_t>(out.multi_terms, o.multi_terms, static_cast<uint32_t>(out.df.size()));
    append_all(out.df, o.df);
    append_all(out.cf, o.cf);
    append_shifted<uint64_t>(out.term_postings, o.term_starts, out.postings.size());
    append_shifted<uint64_t>(out.multi_first_block, o.multi_ends, out.block_last_doc.size());
    append_all(out.block_last_doc, o.block_last_doc);
    append_shifted<uint64_t>(out.block_offset, o.block_offset, out.postings.size());
    append_all(out.postings, o.postings);
    o = RangeOutput();
  }
  out.term_postings.push_back(out.postings.size());  // [T]: the end of the data
  out.postings.resize(out.postings.size() + kPostingsPadding, 0);

  out.norms = std::move(norms_);
  out.doc_len = std::move(doc_len_);
  out.docno_bytes = std::move(docno_bytes_);
  out.docno_offsets = std::move(docno_offsets_);
  {
    Bm25View v = view_of(out);
    // Docnos are unique, so the order is total and does not depend on the sort.
    out.docno_order = order_by_bytes(static_cast<size_t>(v.n_docs), [&](uint32_t d) { return v.docno(d); }, threads);
  }
  out.block_max_x.resize(out.block_last_doc.size());
  out.multi_max_x.resize(out.multi_terms.size());
  compute_block_maxima(view_of(out), options_.params, options_.threads, out.block_max_x.data(), out.multi_max_x.data());

  // Reset to an empty builder.
  for (auto& f : segment_files_) ::unlink(f.c_str());
  segment_files_.clear();
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
