"""Merchants' intent adapters for tests: a small message set over the tiny test labels, and adapters trained on
it for merchants whose customers all write about one thing (so each adapter answers unlike the base)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ensemble.datasets import split_bitext
from ensemble.members.intent_adapter import train_adapter
from ensemble.registry import Registry
from ensemble.training import TrainConfig

TEXTS = {
    "track_order": ["where is my parcel", "track my order please", "has my package shipped", "order status?"],
    "cancel_order": ["cancel my order", "i want to cancel", "stop my purchase", "please cancel it now"],
    "get_refund": ["i want my money back", "refund please", "how do i get a refund", "return my payment"],
}
# A few steps of a fast rate: enough for a tiny model's adapter to learn one label.
FAST = TrainConfig(epochs=4, learning_rate=5e-3, head_lr_scale=4.0)


def merchant_frame(label_for_all: str | None = None) -> pd.DataFrame:
    """12 messages per intent; with ``label_for_all`` every message is labelled with it."""
    rows = []
    for label, texts in TEXTS.items():
        for i in range(12):
            rows.append((f"{texts[i % len(texts)]} #{i}", label_for_all or label))
    return pd.DataFrame(rows, columns=["instruction", "intent"])


def write_merchant_csv(path: Path, label_for_all: str) -> Path:
    merchant_frame(label_for_all).to_csv(path, index=False)
    return path


def publish_adapter(registry: Registry, merchant: str, label_for_all: str, base: str | None = None) -> str:
    """Train and publish ``merchant``'s adapter (every message labelled ``label_for_all``); its version id."""
    splits = split_bitext(merchant_frame(label_for_all))
    return train_adapter(registry, merchant, splits, base=base, train_config=FAST).version.id
