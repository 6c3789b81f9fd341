"""One merchant's part of a federated run: its data partition, the base model with LoRA, local train and eval.

Every node and the server build the same model: the registry version named by ``base-version`` plus LoRA
adapters of the configured rank. Only the adapter tensors (LoRA matrices and the head) are exchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ensemble.augmentation import AugmentConfig, StyleAugmenter
from ensemble.datasets import load_bitext, split_bitext
from ensemble.members.intent import MEMBER, IntentModel
from ensemble.members.intent_artifact import load_intent
from ensemble.members.lora import adapter_state, apply_lora, load_adapter_state
from ensemble.registry import Registry, fingerprint_frame
from ensemble.training import TrainConfig, TrainReport, evaluate, fine_tune
from federation.config import FederationConfig
from federation.errors import PartitionError

__all__ = [
    "NodeData",
    "build_model",
    "initial_adapters",
    "load_node_data",
    "load_splits",
    "local_evaluate",
    "local_train",
    "node_seed",
    "partition_indices",
    "resolve_base_version",
]

logger = logging.getLogger(__name__)

TEXT_COLUMN = "instruction"
LABEL_COLUMN = "intent"


@dataclass(frozen=True)
class NodeData:
    """A node's private share: training rows and its share of the validation split."""

    train_texts: list[str]
    train_labels: list[str]
    val_texts: list[str]
    val_labels: list[str]
    fingerprint: str  # of the node's training rows


def partition_indices(labels: Sequence[str], num_partitions: int, partition_id: int, seed: int) -> np.ndarray:
    """Row positions of one partition: disjoint across partitions, together covering every row.

    Rows are shuffled with ``seed``, grouped by label (stably, so the shuffle survives within a label) and
    dealt round-robin, so each partition gets about 1/num_partitions of every label. The positions come back
    in shuffled order, so a prefix of them is a random sample of the partition.
    """
    if num_partitions < 1:
        raise PartitionError(f"num-partitions must be at least 1, got {num_partitions}")
    if not 0 <= partition_id < num_partitions:
        raise PartitionError(
            f"partition-id {partition_id} is outside [0, {num_partitions - 1}]; "
            "give each node a distinct id below num-partitions"
        )
    rank = np.random.default_rng(seed).permutation(len(labels))  # rank[i]: position of row i in the shuffle
    shuffled = np.argsort(rank)  # rows in shuffled order
    label_array = np.asarray(labels, dtype=object)[shuffled]
    by_label = shuffled[np.argsort(label_array, kind="stable")]
    mine = by_label[partition_id::num_partitions]
    return mine[np.argsort(rank[mine], kind="stable")]


@functools.lru_cache(maxsize=2)
def load_splits(data_path: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Bitext train and validation splits (fixed rule: stratified, seed 0); ``""`` is the bundled copy."""
    splits = split_bitext(load_bitext(Path(data_path) if data_path else None))
    return splits.train, splits.val


def load_node_data(config: FederationConfig, partition_id: int, num_partitions: int) -> NodeData:
    """This node's partition of the train split (capped by ``max-train-examples``) and of validation."""
    train, val = load_splits(config.data_path)
    train_rows = partition_indices(train[LABEL_COLUMN].tolist(), num_partitions, partition_id, config.seed)
    if config.max_train_examples:
        train_rows = train_rows[: config.max_train_examples]
    val_rows = partition_indices(val[LABEL_COLUMN].tolist(), num_partitions, partition_id, config.seed)
    if len(train_rows) == 0:
        raise PartitionError(
            f"partition {partition_id} of {num_partitions} has no training rows out of {len(train)}; "
            "use fewer partitions or more data"
        )
    mine = train.iloc[train_rows][[TEXT_COLUMN, LABEL_COLUMN]]
    theirs_val = val.iloc[val_rows]
    return NodeData(
        train_texts=mine[TEXT_COLUMN].tolist(),
        train_labels=mine[LABEL_COLUMN].tolist(),
        val_texts=theirs_val[TEXT_COLUMN].tolist(),
        val_labels=theirs_val[LABEL_COLUMN].tolist(),
        fingerprint=fingerprint_frame(mine),
    )


def resolve_base_version(config: FederationConfig) -> str:
    """The full id (``"intent:v0003"``) of the base version the run starts from."""
    version = config.base_version or None
    return Registry(config.registry_dir).resolve(MEMBER, version).id


def build_model(config: FederationConfig, base_id: str) -> IntentModel:
    """A fresh copy of the base version with LoRA adapters of the configured rank (seeded initialisation)."""
    model, _ = load_intent(Registry(config.registry_dir), base_id)
    model.config = dataclasses.replace(model.config, lora_r=config.lora_r, lora_alpha=config.lora_alpha)
    torch.manual_seed(config.seed)
    return apply_lora(model)


@functools.lru_cache(maxsize=2)
def _node_model(config: FederationConfig, base_id: str) -> IntentModel:
    # Reused across messages of one run: only the adapters and the head change, and every train or evaluate
    # call loads a complete adapter state first, so nothing of a previous round leaks into the next.
    return build_model(config, base_id)


def initial_adapters(config: FederationConfig, base_id: str) -> dict[str, torch.Tensor]:
    """The adapter tensors every node starts from: made once by the server with the run's seed."""
    return adapter_state(build_model(config, base_id))


def node_seed(seed: int, server_round: int, partition_id: int) -> int:
    """The seed of one node's local training in one round (shuffling and dropout)."""
    return seed + 1_000 * server_round + partition_id


def local_train(
    config: FederationConfig,
    base_id: str,
    adapters: Mapping[str, torch.Tensor],
    data: NodeData,
    *,
    server_round: int,
    partition_id: int,
) -> tuple[dict[str, torch.Tensor], TrainReport]:
    """Start from ``adapters``, fine-tune on the node's rows; return the new adapters and a report."""
    model = _node_model(config, base_id)
    load_adapter_state(model, adapters)
    seed = node_seed(config.seed, server_round, partition_id)
    torch.manual_seed(seed)
    # The same style augmentation as central training, so that local rounds on a merchant's own wording do
    # not undo what the base version learnt about real customers' messages.
    augmenter = StyleAugmenter(AugmentConfig(rate=config.augment_rate)) if config.augment_rate > 0 else None
    report = fine_tune(
        model,
        data.train_texts,
        data.train_labels,
        TrainConfig(
            epochs=config.local_epochs,
            learning_rate=config.learning_rate,
            batch_size=config.batch_size,
            seed=seed,
        ),
        augmenter,
    )
    logger.info(
        "partition %s round %s: %s examples, %s steps, loss %.4f, %.1f s",
        partition_id,
        server_round,
        report.examples,
        report.steps,
        report.final_loss,
        report.seconds,
    )
    return adapter_state(model), report


def local_evaluate(
    config: FederationConfig, base_id: str, adapters: Mapping[str, torch.Tensor], data: NodeData
) -> dict[str, float]:
    """Accuracy, macro-F1, ECE and example count of ``adapters`` on the node's validation share."""
    model = _node_model(config, base_id)
    load_adapter_state(model, adapters)
    return evaluate(model, data.val_texts, data.val_labels)
