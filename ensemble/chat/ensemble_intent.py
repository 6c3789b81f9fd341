"""Adapter from the multi-member intent ensemble (``ensemble.intent_ensemble``) to an :class:`IntentStage`.

The ensemble answers ``predict(texts, mode)`` with decisions that carry ``intent``, ``confidence``,
``out_of_scope`` and ``members``; each member names itself and reports its output and weight. This module reads
those fields (as attributes or mapping keys) and nothing else, so the chat chain does not depend on how the
ensemble is built or stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any, Protocol

from ensemble.chat.answer import ChatMode

__all__ = ["EnsembleIntentStage", "PredictsIntents"]


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
    return {"name": f"intent_{name}", "output": _plain(output), "weight": float(_field(item, "weight", 0.0))}


class EnsembleIntentStage:
    """Decisions of an intent ensemble in the requested mode, with each member's output and weight."""

    def __init__(self, ensemble: PredictsIntents, version: str) -> None:
        self.ensemble = ensemble
        self.version = version

    def decide(self, texts: Sequence[str], mode: ChatMode) -> list[dict[str, Any]]:
        decisions = self.ensemble.predict(list(texts), ChatMode(mode).value)
        return [
            {
                "intent": str(_field(d, "intent")),
                "confidence": float(_field(d, "confidence", 0.0)),
                "out_of_scope": bool(_field(d, "out_of_scope", False)),
                "version": self.version,
                "mode": ChatMode(mode).value,
                "members": [_member(m) for m in _field(d, "members", ()) or ()],
            }
            for d in decisions
        ]
