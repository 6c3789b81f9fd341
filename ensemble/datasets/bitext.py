"""Bitext customer support: typed loading and the fixed stratified 80/10/10 split (seed 0)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from ensemble.datasets.checked_csv import ColumnKind, read_csv_checked
from ensemble.datasets.locations import bundled_data_dir
from ensemble.errors import DataError

__all__ = ["BITEXT_COLUMNS", "DataSplits", "default_bitext_path", "load_bitext", "split_bitext"]

logger = logging.getLogger(__name__)

BITEXT_COLUMNS: dict[str, ColumnKind] = {
    "instruction": ColumnKind.STR,
    "intent": ColumnKind.STR,
    "category": ColumnKind.STR,
    "response": ColumnKind.STR,
    "entity_type": ColumnKind.STR,
    "entity_value": ColumnKind.STR,
    "start_offset": ColumnKind.NULLABLE_INT,
    "end_offset": ColumnKind.NULLABLE_INT,
}


@dataclass(frozen=True)
class DataSplits:
    """Disjoint train / validation / test rows of one data set; each keeps the original row index."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame

    def sizes(self) -> tuple[int, int, int]:
        """Row counts as ``(train, val, test)``."""
        return len(self.train), len(self.val), len(self.test)


def default_bitext_path() -> Path:
    """The bundled, xz-compressed copy of the Bitext CSV."""
    return bundled_data_dir() / "bitext-customer-support" / "bitext_customer_support.csv.xz"


def load_bitext(path: Path | None = None) -> pd.DataFrame:
    """All Bitext rows: instruction, intent, category, response, entity_type, entity_value as text (entity
    fields are empty when the utterance has no entity), start_offset and end_offset as nullable Int64, other
    columns (context, role, tags) as text. ``path`` defaults to the bundled copy."""
    source = default_bitext_path() if path is None else Path(path)
    frame = read_csv_checked(source, BITEXT_COLUMNS, what="Bitext CSV")
    logger.info("loaded %s Bitext rows from %s", len(frame), source)
    return frame


def split_bitext(frame: pd.DataFrame, seed: int = 0, *, label_col: str = "intent") -> DataSplits:
    """Stratified 80/10/10 split by ``label_col``: 20 % is held out, then halved into validation and test.

    Deterministic for a given ``seed`` (the fixed rule is seed 0). Raises :class:`DataError` when a label has
    fewer than 10 rows, too few to put at least one row in each of validation and test.
    """
    if label_col not in frame.columns:
        raise DataError(
            f"cannot split: no label column {label_col!r}; columns are {list(frame.columns)!r}.",
            column=label_col,
        )
    counts = frame[label_col].value_counts()
    rare = counts[counts < 10]
    if not rare.empty:
        rare_counts = {str(label): int(count) for label, count in rare.items()}
        raise DataError(
            f"cannot stratify by {label_col!r}: label(s) {rare_counts!r} have fewer than 10 rows, so they "
            "cannot appear in each of train, validation and test; add rows or merge those labels.",
            column=label_col,
        )
    train, held_out = train_test_split(frame, test_size=0.2, stratify=frame[label_col], random_state=seed)
    val, test = train_test_split(held_out, test_size=0.5, stratify=held_out[label_col], random_state=seed)
    splits = DataSplits(train=train, val=val, test=test)
    logger.info("split %s rows by %s into train/val/test %s", len(frame), label_col, splits.sizes())
    return splits
