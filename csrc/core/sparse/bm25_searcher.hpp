// Batch BM25 search over a Bm25View: analyze queries, weight terms, run a top-k algorithm
// per query on a thread pool, write (nq, k) scores and ids best first.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sparse/index_data.hpp"
#include "text/analyzer.hpp"

namespace winnow::sparse {

enum class Algorithm { Exhaustive, MaxScore, Windowed };
Algorithm parse_algorithm(const std::string& name);

/// A query as (term id, boost) pairs, sorted by term id; boost = occurrences in the query
/// (Anserini's bag-of-words query builds one BoostQuery per distinct term with its count).
using WeightedQuery = std::vector<std::pair<int64_t, float>>;

class Bm25Searcher {
 public:
  Bm25Searcher(const Bm25View& view, const Bm25Params& params, text::AnalyzerKind analyzer);

  const Bm25View& view() const { return view_; }
  const Bm25Params& params() const { return params_; }

  /// Terms -> weighted query (unknown terms dropped, repeats counted).
  WeightedQuery weigh(const std::vector<std::string>& terms) const;
  WeightedQuery parse(const std::string& text) const;

  /// Break score ties by docno string order (Anserini) instead of doc id: `docno_order`
  /// (N,) lists doc ids sorted by docno; it must outlive the searcher. nullptr = by doc id.
  void set_docno_order(const uint32_t* docno_order);

  /// Columns a search for top-k returns: min(k, n_docs), so a huge k never allocates more
  /// than the index holds. std::invalid_argument when k < 0.
  int64_t result_columns(int64_t k) const;

  /// Top-k of each query into scores (nq, kc) and ids (nq, kc), kc = result_columns(k),
  /// padded -inf / -1. Threads work on whole queries. `ties_by_docno` uses the order set
  /// with set_docno_order.
  void search(const std::vector<WeightedQuery>& queries, int64_t k, Algorithm algorithm, int threads, float* scores,
              int64_t* ids, bool ties_by_docno = false) const;
  /// Analyze and weigh query texts (on `threads` threads) then search them.
  void search_texts(const std::vector<std::string>& texts, int64_t k, Algorithm algorithm, int threads,
                    float* scores, int64_t* ids, bool ties_by_docno = false) const;
  /// Same for already-analyzed queries (lists of terms).
  void search_terms(const std::vector<std::vector<std::string>>& terms, int64_t k, Algorithm algorithm, int threads,
                    float* scores, int64_t* ids, bool ties_by_docno = false) const;

  /// Decode a term's postings into docs (df) and tfs (df).
  void postings(int64_t term, uint32_t* docs, uint32_t* tfs) const;

  /// BM25 score of one query term for one (tf, doc): exposed for tests and explanations.
  float score_one(int64_t term, float boost, uint32_t tf, int64_t doc) const;

 private:
  Bm25View view_;
  Bm25Params params_;
  text::Analyzer analyzer_;
  std::vector<float> ninv_;  // (N,) per-document norm inverse (accurate, robertson)
  float norm_table_[256];    // lucene: norm inverse per one-byte norm
  const uint32_t* docno_order_ = nullptr;  // (N,) doc ids by docno
  std::vector<uint32_t> docno_rank_;       // (N,) inverse of docno_order_
};

}  // namespace winnow::sparse
