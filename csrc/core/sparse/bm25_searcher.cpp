#include "sparse/bm25_searcher.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

#include "sparse/query_algorithms.hpp"
#include "thread_pool.hpp"
#include "topk.hpp"

namespace winnow::sparse {

Algorithm parse_algorithm(const std::string& name) {
  if (name == "exhaustive") return Algorithm::Exhaustive;
  if (name == "maxscore") return Algorithm::MaxScore;
  if (name == "windowed") return Algorithm::Windowed;
  throw std::invalid_argument("unknown algorithm '" + name + "' (expected windowed, maxscore or exhaustive)");
}

Bm25Searcher::Bm25Searcher(const Bm25View& view, const Bm25Params& params, text::AnalyzerKind analyzer)
    : view_(view), params_(params), analyzer_(analyzer) {
  ninv_ = compute_norm_inverse(view_, params_);
  float avgdl = average_length(view_.stats.total_length, view_.stats.n_docs_with_terms);
  for (int i = 0; i < 256; ++i)
    norm_table_[i] = norm_inverse(params_.k1, params_.b, static_cast<float>(lucene_byte_to_length(static_cast<uint8_t>(i))), avgdl);
}

WeightedQuery Bm25Searcher::weigh(const std::vector<std::string>& terms) const {
  std::map<int64_t, float> counts;
  for (const auto& t : terms) {
    int64_t id = view_.find_term(t);
    if (id >= 0) counts[id] += 1.0f;
  }
  return WeightedQuery(counts.begin(), counts.end());
}

WeightedQuery Bm25Searcher::parse(const std::string& text) const { return weigh(analyzer_.analyze(text)); }

void Bm25Searcher::set_docno_order(const uint32_t* docno_order) {
  std::vector<uint32_t> rank(static_cast<size_t>(view_.n_docs), UINT32_MAX);
  for (int64_t r = 0; r < view_.n_docs; ++r) {
    uint32_t d = docno_order[r];
    if (d >= view_.n_docs || rank[d] != UINT32_MAX) throw std::invalid_argument("docno_order is not a permutation of the documents");
    rank[d] = static_cast<uint32_t>(r);
  }
  docno_order_ = docno_order;
  docno_rank_ = std::move(rank);
}

int64_t Bm25Searcher::result_columns(int64_t k) const {
  return winnow::result_columns(k, view_.n_docs);
}

void Bm25Searcher::search_texts(const std::vector<std::string>& texts, int64_t k, Algorithm algorithm, int threads,
                                float* scores, int64_t* ids, bool ties_by_docno) const {
  check_threads(threads);
  std::vector<WeightedQuery> queries(texts.size());
  parallel_for(static_cast<int64_t>(texts.size()), threads, [&](int64_t i) { queries[i] = parse(texts[i]); }, 16);
  search(queries, k, algorithm, threads, scores, ids, ties_by_docno);
}

void Bm25Searcher::search_terms(const std::vector<std::vector<std::string>>& terms, int64_t k, Algorithm algorithm,
                                int threads, float* scores, int64_t* ids, bool ties_by_docno) const {
  std::vector<WeightedQuery> queries;
  queries.reserve(terms.size());
  for (const auto& t : terms) queries.push_back(weigh(t));
  search(queries, k, algorithm, threads, scores, ids, ties_by_docno);
}

void Bm25Searcher::search(const std::vector<WeightedQuery>& queries, int64_t k_requested, Algorithm algorithm,
                          int threads, float* scores, int64_t* ids, bool ties_by_docno) const {
  check_threads(threads);
  if (ties_by_docno && docno_order_ == nullptr) throw std::invalid_argument("no docno order set for ties by docno");
  const uint32_t* tie_key = ties_by_docno ? docno_rank_.data() : nullptr;
  const int64_t k = result_columns(k_requested);
  for (const auto& q : queries)
    for (const auto& [term, boost] : q)
      if (term < 0 || term >= view_.n_terms) throw std::out_of_range("term id " + std::to_string(term) + " out of range");
  const int64_t n_with_terms = view_.stats.n_docs_with_terms;
  parallel_for(static_cast<int64_t>(queries.size()), threads, [&](int64_t qi) {
    std::vector<PostingCursor> cursors;
    cursors.reserve(queries[qi].size());
    for (const auto& [term, boost] : queries[qi]) {
      float w = term_weight(params_.scoring, boost, view_.idf_df_of(term), n_with_terms, params_.k1);
      cursors.emplace_back(view_, term, w, ninv_.data(), params_.scoring == Scoring::Lucene ? norm_table_ : nullptr);
    }
    BufferedTopK topk(k, tie_key);
    if (algorithm == Algorithm::Exhaustive) search_exhaustive(cursors, topk);
    else if (algorithm == Algorithm::MaxScore) search_maxscore(cursors, topk);
    else search_windowed(cursors, topk);
    topk.write_sorted(scores + qi * k, ids + qi * k);
  });
}

void Bm25Searcher::postings(int64_t term, uint32_t* docs, uint32_t* tfs) const {
  if (term < 0 || term >= view_.n_terms) throw std::out_of_range("term id " + std::to_string(term) + " out of range");
  PostingCursor c(view_, term, 1.0f, ninv_.data());
  for (size_t i = 0; c.doc() != kEndDoc; ++i, c.next()) {
    docs[i] = c.doc();
    tfs[i] = c.tf();
  }
}

float Bm25Searcher::score_one(int64_t term, float boost, uint32_t tf, int64_t doc) const {
  if (term < 0 || term >= view_.n_terms) throw std::out_of_range("term id " + std::to_string(term) + " out of range");
  if (doc < 0 || doc >= view_.n_docs) throw std::out_of_range("doc id " + std::to_string(doc) + " out of range");
  float w = term_weight(params_.scoring, boost, view_.idf_df_of(term), view_.stats.n_docs_with_terms, params_.k1);
  return term_score(w, static_cast<float>(tf) * ninv_[doc]);
}

}  // namespace winnow::sparse
