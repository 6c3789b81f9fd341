"""The outcome of a federated run as a JSON file, so a caller in another process can read it."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from federation.errors import FederatedRunError

__all__ = ["FederatedResult", "read_summary", "write_summary"]

logger = logging.getLogger(__name__)

RunStatus = Literal["published", "failed"]


@dataclass(frozen=True)
class FederatedResult:
    """What a federated run produced: the published version and the per-round record.

    ``rounds`` holds one dict per round (see :meth:`federation.rounds.RoundRecord.to_dict`): participants,
    per-node train and evaluate metrics, FedAvg aggregates and failures. ``metrics`` is the published model's
    evaluation on the full validation split.
    """

    status: RunStatus
    version_id: str | None
    base_version_id: str | None
    rounds: list[dict[str, Any]] = field(default_factory=list)
    participants: list[int] = field(default_factory=list)
    num_examples: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    traffic: dict[str, Any] = field(default_factory=dict)  # see federation.traffic.traffic_summary
    error: str | None = None
    wall_seconds: float | None = None
    # personal adapters published after the rounds (merchant -> intent-adapter version) and why a node has none
    adapters: dict[str, str] = field(default_factory=dict)
    personalisation_failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, content: dict[str, Any]) -> FederatedResult:
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in content.items() if key in known})

    def round_accuracy(self) -> dict[int, float]:
        """The FedAvg-weighted validation accuracy the nodes reported after each round."""
        return {
            int(entry["round"]): float(entry["evaluate_aggregate"]["accuracy"])
            for entry in self.rounds
            if "accuracy" in entry.get("evaluate_aggregate", {})
        }


def write_summary(path: Path, result: FederatedResult) -> None:
    """Write ``result`` as JSON (atomically: a temporary sibling renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".tmp")
    staging.write_text(json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    staging.replace(path)
    logger.info("wrote the federated run summary to %s", path)


def read_summary(path: Path) -> FederatedResult:
    """Read a summary written by :func:`write_summary`."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise FederatedRunError(
            f"cannot read the federated run summary {path}: {err}; the run ended before writing it, "
            "see its output above"
        ) from err
    if not isinstance(content, dict):
        raise FederatedRunError(f"the run summary {path} holds a {type(content).__name__}, not a JSON object")
    return FederatedResult.from_dict(content)
