"""Fit the whole vision member on a photo table: fine-tuning, temperature, out-of-catalogue threshold, photo index
and the text projection, every choice made on the validation split."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ensemble.vision.calibration import fit_ooc_threshold, fit_temperature
from ensemble.vision.config import VisionConfig
from ensemble.vision.data import GroceryData, ImageSet, decode_photos
from ensemble.vision.model import VisionModel
from ensemble.vision.predictor import VisionPredictor
from ensemble.vision.retrieval import (
    ImageIndex,
    embed_texts,
    fit_text_projection,
    normalise_rows,
    recall_at_k,
)
from ensemble.vision.training import FitResult, fine_tune, logits_and_embeddings

__all__ = ["TRAIN_SPLIT", "VAL_SPLIT", "VisionFit", "fit_vision"]

logger = logging.getLogger(__name__)

TRAIN_SPLIT = "train"
VAL_SPLIT = "val"


@dataclass
class VisionFit:
    """A fitted member with what was learned about it on the validation split."""

    predictor: VisionPredictor
    fit: FitResult
    temperature: float
    val_metrics: dict[str, Any]
    train_paths: list[str] = field(default_factory=list)


def fit_vision(
    data: GroceryData,
    config: VisionConfig,
    *,
    weights: Path | None = None,
    train: ImageSet | None = None,
    val: ImageSet | None = None,
) -> VisionFit:
    """Train on ``train``, choose epoch, temperature, threshold and projection on ``val``.

    Decoded splits may be passed in (a benchmark decodes them once for several models).
    """
    torch.set_num_threads(config.threads)
    train = train if train is not None else decode_photos(data, TRAIN_SPLIT, config.cache_size)
    val = val if val is not None else decode_photos(data, VAL_SPLIT, config.cache_size)
    catalogue = data.catalogue
    model = VisionModel.pretrained(
        catalogue.num_classes, image_size=config.image_size, dropout=config.dropout, weights=weights
    )
    result = fine_tune(model, train, val, config)

    val_logits, val_embedding = logits_and_embeddings(model, val, config)
    temperature = fit_temperature(val_logits, val.fine)
    model.temperature.fill_(temperature)
    val_probs = torch.softmax(val_logits / temperature, dim=1).numpy()
    correct = val_probs.argmax(axis=1) == val.fine.numpy()
    threshold = fit_ooc_threshold(val_probs.max(axis=1), correct, config.ooc_quantile)

    _, train_embedding = logits_and_embeddings(model, train, config)
    index = ImageIndex(normalise_rows(train_embedding.numpy()), train.fine.numpy().astype(np.int64))
    class_text = embed_texts(catalogue.texts())  # [C, 384]
    val_unit = normalise_rows(val_embedding.numpy())
    best = None
    for alpha in config.ridge_alphas:
        projection = fit_text_projection(class_text[index.labels], index.embeddings, alpha)
        recall = recall_at_k(val_unit @ projection(class_text).T, val.fine.numpy(), 5)
        logger.debug("text projection alpha %s: validation photo->text recall@5 %.4f", alpha, recall)
        if best is None or recall > best[0]:
            best = (recall, projection)
    if best is None:
        raise ValueError(f"ridge_alphas is empty in {config}; give at least one value")
    projection = best[1]
    predictor = VisionPredictor(
        model=model,
        catalogue=catalogue,
        config=config,
        ooc_threshold=threshold,
        index=index,
        projection=projection,
        class_text=projection(class_text),
    )
    val_metrics = predictor.evaluate(val)
    val_metrics.update(
        {
            "temperature": round(temperature, 4),
            "ooc_threshold": round(threshold, 4),
            "ridge_alpha": projection.alpha,
            "best_epoch": result.best_epoch,
            "train_seconds": round(result.train_seconds, 1),
        }
    )
    logger.info(
        "vision member: validation accuracy %.4f fine / %.4f coarse, T=%.3f, threshold %.3f",
        val_metrics["accuracy_fine"],
        val_metrics["accuracy_coarse"],
        temperature,
        threshold,
    )
    paths = [str(p) for p in data.split(TRAIN_SPLIT)["path"]]
    return VisionFit(predictor, result, temperature, val_metrics, paths)
