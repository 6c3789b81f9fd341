"""How a bundle's escalation threshold was fitted at export (``edge.export.cascade``), as its manifest records it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ThresholdFit", "threshold_fit_from"]


@dataclass(frozen=True)
class ThresholdFit:
    """How the bundle's escalation threshold was fitted (``edge.export.cascade``) and what it gave there."""

    threshold: float
    max_loss: float  # the target: at most this share of messages answered otherwise than the teacher
    n_texts: int  # validation texts (or photos) it was fitted on
    device_share: float  # share of them answered on the device
    disagreement: float  # share of them the device answered otherwise than the teacher (<= max_loss)
    teacher: str  # what gave the reference answers, e.g. "intent-ensemble:v0003 (fusion)"


def threshold_fit_from(value: object) -> ThresholdFit | None:
    """Parse a manifest's ``threshold_fit`` entry (null: the threshold was set by hand)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"threshold_fit must be an object or null, got {value!r:.80}")
    return ThresholdFit(
        threshold=float(value["threshold"]),
        max_loss=float(value["max_loss"]),
        n_texts=int(value["n_texts"]),
        device_share=float(value["device_share"]),
        disagreement=float(value["disagreement"]),
        teacher=str(value["teacher"]),
    )
