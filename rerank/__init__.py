"""Reranking, fusion and filtering stages."""
from winnow.rerank.fusion import Fusion, reciprocal_rank_fusion, rrf, score_fusion, score_sum

__all__ = ["Fusion", "reciprocal_rank_fusion", "rrf", "score_fusion", "score_sum"]
