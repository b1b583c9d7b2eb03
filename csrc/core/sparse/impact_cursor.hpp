// A forward iterator over one term's postings in an impact index: the same block-coded
// postings and block tables as BM25 (csrc/core/sparse/index_data.hpp), with the integer
// impact in the frequency slot and block_max_x / term_max_x holding the largest impact of
// each block / term. A posting scores weight * impact (float), so a block's bound is
// weight * block max (float multiplication is monotone for weight >= 0, and the query
// algorithms clamp a bound at 0).
//
// The block walk mirrors PostingCursor (posting_cursor.hpp), whose interface the query
// algorithms are templated on, single-block terms (no table entries) included; only the
// per-posting score and the bounds differ.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "common.hpp"
#include "sparse/block_codec.hpp"
#include "sparse/index_data.hpp"
#include "sparse/posting_cursor.hpp"

namespace winnow::sparse {

class ImpactCursor {
 public:
  /// `weight`: the query term's weight w_q(t) (float, >= 0, as given: not quantized).
  ImpactCursor(const Bm25View& v, int64_t term, float weight)
      : v_(&v), df_(v.df[term]), start_(v.term_postings[term]), weight_(weight) {
    const int64_t m = df_ > static_cast<uint64_t>(kBlockSize) ? v.multi_index(term) : -1;
    if (m >= 0) {  // validate() proved every term with df > 128 has its tables
      first_ = v.multi_first_block[m];
      n_blocks_ = v.multi_first_block[m + 1] - first_;
    }
    load_block(0);
    if (m < 0) single_max_ = static_cast<float>(*std::max_element(impacts_, impacts_ + n_in_block_));
    max_score_ = weight_ * (m >= 0 ? v.multi_max_x[m] : single_max_);
  }

  uint32_t doc() const { return doc_; }
  float weight() const { return weight_; }
  /// Upper bound of this term's score over all documents.
  float max_score() const { return max_score_; }
  /// This posting's score: weight * impact in float.
  float score() const { return score_at(pos_); }
  uint32_t tf() const { return impacts_[pos_]; }

  /// fn(doc, score) for every posting with doc < end; the cursor stops on the first >= end.
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

  /// Bound of any posting in the block that would hold `target` (0 past the end); decodes nothing.
  float block_max_score(uint32_t target) {
    while (shallow_ < n_blocks_ && last_doc_of(shallow_) < target) ++shallow_;
    if (shallow_ == n_blocks_) return 0.0f;
    return weight_ * (n_blocks_ == 1 ? single_max_ : v_->block_max_x[first_ + shallow_]);
  }

 private:
  float score_at(int p) const { return weight_ * static_cast<float>(impacts_[p]); }

  uint32_t last_doc_of(uint64_t b) const { return n_blocks_ == 1 ? block_last_ : v_->block_last_doc[first_ + b]; }

  void load_block(uint64_t b) {
    block_ = b;
    if (shallow_ < b) shallow_ = b;
    uint64_t blk = first_ + b;
    int n = static_cast<int>(std::min<uint64_t>(kBlockSize, df_ - b * kBlockSize));
    const bool table = n_blocks_ > 1;
    int64_t prev = b == 0 ? -1 : static_cast<int64_t>(v_->block_last_doc[blk - 1]);
    uint64_t off = table ? v_->block_offset[blk] : start_;
    // as PostingCursor::load_block: the decoded last doc must equal the block table's (or, for
    // a single-block term, be < n_docs)
    const int64_t last = decode_block(v_->postings + off, v_->postings_size - off, n, prev, docs_, impacts_);
    if (table ? last != static_cast<int64_t>(v_->block_last_doc[blk]) : !(last >= 0 && last < v_->n_docs))
      throw FormatError((v_->source.empty() ? std::string("impact index") : v_->source) +
                        ": corrupt index: postings block " + std::to_string(blk) + " of a term at byte " +
                        std::to_string(start_) + " does not decode to its block table");
    block_last_ = static_cast<uint32_t>(last);
    n_in_block_ = n;
    pos_ = 0;
    doc_ = docs_[0];
  }

  const Bm25View* v_;
  uint64_t df_, start_;             // postings and byte offset of the term
  uint64_t first_ = 0, n_blocks_ = 1; // its blocks in the block tables (none when n_blocks_ == 1)
  float weight_, max_score_ = 0.0f;
  float single_max_ = 0.0f;           // a single-block term's largest impact
  uint64_t block_ = 0, shallow_ = 0;
  uint32_t block_last_ = 0;           // last doc of the loaded block
  int pos_ = 0, n_in_block_ = 0;
  uint32_t doc_ = kEndDoc;
  uint32_t docs_[kBlockSize];
  uint32_t impacts_[kBlockSize];
};

}  // namespace winnow::sparse
