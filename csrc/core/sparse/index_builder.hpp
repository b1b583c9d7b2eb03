// Streaming, memory-bounded construction of a BM25 inverted index.
//
// Documents arrive in batches (text, analyzed here in parallel; pre-tokenized; or term
// impacts). A batch is analyzed in chunks of 64 documents, in parallel, into each document's
// distinct terms with tf and hash (AnalyzedChunk; buffers reused across batches). Postings
// then accumulate per term as varint (doc gap, tf) streams in a TermPostingsTable, one per
// thread (terms sharded by hash). When the table's bytes pass the memory budget the segment
// is written, terms sorted, to a temporary file; finish() merges all segments term by term
// into the final block-coded postings, in parallel over term ranges, so peak memory is
// about one segment plus the final index. The arrays do not depend on the thread count,
// the memory budget or the batch sizes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sparse/index_data.hpp"
#include "sparse/term_postings_table.hpp"
#include "text/analyzer.hpp"

namespace winnow::sparse {

struct BuildOptions {
  Bm25Params params;
  text::AnalyzerKind analyzer = text::AnalyzerKind::English;
  int threads = 1;
  size_t memory_budget_bytes = size_t(2) << 30;  // per in-memory segment
  std::string temp_dir = "/tmp";                  // where segment files go
};

class Bm25Builder {
 public:
  explicit Bm25Builder(BuildOptions options);
  ~Bm25Builder();

  /// Analyze and add a batch. Throws std::invalid_argument naming a duplicate docno.
  void add_texts(const std::vector<std::string>& docnos, const std::vector<std::string>& texts);
  /// Add a batch of pre-tokenized documents (terms used as given).
  void add_tokens(const std::vector<std::string>& docnos, const std::vector<std::vector<std::string>>& tokens);

  /// Add a batch of documents given as integer term impacts (an impact index: the impact
  /// takes the frequency slot). Document i holds terms[offsets[i] .. offsets[i+1]) with
  /// impacts[...] (each >= 1); its length is the sum of its impacts. offsets has
  /// docnos.size() + 1 entries. std::invalid_argument names a repeated term or a bad impact.
  void add_impacts(const std::vector<std::string>& docnos, const std::vector<std::string>& terms,
                   const uint32_t* impacts, const int64_t* offsets);

  int64_t n_docs() const { return static_cast<int64_t>(norms_.size()); }
  int64_t n_segments_flushed() const { return static_cast<int64_t>(segment_files_.size()); }

  /// Merge everything into the final arrays. The builder is empty afterwards.
  Bm25Arrays finish();


 private:
  // A chunk of a batch's documents after analysis: each document's distinct terms (any
  // order) with tf and hash, the terms' bytes packed into `chars`. Chunks are analyzed in
  // parallel and kept across batches so their buffers are reused.
  struct AnalyzedChunk {
    struct Term {
      uint64_t hash;    // term_hash of the term
      uint64_t offset;  // into chars
      uint32_t length;
      uint32_t tf;
    };
    std::vector<char> chars;
    std::vector<Term> terms;
    std::vector<uint32_t> doc_end;  // per document: end of its terms in `terms`
    std::vector<uint32_t> lengths;  // per document: its length (tokens, or sum of impacts)
    std::string error;              // set instead of throwing from a worker
    // Per-document scratch, kept so analysis allocates nothing per document (in the chunk,
    // not thread_local: in a shared library every thread_local use may call __tls_get_addr).
    std::vector<std::string> tokens;
    std::vector<std::string_view> views;
    std::vector<std::pair<uint64_t, std::string_view>> hashed;
    std::vector<std::pair<std::string_view, uint32_t>> impacts;
    void clear() {
      chars.clear();
      terms.clear();
      doc_end.clear();
      lengths.clear();
      error.clear();
    }
    std::string_view term(const Term& t) const { return std::string_view(chars.data() + t.offset, t.length); }
  };
  static constexpr size_t kChunkDocs = 64;

  // Analyze documents [0, n) of a batch into chunks_ with analyze_one(i, chunk), in parallel.
  template <typename AnalyzeOne>
  void analyze_batch(size_t n, AnalyzeOne&& analyze_one);
  void add_counted(const std::vector<std::string>& docnos, size_t n_chunks);
  void register_docno(const std::string& docno);
  void flush_segment();

  // The in-memory segment is sharded by term hash, one shard per thread, so postings are
  // appended in parallel (each shard sees the documents in order, so every term's postings
  // stay sorted) and the output does not depend on the thread count. A term is referred to
  // as (shard << 32 | id within the shard).
  // (hash's high half scaled to [0, shards): a multiply, not a division, per term and thread)
  uint32_t shard_of(uint64_t hash) const { return static_cast<uint32_t>(((hash >> 32) * shards_.size()) >> 32); }
  std::vector<uint64_t> sorted_term_refs() const;  // all terms of the segment, sorted by bytes
  size_t segment_bytes() const;
  void clear_segment();

  BuildOptions options_;
  text::Analyzer analyzer_;
  std::vector<TermPostingsTable> shards_;
  std::vector<AnalyzedChunk> chunks_;
  std::vector<std::string> segment_files_;

  std::vector<uint8_t> norms_;
  std::vector<uint32_t> doc_len_;
  std::vector<char> docno_bytes_;
  std::vector<uint64_t> docno_offsets_{0};
  std::unordered_multimap<uint64_t, uint32_t> docno_hash_;  // hash -> doc, collisions resolved by comparing
  uint64_t total_length_ = 0;
  int64_t docs_with_terms_ = 0;
};

}  // namespace winnow::sparse
