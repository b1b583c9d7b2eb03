"""Feedback stages: ColBERT-PRF."""
from winnow.prf.colbert_prf import ColBERTPRF

__all__ = ["ColBERTPRF"]
