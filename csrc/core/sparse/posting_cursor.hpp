// A forward iterator over one term's postings, decoding one 128-posting block at a time,
// with shallow skipping over blocks (block_last_doc) and block-max score bounds.
//
// A term of one block (df <= 128, most terms) has no block-table entries (index_data.hpp):
// its cursor decodes the block at construction, as every cursor does, and takes the block's
// last doc and maximum from the decoded postings.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "common.hpp"
#include "sparse/block_codec.hpp"
#include "sparse/bm25_scoring.hpp"
#include "sparse/index_data.hpp"

namespace winnow::sparse {

constexpr uint32_t kEndDoc = std::numeric_limits<uint32_t>::max();

class PostingCursor {
 public:
  /// Norm inverse per document: `norm_table[norms[doc]]` when norm_table is set (Lucene's
  /// 256-entry cache over one-byte norms: 1 byte per document keeps the lookups in cache),
  /// else `ninv[doc]` (exact lengths). `weight` is the query-term weight w.
  PostingCursor(const Bm25View& v, int64_t term, float weight, const float* ninv, const float* norm_table = nullptr)
      : v_(&v), ninv_(ninv), norm_table_(norm_table), norms_(v.norms), df_(v.df[term]),
        start_(v.term_postings[term]), weight_(weight) {
    const int64_t m = df_ > static_cast<uint64_t>(kBlockSize) ? v.multi_index(term) : -1;
    if (m >= 0) {  // validate() proved every term with df > 128 has its tables
      first_ = v.multi_first_block[m];
      n_blocks_ = v.multi_first_block[m + 1] - first_;
    }
    load_block(0);
    float max_x = 0.0f;
    if (m >= 0) {
      max_x = v.multi_max_x[m];
    } else {
      for (int p = 0; p < n_in_block_; ++p)
        max_x = std::max(max_x, static_cast<float>(tfs_[p]) * norm_inverse_of(docs_[p]));
      single_max_x_ = max_x;
    }
    max_score_ = term_score(weight_, max_x);
  }

  uint32_t doc() const { return doc_; }
  float weight() const { return weight_; }
  /// Upper bound of this term's score over all documents.
  float max_score() const { return max_score_; }

  /// This posting's score (float, Lucene's expression).
  float score() const { return score_at(pos_); }

  /// Call fn(doc, score) for every posting with doc < end, leaving the cursor on the first
  /// posting >= end (or the end). The tight loop of windowed (bulk) scoring.
  template <typename Fn>
  void for_each_until(uint32_t end, Fn&& fn) {
    while (doc_ < end) {
      int p = pos_;
      const int n = n_in_block_;
      for (; p < n && docs_[p] < end; ++p) fn(docs_[p], score_at(p));
      if (p < n) {
        pos_ = p;
        doc_ = docs_[p];
        return;
      }
      if (block_ + 1 < n_blocks_) {
        load_block(block_ + 1);
      } else {
        pos_ = n;
        doc_ = kEndDoc;
        return;
      }
    }
  }
  uint32_t tf() const { return tfs_[pos_]; }

  void next() {
    if (++pos_ < n_in_block_) {
      doc_ = docs_[pos_];
    } else if (block_ + 1 < n_blocks_) {
      load_block(block_ + 1);
    } else {
      doc_ = kEndDoc;
    }
  }

  /// Move to the first posting with doc >= target (or the end).
  void next_geq(uint32_t target) {
    if (doc_ >= target) return;
    if (target > block_last_) {
      uint64_t b = block_ + 1;
      while (b < n_blocks_ && v_->block_last_doc[first_ + b] < target) ++b;
      if (b == n_blocks_) {
        doc_ = kEndDoc;
        return;
      }
      load_block(b);
    }
    while (docs_[pos_] < target) ++pos_;
    doc_ = docs_[pos_];
  }

  /// Upper bound of the score of any posting in the block that would contain `target`
  /// (0 when target is past the last posting). Moves a shallow pointer only; decodes nothing.
  float block_max_score(uint32_t target) {
    while (shallow_ < n_blocks_ && last_doc_of(shallow_) < target) ++shallow_;
    if (shallow_ == n_blocks_) return 0.0f;
    // consecutive probes often land in the same block: its bound's division is done once
    if (shallow_ != bound_block_) {
      bound_block_ = shallow_;
      block_bound_ = term_score(weight_, n_blocks_ == 1 ? single_max_x_ : v_->block_max_x[first_ + shallow_]);
    }
    return block_bound_;
  }

 private:
  float norm_inverse_of(uint32_t doc) const { return norm_table_ ? norm_table_[norms_[doc]] : ninv_[doc]; }
  float score_at(int p) const {
    return term_score(weight_, static_cast<float>(tfs_[p]) * norm_inverse_of(docs_[p]));
  }

  /// Last doc of block b: from the table, or the decoded block of a single-block term.
  uint32_t last_doc_of(uint64_t b) const { return n_blocks_ == 1 ? block_last_ : v_->block_last_doc[first_ + b]; }

  void load_block(uint64_t b) {
    block_ = b;
    if (shallow_ < b) shallow_ = b;
    uint64_t blk = first_ + b;
    int n = static_cast<int>(std::min<uint64_t>(kBlockSize, df_ - b * kBlockSize));
    const bool table = n_blocks_ > 1;
    int64_t prev = b == 0 ? -1 : static_cast<int64_t>(v_->block_last_doc[blk - 1]);
    uint64_t off = table ? v_->block_offset[blk] : start_;
    // validate() proved off + padding <= postings_size; decode_block proves every doc of the
    // block lies in (prev, last], so last < n_docs (the table's, checked at load, or checked
    // here for a single-block term) means no later access can go out of range.
    // A throw right here, not a call to a helper: passing `this` (or the view) to an
    // out-of-line error function made GCC keep the cursor in memory in the inlined query loops,
    // which cost search_maxscore ~10% (benchmarks/ab_core.py); the throw path is cold anyway.
    const int64_t last = decode_block(v_->postings + off, v_->postings_size - off, n, prev, docs_, tfs_);
    if (table ? last != static_cast<int64_t>(v_->block_last_doc[blk]) : !(last >= 0 && last < v_->n_docs))
      throw FormatError((v_->source.empty() ? std::string("BM25 index") : v_->source) +
                        ": corrupt index: postings block " + std::to_string(blk) + " of a term at byte " +
                        std::to_string(start_) + " does not decode to its block table");
    block_last_ = static_cast<uint32_t>(last);
    n_in_block_ = n;
    pos_ = 0;
    doc_ = docs_[0];
  }

  const Bm25View* v_;
  const float* ninv_;
  const float* norm_table_;
  const uint8_t* norms_;
  uint64_t df_, start_;             // postings and byte offset of the term
  uint64_t first_ = 0, n_blocks_ = 1; // its blocks in the block tables (none when n_blocks_ == 1)
  float weight_, max_score_ = 0.0f;
  float single_max_x_ = 0.0f;         // a single-block term's block maximum
  uint64_t block_ = 0, shallow_ = 0;
  uint32_t block_last_ = 0;           // last doc of the loaded block
  uint64_t bound_block_ = UINT64_MAX; // the block whose bound block_bound_ holds
  float block_bound_ = 0.0f;
  int pos_ = 0, n_in_block_ = 0;
  uint32_t doc_ = kEndDoc;
  uint32_t docs_[kBlockSize];
  uint32_t tfs_[kBlockSize];
};

}  // namespace winnow::sparse
