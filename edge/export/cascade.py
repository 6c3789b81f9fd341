"""The device/cluster cascade: the escalation threshold fitted on validation texts to a stated accuracy target.

The device answers a message when its top probability reaches the threshold and escalates the rest, which the
cluster (the teacher) answers. The cascade's answers then differ from the cluster's only on messages the device
answered and got otherwise than the cluster, so the accuracy it loses against cluster-only serving is at most
the share of such messages, whatever the true labels are. :func:`fit_threshold` picks the lowest threshold (the
most messages on the device) whose share of disagreements on the validation texts stays within ``max_loss``;
no labels are needed. :func:`cascade_scores` measures a threshold on labelled texts (the held-out report).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.export.errors import ExportError
from edge.export.oos_fit import DEFAULT_OOS_TARGET
from edge.runtime.manifest import ThresholdFit
from edge.runtime.oos import OosScore

__all__ = ["DEFAULT_MAX_LOSS", "Calibration", "CascadeScores", "ThresholdFit", "cascade_scores", "fit_threshold"]

DEFAULT_MAX_LOSS = 0.005  # at most 0.5 accuracy points lost against the cluster's answers


@dataclass(frozen=True)
class Calibration:
    """Validation texts and the cluster's (the teacher's) intents for them: what the threshold is fitted on."""

    texts: Sequence[str]
    teacher_intents: Sequence[str]
    teacher: str = "teacher"  # names the teacher in the manifest, e.g. "intent-ensemble:v0003 (fusion)"
    max_loss: float = DEFAULT_MAX_LOSS
    oos_score: OosScore | None = None  # also fit on-device out-of-scope detection on these texts (None: none)
    oos_target: float = DEFAULT_OOS_TARGET  # share of them the out-of-scope threshold keeps in scope


@dataclass(frozen=True)
class CascadeScores:
    """A threshold on labelled texts: how much the device answers, and the accuracy against cluster-only."""

    threshold: float
    n_texts: int
    device_share: float
    cascade_accuracy: float
    cluster_accuracy: float
    device_accuracy: float  # the device alone, every message answered locally

    @property
    def loss_points(self) -> float:
        """Accuracy points lost against cluster-only serving (negative: the cascade is better)."""
        return 100.0 * (self.cluster_accuracy - self.cascade_accuracy)


def _arrays(
    confidence: Sequence[float] | npt.NDArray[np.floating[Any]], device: Sequence[str], teacher: Sequence[str]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    conf = np.asarray(confidence, dtype=np.float64)
    if not (len(conf) == len(device) == len(teacher)) or len(conf) == 0:
        raise ExportError(
            f"threshold fitting needs one confidence, device answer and teacher answer per text (and at least one "
            f"text); got {len(conf)}, {len(device)} and {len(teacher)}"
        )
    if not np.all((conf >= 0.0) & (conf <= 1.0)):
        raise ExportError("confidences must be probabilities in [0, 1]; pass the device's top softmax probability")
    agree = np.asarray([d == t for d, t in zip(device, teacher, strict=True)], dtype=np.bool_)
    return conf, agree


def fit_threshold(
    confidence: Sequence[float] | npt.NDArray[np.floating[Any]],
    device: Sequence[str],
    teacher: Sequence[str],
    *,
    max_loss: float = DEFAULT_MAX_LOSS,
    teacher_name: str = "teacher",
) -> ThresholdFit:
    """The lowest threshold at which the device's disagreements with ``teacher`` stay within ``max_loss``.

    ``confidence`` [N] is the device's top probability, ``device`` and ``teacher`` the intents each gives.
    Texts at or above the threshold are answered on the device. When even the most confident text is answered
    otherwise by the teacher beyond the budget, the threshold lies above every confidence (nothing on device).
    """
    if not 0.0 <= max_loss < 1.0:
        raise ExportError(f"max_loss must lie in [0, 1), got {max_loss}; 0.005 is half an accuracy point")
    conf, agree = _arrays(confidence, device, teacher)
    n = len(conf)
    budget = int(np.floor(max_loss * n + 1e-9))  # disagreements allowed among the texts answered on device
    order = np.argsort(-conf, kind="stable")
    wrong_so_far = np.cumsum(~agree[order])  # disagreements among the i+1 most confident texts
    levels, counts = np.unique(-conf[order], return_counts=True)  # thresholds, highest first; ties go together
    wrong = wrong_so_far[np.cumsum(counts) - 1]  # disagreements answered on device at each level (non-decreasing)
    usable = int(np.searchsorted(wrong, budget, side="right"))  # how many levels keep within the budget
    # none usable: above every confidence (capped at 1, where a text of probability 1.0 is still answered)
    threshold = float(-levels[usable - 1]) if usable else float(min(1.0, np.nextafter(-levels[0], np.inf)))
    answered = conf >= threshold
    return ThresholdFit(
        threshold=threshold,
        max_loss=max_loss,
        n_texts=n,
        device_share=float(answered.mean()),
        disagreement=float((answered & ~agree).sum() / n),
        teacher=teacher_name,
    )


def cascade_scores(
    threshold: float,
    confidence: Sequence[float] | npt.NDArray[np.floating[Any]],
    device: Sequence[str],
    teacher: Sequence[str],
    gold: Sequence[str],
) -> CascadeScores:
    """Share answered on device and accuracy of the cascade, the cluster alone and the device alone."""
    conf, _ = _arrays(confidence, device, teacher)
    if len(gold) != len(conf):
        raise ExportError(f"need one gold label per text: {len(gold)} labels for {len(conf)} texts")
    answered = conf >= threshold
    truth = np.asarray(gold)
    dev, ref = np.asarray(device), np.asarray(teacher)
    cascade = np.where(answered, dev, ref)
    return CascadeScores(
        threshold=threshold,
        n_texts=len(conf),
        device_share=float(answered.mean()),
        cascade_accuracy=float((cascade == truth).mean()),
        cluster_accuracy=float((ref == truth).mean()),
        device_accuracy=float((dev == truth).mean()),
    )
