#include "sparse/index_data.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <stdexcept>

#include "common.hpp"

#include "sparse/block_codec.hpp"
#include "thread_pool.hpp"

namespace winnow::sparse {

int64_t Bm25View::find_term(std::string_view t) const {
  if (front_coded) return terms.find(t);
  int64_t lo = 0, hi = n_terms;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (term(mid) < t) lo = mid + 1; else hi = mid;
  }
  return (lo < n_terms && term(lo) == t) ? lo : -1;
}

Bm25Params make_params(float k1, float b, const std::string& scoring) {
  // written so that NaN fails too
  if (!(k1 > 0.0f && std::isfinite(k1))) throw std::invalid_argument("k1 must be a finite number > 0, got " + std::to_string(k1));
  if (!(b >= 0.0f && b <= 1.0f)) throw std::invalid_argument("b must be in [0, 1], got " + std::to_string(b));
  Bm25Params p;
  p.k1 = k1;
  p.b = b;
  p.scoring = parse_scoring(scoring);
  return p;
}

void Bm25View::corrupt(const std::string& what) const {
  throw FormatError((source.empty() ? std::string("BM25 index") : source) + ": corrupt index: " + what);
}

namespace {
void check_monotone(const Bm25View& v, const UIntArray& a, int64_t n, const char* name) {
  for (int64_t i = 0; i + 1 < n; ++i)
    if (a[i + 1] < a[i]) v.corrupt(std::string(name) + " decreases at " + std::to_string(i));
}
}  // namespace

void Bm25View::validate() const {
  if (n_terms < 0 || n_blocks < 0 || n_docs < 0) corrupt("negative count");
  // doc ids are uint32 and kEndDoc (2^32 - 1) marks the end of a list
  if (n_docs >= static_cast<int64_t>(UINT32_MAX)) corrupt("n_docs " + std::to_string(n_docs) + " exceeds 2^32 - 2");
  if (front_coded) {
    if (terms.n_terms != n_terms)
      corrupt("the term dictionary holds " + std::to_string(terms.n_terms) + " terms, df " + std::to_string(n_terms));
    std::string why = terms.check();
    if (!why.empty()) corrupt(why);
  } else {
    if (term_offsets[0] != 0 || term_offsets[n_terms] != term_bytes_size)
      corrupt("term_offsets do not span term_bytes");
    check_monotone(*this, term_offsets, n_terms + 1, "term_offsets");
  }
  if (term_postings[0] != 0) corrupt("term_postings[0] != 0");
  check_monotone(*this, term_postings, n_terms + 1, "term_postings");
  if (postings_size < kPostingsPadding || term_postings[n_terms] > postings_size - kPostingsPadding)
    corrupt("postings shorter than term_postings says");
  if (n_multi < 0 || n_multi > n_terms) corrupt("multi_terms has " + std::to_string(n_multi) + " entries");
  if (multi_first_block[0] != 0 || multi_first_block[n_multi] != static_cast<uint64_t>(n_blocks))
    corrupt("multi_first_block does not span the blocks");
  int64_t i = 0;  // the next entry of multi_terms
  for (int64_t t = 0; t < n_terms; ++t) {
    if (df[t] == 0) corrupt("term " + std::to_string(t) + " has df 0");
    if (!front_coded && t > 0 && !(term(t - 1) < term(t))) corrupt("terms are not sorted at " + std::to_string(t));
    if (df[t] <= static_cast<uint64_t>(kBlockSize)) continue;
    // every term of more than one block has its block tables, in term order: with the check
    // after the loop, multi_terms lists exactly the terms with df > 128
    if (i >= n_multi || multi_terms[i] != t) corrupt("term " + std::to_string(t) + " has no block table");
    const uint64_t first = multi_first_block[i], end = multi_first_block[i + 1];
    const uint64_t want = (static_cast<uint64_t>(df[t]) + kBlockSize - 1) / kBlockSize;
    // first <= n_blocks by induction from multi_first_block[0] == 0, so the sum cannot wrap
    if (end != first + want || end > static_cast<uint64_t>(n_blocks))
      corrupt("block count of term " + std::to_string(t) + " does not match its df");
    // blocks lie in order inside the term's postings (so every offset is < term_postings[T]),
    // and last docs strictly increase within a term: with decode_block's check that a block
    // ends at its last doc, every decoded doc lies between two table entries, all < n_docs
    if (block_offset[first] != term_postings[t]) corrupt("block_offset of term " + std::to_string(t) + " does not start at its postings");
    if (block_offset[end - 1] >= term_postings[t + 1]) corrupt("block_offset of term " + std::to_string(t) + " runs past its postings");
    for (uint64_t blk = first + 1; blk < end; ++blk) {
      if (block_last_doc[blk] <= block_last_doc[blk - 1])
        corrupt("block_last_doc does not increase at block " + std::to_string(blk));
      if (block_offset[blk] <= block_offset[blk - 1]) corrupt("block_offset does not increase at block " + std::to_string(blk));
    }
    ++i;
  }
  if (i != n_multi) corrupt("multi_terms lists a term with a single block");
  // collection-wide df of a shard: at least the shard's own df and at most idf's N, else
  // idf_lucene's log argument could turn negative (NaN scores)
  if (idf_df)
    for (int64_t t = 0; t < n_terms; ++t)
      if (idf_df[t] < df[t] || static_cast<int64_t>(idf_df[t]) > stats.n_docs_with_terms)
        corrupt("collection df of term " + std::to_string(t) + " is not in [df, n_docs_with_terms]");
  // pruning bounds: finite and >= 0 (a NaN would break the bound sums and the sort of the
  // cursors by bound, whose comparator must be a strict weak order)
  for (int64_t m = 0; m < n_multi; ++m)
    if (!(multi_max_x[m] >= 0.0f && multi_max_x[m] <= FLT_MAX)) corrupt("multi_max_x of entry " + std::to_string(m) + " is not a finite bound");
  for (int64_t blk = 0; blk < n_blocks; ++blk)
    if (!(block_max_x[blk] >= 0.0f && block_max_x[blk] <= FLT_MAX)) corrupt("block_max_x of block " + std::to_string(blk) + " is not a finite bound");
  for (int64_t blk = 0; blk < n_blocks; ++blk)
    if (block_last_doc[blk] >= static_cast<uint64_t>(n_docs))
      corrupt("block_last_doc out of range at block " + std::to_string(blk));
  if (docno_offsets.data == nullptr) return;  // no docno table: docnos are a range (index/bm25_layout.py)
  if (docno_offsets[0] != 0 || docno_offsets[n_docs] != docno_bytes_size) corrupt("docno_offsets do not span docno_bytes");
  check_monotone(*this, docno_offsets, n_docs + 1, "docno_offsets");
}

Bm25View view_of(const Bm25Arrays& a) {
  Bm25View v;
  v.n_terms = static_cast<int64_t>(a.df.size());
  v.n_multi = static_cast<int64_t>(a.multi_terms.size());
  v.n_blocks = static_cast<int64_t>(a.block_last_doc.size());
  v.n_docs = static_cast<int64_t>(a.norms.size());
  v.term_bytes = a.term_bytes.data();
  v.term_bytes_size = a.term_bytes.size();
  v.term_offsets = a.term_offsets.data();
  v.df = a.df.data();
  v.term_postings = a.term_postings.data();
  v.multi_terms = a.multi_terms.data();
  v.multi_first_block = a.multi_first_block.data();
  v.multi_max_x = a.multi_max_x.data();
  v.block_last_doc = a.block_last_doc.data();
  v.block_offset = a.block_offset.data();
  v.block_max_x = a.block_max_x.data();
  v.postings = a.postings.data();
  v.postings_size = a.postings.size();
  v.norms = a.norms.data();
  v.doc_len = a.doc_len.data();
  v.docno_bytes = a.docno_bytes.data();
  v.docno_bytes_size = a.docno_bytes.size();
  v.docno_offsets = a.docno_offsets.data();
  v.stats = a.stats;
  return v;
}

std::vector<float> compute_norm_inverse(const Bm25View& v, const Bm25Params& p) {
  float avgdl = average_length(v.stats.total_length, v.stats.n_docs_with_terms);
  std::vector<float> out(static_cast<size_t>(v.n_docs));
  if (p.scoring == Scoring::Lucene) {
    float table[256];
    for (int i = 0; i < 256; ++i)
      table[i] = norm_inverse(p.k1, p.b, static_cast<float>(lucene_byte_to_length(static_cast<uint8_t>(i))), avgdl);
    for (int64_t d = 0; d < v.n_docs; ++d) out[d] = table[v.norms[d]];
  } else {
    for (int64_t d = 0; d < v.n_docs; ++d) out[d] = norm_inverse(p.k1, p.b, static_cast<float>(v.doc_len[d]), avgdl);
  }
  return out;
}

void compute_block_maxima(const Bm25View& v, const Bm25Params& p, int threads, float* block_max_x, float* multi_max_x) {
  std::vector<float> ninv = compute_norm_inverse(v, p);
  parallel_for(
      v.n_multi, threads,
      [&](int64_t i) {
        float term_max = 0.0f;
        decode_table_blocks(v, i, [&](uint64_t blk, const uint32_t* docs, const uint32_t* tfs, int n) {
          float m = 0.0f;
          for (int j = 0; j < n; ++j) m = std::max(m, static_cast<float>(tfs[j]) * ninv[docs[j]]);
          block_max_x[blk] = m;
          term_max = std::max(term_max, m);
        });
        multi_max_x[i] = term_max;
      },
      16);
}

}  // namespace winnow::sparse
