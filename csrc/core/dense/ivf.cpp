#include "dense/ivf.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "common.hpp"
#include "dense/distances.hpp"
#include "dense/fastscan.hpp"
#include "thread_pool.hpp"
#include "topk.hpp"

namespace winnow::dense {
namespace {

bool allowed(const SearchOptions& o, int64_t id) {
  return o.allow == nullptr || std::binary_search(o.allow, o.allow + o.n_allow, id);
}

float exact_score(Metric metric, const float* q, const float* v, int64_t d) {
  if (metric == Metric::InnerProduct) return dot(q, v, d);
  float s = 0.0f;
  for (int64_t j = 0; j < d; ++j) {
    float diff = q[j] - v[j];
    s += diff * diff;
  }
  return -s;
}

// Candidates are (score, row); re-score them exactly with refine vectors, keep the best k.
void refine_candidates(const float* refine, Metric metric, int64_t d, const float* q, TopK& candidates, int64_t k,
                       float* scores, int64_t* rows) {
  std::vector<float> cs(candidates.k());
  std::vector<int64_t> cr(candidates.k());
  candidates.write_sorted(cs.data(), cr.data());
  TopK best(k);
  for (size_t i = 0; i < cr.size() && cr[i] >= 0; ++i) best.push(exact_score(metric, q, refine + cr[i] * d, d), cr[i]);
  best.write_sorted(scores, rows);
}

// Scan rows [begin, end) of a PQ code array with one LUT plus a constant offset.
void scan_pq_rows(const ProductQuantizer& pq, const float* lut, float offset, const uint8_t* codes, int64_t begin,
                  int64_t end, const int64_t* ids, const SearchOptions& o, std::vector<float>& tmp, TopK& heap) {
  const int64_t cs = pq.code_size();
  if (o.allow == nullptr) {
    tmp.resize(static_cast<size_t>(end - begin));
    pq.adc(lut, codes + begin * cs, end - begin, tmp.data());
    for (int64_t r = begin; r < end; ++r) heap.push(tmp[r - begin] + offset, r);
  } else {
    for (int64_t r = begin; r < end; ++r) {
      if (!allowed(o, ids ? ids[r] : r)) continue;
      float s;
      pq.adc(lut, codes + r * cs, 1, &s);
      heap.push(s + offset, r);
    }
  }
}

}  // namespace

void IvfView::validate(int64_t packed_bytes) const {
  auto fail = [](const std::string& what) { throw FormatError("corrupt IVF index: " + what); };
  if (d <= 0 || nlist <= 0 || n < 0) fail("bad dimensions");
  if ((payload != IvfPayload::Flat) && (pq == nullptr || pq->d() != d)) fail("PQ missing or of another dimension");
  if (list_offsets[0] != 0 || list_offsets[nlist] != n) fail("list_offsets do not span the rows");
  for (int64_t l = 0; l < nlist; ++l)
    if (list_offsets[l + 1] < list_offsets[l]) fail("list_offsets decrease at list " + std::to_string(l));
  if (payload == IvfPayload::FastScan) {
    if (packed_offsets[0] != 0 || packed_offsets[nlist] != packed_bytes) fail("packed_offsets do not span packed");
    // fastscan_packed_bytes(size, M), inlined: this runs on every search call, over all lists
    const int64_t block_bytes = fastscan_packed_bytes(1, pq->M());
    for (int64_t l = 0; l < nlist; ++l) {
      const int64_t want = (list_offsets[l + 1] - list_offsets[l] + 31) / 32 * block_bytes;
      // packed_offsets[l] is in range by induction, so this sum cannot overflow (a
      // difference with a corrupt packed_offsets[l + 1] could)
      if (packed_offsets[l + 1] != packed_offsets[l] + want) fail("packed size of list " + std::to_string(l));
    }
  }
}

void ivf_search(const IvfView& v, const float* x, int64_t nq, const SearchOptions& o, float* scores, int64_t* ids) {

  if (o.k < 0) throw std::invalid_argument("k must be >= 0, got " + std::to_string(o.k));
  if (o.nprobe <= 0) throw std::invalid_argument("nprobe must be >= 1, got " + std::to_string(o.nprobe));
  const int64_t nprobe = std::min(o.nprobe, v.nlist);
  const int64_t d = v.d;
  // Coarse quantization for all queries at once: the nprobe best lists per query.
  std::vector<float> coarse_scores(static_cast<size_t>(nq * nprobe));
  std::vector<int64_t> coarse_ids(static_cast<size_t>(nq * nprobe));
  exact_search(x, nq, v.centroids, v.nlist, d, v.metric, nprobe, coarse_scores.data(), coarse_ids.data(), o.threads);

  const bool refine = v.refine != nullptr && o.refine_k > 0;
  // candidate depth bounded by the rows that exist (k itself is the caller's output width)
  const int64_t keep = refine ? std::max(o.k, std::min(o.refine_k, v.n)) : o.k;
  parallel_for(nq, o.threads, [&](int64_t qi) {
    const float* q = x + qi * d;
    TopK heap(keep);
    std::vector<float> tmp, lut, residual(static_cast<size_t>(d));
    if (v.payload != IvfPayload::Flat) lut.resize(static_cast<size_t>(v.pq->M() * v.pq->ksub()));
    bool lut_shared = v.payload != IvfPayload::Flat && !(v.residual && v.metric == Metric::L2);
    if (lut_shared) v.pq->compute_lut(q, v.metric, lut.data());
    if (v.payload == IvfPayload::FastScan && lut_shared && o.allow == nullptr) {
      // One quantized LUT and one candidate set over all probed lists (faiss's approach);
      // the residual inner-product coarse term <q, c_l> enters as a per-list offset.
      std::vector<const uint8_t*> packed;
      std::vector<int64_t> sizes, lists;
      std::vector<float> offsets;
      for (int64_t p = 0; p < nprobe; ++p) {
        int64_t l = coarse_ids[qi * nprobe + p];
        if (l < 0 || v.list_offsets[l + 1] == v.list_offsets[l]) continue;
        packed.push_back(v.packed + v.packed_offsets[l]);
        sizes.push_back(v.list_offsets[l + 1] - v.list_offsets[l]);
        lists.push_back(l);
        offsets.push_back(v.residual ? dot(q, v.centroids + l * d, d) : 0.0f);
      }
      std::vector<float> ls(static_cast<size_t>(keep));
      std::vector<int64_t> li(static_cast<size_t>(keep)), lp(static_cast<size_t>(keep));
      fastscan_search_lists(static_cast<int64_t>(lists.size()), packed.data(), sizes.data(),
                            v.residual ? offsets.data() : nullptr, v.pq->M(), lut.data(), keep, o.rescore_k,
                            ls.data(), li.data(), lp.data());
      for (int64_t i = 0; i < keep && li[i] >= 0; ++i) heap.push(ls[i], v.list_offsets[lists[li[i]]] + lp[i]);
    }
    const bool scanned = v.payload == IvfPayload::FastScan && lut_shared && o.allow == nullptr;
    for (int64_t p = 0; p < nprobe && !scanned; ++p) {
      int64_t l = coarse_ids[qi * nprobe + p];
      if (l < 0) continue;
      int64_t begin = v.list_offsets[l], end = v.list_offsets[l + 1];
      if (begin == end) continue;
      const float* c = v.centroids + l * d;
      float offset = 0.0f;
      if (v.payload != IvfPayload::Flat && v.residual) {
        if (v.metric == Metric::InnerProduct) {
          offset = dot(q, c, d);  // <q, c + r> = <q, c> + <q, r>
        } else {
          for (int64_t j = 0; j < d; ++j) residual[j] = q[j] - c[j];
          v.pq->compute_lut(residual.data(), v.metric, lut.data());
        }
      }
      switch (v.payload) {
        case IvfPayload::Flat:
          for (int64_t r = begin; r < end; ++r)
            if (allowed(o, v.ids[r])) heap.push(exact_score(v.metric, q, v.vectors + r * d, d), r);
          break;
        case IvfPayload::PQ:
          scan_pq_rows(*v.pq, lut.data(), offset, v.codes, begin, end, v.ids, o, tmp, heap);
          break;
        case IvfPayload::FastScan: {
          const uint8_t* packed = v.packed + v.packed_offsets[l];
          int64_t len = end - begin;
          if (o.allow != nullptr) {
            for (int64_t r = begin; r < end; ++r)
              if (allowed(o, v.ids[r]))
                heap.push(fastscan_exact_score(packed, r - begin, v.pq->M(), lut.data()) + offset, r);
            break;
          }
          std::vector<float> ls(static_cast<size_t>(keep));
          std::vector<int64_t> li(static_cast<size_t>(keep));
          fastscan_search(packed, len, v.pq->M(), lut.data(), keep, o.rescore_k, nullptr, ls.data(), li.data());
          for (int64_t i = 0; i < keep && li[i] >= 0; ++i) heap.push(ls[i] + offset, begin + li[i]);
          break;
        }
      }
    }
    float* out_s = scores + qi * o.k;
    int64_t* out_i = ids + qi * o.k;
    if (refine) {
      refine_candidates(v.refine, v.metric, d, q, heap, o.k, out_s, out_i);
    } else {
      heap.write_sorted(out_s, out_i);
    }
    for (int64_t i = 0; i < o.k; ++i)
      if (out_i[i] >= 0) out_i[i] = v.ids[out_i[i]];
  });
}

void pq_search(const ProductQuantizer& pq, Metric metric, const uint8_t* codes, int64_t n, const int64_t* ids,
               const float* refine, const float* x, int64_t nq, const SearchOptions& o, float* scores,
               int64_t* out_ids) {
  if (o.k < 0) throw std::invalid_argument("k must be >= 0, got " + std::to_string(o.k));
  const bool do_refine = refine != nullptr && o.refine_k > 0;
  const int64_t keep = do_refine ? std::max(o.k, std::min(o.refine_k, n)) : o.k;
  const int64_t d = pq.d();
  parallel_for(nq, o.threads, [&](int64_t qi) {
    const float* q = x + qi * d;
    std::vector<float> lut(static_cast<size_t>(pq.M() * pq.ksub())), tmp;
    pq.compute_lut(q, metric, lut.data());
    TopK heap(keep);
    constexpr int64_t kChunk = 65536;  // keep the score buffer in cache
    for (int64_t begin = 0; begin < n; begin += kChunk)
      scan_pq_rows(pq, lut.data(), 0.0f, codes, begin, std::min(n, begin + kChunk), ids, o, tmp, heap);
    float* out_s = scores + qi * o.k;
    int64_t* out_i = out_ids + qi * o.k;
    if (do_refine) refine_candidates(refine, metric, d, q, heap, o.k, out_s, out_i);
    else heap.write_sorted(out_s, out_i);
    if (ids != nullptr)
      for (int64_t i = 0; i < o.k; ++i)
        if (out_i[i] >= 0) out_i[i] = ids[out_i[i]];
  });
}

}  // namespace winnow::dense
