// A forward iterator over one term's postings in an impact index: the same block-coded
// postings and block tables as BM25 (csrc/core/sparse/index_data.hpp), with the integer
// impact in the frequency slot and block_max_x / term_max_x holding the largest impact of
// each block / term. A posting scores weight * impact (float), so a block's bound is
// weight * block max (float multiplication is monotone for weight >= 0, and the query
// algorithms clamp a bound at 0).
//
// The block walk mirrors PostingCursor (posting_cursor.hpp), whose interface the query
// algorithms are templated on; only the per-posting score and the bounds differ.
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
      : v_(&v), first_(v.first_block[term]), n_blocks_(v.first_block[term + 1] - v.first_block[term]),
        df_(v.df[term]), weight_(weight) {
    max_score_ = weight_ * v.term_max_x[term];
    load_block(0);
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
    if (target > v_->block_last_doc[first_ + block_]) {
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
    while (shallow_ < n_blocks_ && v_->block_last_doc[first_ + shallow_] < target) ++shallow_;
    if (shallow_ == n_blocks_) return 0.0f;
    return weight_ * v_->block_max_x[first_ + shallow_];
  }
  uint32_t shallow_block_last_doc() const {
    return shallow_ < n_blocks_ ? v_->block_last_doc[first_ + shallow_] : kEndDoc;
  }

 private:
  float score_at(int p) const { return weight_ * static_cast<float>(impacts_[p]); }

  void load_block(uint64_t b) {
    block_ = b;
    if (shallow_ < b) shallow_ = b;
    uint64_t blk = first_ + b;
    int n = static_cast<int>(std::min<uint64_t>(kBlockSize, df_ - b * kBlockSize));
    int64_t prev = b == 0 ? -1 : static_cast<int64_t>(v_->block_last_doc[blk - 1]);
    uint64_t off = v_->block_offset[blk];
    // as PostingCursor::load_block: the decoded last doc must equal the block table's (< n_docs)
    if (decode_block(v_->postings + off, v_->postings_size - off, n, prev, docs_, impacts_) !=
        static_cast<int64_t>(v_->block_last_doc[blk]))
      throw FormatError((v_->source.empty() ? std::string("impact index") : v_->source) +
                        ": corrupt index: postings block " + std::to_string(blk) + " does not decode to its block table");
    n_in_block_ = n;
    pos_ = 0;
    doc_ = docs_[0];
  }

  const Bm25View* v_;
  uint64_t first_, n_blocks_, df_;
  float weight_, max_score_ = 0.0f;
  uint64_t block_ = 0, shallow_ = 0;
  int pos_ = 0, n_in_block_ = 0;
  uint32_t doc_ = kEndDoc;
  uint32_t docs_[kBlockSize];
  uint32_t impacts_[kBlockSize];
};

}  // namespace winnow::sparse
