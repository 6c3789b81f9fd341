"""Seed phrasings: bundled, well-formed, and added to the training split only."""

from __future__ import annotations

import pandas as pd
import pytest

from ensemble.datasets import (
    DataSplits,
    add_training_rows,
    bundled_intent_splits,
    load_bitext,
    load_intent_seeds,
    split_bitext,
)
from ensemble.errors import DataError


def test_seeds_cover_every_bitext_intent_twenty_times_and_never_repeat_bitext() -> None:
    # Prepare
    seeds = load_intent_seeds()
    bitext = load_bitext()
    # Assert
    assert list(seeds.columns) == ["text", "intent"]
    counts = seeds["intent"].value_counts()
    assert set(counts.index) == set(bitext["intent"]) and (counts == 20).all()
    lowered = seeds["text"].str.strip().str.lower()
    assert not lowered.duplicated().any()
    assert not set(lowered) & set(bitext["instruction"].str.strip().str.lower())


def test_bundled_splits_add_seeds_to_training_only() -> None:
    # Prepare
    plain = split_bitext(load_bitext())
    # Execute
    seeded = bundled_intent_splits()
    # Assert
    assert len(seeded.train) == len(plain.train) + len(load_intent_seeds())
    pd.testing.assert_frame_equal(seeded.val, plain.val)
    pd.testing.assert_frame_equal(seeded.test, plain.test)
    assert set(load_intent_seeds()["text"]) <= set(seeded.train["instruction"])


def test_rows_with_an_intent_the_split_lacks_are_refused() -> None:
    # Prepare
    frame = pd.DataFrame({"instruction": ["a", "b"], "intent": ["x", "y"]})
    splits = DataSplits(train=frame, val=frame, test=frame)
    rows = pd.DataFrame({"text": ["order a pizza"], "intent": ["order_pizza"]})
    # Execute / Assert
    with pytest.raises(DataError, match=r"intents \['order_pizza'\] that the training split lacks"):
        add_training_rows(splits, rows)
