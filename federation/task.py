"""One merchant's part of a federated run: its data partition, the base model with LoRA, local train and eval.

Every node and the server build the same model: the registry version named by ``base-version`` plus LoRA
adapters of the configured rank. Only the adapter tensors (LoRA matrices and the head) are exchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.nn import Linear

from ensemble.augmentation import AugmentConfig, StyleAugmenter
from ensemble.datasets import load_bitext, split_bitext
from ensemble.members.intent import MEMBER, IntentModel
from ensemble.members.intent_adapter import adapter_tensors
from ensemble.members.intent_artifact import load_intent
from ensemble.members.lora import adapter_state, apply_lora, load_adapter_state, merge_lora
from ensemble.registry import Registry, fingerprint_frame
from ensemble.training import TrainConfig, TrainReport, evaluate, fine_tune, fit_temperature
from federation.config import FederationConfig, StrategyName
from federation.errors import FederationConfigError, PartitionError
from federation.partitions import PartitionSpec, partition_rows

__all__ = [
    "MERCHANT_KEY",
    "NodeData",
    "base_state",
    "build_model",
    "initial_adapters",
    "load_node_data",
    "load_splits",
    "local_evaluate",
    "local_train",
    "node_seed",
    "partition_spec",
    "personal_adapter",
    "proximal_term",
    "resolve_base_version",
]

logger = logging.getLogger(__name__)

TEXT_COLUMN = "instruction"
LABEL_COLUMN = "intent"
# The node config key naming the merchant a SuperNode trains for (its personal adapter is published under it).
MERCHANT_KEY = "merchant"
# The "round" number of a node's personal training (its seed), after any server round a run can have.
PERSONAL_ROUND = 1_000_000


@dataclass(frozen=True)
class NodeData:
    """A node's private share: training rows and its share of the validation split."""

    train_texts: list[str]
    train_labels: list[str]
    val_texts: list[str]
    val_labels: list[str]
    fingerprint: str  # of the node's training rows


@functools.lru_cache(maxsize=2)
def load_splits(data_path: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Bitext train and validation splits (fixed rule: stratified, seed 0); ``""`` is the bundled copy."""
    splits = split_bitext(load_bitext(Path(data_path) if data_path else None))
    return splits.train, splits.val


def partition_spec(config: FederationConfig, num_partitions: int) -> PartitionSpec:
    """The partitioner settings of a run (the same on every node, so the partitions are disjoint)."""
    return PartitionSpec(
        scheme=config.partitioning,
        num_partitions=num_partitions,
        seed=config.seed,
        label_column=LABEL_COLUMN,
        alpha=config.dirichlet_alpha,
        natural_id_column=config.natural_id_column,
    )


def load_node_data(
    config: FederationConfig, partition_id: int, num_partitions: int, *, own_data: bool = False
) -> NodeData:
    """This node's training rows (capped by ``max-train-examples``) and validation rows.

    With ``own_data`` the node's ``data-path`` is its private file and all of it is the node's share (split
    into train and validation by the fixed rule, never partitioned further); otherwise the node takes its
    partition of the shared data, under the run's partitioning, of both splits.
    """
    train, val = load_splits(config.data_path)
    if own_data:
        rng = np.random.default_rng(config.seed)
        train_rows = rng.permutation(len(train))
        val_rows = np.arange(len(val))
    else:
        spec = partition_spec(config, num_partitions)
        train_rows = partition_rows(train, spec, partition_id)
        val_rows = partition_rows(val, spec, partition_id)
    if config.max_train_examples:
        train_rows = train_rows[: config.max_train_examples]
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
    model.config = dataclasses.replace(
        model.config,
        lora_r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_targets=config.lora_target_modules(),
    )
    torch.manual_seed(config.seed)
    try:
        return apply_lora(model)
    except ValueError as err:  # peft: a target module the encoder does not have
        linear = sorted({name.rsplit(".", 1)[-1] for name, m in model.encoder.named_modules() if isinstance(m, Linear)})
        raise FederationConfigError(
            f"run config 'lora-targets' = {config.lora_targets!r} names a module the base encoder lacks ({err}); "
            f"its linear modules are {linear}"
        ) from err


@functools.lru_cache(maxsize=2)
def _node_model(config: FederationConfig, base_id: str) -> IntentModel:
    # Reused across messages of one run: only the adapters and the head change, and every train or evaluate
    # call loads a complete adapter state first, so nothing of a previous round leaks into the next.
    return build_model(config, base_id)


def base_state(config: FederationConfig, base_id: str) -> dict[str, torch.Tensor]:
    """Every tensor of the base version (what a full fine-tune would exchange instead of the adapters)."""
    model, _ = load_intent(Registry(config.registry_dir), base_id)
    return dict(model.state_dict())


def initial_adapters(config: FederationConfig, base_id: str) -> dict[str, torch.Tensor]:
    """The adapter tensors every node starts from: made once by the server with the run's seed."""
    return adapter_state(build_model(config, base_id))


def node_seed(seed: int, server_round: int, partition_id: int) -> int:
    """The seed of one node's local training in one round (shuffling and dropout)."""
    return seed + 1_000 * server_round + partition_id


def proximal_term(model: IntentModel, mu: float) -> Callable[[], torch.Tensor]:
    """FedProx's proximal term (Li et al., 2020): ``(mu / 2) * sum ||w - w_global||²`` over the trainable tensors.

    Call it right after the global adapters are loaded: it anchors every trainable tensor (the LoRA matrices
    and the head, exactly the tensors that travel) at its current value.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    anchors = [p.detach().clone() for p in params]

    def term() -> torch.Tensor:
        squared = torch.stack([((p - anchor) ** 2).sum() for p, anchor in zip(params, anchors, strict=True)])
        return (mu / 2.0) * squared.sum()

    return term


def _node_training(config: FederationConfig, epochs: int, seed: int) -> TrainConfig:
    """A node's optimiser settings: the run's rate and batch size, ``epochs`` and ``seed``."""
    return TrainConfig(epochs=epochs, learning_rate=config.learning_rate, batch_size=config.batch_size, seed=seed)


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
    fedprox = config.strategy == StrategyName.FEDPROX and config.proximal_mu > 0
    penalty = proximal_term(model, config.proximal_mu) if fedprox else None
    report = fine_tune(
        model,
        data.train_texts,
        data.train_labels,
        _node_training(config, config.local_epochs, seed),
        augmenter,
        penalty,
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


def personal_adapter(
    config: FederationConfig,
    base_id: str,
    aggregate: Mapping[str, torch.Tensor],
    data: NodeData,
    *,
    partition_id: int,
) -> tuple[dict[str, torch.Tensor], dict[str, float], TrainReport]:
    """This node's own adapter over the run's published aggregate.

    The aggregate is merged into the base as the server merged it when publishing (the same encoder, the same
    head), then a fresh LoRA of the run's rank and that head are trained on the node's rows for
    ``personalise-epochs`` and the temperature is fitted on its validation share. Returns the adapter's tensors
    (:func:`~ensemble.members.intent_adapter.adapter_tensors`), its and the aggregate's metrics on the validation
    share, and the training report."""
    model = build_model(config, base_id)
    load_adapter_state(model, aggregate)
    model = merge_lora(model)
    model.eval()
    shared = evaluate(model, data.val_texts, data.val_labels)
    seed = node_seed(config.seed, PERSONAL_ROUND, partition_id)
    torch.manual_seed(seed)
    apply_lora(model)
    report = fine_tune(
        model,
        data.train_texts,
        data.train_labels,
        _node_training(config, config.personalise_epochs, seed),
    )
    temperature = fit_temperature(model, data.val_texts, data.val_labels)
    own = evaluate(model, data.val_texts, data.val_labels)
    metrics = {
        "accuracy": own["accuracy"],
        "macro-f1": own["macro_f1"],
        "ece": own["ece"],
        "aggregate-accuracy": shared["accuracy"],
        "aggregate-macro-f1": shared["macro_f1"],
        "temperature": temperature,
        "num-examples": float(report.examples),
        "val-examples": own["examples"],
    }
    logger.info(
        "partition %s personal adapter: accuracy %.3f (aggregate %.3f) on %s validation rows",
        partition_id,
        own["accuracy"],
        shared["accuracy"],
        int(own["examples"]),
    )
    return adapter_tensors(model), metrics, report
