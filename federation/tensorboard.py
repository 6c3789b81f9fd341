"""TensorBoard event files of a federated run, written by the server at the end of every round.

Tags (step = the server round): ``train/loss`` and ``evaluate/accuracy``, ``evaluate/macro-f1`` for the
aggregate; the same under ``.../node/<node id>`` per merchant; ``bytes/down`` and ``bytes/up`` (both phases,
every message); and for a DP run ``privacy/epsilon/<node id>`` per merchant and ``privacy/epsilon-max``. Open
them with ``tensorboard --logdir DIR``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from federation.rounds import RoundRecord

__all__ = ["RoundBoard", "round_scalars"]

logger = logging.getLogger(__name__)

_TRAIN = {"train-loss": "train/loss"}
_EVALUATE = {"accuracy": "evaluate/accuracy", "macro-f1": "evaluate/macro-f1"}


def round_scalars(record: RoundRecord) -> dict[str, float]:
    """The scalars of one round, by TensorBoard tag."""
    scalars: dict[str, float] = {}
    for metrics, per_node, names in (
        (record.train_aggregate, record.train, _TRAIN),
        (record.evaluate_aggregate, record.evaluate, _EVALUATE),
    ):
        for key, tag in names.items():
            if key in metrics:
                scalars[tag] = metrics[key]
            for node, values in per_node.items():
                if key in values:
                    scalars[f"{tag}/node/{node}"] = values[key]
    scalars["bytes/down"] = float(record.traffic.total("down"))
    scalars["bytes/up"] = float(record.traffic.total("up"))
    for node, epsilon in record.epsilon.items():
        scalars[f"privacy/epsilon/{node}"] = epsilon
    if record.epsilon:
        scalars["privacy/epsilon-max"] = max(record.epsilon.values())
    return scalars


class RoundBoard:
    """Writes each finished round's scalars to an event file under ``log_dir``."""

    def __init__(self, log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = log_dir
        self._writer = SummaryWriter(log_dir=str(log_dir))
        logger.info("TensorBoard event files go to %s", log_dir)

    def __call__(self, record: RoundRecord) -> None:
        for tag, value in round_scalars(record).items():
            self._writer.add_scalar(tag, value, global_step=record.round)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
