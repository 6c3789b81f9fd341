"""Errors raised by the intent ensemble; all are :class:`ensemble.errors.ShopmeshError` subclasses."""

from __future__ import annotations

from ensemble.errors import ModelError

__all__ = ["EnsembleArtifactError", "IntentEnsembleError", "UnknownModeError"]


class IntentEnsembleError(ModelError):
    """The intent ensemble cannot be built, fitted or used as asked."""


class UnknownModeError(IntentEnsembleError):
    """A prediction was asked for in a mode other than serial, parallel or fusion."""


class EnsembleArtifactError(IntentEnsembleError):
    """A stored intent-ensemble version lacks a tensor or setting, or does not match its intent version."""
