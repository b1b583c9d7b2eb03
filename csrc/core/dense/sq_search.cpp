// Exhaustive and inverted-file search over scalar-quantized codes (see sq_search.hpp).
#include "dense/sq_search.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "common.hpp"
#include "dense/distances.hpp"
#include "thread_pool.hpp"
#include "topk.hpp"

namespace winnow::dense {
namespace {

constexpr int64_t kDecodeBlockBytes = int64_t(1) << 20;  // decoded rows per block: ~1 MiB (stays in L2)
constexpr int64_t kQueryTile = 64;                       // queries per inner-product tile
constexpr int64_t kScanChunk = 1024;                     // codes scored per score_many call

bool allowed(const SearchOptions& o, int64_t id) {
  return o.allow == nullptr || std::binary_search(o.allow, o.allow + o.n_allow, id);
}

// Push scores s[0, m) of rows row0 + j (+ offset) into the heap. Only a score below the
// current worst is skipped early: IVF lists arrive in probe order, not row order, so a tie can
// still enter on a lower row (push decides).
void push_scores(const float* s, int64_t m, int64_t row0, float offset, TopK& heap) {
  float thr = heap.threshold();
  bool full = heap.full();
  for (int64_t j = 0; j < m; ++j) {
    const float v = s[j] + offset;
    if (full && v < thr) continue;
    heap.push(v, row0 + j);
    thr = heap.threshold();
    full = heap.full();
  }
}

// Rows [begin, end) of codes scored by one CodeScorer (+ offset) into the heap.
void scan_rows(const CodeScorer& scorer, const uint8_t* codes, int64_t cs, int64_t begin, int64_t end,
               float offset, const int64_t* ids, const SearchOptions& o, std::vector<float>& tmp, TopK& heap) {
  if (o.allow == nullptr) {
    tmp.resize(static_cast<size_t>(std::min(kScanChunk, end - begin)));
    for (int64_t b = begin; b < end; b += kScanChunk) {
      const int64_t m = std::min(kScanChunk, end - b);
      scorer.score_many(codes + b * cs, m, tmp.data());
      push_scores(tmp.data(), m, b, offset, heap);
    }
    return;
  }
  for (int64_t r = begin; r < end; ++r)
    if (allowed(o, ids ? ids[r] : r)) heap.push(scorer(codes + r * cs) + offset, r);
}

float exact_score(Metric metric, const float* q, const float* v, int64_t d) {
  if (metric == Metric::InnerProduct) return dot(q, v, d);
  float s = 0.0f;
  for (int64_t j = 0; j < d; ++j) {
    const float diff = q[j] - v[j];
    s += diff * diff;
  }
  return -s;
}

// Write the heap's best k rows, re-scored exactly with `refine` first when given (the same
// re-scoring as ivf.cpp's refine_candidates).
void finish(TopK& heap, const float* refine, Metric metric, int64_t d, const float* q, int64_t k, float* scores,
            int64_t* rows) {
  if (refine == nullptr) {
    heap.write_sorted(scores, rows);
    return;
  }
  std::vector<float> cs(static_cast<size_t>(heap.k()));
  std::vector<int64_t> cr(static_cast<size_t>(heap.k()));
  heap.write_sorted(cs.data(), cr.data());
  TopK best(k);
  for (size_t i = 0; i < cr.size() && cr[i] >= 0; ++i) best.push(exact_score(metric, q, refine + cr[i] * d, d), cr[i]);
  best.write_sorted(scores, rows);
}

// Batch path: decode the codes block by block (once per task) and score each block against
// the task's queries with the blocked inner-product kernel. L2 as distances.cpp:
// -||x - y||^2 = -((||y||^2 - 2 <x, y>) + ||x||^2).
void scan_decoded(const ScalarQuantizer& sq, Metric metric, const uint8_t* codes, int64_t n, const float* x,
                  int64_t nq, TopK* heaps) {
  const int64_t d = sq.d(), cs = sq.code_size();
  const int64_t bs = std::max<int64_t>(16, kDecodeBlockBytes / (d * 4));
  std::vector<float> block(static_cast<size_t>(std::min(bs, n) * d)), yn(static_cast<size_t>(std::min(bs, n)));
  std::vector<float> xn(static_cast<size_t>(nq));
  std::vector<float> tile(static_cast<size_t>(std::min(kQueryTile, nq) * std::min(bs, n)));
  if (metric == Metric::L2) squared_norms(x, nq, d, xn.data());
  for (int64_t b0 = 0; b0 < n; b0 += bs) {
    const int64_t nb = std::min(bs, n - b0);
    sq.decode(codes + b0 * cs, nb, block.data());
    if (metric == Metric::L2) squared_norms(block.data(), nb, d, yn.data());
    for (int64_t q0 = 0; q0 < nq; q0 += kQueryTile) {
      const int64_t nqb = std::min(kQueryTile, nq - q0);
      inner_products(x + q0 * d, nqb, block.data(), nb, d, tile.data());
      for (int64_t i = 0; i < nqb; ++i) {
        float* row = tile.data() + i * nb;
        if (metric == Metric::L2)
          for (int64_t j = 0; j < nb; ++j) row[j] = std::min(0.0f, -((yn[j] - 2.0f * row[j]) + xn[q0 + i]));
        push_scores(row, nb, b0, 0.0f, heaps[q0 + i]);
      }
    }
  }
}

void map_ids(const int64_t* ids, int64_t* out, int64_t k) {
  if (ids == nullptr) return;
  for (int64_t i = 0; i < k; ++i)
    if (out[i] >= 0) out[i] = ids[out[i]];
}

}  // namespace

void sq_search(const ScalarQuantizer& sq, Metric metric, const uint8_t* codes, int64_t n, const int64_t* ids,
               const float* refine, const float* x, int64_t nq, const SearchOptions& o, float* scores,
               int64_t* out_ids) {
  check_arg(o.k >= 0, "k must be >= 0, got " + std::to_string(o.k));
  check_arg(sq.is_trained(), "the sq8 ScalarQuantizer is not trained");
  const bool do_refine = refine != nullptr && o.refine_k > 0;
  const int64_t keep = do_refine ? std::max(o.k, std::min(o.refine_k, n)) : o.k;
  const int64_t d = sq.d(), cs = sq.code_size();
  const float* rf = do_refine ? refine : nullptr;
  const int nthreads = resolve_threads(o.threads);
  if (nq >= kSqBatchQueries && o.allow == nullptr && n > 0) {
    // blocks of queries, at least one per thread, each decoding the codes once
    const int64_t qb = std::max<int64_t>(1, (nq + nthreads - 1) / nthreads);
    parallel_for((nq + qb - 1) / qb, nthreads, [&](int64_t blk) {
      const int64_t q0 = blk * qb, m = std::min(qb, nq - q0);
      std::vector<TopK> heaps(static_cast<size_t>(m), TopK(keep));
      scan_decoded(sq, metric, codes, n, x + q0 * d, m, heaps.data());
      for (int64_t i = 0; i < m; ++i) {
        finish(heaps[i], rf, metric, d, x + (q0 + i) * d, o.k, scores + (q0 + i) * o.k, out_ids + (q0 + i) * o.k);
        map_ids(ids, out_ids + (q0 + i) * o.k, o.k);
      }
    });
    return;
  }
  // Few queries: each query's rows split into one range per thread; the partial heaps merge
  // by (score, lower row), so the result does not depend on the split.
  const int64_t parts = nq >= nthreads ? 1 : std::max<int64_t>(1, std::min<int64_t>(nthreads, n / kScanChunk));
  std::vector<TopK> partial(static_cast<size_t>(nq * parts), TopK(keep));
  std::vector<CodeScorer> scorers;
  scorers.reserve(static_cast<size_t>(nq));
  for (int64_t qi = 0; qi < nq; ++qi) scorers.emplace_back(sq, metric, x + qi * d);
  parallel_for(nq * parts, nthreads, [&](int64_t task) {
    const int64_t qi = task / parts, t = task % parts;
    std::vector<float> tmp;
    scan_rows(scorers[qi], codes, cs, n * t / parts, n * (t + 1) / parts, 0.0f, ids, o, tmp, partial[task]);
  });
  parallel_for(nq, nthreads, [&](int64_t qi) {
    TopK& heap = partial[qi * parts];
    std::vector<float> ps(static_cast<size_t>(keep));
    std::vector<int64_t> pr(static_cast<size_t>(keep));
    for (int64_t t = 1; t < parts; ++t) {
      partial[qi * parts + t].write_sorted(ps.data(), pr.data());
      for (int64_t i = 0; i < keep && pr[i] >= 0; ++i) heap.push(ps[i], pr[i]);
    }
    const float* q = x + qi * d;
    finish(heap, rf, metric, d, q, o.k, scores + qi * o.k, out_ids + qi * o.k);
    map_ids(ids, out_ids + qi * o.k, o.k);
  });
}

void IvfSqView::validate() const {
  auto fail = [](const std::string& what) { throw FormatError("corrupt IVF index: " + what); };
  if (d <= 0 || nlist <= 0 || n < 0) fail("bad dimensions");
  if (sq == nullptr || sq->d() != d) fail("scalar quantizer missing or of another dimension");
  if (list_offsets[0] != 0 || list_offsets[nlist] != n) fail("list_offsets do not span the rows");
  for (int64_t l = 0; l < nlist; ++l)
    if (list_offsets[l + 1] < list_offsets[l]) fail("list_offsets decrease at list " + std::to_string(l));
}

void ivf_sq_search(const IvfSqView& v, const float* x, int64_t nq, const SearchOptions& o, float* scores,
                   int64_t* ids) {
  check_arg(o.k >= 0, "k must be >= 0, got " + std::to_string(o.k));
  check_arg(o.nprobe > 0, "nprobe must be >= 1, got " + std::to_string(o.nprobe));
  check_arg(v.sq->is_trained(), "the sq8 ScalarQuantizer is not trained");
  const int64_t nprobe = std::min(o.nprobe, v.nlist);
  const int64_t d = v.d, cs = v.sq->code_size();
  std::vector<float> coarse_scores(static_cast<size_t>(nq * nprobe));
  std::vector<int64_t> coarse_ids(static_cast<size_t>(nq * nprobe));
  exact_search(x, nq, v.centroids, v.nlist, d, v.metric, nprobe, coarse_scores.data(), coarse_ids.data(), o.threads);
  const bool refine = v.refine != nullptr && o.refine_k > 0;
  const int64_t keep = refine ? std::max(o.k, std::min(o.refine_k, v.n)) : o.k;
  // residual l2 scores q - c against the residual codes: one scorer per probed list;
  // otherwise one scorer per query (residual ip adds <q, c> per list)
  const bool per_list = v.residual && v.metric == Metric::L2;
  parallel_for(nq, o.threads, [&](int64_t qi) {
    const float* q = x + qi * d;
    TopK heap(keep);
    std::vector<float> tmp, shifted(per_list ? static_cast<size_t>(d) : 0);
    const CodeScorer query_scorer(*v.sq, v.metric, q);
    for (int64_t p = 0; p < nprobe; ++p) {
      const int64_t l = coarse_ids[qi * nprobe + p];
      if (l < 0) continue;
      const int64_t begin = v.list_offsets[l], end = v.list_offsets[l + 1];
      if (begin == end) continue;
      const float* c = v.centroids + l * d;
      if (per_list) {
        for (int64_t j = 0; j < d; ++j) shifted[j] = q[j] - c[j];
        const CodeScorer scorer(*v.sq, v.metric, shifted.data());
        scan_rows(scorer, v.codes, cs, begin, end, 0.0f, v.ids, o, tmp, heap);
      } else {
        const float offset = v.residual ? dot(q, c, d) : 0.0f;
        scan_rows(query_scorer, v.codes, cs, begin, end, offset, v.ids, o, tmp, heap);
      }
    }
    finish(heap, refine ? v.refine : nullptr, v.metric, d, q, o.k, scores + qi * o.k, ids + qi * o.k);
    map_ids(v.ids, ids + qi * o.k, o.k);
  });
}

}  // namespace winnow::dense
