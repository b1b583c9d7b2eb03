"""Reranking, fusion and filtering stages."""
from winnow.rerank.fusion import Fusion, reciprocal_rank_fusion, rrf, score_fusion, score_sum
from winnow.rerank.cosine_adapter import CosineAdapter
from winnow.rerank.adapter_training import train_adapter, train_for_retriever

__all__ = ["CosineAdapter", "Fusion", "reciprocal_rank_fusion", "rrf", "score_fusion", "score_sum",
           "train_adapter", "train_for_retriever"]
