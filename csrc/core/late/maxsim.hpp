// Weighted late-interaction (MaxSim) scoring, ColBERT (Khattab & Zaharia, SIGIR 2020) with
// per-query-vector weights as ColBERT-PRF (Wang et al., ICTIR 2021) needs:
//
//     score(q, d) = sum_i w_i * max_j <Q_i, D_j>
//
/// Layout: query Q (nq, dim) float32, weights w (nq) float32 (nullptr = all 1).
/// Document token matrix (T, dim): token rows of document t are offsets[t] .. offsets[t + 1]
/// (offsets has ndocs + 1 non-decreasing entries, offsets[ndocs] <= T). Candidates are
/// document numbers doc_ids (n); out (n) receives their scores. A document without tokens
/// scores 0 (no query vector finds a match).
///
/// Token matrices come as float16 (IEEE half, converted per document into a small
/// per-thread float32 buffer, never copied whole), float32, or PQ codes scored through
/// per-query-vector look-up tables (ProductQuantizer::compute_lut for each Q_i).
/// Work is split over candidates on `threads` threads (0 = all cores); every document's score
/// is computed by one thread in a fixed order, so results do not depend on the thread count.
#pragma once

#include <cstdint>

namespace winnow::late {

/// IEEE binary16 bits -> float (exact; subnormals, inf and NaN included).
float half_to_float(uint16_t h);

/// Weighted MaxSim from float16 token vectors `tokens` (T, dim) given as raw half bits.
void maxsim_f16(const float* q, const float* w, int64_t nq, int64_t dim, const uint16_t* tokens, int64_t T,
                const int64_t* offsets, int64_t ndocs, const int64_t* doc_ids, int64_t n, float* out,
                int threads);

/// Weighted MaxSim from float32 token vectors `tokens` (T, dim).
void maxsim_f32(const float* q, const float* w, int64_t nq, int64_t dim, const float* tokens, int64_t T,
                const int64_t* offsets, int64_t ndocs, const int64_t* doc_ids, int64_t n, float* out,
                int threads);

/// Weighted MaxSim from PQ codes (T, code_size) through look-up tables.
/// Layout: luts (nq, M, ksub) float32, luts[i] = compute_lut(Q_i, InnerProduct); nbits 8
/// (ksub 256, code_size M, one code per byte) or 4 (ksub 16, code_size ceil(M/2), low nibble
/// first), as in dense/pq.hpp. <Q_i, D_j> is taken as sum_m luts[i, m, code_m(j)], summed in
/// the same order as ProductQuantizer::adc, so it equals adc(luts[i], codes) bit for bit.
void maxsim_pq(const float* luts, const float* w, int64_t nq, int64_t M, int nbits, const uint8_t* codes,
               int64_t T, const int64_t* offsets, int64_t ndocs, const int64_t* doc_ids, int64_t n, float* out,
               int threads);

}  // namespace winnow::late
