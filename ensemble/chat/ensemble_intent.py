"""Adapter from the multi-member intent ensemble (``ensemble.intent_ensemble``) to an :class:`IntentStage`, and
the choice of the intent stage for a served intent version.

The ensemble answers ``predict(texts, mode)`` with decisions that carry ``intent``, ``confidence``,
``out_of_scope``, ``oos_score`` and ``members``; each member names itself and reports its answer, weight and
latency. This module reads those fields (as attributes or mapping keys) and nothing else, so the chat chain
does not depend on how the ensemble is built or stored.

:func:`load_intent_stage` serves the newest ``intent-ensemble`` version built on the served intent version
(its lineage parent); when there is none it serves the intent head alone (:class:`HeadIntentStage`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any, Protocol

from ensemble.chat.answer import ChatMode
from ensemble.chat.intent_stage import HEAD_ONLY_REASON, HeadIntentStage
from ensemble.errors import ModelError, ShopmeshError
from ensemble.intent_ensemble import ENSEMBLE_MEMBER, load_intent_ensemble
from ensemble.members.intent import IntentModel
from ensemble.members.intent_artifact import load_intent
from ensemble.registry import LINEAGE_NAME, Lineage, ModelVersion, Registry

__all__ = [
    "EnsembleIntentStage",
    "PredictsIntents",
    "ServedIntent",
    "ensemble_parent",
    "ensemble_version_for",
    "load_intent_stage",
    "load_served_intent",
]

logger = logging.getLogger(__name__)

INTENT_MEMBER = "intent"


class PredictsIntents(Protocol):
    def predict(self, texts: Sequence[str], mode: str) -> Sequence[Any]: ...


def _field(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


def _plain(value: Any) -> Any:
    """JSON-ready copy of a member output (dataclasses and mappings become dicts)."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):  # numpy and torch scalars
        return value.item()
    return value


def _member(item: Any) -> dict[str, Any]:
    name = str(_field(item, "name", "member"))
    output = _field(item, "output")
    if output is None:
        output = {k: _plain(_field(item, k)) for k in ("intent", "confidence") if _field(item, k) is not None}
    member = {"name": f"intent_{name}", "output": _plain(output), "weight": float(_field(item, "weight", 0.0))}
    latency = _field(item, "latency_ms")
    if latency is not None:
        member["latency_ms"] = float(latency)
    return member


class EnsembleIntentStage:
    """Decisions of an intent ensemble in the requested mode, with each member's output and weight.

    ``version`` is the intent version the ensemble is built on (what ``/healthz`` and answers report as the
    intent version); ``ensemble_version`` the ``intent-ensemble`` version itself.
    """

    def __init__(self, ensemble: PredictsIntents, version: str, ensemble_version: str | None = None) -> None:
        self.ensemble = ensemble
        self.version = version
        self.ensemble_version = ensemble_version

    def decide(self, texts: Sequence[str], mode: ChatMode) -> list[dict[str, Any]]:
        decisions = self.ensemble.predict(list(texts), ChatMode(mode).value)
        answers = []
        for d in decisions:
            answer = {
                "intent": str(_field(d, "intent")),
                "confidence": float(_field(d, "confidence", 0.0)),
                "out_of_scope": bool(_field(d, "out_of_scope", False)),
                "version": self.version,
                "ensemble_version": self.ensemble_version,
                "stage": "ensemble",
                "mode": ChatMode(mode).value,
                "members": [_member(m) for m in _field(d, "members", ()) or ()],
            }
            if _field(d, "oos_score") is not None:
                answer["oos_score"] = float(_field(d, "oos_score"))
            answers.append(answer)
        return answers

    def status(self) -> dict[str, Any]:
        """The stage served: the ensemble, its version and the intent version it is built on."""
        return {"stage": "ensemble", "version": self.version, "ensemble_version": self.ensemble_version}


def _parent_of(candidate: ModelVersion) -> str | None:
    """The lineage parent of a registry version; raises ``ValueError``/``OSError``/... when it cannot be read."""
    lineage = Lineage.from_dict(json.loads((candidate.path / LINEAGE_NAME).read_text(encoding="utf-8")))
    return lineage.parent


def ensemble_version_for(registry: Registry, intent_version_id: str) -> ModelVersion | None:
    """The newest ``intent-ensemble`` version whose lineage parent is ``intent_version_id``, or None."""
    for candidate in reversed(registry.list(ENSEMBLE_MEMBER)):
        try:
            parent = _parent_of(candidate)
        except (OSError, ValueError, KeyError, TypeError) as err:
            logger.warning("skipping %s: its lineage cannot be read (%s)", candidate.id, err)
            continue
        if parent == intent_version_id:
            return candidate
    return None


def ensemble_parent(registry: Registry, ensemble_version: str | None) -> tuple[ModelVersion, str]:
    """An ``intent-ensemble`` version (None: the newest) and the intent version it is built on."""
    built = registry.resolve(ENSEMBLE_MEMBER, ensemble_version)
    try:
        parent = _parent_of(built)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ModelError(f"{built.id} has no readable lineage ({err}); republish the intent ensemble") from err
    if parent is None:
        raise ModelError(f"{built.id} names no intent version it is built on; republish the intent ensemble")
    return built, parent


@dataclass(frozen=True)
class ServedIntent:
    """The intent stage served for one intent version, with the intent model under it (head or ensemble)."""

    stage: HeadIntentStage | EnsembleIntentStage
    model: IntentModel
    version_id: str
    ensemble_version_id: str | None


def load_served_intent(
    registry: Registry, intent_version: str | None = None, ensemble_version: str | None = None
) -> ServedIntent:
    """The ensemble built on ``intent_version`` (None: the latest intent version), else its head alone.

    An ensemble version that fails to load is logged and the head serves alone, its reason saying why. A named
    ``ensemble_version`` is served exactly (on the intent version it is built on) or not at all: a failure to
    load it raises.
    """
    if ensemble_version is not None:
        built, parent = ensemble_parent(registry, ensemble_version)
        resolved = registry.resolve(INTENT_MEMBER, intent_version if intent_version is not None else parent)
        if resolved.id != parent:
            raise ModelError(
                f"{built.id} is built on {parent}, not on {resolved.id}; name its own intent version or none"
            )
        ensemble = load_intent_ensemble(registry, built.id)
        logger.info("serving intent ensemble %s on %s", built.id, resolved.id)
        return ServedIntent(
            EnsembleIntentStage(ensemble, resolved.id, built.id), ensemble.head.model, resolved.id, built.id
        )
    resolved = registry.resolve(INTENT_MEMBER, intent_version)
    built_on = ensemble_version_for(registry, resolved.id)
    reason = HEAD_ONLY_REASON
    if built_on is not None:
        try:
            ensemble = load_intent_ensemble(registry, built_on.id)
        except ShopmeshError as err:
            logger.exception(
                "intent ensemble %s failed to load; serving the head of %s alone", built_on.id, resolved.id
            )
            reason = f"intent ensemble {built_on.id} failed to load ({err}); the head answers alone"
        else:
            logger.info("serving intent ensemble %s on %s", built_on.id, resolved.id)
            stage = EnsembleIntentStage(ensemble, resolved.id, built_on.id)
            return ServedIntent(stage, ensemble.head.model, resolved.id, built_on.id)
    else:
        logger.info("no %s version built on %s; serving the intent head alone", ENSEMBLE_MEMBER, resolved.id)
    model, _ = load_intent(registry, resolved.id)
    return ServedIntent(HeadIntentStage(model, resolved.id, reason), model, resolved.id, None)


def load_intent_stage(registry: Registry, intent_version: str | None = None) -> HeadIntentStage | EnsembleIntentStage:
    """The intent stage of :func:`load_served_intent`."""
    return load_served_intent(registry, intent_version).stage
