"""The first link of the chain: which intent a message has, how sure, and whether it is out of scope.

An :class:`IntentStage` answers ``decide(texts, mode)`` with one JSON-ready dict per text::

    {"intent", "confidence", "out_of_scope", "version", "members": [{"name", "output", "weight"}]}

:class:`HeadIntentStage` serves the registry's intent member (MiniLM + calibrated head) alone; every mode runs
that one member with weight 1.0 and nothing is flagged out of scope (the head has no out-of-scope detector);
its decisions and :meth:`HeadIntentStage.status` say ``"stage": "head_only"`` and why.
The multi-member intent ensemble plugs in through :mod:`ensemble.chat.ensemble_intent`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ensemble.chat.answer import ChatMode
from ensemble.members.intent import IntentModel, predict

__all__ = ["HEAD_MEMBER", "HEAD_ONLY_REASON", "HeadIntentStage", "IntentStage"]

HEAD_MEMBER = "intent_head"
HEAD_ONLY_REASON = (
    "no intent-ensemble version is built on this intent version; the head answers alone in every mode and "
    "nothing is flagged out of scope (build one with ensemble.intent_ensemble.build_intent_ensemble)"
)


class IntentStage(Protocol):
    """Anything that classifies a batch of messages in a given ensemble mode."""

    def decide(self, texts: Sequence[str], mode: ChatMode) -> list[dict[str, Any]]: ...


class HeadIntentStage:
    """The intent member alone: its prediction is the decision in every mode."""

    def __init__(self, model: IntentModel, version: str, reason: str = HEAD_ONLY_REASON) -> None:
        self.model = model
        self.version = version
        self.reason = reason

    def decide(self, texts: Sequence[str], mode: ChatMode) -> list[dict[str, Any]]:
        decisions = []
        for p in predict(self.model, list(texts)):
            member = {
                "name": HEAD_MEMBER,
                "output": {"intent": p.intent, "confidence": p.confidence, "note": self.reason},
                "weight": 1.0,
            }
            decisions.append(
                {
                    "intent": p.intent,
                    "confidence": p.confidence,
                    "out_of_scope": False,
                    "version": self.version,
                    "ensemble_version": None,
                    "stage": "head_only",
                    "mode": ChatMode(mode).value,
                    "members": [member],
                }
            )
        return decisions

    def status(self) -> dict[str, Any]:
        """The head alone, the intent version it comes from and why no ensemble runs."""
        return {"stage": "head_only", "version": self.version, "ensemble_version": None, "reason": self.reason}
