"""Ensemble members: each one a model family with its own training, evaluation and registry format."""

from __future__ import annotations

from ensemble.members.intent import (
    IntentConfig,
    IntentModel,
    IntentPrediction,
    encode,
    packaged_encoder_path,
    predict,
    predict_proba,
)

__all__ = [
    "IntentConfig",
    "IntentModel",
    "IntentPrediction",
    "encode",
    "packaged_encoder_path",
    "predict",
    "predict_proba",
]
