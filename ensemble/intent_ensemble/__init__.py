"""The intent member as an ensemble: calibrated head, kNN and logistic regression over one shared encoder,
fused with validation-fitted weights, with out-of-scope detection calibrated on held-out intents."""

from __future__ import annotations

from ensemble.intent_ensemble.artifact import (
    ENSEMBLE_MEMBER,
    EnsembleConfig,
    build_intent_ensemble,
    ensure_intent_ensemble,
    load_intent_ensemble,
)
from ensemble.intent_ensemble.errors import EnsembleArtifactError, IntentEnsembleError, UnknownModeError
from ensemble.intent_ensemble.evaluation import evaluate_intent_ensemble, score_decisions
from ensemble.intent_ensemble.fitting import FusionWeights, fit_fusion, fit_knn, fit_logreg, fuse
from ensemble.intent_ensemble.members import HeadMember, KnnMember, LogRegMember, Member, SharedEncoder
from ensemble.intent_ensemble.oos import OosCalibration, calibrate_oos, in_scope_scores
from ensemble.intent_ensemble.predictor import EnsembleDecision, EnsembleMode, IntentEnsemble, MemberAnswer
from ensemble.intent_ensemble.scoring import classification_metrics, oos_metrics

__all__ = [
    "ENSEMBLE_MEMBER",
    "EnsembleArtifactError",
    "EnsembleConfig",
    "EnsembleDecision",
    "EnsembleMode",
    "FusionWeights",
    "HeadMember",
    "IntentEnsemble",
    "IntentEnsembleError",
    "KnnMember",
    "LogRegMember",
    "Member",
    "MemberAnswer",
    "OosCalibration",
    "SharedEncoder",
    "UnknownModeError",
    "build_intent_ensemble",
    "calibrate_oos",
    "classification_metrics",
    "ensure_intent_ensemble",
    "evaluate_intent_ensemble",
    "fit_fusion",
    "fit_knn",
    "fit_logreg",
    "fuse",
    "in_scope_scores",
    "load_intent_ensemble",
    "oos_metrics",
    "score_decisions",
]
