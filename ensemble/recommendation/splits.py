"""Time splits for recommendation: a test window at the end, and a validation window at the end of training.

Training is every interaction before ``validation_from`` for fitting fusion weights, and before ``test_from``
for the final fit; the test window starts at ``test_from``. The validation window ``[validation_from,
test_from)`` lies inside the training period, so fusion weights never see the test window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ensemble.errors import DataError
from ensemble.recommendation.interactions import TIME

__all__ = ["TimeSplit", "plan_split"]


@dataclass(frozen=True, slots=True)
class TimeSplit:
    """Boundaries of one evaluation: fit before ``validation_from`` → validate until ``test_from`` → refit
    before ``test_from`` → test from ``test_from`` on."""

    validation_from: pd.Timestamp
    test_from: pd.Timestamp

    def __post_init__(self) -> None:
        if not self.validation_from < self.test_from:
            raise DataError(
                f"the validation window must start before the test window, got validation_from="
                f"{self.validation_from} and test_from={self.test_from}; use an earlier validation start"
            )

    def pre_validation(self, interactions: pd.DataFrame) -> pd.DataFrame:
        """Interactions strictly before ``validation_from`` (members fitted for weight fitting)."""
        return interactions.loc[(interactions[TIME] < self.validation_from).to_numpy()]

    def validation(self, interactions: pd.DataFrame) -> pd.DataFrame:
        """Interactions in ``[validation_from, test_from)``."""
        times = interactions[TIME]
        return interactions.loc[((times >= self.validation_from) & (times < self.test_from)).to_numpy()]

    def train(self, interactions: pd.DataFrame) -> pd.DataFrame:
        """Interactions strictly before ``test_from`` (the final fit)."""
        return interactions.loc[(interactions[TIME] < self.test_from).to_numpy()]

    def test(self, interactions: pd.DataFrame) -> pd.DataFrame:
        """Interactions from ``test_from`` on."""
        return interactions.loc[(interactions[TIME] >= self.test_from).to_numpy()]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready boundaries."""
        return {"validation_from": str(self.validation_from), "test_from": str(self.test_from)}


def plan_split(
    interactions: pd.DataFrame,
    *,
    test_from: str | pd.Timestamp | None = None,
    test_fraction: float | None = None,
    validation_fraction: float = 0.2,
) -> TimeSplit:
    """The boundaries for ``interactions``.

    The test window starts at ``test_from`` or, given ``test_fraction``, at the time that leaves that
    fraction of the interactions (the latest ones) for testing. The validation window holds the last
    ``validation_fraction`` of the training interactions. Raises :class:`DataError` when a window would be
    empty.
    """
    if (test_from is None) == (test_fraction is None):
        raise DataError("give exactly one of test_from (a date) and test_fraction (e.g. 0.2)")
    if not 0.0 < validation_fraction < 1.0:
        raise DataError(f"validation_fraction must be in (0, 1), got {validation_fraction}; use e.g. 0.2")
    times = interactions[TIME].sort_values(ignore_index=True)
    if test_fraction is not None:
        if not 0.0 < test_fraction < 1.0:
            raise DataError(f"test fraction must be in (0, 1), got {test_fraction}; use e.g. 0.2")
        boundary = pd.Timestamp(times.iloc[min(int(len(times) * (1.0 - test_fraction)), len(times) - 1)])
    else:
        try:
            boundary = pd.Timestamp(str(test_from))
        except (ValueError, TypeError) as err:
            raise DataError(f"test start {test_from!r} is not a date; use e.g. 2011-11-01") from err
    before = times[times < boundary]
    if before.empty or len(before) == len(times):
        raise DataError(
            f"test start {boundary} leaves {len(before)} of {len(times)} interactions for training (from "
            f"{times.iloc[0]} to {times.iloc[-1]}); choose a start inside that range"
        )
    validation_from = pd.Timestamp(before.iloc[int(len(before) * (1.0 - validation_fraction))])
    if validation_from <= before.iloc[0]:
        raise DataError(
            f"the training period ({before.iloc[0]} to {before.iloc[-1]}) is too short to hold out a validation "
            "window before the test start; give more history"
        )
    return TimeSplit(validation_from=validation_from, test_from=boundary)
