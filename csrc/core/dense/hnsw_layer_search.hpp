// Internal: the two searches inside one HNSW layer, shared by construction (hnsw_graph.cpp)
// and queries (hnsw_search.cpp).
//   greedy_descend  - ef = 1 walk on an upper level: move to the best neighbour until none improves;
//   search_layer    - best-first search with a dynamic list of ef results (the paper's SEARCH-LAYER).
// Scores are "higher is better" (metric.hpp); ties are broken by the lower row everywhere, so a
// search is a deterministic function of the graph and the query.
//
// `Links` reads a node's neighbour block at a level: queries read the arrays directly, while a
// concurrent build copies a block under the node's lock (LockedLinks in hnsw_graph.cpp).
// `Accept` says which rows may enter the results (not deleted, in the allow-list); rejected rows
// still route the search, as in hnswlib.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "dense/hnsw_graph.hpp"
#include "dense/scalar_quantizer.hpp"
#include "dense/visited_set.hpp"

namespace winnow::dense::hnsw_detail {

struct ScoredNode {
  float score;
  int32_t row;
};

/// a ranks strictly before b.
inline bool better(const ScoredNode& a, const ScoredNode& b) {
  return a.score > b.score || (a.score == b.score && a.row < b.row);
}
// Heap orders: the candidates heap keeps its best on top, the results heap its worst.
// (function objects, not function pointers: the heap operations inline the comparison)
struct BestOnTop {
  bool operator()(const ScoredNode& a, const ScoredNode& b) const { return better(b, a); }
};
struct WorstOnTop {
  bool operator()(const ScoredNode& a, const ScoredNode& b) const { return better(a, b); }
};

/// Per-thread buffers of one search (reused across the queries or inserts of a chunk).
struct Scratch {
  explicit Scratch(int64_t n) : visited(n) {}
  VisitedSet visited;
  std::vector<ScoredNode> candidates, results;  // heaps
  std::vector<int32_t> links;                   // a copied neighbour block (locked reads)
  std::vector<int32_t> pending;                 // unvisited neighbours of the expanded node
  std::vector<const uint8_t*> pending_codes;    // their codes
  std::vector<float> pending_scores;            // and scores
  // construction only: neighbour lists being selected, and a decoded vector (d)
  std::vector<ScoredNode> kept, pruned, cands, reselected;
  std::vector<float> decoded;
};

inline void prefetch(const void* p) { __builtin_prefetch(p, 0, 3); }

/// Lock-free reads of a read-only graph: the block itself.
struct DirectLinks {
  const HnswView& g;
  const int32_t* operator()(int64_t row, int level, Scratch&) const { return g.links(row, level); }
};

/// Walk level `level` from `cur` (score `cur_score`) to a local optimum.
template <typename Links>
void greedy_descend(const HnswView& g, const CodeScorer& score, const Links& links, int level, Scratch& scratch,
                    int32_t& cur, float& cur_score) {
  for (bool moved = true; moved;) {
    moved = false;
    const int32_t* block = links(cur, level, scratch);
    const int32_t count = block[0];
    for (int32_t j = 1; j <= count; ++j) {
      const int32_t nb = block[j];
      const ScoredNode cand{score(g.code(nb)), nb};
      if (better(cand, {cur_score, cur})) {
        cur = nb;
        cur_score = cand.score;
        moved = true;
      }
    }
  }
}

/// Best-first search of `level` from `entry`: leaves up to `ef` accepted nodes in
/// scratch.results as a heap (worst on top). `scratch.visited` must be reset by the caller.
template <typename Links, typename Accept>
void search_layer(const HnswView& g, const CodeScorer& score, const Links& links, int level, int32_t entry,
                  float entry_score, int64_t ef, const Accept& accept, Scratch& scratch) {
  auto& cand = scratch.candidates;
  auto& res = scratch.results;
  cand.clear();
  res.clear();
  VisitedSet& visited = scratch.visited;
  const size_t cap = static_cast<size_t>(ef);
  const size_t width = static_cast<size_t>(2 * g.M);  // the most links a block holds
  if (scratch.pending.size() < width) {
    scratch.pending.resize(width);
    scratch.pending_codes.resize(width);
    scratch.pending_scores.resize(width);
  }

  visited.mark(entry);
  cand.push_back({entry_score, entry});
  if (accept(entry)) res.push_back({entry_score, entry});
  // Worst kept result; a node must beat it to be worth expanding once the list holds ef.
  float bound = res.empty() ? -std::numeric_limits<float>::infinity() : entry_score;

  while (!cand.empty()) {
    const ScoredNode c = cand.front();
    if (c.score < bound && res.size() >= cap) break;  // nothing left can improve the results
    std::pop_heap(cand.begin(), cand.end(), BestOnTop{});
    cand.pop_back();

    // Unvisited neighbours first, with their vectors prefetched, then scored four at a time:
    // many memory streams in flight instead of one miss after another.
    const int32_t* block = links(c.row, level, scratch);
    const int32_t count = block[0];
    for (int32_t j = 1; j <= count; ++j) prefetch(visited.tag_address(block[j]));
    int32_t m = 0;
    for (int32_t j = 1; j <= count; ++j) {
      const int32_t nb = block[j];
      if (visited.test_and_mark(nb)) continue;
      const uint8_t* code = g.code(nb);
      prefetch(code);
      scratch.pending[m] = nb;
      scratch.pending_codes[m++] = code;
    }
    score.score_gather(scratch.pending_codes.data(), m, scratch.pending_scores.data());

    for (int32_t t = 0; t < m; ++t) {
      const int32_t nb = scratch.pending[t];
      const float s = scratch.pending_scores[t];
      if (res.size() < cap || s > bound || (s == bound && nb < res.front().row)) {
        cand.push_back({s, nb});
        std::push_heap(cand.begin(), cand.end(), BestOnTop{});
        if (accept(nb)) {
          res.push_back({s, nb});
          std::push_heap(res.begin(), res.end(), WorstOnTop{});
          if (res.size() > cap) {
            std::pop_heap(res.begin(), res.end(), WorstOnTop{});
            res.pop_back();
          }
        }
        if (!res.empty()) bound = res.front().score;
      }
    }
  }
}

/// The accepted results of search_layer, best first.
inline void sort_results(std::vector<ScoredNode>& res) {
  std::sort(res.begin(), res.end(), [](const ScoredNode& a, const ScoredNode& b) { return better(a, b); });
}

}  // namespace winnow::dense::hnsw_detail
