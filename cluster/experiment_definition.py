"""What an experiment is: the route it splits, its two arms, the outcome it records, its stop rule, and the
sticky assignment of a unit (a customer or a session) to an arm.

Assignment is a hash, not a table: ``sha256(experiment name, unit)`` picks a bucket 0..99 and buckets below
``split`` go to arm B. One customer (or session) sees one arm on every replica and after every restart, and
nothing has to be read to assign.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from cluster.errors import ExperimentError
from cluster.experiment_stats import OutcomeKind, StopRule
from ensemble.chat import ChatMode
from ensemble.recommendation import RecommendMode

__all__ = ["NAME_PATTERN", "Arm", "ArmKind", "Experiment", "ExperimentStatus", "ExperimentTarget", "assign"]

NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ExperimentTarget(StrEnum):
    """The route an experiment splits: ``/v1/chat`` or ``/v1/recommend``."""

    CHAT = "chat"
    RECOMMEND = "recommend"


class ExperimentStatus(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"


class ArmKind(StrEnum):
    """What an arm changes. Today an ensemble mode of the target route; two versions of one member
    (``version``) join when canary routing can send a request to either."""

    MODE = "mode"


_MODES: dict[ExperimentTarget, list[str]] = {
    ExperimentTarget.CHAT: [m.value for m in ChatMode],
    ExperimentTarget.RECOMMEND: [m.value for m in RecommendMode],
}


@dataclass(frozen=True)
class Arm:
    """One arm: ``label`` A or B, what it changes (``kind``) and to what (``value``, e.g. ``fusion``)."""

    label: str
    kind: ArmKind
    value: str

    @property
    def name(self) -> str:
        return f"{self.label}: {self.value}"


@dataclass(frozen=True)
class Experiment:
    """An experiment's definition and state; ``split`` is the percentage of units in arm B."""

    name: str
    target: ExperimentTarget
    arms: tuple[Arm, Arm]
    outcome: OutcomeKind
    split: int
    rule: StopRule
    status: ExperimentStatus
    created_at: float
    stopped_at: float | None = None

    @classmethod
    def define(
        cls,
        name: str,
        target: str,
        arms: list[str],
        *,
        outcome: str = "binary",
        split: int = 50,
        rule: StopRule | None = None,
    ) -> Experiment:
        """A new running experiment, checked: a name of 1-64 letters, digits, ``_.-``; a known target; two
        different modes of it; a split of 1..99; a known outcome kind."""
        if not re.fullmatch(NAME_PATTERN, name):
            raise ExperimentError(
                f"experiment name {name!r:.80} must be 1-64 letters, digits, '_', '.' or '-' (starting with a "
                "letter or digit)"
            )
        try:
            chosen = ExperimentTarget(target)
        except ValueError as err:
            raise ExperimentError(
                f"unknown target {target!r}; choose one of {[t.value for t in ExperimentTarget]}"
            ) from err
        modes = _MODES[chosen]
        if len(arms) != 2 or arms[0] == arms[1] or any(a not in modes for a in arms):
            raise ExperimentError(f"arms must be two different {chosen} modes out of {modes}, got {arms}")
        if not 1 <= split <= 99:
            raise ExperimentError(f"split is the percentage of units in arm B and must be in 1..99, got {split}")
        try:
            kind = OutcomeKind(outcome)
        except ValueError as err:
            raise ExperimentError(f"unknown outcome {outcome!r}; choose binary or numeric") from err
        pair = (Arm("A", ArmKind.MODE, arms[0]), Arm("B", ArmKind.MODE, arms[1]))
        return cls(name, chosen, pair, kind, split, rule or StopRule(), ExperimentStatus.RUNNING, time.time())

    def assign(self, unit: str) -> Arm:
        """The arm of ``unit`` (``customer:ID`` or ``session:ID``): the same on every call, replica and restart."""
        return self.arms[assign(self.name, unit, self.split)]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["arms"] = [{"label": a.label, "kind": a.kind.value, "value": a.value} for a in self.arms]
        return data


def assign(name: str, unit: str, split: int) -> int:
    """Arm index (0 = A, 1 = B) of ``unit`` in experiment ``name``: a stable hash bucket 0..99 below ``split``
    is arm B."""
    digest = hashlib.sha256(f"{name}\x1f{unit}".encode()).digest()
    return 1 if int.from_bytes(digest[:8], "big") % 100 < split else 0
