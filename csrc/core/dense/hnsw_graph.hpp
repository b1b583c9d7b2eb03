// Hierarchical navigable small-world graph (Malkov & Yashunin, TPAMI 2018): storage and
// construction. Searching is in hnsw_search.hpp.
//
/// Layout (n nodes; the same arrays are built in memory, saved, and memory-mapped):
///   codes         (n, code_size) uint8   each node's vector in the ScalarQuantizer's encoding
///                                        (float32, float16 or SQ8)
///   links0        (n, 2M + 1) int32      level 0: count, then up to 2M neighbour rows
///   upper_offsets (n + 1) int64          node i owns upper_links[upper_offsets[i], upper_offsets[i+1]):
///                                        one block of (M + 1) int32 per level 1..level(i)
///   upper_links   (*) int32              blocks: count, then up to M neighbour rows
///   deleted       (n) uint8              1 = removed: skipped in results, still used for routing
///   refine        (n, d) float32         optional exact vectors to re-score the best candidates
/// level(i) = (upper_offsets[i+1] - upper_offsets[i]) / (M + 1); the entry node has the top level.
///
/// Construction follows the paper's INSERT with the neighbour-selection heuristic (algorithm 4,
/// without extendCandidates / keepPrunedConnections, as hnswlib and faiss): a new node links to
/// at most M nodes per level chosen from ef_construction candidates; a neighbour that overflows
/// (2M on level 0, M above) is pruned back with the same heuristic.
///
/// Levels come from a counter-based generator: level(i) = floor(-ln(u(seed, i)) / ln(M)), so a
/// node's level depends only on the seed and its row, never on thread scheduling.
/// With threads = 1 the graph is a deterministic function of (seed, vectors, add order). With more
/// threads the nodes of one add() are inserted concurrently (per-node locks, as hnswlib), so which
/// neighbours a node ends up with depends on the interleaving: results may differ slightly from
/// run to run; the levels, the codes and every invariant do not.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "dense/metric.hpp"
#include "dense/scalar_quantizer.hpp"
#include "object_pool.hpp"

namespace winnow::dense {
namespace hnsw_detail {
struct Scratch;
}

/// Read-only view of a graph's arrays (owned by an HnswGraph, or numpy arrays / memory maps).
struct HnswView {
  int64_t n = 0, d = 0, M = 0;
  int64_t code_bytes = 0;  // sq->code_size(), kept here: read once per visited node
  Metric metric = Metric::InnerProduct;
  const ScalarQuantizer* sq = nullptr;
  const uint8_t* codes = nullptr;
  const int32_t* links0 = nullptr;
  const int64_t* upper_offsets = nullptr;
  int64_t upper_size = 0;  // entries of upper_links
  const int32_t* upper_links = nullptr;
  const uint8_t* deleted = nullptr;
  const float* refine = nullptr;
  int64_t entry = -1;  // -1 for an empty graph
  int max_level = -1;

  int64_t width0() const { return 2 * M + 1; }
  int level(int64_t i) const { return static_cast<int>((upper_offsets[i + 1] - upper_offsets[i]) / (M + 1)); }
  /// Block of node i at `level`: [count, neighbours...].
  const int32_t* links(int64_t i, int level) const {
    return level == 0 ? links0 + i * width0() : upper_links + upper_offsets[i] + (level - 1) * (M + 1);
  }
  const uint8_t* code(int64_t i) const { return codes + i * code_bytes; }

  /// Check every count, neighbour row, offset and the entry node; throws FormatError naming the
  /// first violation (a damaged index must never make a search read out of bounds).
  void validate() const;
};

/// Level of row `i` for `seed` (see the file comment); M >= 2.
int hnsw_level(uint64_t seed, int64_t i, int64_t M);

struct HnswBuildOptions {
  int64_t M = 16;
  int64_t ef_construction = 100;
  uint64_t seed = 100;
};

class HnswGraph {
 public:
  /// An empty graph; `keep_refine` stores float32 copies of the vectors for exact re-scoring.
  HnswGraph(int64_t d, Metric metric, ScalarQuantizer sq, bool keep_refine, HnswBuildOptions options);
  ~HnswGraph();  // defined where Scratch is complete
  HnswGraph(const HnswGraph&) = delete;  // view_ points into this object
  HnswGraph& operator=(const HnswGraph&) = delete;

  /// A graph over borrowed arrays (a loaded or memory-mapped index; validated here). The arrays
  /// must outlive the graph; the first add() or remove() copies them into owned storage.
  static std::unique_ptr<HnswGraph> borrow(const HnswView& view, HnswBuildOptions options);

  const HnswView& view() const { return view_; }
  const ScalarQuantizer& quantizer() const { return sq_; }
  const HnswBuildOptions& options() const { return options_; }
  bool keeps_refine() const { return keep_refine_; }
  int64_t n() const { return view_.n; }

  /// Insert x (count, d) as rows n..n+count-1. An untrained SQ8 quantizer is trained on this
  /// batch first. `threads` as everywhere (0 = all cores); see the file comment on determinism.
  void add(const float* x, int64_t count, int threads);
  /// SQ8: set the per-dimension ranges from x (n, d) before the first add (else the first
  /// add's batch trains them). Refused once the graph holds vectors (their codes use the ranges).
  void train(const float* x, int64_t n);
  /// Room for at least `extra` more rows, so that adding them in batches never reallocates (a
  /// growing vector briefly holds its old and new buffers). Grows geometrically when called
  /// block by block.
  void reserve(int64_t extra);

  /// Mark rows deleted (they still route searches); returns how many were not deleted before.
  /// Out-of-range rows are std::out_of_range.
  int64_t remove(const int64_t* rows, int64_t count);
  int64_t n_deleted() const { return n_deleted_; }

  /// Per-thread search buffers kept between searches (hnsw_search's `pool`).
  ObjectPool<hnsw_detail::Scratch>& scratch_pool() const { return scratch_pool_; }

 private:
  void own();           // copy borrowed arrays into owned storage
  void refresh_view();  // point view_ at the owned storage after it grew
  void insert(int64_t row, const float* x, std::vector<std::mutex>& locks, hnsw_detail::Scratch& scratch);
  int32_t* mutable_links(int64_t row, int level);  // owned storage only

  HnswView view_;
  ScalarQuantizer sq_;
  bool keep_refine_ = false;
  HnswBuildOptions options_;
  bool owned_ = true;
  std::mutex entry_mutex_;
  std::vector<uint8_t> codes_;
  std::vector<int32_t> links0_;
  std::vector<int64_t> upper_offsets_{0};
  std::vector<int32_t> upper_links_;
  std::vector<uint8_t> deleted_;
  std::vector<float> refine_;
  int64_t n_deleted_ = 0;
  mutable ObjectPool<hnsw_detail::Scratch> scratch_pool_;
};

}  // namespace winnow::dense
