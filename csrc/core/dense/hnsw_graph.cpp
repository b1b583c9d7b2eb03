// HNSW construction (see hnsw_graph.hpp for the layout and the determinism contract).
#include "dense/hnsw_graph.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "common.hpp"
#include "dense/hnsw_layer_search.hpp"
#include "object_pool.hpp"
#include "thread_pool.hpp"

namespace winnow::dense {
namespace {

using hnsw_detail::better;
using hnsw_detail::ScoredNode;
using hnsw_detail::Scratch;

constexpr int kMaxLevel = 32;           // ~M^32 nodes: never reached
constexpr int64_t kLockStripes = 1 << 16;  // rows share striped mutexes (no per-row mutex memory)
constexpr int64_t kInsertChunk = 64;    // rows per worker hand-out in a parallel add

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::mutex& lock_of(std::vector<std::mutex>& locks, int64_t row) {
  return locks[static_cast<size_t>(row & (kLockStripes - 1))];
}

/// Neighbour blocks copied under the node's lock: another thread may be rewriting them.
struct LockedLinks {
  const HnswView& g;
  std::vector<std::mutex>& locks;
  const int32_t* operator()(int64_t row, int level, Scratch& scratch) const {
    std::lock_guard<std::mutex> guard(lock_of(locks, row));
    const int32_t* block = g.links(row, level);
    scratch.links.assign(block, block + 1 + block[0]);
    return scratch.links.data();
  }
};

/// The stored vector of `row` as float32 (decoded into `buf` unless the codec is float32).
const float* vector_of(const HnswView& g, int64_t row, std::vector<float>& buf) {
  if (g.sq->codec() == ScalarCodec::Float32) return reinterpret_cast<const float*>(g.code(row));
  buf.resize(static_cast<size_t>(g.d));
  g.sq->decode(g.code(row), 1, buf.data());
  return buf.data();
}

/// The paper's neighbour-selection heuristic: walk `cands` best first (scores relative to the
/// base node) and keep a candidate only if it is closer to the base than to every node kept so
/// far, up to `max_keep`. Keeps the graph navigable across clusters.
void select_neighbours(const HnswView& g, std::vector<ScoredNode>& cands, int64_t max_keep,
                       std::vector<float>& buf, CodeScorer& to_c, std::vector<ScoredNode>& kept) {
  hnsw_detail::sort_results(cands);
  kept.clear();
  if (static_cast<int64_t>(cands.size()) <= max_keep) {
    kept = cands;
    return;
  }
  for (const ScoredNode& c : cands) {
    if (static_cast<int64_t>(kept.size()) >= max_keep) break;
    to_c.prepare(*g.sq, vector_of(g, c.row, buf));
    bool keep = true;
    for (const ScoredNode& k : kept) {
      if (to_c(g.code(k.row)) > c.score) {  // c is closer to a kept node than to the base
        keep = false;
        break;
      }
    }
    if (keep) kept.push_back(c);
  }
}

}  // namespace

int hnsw_level(uint64_t seed, int64_t i, int64_t M) {
  const uint64_t bits = splitmix64(seed ^ splitmix64(static_cast<uint64_t>(i)));
  const double u = (static_cast<double>(bits >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
  const double level = -std::log(u) / std::log(static_cast<double>(M));
  return std::min(kMaxLevel, static_cast<int>(level));
}

void HnswView::validate() const {
  auto fail = [](const std::string& what) { throw FormatError("HNSW graph is damaged: " + what); };
  if (n < 0 || d <= 0 || M < 2 || sq == nullptr || sq->d() != d) fail("bad dimensions or quantizer");
  if (n > std::numeric_limits<int32_t>::max()) fail("more rows than int32 links can address");
  if (upper_offsets[0] != 0 || upper_offsets[n] != upper_size) fail("upper-level offsets do not span the links");
  int top = -1;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t span = upper_offsets[i + 1] - upper_offsets[i];
    if (span < 0 || span % (M + 1) != 0 || span / (M + 1) > kMaxLevel)
      fail("node " + std::to_string(i) + " has an invalid upper-level block");
    top = std::max(top, level(i));
  }
  if (n == 0 ? (entry != -1 || max_level != -1) : (entry < 0 || entry >= n || level(entry) != max_level || max_level != top))
    fail("entry node " + std::to_string(entry) + " / top level " + std::to_string(max_level) + " are inconsistent");
  for (int64_t i = 0; i < n; ++i) {
    for (int lc = 0; lc <= level(i); ++lc) {
      const int32_t* block = links(i, lc);
      const int64_t cap = lc == 0 ? 2 * M : M;
      if (block[0] < 0 || block[0] > cap)
        fail("node " + std::to_string(i) + " has " + std::to_string(block[0]) + " links on level " + std::to_string(lc));
      for (int32_t j = 1; j <= block[0]; ++j) {
        const int64_t nb = block[j];
        if (nb < 0 || nb >= n || level(nb) < lc)
          fail("node " + std::to_string(i) + " links to invalid node " + std::to_string(nb) + " on level " +
               std::to_string(lc));
      }
    }
  }
}

HnswGraph::HnswGraph(int64_t d, Metric metric, ScalarQuantizer sq, bool keep_refine, HnswBuildOptions options)
    : sq_(std::move(sq)), keep_refine_(keep_refine), options_(options) {
  check_arg(d > 0 && sq_.d() == d, "HNSW: dimension must be positive and match the quantizer");
  check_arg(options.M >= 2 && options.M <= 512, "M must be in [2, 512], got " + std::to_string(options.M));
  check_arg(options.ef_construction >= 1, "ef_construction must be >= 1, got " + std::to_string(options.ef_construction));
  view_.d = d;
  view_.M = options.M;
  view_.metric = metric;
  refresh_view();
}

HnswGraph::~HnswGraph() = default;

std::unique_ptr<HnswGraph> HnswGraph::borrow(const HnswView& view, HnswBuildOptions options) {
  options.M = view.M;
  auto g = std::make_unique<HnswGraph>(view.d, view.metric, *view.sq, view.refine != nullptr, options);
  g->view_ = view;
  g->view_.sq = &g->sq_;
  g->view_.code_bytes = g->sq_.code_size();
  g->owned_ = false;
  g->view_.validate();
  for (int64_t i = 0; view.deleted != nullptr && i < view.n; ++i) g->n_deleted_ += view.deleted[i] != 0;
  return g;
}

void HnswGraph::refresh_view() {
  view_.sq = &sq_;
  view_.code_bytes = sq_.code_size();
  view_.codes = codes_.data();
  view_.links0 = links0_.data();
  view_.upper_offsets = upper_offsets_.data();
  view_.upper_size = static_cast<int64_t>(upper_links_.size());
  view_.upper_links = upper_links_.data();
  view_.deleted = deleted_.data();
  view_.refine = keep_refine_ ? refine_.data() : nullptr;
}

void HnswGraph::own() {
  if (owned_) return;
  const HnswView& v = view_;
  const size_t n = static_cast<size_t>(v.n);
  codes_.assign(v.codes, v.codes + n * sq_.code_size());
  links0_.assign(v.links0, v.links0 + n * v.width0());
  upper_offsets_.assign(v.upper_offsets, v.upper_offsets + n + 1);
  upper_links_.assign(v.upper_links, v.upper_links + v.upper_size);
  deleted_ = v.deleted ? std::vector<uint8_t>(v.deleted, v.deleted + n) : std::vector<uint8_t>(n, 0);
  if (keep_refine_) refine_.assign(v.refine, v.refine + n * v.d);
  owned_ = true;
  refresh_view();
}

int32_t* HnswGraph::mutable_links(int64_t row, int level) {
  return level == 0 ? links0_.data() + row * view_.width0()
                    : upper_links_.data() + upper_offsets_[static_cast<size_t>(row)] + (level - 1) * (view_.M + 1);
}

void HnswGraph::train(const float* x, int64_t n) {
  check_arg(view_.n == 0, "HNSW: the quantizer is trained before the first add (this graph holds " +
                              std::to_string(view_.n) + " vectors)");
  sq_.train(x, n);
}

void HnswGraph::reserve(int64_t extra) {
  own();
  const size_t n = static_cast<size_t>(view_.n + std::max<int64_t>(extra, 0));
  // Grow by at least half the current capacity: callers that add block by block (and reserve
  // each block) then copy the arrays O(log n) times, not once per block.
  auto grow = [](auto& v, size_t need) {
    if (need > v.capacity()) v.reserve(std::max(need, v.capacity() + v.capacity() / 2));
  };
  grow(codes_, n * static_cast<size_t>(sq_.code_size()));
  grow(links0_, n * static_cast<size_t>(view_.width0()));
  grow(upper_offsets_, n + 1);
  grow(deleted_, n);
  if (keep_refine_) grow(refine_, n * static_cast<size_t>(view_.d));
  refresh_view();
}

int64_t HnswGraph::remove(const int64_t* rows, int64_t count) {
  for (int64_t i = 0; i < count; ++i)
    if (rows[i] < 0 || rows[i] >= view_.n)
      throw std::out_of_range("HNSW: row " + std::to_string(rows[i]) + " is not in the graph");
  own();
  int64_t removed = 0;
  for (int64_t i = 0; i < count; ++i) {
    uint8_t& flag = deleted_[static_cast<size_t>(rows[i])];
    removed += flag == 0;
    flag = 1;
  }
  n_deleted_ += removed;
  return removed;
}

void HnswGraph::add(const float* x, int64_t count, int threads) {
  check_threads(threads);
  if (count <= 0) return;
  own();
  const int64_t d = view_.d, M = view_.M, n0 = view_.n, n1 = n0 + count;
  check_arg(n1 <= std::numeric_limits<int32_t>::max(), "HNSW holds at most 2^31 - 1 vectors");
  if (!sq_.is_trained()) sq_.train(x, count);

  // Grow every array once, before any insert: concurrent inserts then never reallocate.
  const int64_t cs = sq_.code_size();
  codes_.resize(static_cast<size_t>(n1 * cs));
  sq_.encode(x, count, codes_.data() + n0 * cs, threads);
  links0_.resize(static_cast<size_t>(n1 * view_.width0()), 0);
  for (int64_t i = n0; i < n1; ++i)
    upper_offsets_.push_back(upper_offsets_.back() + hnsw_level(options_.seed, i, M) * (M + 1));
  upper_links_.resize(static_cast<size_t>(upper_offsets_.back()), 0);
  deleted_.resize(static_cast<size_t>(n1), 0);
  if (keep_refine_) refine_.insert(refine_.end(), x, x + count * d);
  refresh_view();
  view_.n = n1;

  std::vector<std::mutex> locks(static_cast<size_t>(std::min(kLockStripes, n1)));
  ObjectPool<Scratch> pool;
  auto run = [&](int64_t first, int64_t last) {
    std::unique_ptr<Scratch> scratch = pool.acquire([&] { return std::make_unique<Scratch>(n1); });
    for (int64_t row = first; row < last; ++row) insert(row, x + (row - n0) * d, locks, *scratch);
    pool.release(std::move(scratch));
  };
  int64_t start = n0;
  if (view_.entry < 0) {  // the first node alone: it becomes the entry
    run(start, start + 1);
    ++start;
  }
  const int64_t chunks = (n1 - start + kInsertChunk - 1) / kInsertChunk;
  parallel_for(chunks, threads, [&](int64_t c) {
    run(start + c * kInsertChunk, std::min(n1, start + (c + 1) * kInsertChunk));
  });
}

void HnswGraph::insert(int64_t row, const float* x, std::vector<std::mutex>& locks, Scratch& scratch) {
  HnswView& g = view_;
  const int level = g.level(row);
  const CodeScorer score(sq_, g.metric, x);

  // A node above the current top level holds the entry lock for its whole insert (as hnswlib),
  // so that no other insert descends from an entry that is about to change.
  std::unique_lock<std::mutex> entry_lock(entry_mutex_);
  const int64_t entry = g.entry;
  const int top = g.max_level;
  if (entry < 0) {
    g.entry = row;
    g.max_level = level;
    return;
  }
  if (level <= top) entry_lock.unlock();

  const LockedLinks links{g, locks};
  int32_t cur = static_cast<int32_t>(entry);
  float cur_score = score(g.code(cur));
  for (int lc = top; lc > level; --lc) hnsw_detail::greedy_descend(g, score, links, lc, scratch, cur, cur_score);

  // Buffers reused across the inserts of this thread (no allocation per insert).
  std::vector<ScoredNode>& kept = scratch.kept;
  std::vector<ScoredNode>& pruned = scratch.pruned;
  std::vector<ScoredNode>& cands = scratch.cands;
  std::vector<ScoredNode>& reselected = scratch.reselected;
  std::vector<float>& buf = scratch.decoded;
  CodeScorer between(sq_, g.metric, x);  // re-prepared for each base node of a heuristic
  auto accept_all = [](int32_t) { return true; };
  for (int lc = std::min(level, top); lc >= 0; --lc) {
    scratch.visited.reset(g.n);
    hnsw_detail::search_layer(g, score, links, lc, cur, cur_score, options_.ef_construction, accept_all, scratch);
    cands = scratch.results;
    select_neighbours(g, cands, g.M, buf, between, kept);  // M links per level, as hnswlib
    const int64_t cap = lc == 0 ? 2 * g.M : g.M;  // a block's capacity on this level
    {
      // With threads, a concurrent insert may already have linked itself into this block (it
      // reached `row` through a level above): merge, never overwrite, or its only in-link is lost.
      std::lock_guard<std::mutex> guard(lock_of(locks, row));
      int32_t* own_block = mutable_links(row, lc);
      for (int32_t j = 1; j <= own_block[0]; ++j) {
        const int32_t other = own_block[j];
        if (std::none_of(kept.begin(), kept.end(), [other](const ScoredNode& k) { return k.row == other; }))
          kept.push_back({score(g.code(other)), other});
      }
      if (static_cast<int64_t>(kept.size()) > cap) {
        pruned = kept;
        select_neighbours(g, pruned, cap, buf, between, kept);
      }
      own_block[0] = static_cast<int32_t>(kept.size());
      for (size_t j = 0; j < kept.size(); ++j) own_block[j + 1] = kept[j].row;
    }
    for (const ScoredNode& nb : kept) {
      std::lock_guard<std::mutex> guard(lock_of(locks, nb.row));
      int32_t* block = mutable_links(nb.row, lc);
      if (std::find(block + 1, block + 1 + block[0], static_cast<int32_t>(row)) != block + 1 + block[0])
        continue;  // linked already (nb came from a concurrent insert that linked to us)
      if (block[0] < cap) {  // room left: just link back
        block[++block[0]] = static_cast<int32_t>(row);
        continue;
      }
      // Full: re-select among the old neighbours and the new node, relative to nb.
      between.prepare(sq_, vector_of(g, nb.row, buf));
      pruned.clear();
      pruned.push_back({nb.score, static_cast<int32_t>(row)});
      for (int32_t j = 1; j <= block[0]; ++j) pruned.push_back({between(g.code(block[j])), block[j]});
      select_neighbours(g, pruned, cap, buf, between, reselected);
      block[0] = static_cast<int32_t>(reselected.size());
      for (size_t j = 0; j < reselected.size(); ++j) block[j + 1] = reselected[j].row;
    }
    // The best node found seeds the next level down.
    const ScoredNode best = *std::min_element(cands.begin(), cands.end(), better);
    cur = best.row;
    cur_score = best.score;
  }
  if (level > top) {  // entry_lock still held
    g.entry = row;
    g.max_level = level;
  }
}

}  // namespace winnow::dense
