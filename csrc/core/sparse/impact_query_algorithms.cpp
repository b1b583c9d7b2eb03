// The query algorithms (query_exhaustive.cpp, query_maxscore.cpp, query_windowed.cpp) for
// ImpactCursor: each file's template body compiled once more, here, with the ImpactCursor
// overload defined. A translation unit of its own on purpose: GCC's inlining limits grow with
// the unit's size, and a second instantiation inside the BM25 units changed how it inlined
// the PostingCursor code (1-5% more instructions in BM25 search under callgrind).
#define WINNOW_QUERY_CURSOR ImpactCursor
#include "sparse/query_exhaustive.cpp"
#include "sparse/query_maxscore.cpp"
#include "sparse/query_windowed.cpp"
