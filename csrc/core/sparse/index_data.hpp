// The arrays of a BM25 inverted index. Bm25Arrays owns them (the builder's output);
// Bm25View points at them wherever they live (vectors, numpy arrays, memory maps).
//
// Layout (T terms, M of them with more than one block, B blocks of those, N documents):
//   term_bytes[term_offsets[T]]  UTF-8 terms, sorted bytewise; term t = [term_offsets[t], term_offsets[t+1])
//                              (builder output and format 1; formats 2 and 3 front-code them instead:
//                              `terms`, a TermDictionary, see term_dictionary.hpp)
//   term_offsets (T+1) u*, df (T) u*, cf (T) u64 (builder output only: the view has no cf)
//   term_postings (T+1) u*     byte offset of term t's postings in `postings`; [T] = end of data
//   postings (term_postings[T] + 8 padding bytes): each term's ceil(df/128) blocks, back to back
// Block tables, for the M terms with df > 128 only (format 3: most terms of a real vocabulary
// have a single block, and its bounds are cheaper to recompute from the decoded block than to
// store: a cursor decodes it anyway):
//   multi_terms (M) u32        their term ids, ascending
//   multi_first_block (M+1) u* term multi_terms[i] owns blocks [multi_first_block[i], multi_first_block[i+1])
//   multi_max_x (M) f32        max over the term's blocks of block_max_x
//   block_last_doc (B) u32     last doc id of each block (skipping without decoding)
//   block_offset (B) u*        byte offset of each block in postings (a term's first = term_postings[t])
//   block_max_x (B) f32        max over the block of tf * norm_inverse[doc] (depends on k1, b, mode)
// Per document:
//   norms (N) u8               Lucene SmallFloat-encoded document lengths
//   doc_len (N) u*             exact document lengths (tokens after analysis)
//   docno_bytes, docno_offsets (N+1) u*    external document ids (absent, data null, when the
//                              docnos are str(start + i): index/bm25_layout.py)
//   docno_order (N) u32        doc ids sorted by docno bytes (Anserini-style tie breaking)
//
// u*: an unsigned integer table whose width (1, 2, 4 or 8 bytes) is chosen when the index is
// saved, the narrowest that holds its largest value (index/bm25_layout.py); the builder's
// output is u64 (offsets) / u32 (counts). The view reads every width through UIntArray.
// Formats 1 and 2 kept block tables for every term; index/bm25_layout.py converts them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sparse/block_codec.hpp"
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
  std::vector<uint64_t> term_postings;  // the builder appends each start, then the end
  std::vector<uint32_t> multi_terms;
  std::vector<uint64_t> multi_first_block{0};
  std::vector<float> multi_max_x;
  std::vector<uint32_t> block_last_doc;
  std::vector<uint64_t> block_offset;
  std::vector<float> block_max_x;
  std::vector<uint8_t> postings;
  std::vector<uint8_t> norms;
  std::vector<uint32_t> doc_len;
  std::vector<char> docno_bytes;
  std::vector<uint64_t> docno_offsets{0};
  std::vector<uint32_t> docno_order;
  Bm25Stats stats;
};

struct Bm25View {
  int64_t n_terms = 0, n_multi = 0, n_blocks = 0, n_docs = 0;
  // the terms: front-coded (format 2, `front_coded`) or plain bytes + offsets (builder, format 1)
  bool front_coded = false;
  TermDictionary terms;
  const char* term_bytes = nullptr;
  size_t term_bytes_size = 0;
  UIntArray term_offsets;
  UIntArray df;
  UIntArray term_postings;
  const uint32_t* multi_terms = nullptr;
  UIntArray multi_first_block;
  const float* multi_max_x = nullptr;
  const uint32_t* block_last_doc = nullptr;
  UIntArray block_offset;
  const float* block_max_x = nullptr;
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
  /// Index of term t in the block tables (multi_terms), or -1 for a single-block term. O(log M).
  int64_t multi_index(int64_t t) const {
    int64_t lo = 0, hi = n_multi;
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      if (multi_terms[mid] < t) lo = mid + 1; else hi = mid;
    }
    return (lo < n_multi && multi_terms[lo] == t) ? lo : -1;
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

/// Recompute block_max_x (B) and multi_max_x (M) for parameters p (a pass over the postings
/// of the multi-block terms).
void compute_block_maxima(const Bm25View& v, const Bm25Params& p, int threads, float* block_max_x, float* multi_max_x);

/// Decode every table block of multi-block term i (i < M) and call fn(blk, docs, values, n)
/// for each (blk its index in the block tables, n its postings); a block that does not decode
/// to its block table is a FormatError. The walk compute_block_maxima and
/// compute_impact_maxima share.
template <typename Fn>
void decode_table_blocks(const Bm25View& v, int64_t i, Fn&& fn) {
  uint32_t docs[kBlockSize], values[kBlockSize];
  int64_t remaining = v.df[v.multi_terms[i]];
  const uint64_t first = v.multi_first_block[i], end = v.multi_first_block[i + 1];
  for (uint64_t blk = first; blk < end; ++blk) {
    const int n = static_cast<int>(remaining < kBlockSize ? remaining : kBlockSize);
    remaining -= n;
    const int64_t prev = blk == first ? -1 : static_cast<int64_t>(v.block_last_doc[blk - 1]);
    const uint64_t off = v.block_offset[blk];
    if (decode_block(v.postings + off, v.postings_size - off, n, prev, docs, values) !=
        static_cast<int64_t>(v.block_last_doc[blk]))
      v.corrupt("postings block " + std::to_string(blk) + " does not decode to its block table");
    fn(blk, docs, values, n);
  }
}

}  // namespace winnow::sparse
