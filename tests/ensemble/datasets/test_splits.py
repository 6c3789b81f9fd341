from __future__ import annotations

import math

import pandas as pd
import pytest

from ensemble.datasets import (
    clean_online_retail,
    load_bitext,
    split_bitext,
    split_dominicks,
    split_online_retail,
)
from ensemble.errors import DataError


@pytest.fixture(scope="module")
def bitext() -> pd.DataFrame:
    return load_bitext()


def test_bitext_split_sizes_80_10_10(bitext: pd.DataFrame) -> None:
    # Prepare: sklearn rounds the held-out share up, then the test half up.
    held_out = math.ceil(0.2 * len(bitext))
    expected = (len(bitext) - held_out, held_out - math.ceil(held_out / 2), math.ceil(held_out / 2))

    # Execute
    splits = split_bitext(bitext)

    # Assert
    assert splits.sizes() == expected == (3611, 451, 452)


def test_bitext_splits_are_disjoint_and_complete(bitext: pd.DataFrame) -> None:
    splits = split_bitext(bitext)

    train, val, test = (set(part.index) for part in (splits.train, splits.val, splits.test))
    assert not train & val and not train & test and not val & test
    assert train | val | test == set(bitext.index)


def test_bitext_split_is_stratified(bitext: pd.DataFrame) -> None:
    splits = split_bitext(bitext)

    counts = bitext["intent"].value_counts()
    for part, share in ((splits.train, 0.8), (splits.val, 0.1), (splits.test, 0.1)):
        part_counts = part["intent"].value_counts()
        assert set(part_counts.index) == set(counts.index)
        assert ((part_counts - counts * share).abs() <= 1.5).all()


def test_bitext_split_is_deterministic(bitext: pd.DataFrame) -> None:
    first = split_bitext(bitext)
    second = split_bitext(bitext.copy())
    other_seed = split_bitext(bitext, seed=1)

    for a, b in ((first.train, second.train), (first.val, second.val), (first.test, second.test)):
        assert a.index.tolist() == b.index.tolist()
    assert set(first.test.index) != set(other_seed.test.index)


def test_bitext_split_refuses_rare_labels() -> None:
    frame = pd.DataFrame({"intent": ["a"] * 30 + ["b"] * 3, "instruction": ["x"] * 33})

    with pytest.raises(DataError, match="'b': 3"):
        split_bitext(frame)


def retail_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "InvoiceNo": ["1", "C2", "3", "4", "5", "6"],
            "Quantity": [1, -1, 0, 2, 3, 4],
            "UnitPrice": [1.0, 1.0, 1.0, 0.0, 2.0, 2.0],
            "CustomerID": pd.array([10, 10, 11, 12, None, 13], dtype="Int64"),
            "InvoiceDate": pd.to_datetime(
                [
                    "2011-10-31 23:59:59",
                    "2011-11-01 00:00:00",
                    "2011-01-01 00:00:00",
                    "2011-02-01 00:00:00",
                    "2011-11-01 00:00:00",
                    "2011-12-01 00:00:00",
                ]
            ),
        }
    )


def test_clean_online_retail_with_and_without_customers() -> None:
    frame = retail_frame()

    anonymous_kept = clean_online_retail(frame, require_customer=False)
    customers_only = clean_online_retail(frame, require_customer=True)

    assert anonymous_kept["InvoiceNo"].tolist() == ["1", "5", "6"]
    assert customers_only["InvoiceNo"].tolist() == ["1", "6"]


def test_split_online_retail_at_cutoff() -> None:
    frame = retail_frame()

    train, test = split_online_retail(frame)

    assert train["InvoiceNo"].tolist() == ["1", "3", "4"]
    assert test["InvoiceNo"].tolist() == ["C2", "5", "6"]


def test_split_online_retail_other_cutoff() -> None:
    train, test = split_online_retail(retail_frame(), cutoff="2011-02-01")

    assert (len(train), len(test)) == (1, 5)


def test_split_dominicks_even_and_odd_stores() -> None:
    frame = pd.DataFrame({"store": [2, 5, 8, 9, 2], "week": [1, 1, 1, 1, 2]})

    learn, report = split_dominicks(frame)

    assert learn["store"].tolist() == [2, 8, 2]
    assert report["store"].tolist() == [5, 9]
