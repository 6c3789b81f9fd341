"""End-to-end fine-tuning: a head warm-up on the frozen backbone, then every layer with a one-cycle schedule.

Cross-entropy with label smoothing; the backbone's peak learning rate is lower than the head's. After every epoch
the model is scored on the validation photos and the best state is the one kept.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from ensemble.vision.augment import augment_batch, resize_batch
from ensemble.vision.config import VisionConfig
from ensemble.vision.data import ImageSet
from ensemble.vision.model import VisionModel

__all__ = ["EpochRecord", "FitResult", "fine_tune", "logits_and_embeddings"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpochRecord:
    phase: str  # "warmup" (head only) or "fine_tune" (every layer)
    epoch: int
    train_loss: float
    val_accuracy: float
    seconds: float


@dataclass
class FitResult:
    model: VisionModel
    best_epoch: int
    best_val_accuracy: float
    train_seconds: float
    history: list[EpochRecord] = field(default_factory=list)


@torch.no_grad()
def logits_and_embeddings(
    model: VisionModel, images: ImageSet, config: VisionConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Uncalibrated logits [N, C] and embeddings [N, 1280] of every photo, in eval mode."""
    model.eval()
    logits, embeddings = [], []
    for start in range(0, len(images), 64):
        batch = resize_batch(images.pixels[start : start + 64], config.image_size)  # [b, 3, R, R]
        embedding = model.embed(batch)  # [b, 1280]
        embeddings.append(embedding)
        logits.append(model.classify(embedding))
    return torch.cat(logits), torch.cat(embeddings)


def _accuracy(model: VisionModel, images: ImageSet, config: VisionConfig) -> float:
    logits, _ = logits_and_embeddings(model, images, config)
    return float((logits.argmax(dim=1) == images.fine).float().mean())


def _run_epoch(
    model: VisionModel,
    train: ImageSet,
    config: VisionConfig,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    generator: torch.Generator,
    *,
    frozen_backbone: bool,
) -> float:
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    model.train()
    if frozen_backbone:
        model.backbone.eval()  # batch-norm statistics stay the pretrained ones while only the head learns
    order = torch.randperm(len(train), generator=generator)
    total, seen = 0.0, 0
    for start in range(0, len(train), config.batch_size):
        idx = order[start : start + config.batch_size]
        if idx.numel() < 2:
            continue  # batch norm cannot train on a single photo
        images = augment_batch(
            train.pixels[idx],
            config.image_size,
            scale_min=config.crop_scale_min,
            jitter=config.jitter,
            generator=generator,
        )  # [b, 3, R, R]
        if frozen_backbone:
            with torch.no_grad():
                embedding = model.embed(images)  # [b, 1280]
            logits = model.classify(embedding)
        else:
            logits = model.classify(model.embed(images))  # [b, C]
        loss = loss_fn(logits, train.fine[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += float(loss.detach()) * idx.numel()
        seen += idx.numel()
    return total / max(seen, 1)


def fine_tune(model: VisionModel, train: ImageSet, val: ImageSet, config: VisionConfig) -> FitResult:
    """Train ``model`` on ``train`` and return it at its best validation epoch (the model is changed in place)."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    started = time.perf_counter()
    history: list[EpochRecord] = []
    best_state = copy.deepcopy(model.state_dict())
    best_accuracy, best_epoch = -1.0, 0

    def finish_epoch(phase: str, epoch: int, loss: float, epoch_started: float) -> None:
        nonlocal best_state, best_accuracy, best_epoch
        accuracy = _accuracy(model, val, config)
        record = EpochRecord(
            phase, epoch, round(loss, 4), round(accuracy, 4), round(time.perf_counter() - epoch_started, 1)
        )
        history.append(record)
        logger.info("%s epoch %s: loss %.4f, val accuracy %.4f (%.1f s)", phase, epoch, loss, accuracy, record.seconds)
        if accuracy > best_accuracy:
            best_accuracy, best_epoch = accuracy, len(history)
            best_state = copy.deepcopy(model.state_dict())

    head_params = list(model.head.parameters())
    if config.warmup_epochs:
        for p in model.backbone_parameters():
            p.requires_grad_(False)
        warmup = torch.optim.AdamW(head_params, lr=config.head_lr, weight_decay=config.weight_decay)
        for epoch in range(1, config.warmup_epochs + 1):
            epoch_started = time.perf_counter()
            loss = _run_epoch(model, train, config, warmup, None, generator, frozen_backbone=True)
            finish_epoch("warmup", epoch, loss, epoch_started)
        for p in model.backbone_parameters():
            p.requires_grad_(True)
    if config.epochs:
        optimizer = torch.optim.AdamW(
            [
                {"params": model.backbone_parameters(), "lr": config.backbone_lr},
                {"params": head_params, "lr": config.head_lr},
            ],
            weight_decay=config.weight_decay,
        )
        steps = config.epochs * sum(
            1 for s in range(0, len(train), config.batch_size) if min(config.batch_size, len(train) - s) >= 2
        )
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[config.backbone_lr, config.head_lr], total_steps=max(steps, 1), pct_start=0.2
        )
        for epoch in range(1, config.epochs + 1):
            epoch_started = time.perf_counter()
            loss = _run_epoch(model, train, config, optimizer, scheduler, generator, frozen_backbone=False)
            finish_epoch("fine_tune", epoch, loss, epoch_started)
    model.load_state_dict(best_state)
    model.eval()
    seconds = time.perf_counter() - started
    logger.info(
        "fine-tuning done in %.1f s; best validation accuracy %.4f at epoch %s", seconds, best_accuracy, best_epoch
    )
    return FitResult(model, best_epoch, best_accuracy, seconds, history)
