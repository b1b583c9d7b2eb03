// Top-k query algorithms over posting cursors (PISA habit: one algorithm per file).
// All return exactly the same top-k: per-document scores are summed in double in any
// order (exact for BM25's few float terms) and cast to float once. The TopK holds doc ids
// and breaks ties by its tie key: the doc id itself, or the rank of the document's docno in
// string order, which is how Anserini breaks ties (TopK's tie_key table).
// Each algorithm is written once, as a template over the cursor (PostingCursor for BM25,
// ImpactCursor for impact indexes: same interface, different per-posting score) with internal
// linkage in its .cpp file, and exposed as one overload per cursor: the PostingCursor one
// defined there, the ImpactCursor one where impact_query_algorithms.cpp includes that file.
#pragma once

#include <vector>

#include "sparse/impact_cursor.hpp"
#include "sparse/posting_cursor.hpp"
#include "buffered_topk.hpp"

namespace winnow::sparse {

/// Exhaustive document-at-a-time union: scores every matching document. The reference.
void search_exhaustive(std::vector<PostingCursor>& cursors, BufferedTopK& topk);
void search_exhaustive(std::vector<ImpactCursor>& cursors, BufferedTopK& topk);

/// Block-Max MaxScore (Turtle & Flood 1995; block-max bounds after Ding & Suel 2011 and
/// Mallia et al. 2019): lists whose summed upper bounds cannot beat the heap threshold
/// are only probed, and probing stops as soon as block-max bounds rule the document out.
void search_maxscore(std::vector<PostingCursor>& cursors, BufferedTopK& topk);
void search_maxscore(std::vector<ImpactCursor>& cursors, BufferedTopK& topk);

/// Windowed MaxScore (Lucene 9's MaxScoreBulkScorer idea): essential lists are scored
/// term-at-a-time into a small accumulator over a window of documents, then each matched
/// document of the window is bounded and completed by probing the non-essential lists.
/// The essential/non-essential split is revised between windows.
void search_windowed(std::vector<PostingCursor>& cursors, BufferedTopK& topk);
void search_windowed(std::vector<ImpactCursor>& cursors, BufferedTopK& topk);

}  // namespace winnow::sparse
