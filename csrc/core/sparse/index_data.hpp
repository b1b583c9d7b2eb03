// The arrays of a BM25 inverted index. Bm25Arrays owns them (the builder's output);
// Bm25View points at them wherever they live (vectors, numpy arrays, memory maps).
//
// Layout (T terms, B blocks, N documents):
//   term_bytes[term_offsets[T]]  UTF-8 terms, sorted bytewise; term t = [term_offsets[t], term_offsets[t+1])
//                              (builder output and format 1; format 2 front-codes them instead:
//                              `terms`, a TermDictionary, see term_dictionary.hpp)
//   term_offsets (T+1) u*, df (T) u*, cf (T) u64 (builder output only: the view has no cf)
//   first_block (T+1) u*       term t owns blocks [first_block[t], first_block[t+1]) = ceil(df/128)
//   block_last_doc (B) u32     last doc id of each block (skipping without decoding)
//   block_offset (B+1) u*      byte offset of each block in postings; [B] = end of data
//   block_max_x (B) f32        max over the block of tf * norm_inverse[doc] (depends on k1, b, mode)
//   term_max_x (T) f32         max over the term's blocks
//   postings (block_offset[B] + 8 padding bytes)
//   norms (N) u8               Lucene SmallFloat-encoded document lengths
//   doc_len (N) u*             exact document lengths (tokens after analysis)
//   docno_bytes, docno_offsets (N+1) u*    external document ids (absent, data null, when the
//                              docnos are str(start + i): index/bm25_layout.py)
//   docno_order (N) u32        doc ids sorted by docno bytes (Anserini-style tie breaking)
//
// u*: an unsigned integer table whose width (1, 2, 4 or 8 bytes) is chosen when the index is
// saved, the narrowest that holds its largest value (index/bm25_layout.py); the builder's
// output is u64 (offsets) / u32 (counts). The view reads every width through UIntArray.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sparse/bm25_scoring.hpp"
#include "sparse/term_dictionary.hpp"
#include "sparse/uint_array.hpp"

namespace winnow::sparse {

struct Bm25Stats {
  int64_t n_docs = 0;            // documents in the index (empty ones included)
  int64_t n_docs_with_terms = 0; // Lucene docCount: documents with at least one term (idf's N)
  uint64_t total_length = 0;     // Lucene sumTotalTermFreq
};

struct Bm25Params {
  float k1 = 0.9f;
  float b = 0.4f;
  Scoring scoring = Scoring::Lucene;
};

/// Checked parameters: k1 > 0 and finite, b in [0, 1], a known scoring name; else
/// std::invalid_argument naming the value.
Bm25Params make_params(float k1, float b, const std::string& scoring);

struct Bm25Arrays {
  std::vector<char> term_bytes;
  std::vector<uint64_t> term_offsets{0};
  std::vector<uint32_t> df;
  std::vector<uint64_t> cf;
  std::vector<uint64_t> first_block{0};
  std::vector<uint32_t> block_last_doc;
  std::vector<uint64_t> block_offset{0};
  std::vector<float> block_max_x;
  std::vector<float> term_max_x;
  std::vector<uint8_t> postings;
  std::vector<uint8_t> norms;
  std::vector<uint32_t> doc_len;
  std::vector<char> docno_bytes;
  std::vector<uint64_t> docno_offsets{0};
  std::vector<uint32_t> docno_order;
  Bm25Stats stats;
};

struct Bm25View {
  int64_t n_terms = 0, n_blocks = 0, n_docs = 0;
  // the terms: front-coded (format 2, `front_coded`) or plain bytes + offsets (builder, format 1)
  bool front_coded = false;
  TermDictionary terms;
  const char* term_bytes = nullptr;
  size_t term_bytes_size = 0;
  UIntArray term_offsets;
  UIntArray df;
  UIntArray first_block;
  const uint32_t* block_last_doc = nullptr;
  UIntArray block_offset;
  const float* block_max_x = nullptr;
  const float* term_max_x = nullptr;
  const uint8_t* postings = nullptr;
  size_t postings_size = 0;
  const uint8_t* norms = nullptr;
  UIntArray doc_len;
  const char* docno_bytes = nullptr;
  size_t docno_bytes_size = 0;
  UIntArray docno_offsets;
  // Scoring statistics. For a shard of a document-partitioned collection (winnow.distributed)
  // they are the whole collection's: stats.n_docs_with_terms and stats.total_length (idf's N
  // and the average length), and idf_df (T) the collection-wide df of each of this shard's
  // terms, so that every document scores exactly as in the unsharded index.
  // idf_df == nullptr: an ordinary index, idf uses df. stats.n_docs is always this index's N.
  Bm25Stats stats;
  const uint32_t* idf_df = nullptr;

  /// The df idf uses for term t: the collection's (idf_df) or this index's.
  int64_t idf_df_of(int64_t t) const { return idf_df ? idf_df[t] : df[t]; }

  /// Term t of a plain (not front-coded) view.
  std::string_view term(int64_t t) const {
    return {term_bytes + term_offsets[t], static_cast<size_t>(term_offsets[t + 1] - term_offsets[t])};
  }
  std::string_view docno(int64_t d) const {
    return {docno_bytes + docno_offsets[d], static_cast<size_t>(docno_offsets[d + 1] - docno_offsets[d])};
  }
  /// Term id by binary search over the sorted terms (or the front-coded blocks), or -1.
  int64_t find_term(std::string_view term) const;

  /// Where the arrays came from (the index directory), for error messages; "" = in memory.
  std::string source;

  /// Check every offset and count against the array sizes, so that a corrupt or
  /// truncated index fails here (FormatError naming the array) and never reads out of
  /// bounds later. O(T + B + N).
  void validate() const;
  /// Throw FormatError "<source>: corrupt index: <what>".
  [[noreturn]] void corrupt(const std::string& what) const;
};

Bm25View view_of(const Bm25Arrays& a);

/// Per-document 1 / (k1 * ((1 - b) + b * dl / avgdl)) for the mode: Lucene quantizes dl
/// through the 256-entry norm table, the others use exact lengths. Shape (N,).
std::vector<float> compute_norm_inverse(const Bm25View& v, const Bm25Params& p);

/// Recompute block_max_x (B) and term_max_x (T) for parameters p (a pass over all postings).
void compute_block_maxima(const Bm25View& v, const Bm25Params& p, int threads, float* block_max_x, float* term_max_x);

}  // namespace winnow::sparse
