"""Feedback stages: ColBERT-PRF."""
from winnow.prf.colbert_prf import BERT_SPECIAL_IDS, ColBERTPRF

__all__ = ["BERT_SPECIAL_IDS", "ColBERTPRF"]
