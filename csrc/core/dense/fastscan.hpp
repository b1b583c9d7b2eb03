// 4-bit PQ "fast-scan" (André, Kermarrec & Le Scouarnec, VLDB 2015; faiss IndexPQFastScan):
// codes are re-laid out in blocks of 32 database vectors so that one SIMD shuffle looks up
// 16 (AVX2: 32, AVX-512: 64) table entries at once from a uint8-quantized look-up table,
// accumulating in uint16. Run-time dispatch: AVX-512BW, AVX2, scalar (identical results).
//
// Packed layout (documented in fastscan.cpp): nblocks = ceil(n / 32) blocks, each holding
// the 4-bit codes of 32 vectors for M2 = M rounded up to even sub-quantizers;
// packed_bytes(n, M) = nblocks * 32 * M2 / 2. Padding vectors/sub-quantizers use code 0
// and padding vectors are never reported.
#pragma once

#include <cstdint>
#include <vector>

namespace winnow::dense {

/// Bytes of the packed layout for n vectors of M 4-bit sub-quantizers.
int64_t fastscan_packed_bytes(int64_t n, int64_t M);

/// Pack codes (n, ceil(M/2)) in the ProductQuantizer nbits=4 layout into `packed`
/// (fastscan_packed_bytes(n, M) bytes).
void fastscan_pack(const uint8_t* codes, int64_t n, int64_t M, uint8_t* packed);

/// Inverse of fastscan_pack (codes (n, ceil(M/2))).
void fastscan_unpack(const uint8_t* packed, int64_t n, int64_t M, uint8_t* codes);

/// The uint8 quantization of a float LUT (M, 16): lut_q[m, j] = round((lut[m, j] - min_m) / delta)
/// with one delta for all m chosen so the uint16 sum cannot overflow; then
/// approx_score = bias + scale * sum_m lut_q[m, code_m].
struct QuantizedLut {
  std::vector<uint8_t> table;  // (M2, 16)
  float scale = 1.0f;
  float bias = 0.0f;
};
QuantizedLut fastscan_quantize_lut(const float* lut, int64_t M);

/// Top-k by approximate (quantized) scores over all n packed vectors; ids are positions
/// 0..n-1 mapped through `id_map` when not null. scores/ids (k) best first, padded -inf / -1.
/// When rescore_k > 0, the best max(k, rescore_k) approximate candidates are re-scored with
/// the exact float LUT (codes read back from the packed layout) and the top k of those
/// returned with exact ADC scores.
void fastscan_search(const uint8_t* packed, int64_t n, int64_t M, const float* lut, int64_t k, int64_t rescore_k,
                     const int64_t* id_map, float* scores, int64_t* ids);

/// fastscan_search for nq queries, luts (nq, M, 16), outputs scores / ids (nq, k); results
/// identical to nq separate calls. The codes are scanned in L2-sized chunks, each for every
/// query before the next chunk: one pass over memory per batch instead of one per query.
void fastscan_search_batch(const uint8_t* packed, int64_t n, int64_t M, const float* luts, int64_t nq, int64_t k,
                           int64_t rescore_k, const int64_t* id_map, float* scores, int64_t* ids);

/// Top-k over several packed lists (IVF probes) scanned with one quantized LUT into one
/// candidate set. List l has sizes[l] vectors at packed[l]; `offsets` (nlists) adds a score
/// per list (the coarse term <q, c_l> of residual inner-product IVF; nullptr = 0), applied
/// in LUT units while scanning and exactly when re-scoring. Outputs (k): scores, the list
/// index and the position within the list of each hit, best first, padded -inf / -1.
void fastscan_search_lists(int64_t nlists, const uint8_t* const* packed, const int64_t* sizes, const float* offsets,
                           int64_t M, const float* lut, int64_t k, int64_t rescore_k, float* scores,
                           int64_t* list_index, int64_t* positions);

/// Exact ADC score (float LUT (M, 16)) of packed vector i.
float fastscan_exact_score(const uint8_t* packed, int64_t i, int64_t M, const float* lut);

/// Name of the kernel the dispatcher picked ("avx512", "avx2" or "scalar"); settable for
/// tests and benchmarks via fastscan_force_kernel ("" = automatic).
const char* fastscan_kernel();
void fastscan_force_kernel(const char* name);

}  // namespace winnow::dense
