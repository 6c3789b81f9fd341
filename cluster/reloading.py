"""A replica's side of a rollout: load the version its ``user_config`` names beside the one serving, check it
with one prediction on probe inputs, swap it in, and report what it did.

Serve calls ``reconfigure(user_config)`` on every live replica when a deployment's ``user_config`` changes
(the rollout command changes it through the Serve REST API) and keeps routing requests to the replica while
it runs, so the old version answers until the new one is swapped in. A version that fails to load or fails
its smoke check never replaces the old one: the replica keeps serving what it served and says why in its
report. ``user_config["rollout"]`` (set by the rollout command) names the rollout and the journal to report
to (:class:`~cluster.rollout_journal.RolloutJournal`); without it the outcome is only logged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ray import serve

from cluster.errors import RolloutError, SmokeCheckError
from cluster.rollout_journal import ReplicaReport, RolloutJournal

__all__ = [
    "PROBE_TEXTS",
    "ReloadOutcome",
    "check_decisions",
    "report_outcomes",
    "swap_in",
    "wanted",
]

logger = logging.getLogger(__name__)

# Customer messages every intent version is asked about before it serves (its smoke check).
PROBE_TEXTS = (
    "where is my order?",
    "I want to cancel the order I placed yesterday",
    "how do I get a refund for a broken item",
)

T = TypeVar("T")


@dataclass(frozen=True)
class ReloadOutcome:
    """What a replica did for one member: the version it was asked for, the one it serves now and, when it
    kept the old one, why."""

    member: str
    wanted: str
    serving: str | None
    error: str | None = None


def wanted(user_config: Mapping[str, Any], key: str) -> str | None:
    """The version ``user_config[key]`` names; ``None`` (or ``latest``, or empty) means the newest one."""
    value = user_config.get(key)
    return None if value in (None, "", "latest") else str(value)


def swap_in(
    member: str,
    target: str | None,
    serving: str | None,
    load: Callable[[], T],
    smoke: Callable[[T], str],
    swap: Callable[[T], None],
) -> ReloadOutcome:
    """Load a version, smoke-check it (``smoke`` returns the id it serves), and ``swap`` it in; on any
    failure the old one (``serving``) stays and the outcome says why."""
    label = target or "latest"
    try:
        loaded = load()
        version = smoke(loaded)
    except Exception as err:  # a replica boundary: whatever the new version does, the old one keeps serving
        reason = f"{member} {label} was not swapped in ({type(err).__name__}: {err}); {serving} keeps serving"
        logger.exception("%s", reason)
        return ReloadOutcome(member, label, serving, reason)
    swap(loaded)
    logger.info("%s now serves %s (was %s)", member, version, serving)
    return ReloadOutcome(member, label, version)


def check_decisions(decisions: Sequence[Mapping[str, Any]], labels: Sequence[str], count: int) -> None:
    """The smoke check of an intent stage: one decision per probe, a known intent, a finite confidence."""
    if len(decisions) != count:
        raise SmokeCheckError(f"the intent stage gave {len(decisions)} decisions for {count} probe texts")
    for decision in decisions:
        confidence = float(decision.get("confidence", math.nan))
        if not math.isfinite(confidence) or not 0.0 <= confidence <= 1.0:
            raise SmokeCheckError(f"the probe decision has confidence {confidence}, not a probability in [0, 1]")
        if decision.get("intent") not in labels and not decision.get("out_of_scope"):
            raise SmokeCheckError(f"the probe decision names intent {decision.get('intent')!r}, not one of its labels")


def _replica_tag() -> str:
    try:
        return str(serve.get_replica_context().replica_tag)
    except RuntimeError:  # outside a replica (a runner tested on its own)
        return "local"


def report_outcomes(user_config: Mapping[str, Any], outcomes: list[ReloadOutcome]) -> None:
    """Write this replica's outcomes to the journal the rollout named (when it named one)."""
    rollout = user_config.get("rollout")
    if not isinstance(rollout, Mapping) or not rollout.get("id") or not rollout.get("journal"):
        return
    try:
        replica = _replica_tag()
        RolloutJournal(Path(str(rollout["journal"]))).report(
            *(ReplicaReport(str(rollout["id"]), replica, o.member, o.wanted, o.serving, o.error) for o in outcomes)
        )
    except RolloutError:
        logger.exception("could not report rollout %s to %s", rollout.get("id"), rollout.get("journal"))
