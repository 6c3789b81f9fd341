"""Toy interactions where the right recommendations are known."""

from __future__ import annotations

import pandas as pd
import pytest

from ensemble.recommendation import ITEM, TIME, USER


def interactions_frame(rows: list[tuple[str, str]], start: str = "2020-01-01") -> pd.DataFrame:
    """Interactions in the canonical layout, one day apart in the given order."""
    return pd.DataFrame(
        {
            USER: [u for u, _ in rows],
            ITEM: [i for _, i in rows],
            TIME: pd.date_range(start, periods=len(rows), freq="D"),
        }
    )


@pytest.fixture
def two_groups() -> pd.DataFrame:
    """Users g1..g4 buy a1..a3, users h1..h4 buy b1..b3; user "q" bought a1 and a2 only, so a3 is the
    answer for q (and b-items are not)."""
    rows: list[tuple[str, str]] = []
    for u in ("g1", "g2", "g3", "g4"):
        rows += [(u, "a1"), (u, "a2"), (u, "a3")]
    for u in ("h1", "h2", "h3", "h4"):
        rows += [(u, "b1"), (u, "b2"), (u, "b3")]
    rows += [("h5", "b1"), ("q", "a1"), ("q", "a2")]
    return interactions_frame(rows)
