"""Training, calibration and evaluation of the intent member.

Two ways to train:
- :func:`train_head` freezes the encoder, embeds every utterance once and fits the head on the cached
  embeddings (seconds on a CPU; also the warm start of the head before fine-tuning);
- :func:`fine_tune` back-propagates through whatever is trainable: the encoder's transformer layers and the
  head in central training (word embeddings frozen by :func:`freeze_embeddings`, messages rewritten by a
  :class:`~ensemble.augmentation.StyleAugmenter`, label smoothing, warm-up then linear decay), or the LoRA
  adapters and the head after ``apply_lora`` in a merchant's federated round (constant rate, no augmentation).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from ensemble.augmentation import StyleAugmenter
from ensemble.errors import ModelError
from ensemble.members.intent import IntentModel, encode, predict_proba
from ensemble.metrics import accuracy, expected_calibration_error, macro_f1

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. The defaults are a merchant's LoRA round; central training uses
    :data:`CENTRAL_FINE_TUNE`."""

    epochs: int = 1
    learning_rate: float = 5e-4
    batch_size: int = 32
    weight_decay: float = 0.01
    seed: int = 0
    head_epochs: int = 300
    # The head's learning rate is learning_rate * head_lr_scale (a fresh layer moves faster than pretrained ones).
    head_lr_scale: float = 1.0
    label_smoothing: float = 0.0
    # "linear": warm up over warmup_fraction of the steps, then decay linearly to zero; "constant": no schedule.
    schedule: Literal["constant", "linear"] = "constant"
    warmup_fraction: float = 0.1


# Central fine-tuning of the encoder's transformer layers and the head (word embeddings frozen) on
# style-augmented messages; benchmarks/bench_intent_members.py --compare measures it against the frozen encoder.
CENTRAL_FINE_TUNE = TrainConfig(
    epochs=3, learning_rate=5e-5, head_lr_scale=10.0, label_smoothing=0.1, schedule="linear", warmup_fraction=0.1
)


@dataclass(frozen=True)
class TrainReport:
    examples: int
    steps: int
    final_loss: float
    seconds: float


def label_ids(model: IntentModel, labels: Sequence[str]) -> torch.Tensor:
    """Map label names to class indices, refusing labels the model does not know."""
    index = {label: i for i, label in enumerate(model.labels)}
    unknown = sorted({label for label in labels if label not in index})
    if unknown:
        raise ModelError(
            f"labels {unknown[:5]} are not among the model's {len(model.labels)} intents; "
            "train a model on data that includes them"
        )
    return torch.tensor([index[label] for label in labels], dtype=torch.long)


def _check_examples(texts: Sequence[str], labels: Sequence[str]) -> None:
    if len(texts) != len(labels):
        raise ModelError(f"got {len(texts)} texts but {len(labels)} labels; they must pair up")
    if not texts:
        raise ModelError("no training examples; give a non-empty data set")


def train_head(model: IntentModel, texts: Sequence[str], labels: Sequence[str], cfg: TrainConfig) -> TrainReport:
    """Fit the head on frozen-encoder embeddings (full-batch Adam over cached features)."""
    _check_examples(texts, labels)
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    features = encode(model, texts, batch_size=64)  # [N, H]
    targets = label_ids(model, labels)  # [N]
    optimiser = torch.optim.AdamW(model.head.parameters(), lr=1e-2, weight_decay=cfg.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    loss = torch.zeros(())
    for _ in range(cfg.head_epochs):
        optimiser.zero_grad()
        loss = loss_fn(model.classify(features), targets)
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
    model.eval()
    return TrainReport(len(texts), cfg.head_epochs, float(loss.detach()), time.perf_counter() - start)


def freeze_embeddings(model: IntentModel) -> int:
    """Freeze the encoder's embedding layer (word, position, type embeddings and their norm); returns how many
    parameters were frozen. Words that never occur in the training data keep their pretrained vectors, so
    fine-tuning cannot pull the rest of the vocabulary out of place."""
    frozen = 0
    for name, param in model.encoder.named_parameters():
        if name.startswith("embeddings.") or ".embeddings." in name:
            param.requires_grad_(False)
            frozen += param.numel()
    return frozen


def _lr_factor(cfg: TrainConfig, step: int, total: int) -> float:
    if cfg.schedule == "constant":
        return 1.0
    warmup = max(1, round(cfg.warmup_fraction * total))
    return min(1.0, (step + 1) / warmup) * max(0.0, (total - step) / total)


def fine_tune(
    model: IntentModel,
    texts: Sequence[str],
    labels: Sequence[str],
    cfg: TrainConfig,
    augmenter: StyleAugmenter | None = None,
    penalty: Callable[[], torch.Tensor] | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> TrainReport:
    """Mini-batch training of every parameter that requires a gradient; with ``augmenter``, each epoch
    rewrites a fresh random share of the batch's messages (seeded by ``cfg.seed``). ``penalty`` (e.g. FedProx's
    proximal term) is added to every batch's loss; the report's loss is the task loss alone. ``on_step`` is
    told ``(steps done, total steps)`` after every batch (a progress bar, say)."""
    _check_examples(texts, labels)
    head_params = [p for p in model.head.parameters() if p.requires_grad]
    head_ids = {id(p) for p in head_params}
    body_params = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    if not head_params and not body_params:
        raise ModelError("nothing to train: every parameter is frozen")
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)  # dropout
    generator = torch.Generator().manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    targets = label_ids(model, labels)
    groups = [{"params": body_params, "lr": cfg.learning_rate}] if body_params else []
    if head_params:
        groups.append({"params": head_params, "lr": cfg.learning_rate * cfg.head_lr_scale})
    optimiser = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    total = cfg.epochs * math.ceil(len(texts) / cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: _lr_factor(cfg, step, total))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    model.train()
    steps, loss_value = 0, math.nan
    for _ in range(cfg.epochs):
        order = torch.randperm(len(texts), generator=generator)
        for i in range(0, len(texts), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            batch_texts = [texts[int(j)] for j in idx]
            if augmenter is not None:
                batch_texts = augmenter.batch(batch_texts, rng)
            optimiser.zero_grad()
            loss = loss_fn(model(**model.tokenize(batch_texts)), targets[idx])
            objective = loss if penalty is None else loss + penalty()
            objective.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            scheduler.step()
            steps += 1
            loss_value = float(loss.detach())
            if on_step is not None:
                on_step(steps, total)
    model.eval()
    return TrainReport(len(texts), steps, loss_value, time.perf_counter() - start)


def fit_temperature(model: IntentModel, texts: Sequence[str], labels: Sequence[str]) -> float:
    """Temperature scaling on held-out data: the T > 0 that minimises validation NLL of logits / T."""
    _check_examples(texts, labels)
    model.temperature.fill_(1.0)
    with torch.no_grad():
        model.eval()
        logits = torch.cat(
            [model(**model.tokenize(texts[i : i + 64])) for i in range(0, len(texts), 64)]
        )  # [N, C], uncalibrated
    targets = label_ids(model, labels)
    log_t = torch.zeros((), requires_grad=True)
    optimiser = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = nn.functional.cross_entropy(logits / log_t.exp(), targets)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimiser.step(closure)  # type: ignore[no-untyped-call]
    temperature = float(log_t.detach().exp())
    model.temperature.fill_(temperature)
    return temperature


def evaluate(model: IntentModel, texts: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """Accuracy, macro-F1 and ECE; labels the model does not know count as errors."""
    _check_examples(texts, labels)
    probs = predict_proba(model, texts).numpy()  # [N, C]
    predicted = [model.labels[i] for i in probs.argmax(axis=1)]
    correct = np.array([p == t for p, t in zip(predicted, labels, strict=True)])
    return {
        "accuracy": accuracy(labels, predicted),
        "macro_f1": macro_f1(labels, predicted),
        "ece": expected_calibration_error(probs.max(axis=1), correct),
        "examples": float(len(texts)),
    }
