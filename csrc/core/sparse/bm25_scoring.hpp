// BM25 formulas, one small function each, and Lucene's one-byte length encoding.
//
// Every scoring mode is evaluated in the same float form Lucene 8+ uses
// (BM25Similarity.BM25Scorer.score, LUCENE-9071):
//     term_score = w - w / (1 + tf * norm_inverse[doc])            (float arithmetic)
//     norm_inverse = 1 / (k1 * ((1 - b) + b * dl / avgdl))
// which is monotone in tf * norm_inverse, so a block's maximum of x = tf * norm_inverse
// bounds every score in it exactly (used by dynamic pruning). The modes differ in w and dl:
//   lucene    w = boost * idf_lucene, dl = SmallFloat-quantized length (Lucene >= 8)
//   accurate  w = boost * idf_lucene, dl exact (Anserini -bm25.accurate)
//   robertson w = boost * (k1 + 1) * idf_robertson, dl exact (Robertson & Zaragoza 2009)
// Per-document scores are summed in double and cast to float once, as Lucene's
// WANDScorer/DisjunctionSumScorer do, which makes the sum independent of term order.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

namespace winnow::sparse {

enum class Scoring { Lucene, Accurate, Robertson };

Scoring parse_scoring(const std::string& name);
std::string scoring_name(Scoring s);

/// Lucene SmallFloat.intToByte4: lengths 0..23 exact, then 4 significant bits (truncating).
inline uint8_t lucene_length_to_byte(uint32_t length) {
  constexpr uint32_t kFree = 24;  // NUM_FREE_VALUES = 255 - longToInt4(Integer.MAX_VALUE)
  if (length < kFree) return static_cast<uint8_t>(length);
  uint64_t i = length - kFree;
  int bits = 64 - __builtin_clzll(i | 1);
  uint32_t encoded;
  if (i < 8) {
    encoded = static_cast<uint32_t>(i);  // "subnormal"
  } else {
    int shift = bits - 4;
    encoded = static_cast<uint32_t>(i >> shift) & 0x07u;
    encoded |= static_cast<uint32_t>(shift + 1) << 3;
  }
  return static_cast<uint8_t>(kFree + encoded);
}

/// Lucene SmallFloat.byte4ToInt: the length a norm byte stands for.
inline uint32_t lucene_byte_to_length(uint8_t b) {
  constexpr uint32_t kFree = 24;
  if (b < kFree) return b;
  uint32_t i = b - kFree;
  uint64_t bits = i & 0x07u;
  int shift = static_cast<int>(i >> 3) - 1;
  uint64_t decoded = shift == -1 ? bits : (bits | 0x08u) << shift;
  decoded += kFree;
  return decoded > 0x7fffffffULL ? 0x7fffffffu : static_cast<uint32_t>(decoded);
}

/// Lucene BM25Similarity.idf: (float) ln(1 + (N - df + 0.5) / (df + 0.5)), computed in double.
inline float idf_lucene(int64_t df, int64_t n_docs) {
  return static_cast<float>(std::log(1.0 + (static_cast<double>(n_docs - df) + 0.5) / (static_cast<double>(df) + 0.5)));
}

/// Robertson-Sparck Jones idf: ln((N - df + 0.5) / (df + 0.5)); negative when df > N/2.
inline float idf_robertson(int64_t df, int64_t n_docs) {
  return static_cast<float>(std::log((static_cast<double>(n_docs - df) + 0.5) / (static_cast<double>(df) + 0.5)));
}

/// Lucene avgFieldLength: (float) (sumTotalTermFreq / (double) docCount).
inline float average_length(uint64_t total_length, int64_t n_docs) {
  return n_docs > 0 ? static_cast<float>(static_cast<double>(total_length) / static_cast<double>(n_docs)) : 1.0f;
}

/// 1 / (k1 * ((1 - b) + b * dl / avgdl)) in float, Lucene's cache expression order.
inline float norm_inverse(float k1, float b, float dl, float avgdl) {
  return 1.0f / (k1 * ((1 - b) + b * dl / avgdl));
}

/// Query-term weight w for the mode (boost = how often the term occurs in the query).
inline float term_weight(Scoring s, float boost, int64_t df, int64_t n_docs, float k1) {
  if (s == Scoring::Robertson) return boost * ((k1 + 1.0f) * idf_robertson(df, n_docs));
  return boost * idf_lucene(df, n_docs);
}

/// The shared final form: w - w / (1 + x) with x = tf * norm_inverse.
inline float term_score(float w, float x) { return w - w / (1.0f + x); }

}  // namespace winnow::sparse
