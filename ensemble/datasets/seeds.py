"""Hand-written seed phrasings of the 27 Bitext intents, added to the training split only.

Bitext's utterances are machine-expanded from a few seeds and share a narrow vocabulary; the seed phrasings
(``bundled/intent-seeds``, 20 per intent, see its PROVENANCE.md) add the words real customers use ("parcel",
"charged twice", "mailing list", "a real person"). They never enter validation or test, so every figure
measured on Bitext's fixed splits stays comparable.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ensemble.datasets.bitext import DataSplits, load_bitext, split_bitext
from ensemble.datasets.checked_csv import ColumnKind, read_csv_checked
from ensemble.datasets.locations import bundled_data_dir
from ensemble.errors import DataError

__all__ = ["add_training_rows", "bundled_intent_splits", "default_seeds_path", "load_intent_seeds"]

logger = logging.getLogger(__name__)

SEED_COLUMNS = {"text": ColumnKind.STR, "intent": ColumnKind.STR}


def default_seeds_path() -> Path:
    return bundled_data_dir() / "intent-seeds" / "intent_seeds.csv"


def load_intent_seeds(path: Path | None = None) -> pd.DataFrame:
    """The seed phrasings as a frame with columns ``text`` and ``intent``."""
    source = default_seeds_path() if path is None else Path(path)
    frame = read_csv_checked(source, SEED_COLUMNS, what="intent seed phrasings CSV")
    return frame[["text", "intent"]]


def add_training_rows(
    splits: DataSplits,
    rows: pd.DataFrame,
    *,
    text_col: str = "instruction",
    label_col: str = "intent",
) -> DataSplits:
    """``splits`` with ``rows`` (columns ``text``, ``intent``) appended to the training split only.

    Refuses rows whose intent the training split does not have: they would add a class that validation and
    test never see."""
    known = set(splits.train[label_col])
    unknown = sorted(set(rows["intent"]) - known)
    if unknown:
        raise DataError(
            f"extra training rows name intents {unknown[:5]} that the training split lacks; "
            "use rows labelled with the data set's own intents",
            column="intent",
        )
    extra = rows.rename(columns={"text": text_col, "intent": label_col})[[text_col, label_col]]
    train = pd.concat([splits.train, extra], ignore_index=True)
    return DataSplits(train=train, val=splits.val, test=splits.test)


def bundled_intent_splits() -> DataSplits:
    """Bitext's fixed splits with the seed phrasings added to training: what the default intent member,
    its ensemble and the demo are trained on."""
    bitext, seeds = split_bitext(load_bitext()), load_intent_seeds()
    logger.info("training split: %d Bitext rows + %d seed phrasings", len(bitext.train), len(seeds))
    return add_training_rows(bitext, seeds)
