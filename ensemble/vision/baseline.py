"""The reference to beat: frozen ImageNet EfficientNet-Lite0 features and a logistic-regression classifier."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from ensemble.vision.config import VisionConfig
from ensemble.vision.data import Catalogue, ImageSet
from ensemble.vision.evaluation import ClassScores, classification_report
from ensemble.vision.model import VisionModel
from ensemble.vision.training import logits_and_embeddings

__all__ = ["linear_probe"]

logger = logging.getLogger(__name__)

_C_GRID = (0.1, 1.0, 10.0)


def linear_probe(
    train: ImageSet, val: ImageSet, test: ImageSet, catalogue: Catalogue, config: VisionConfig
) -> dict[str, Any]:
    """Fit logistic regression on frozen pretrained embeddings of ``train`` (C chosen on ``val``), report on
    ``test`` with the same metrics as the fine-tuned member (no temperature, no out-of-catalogue flag)."""
    started = time.perf_counter()
    frozen = VisionModel.pretrained(catalogue.num_classes, image_size=config.image_size, dropout=0.0)
    features = {}
    for name, images in (("train", train), ("val", val), ("test", test)):
        _, embedding = logits_and_embeddings(frozen, images, config)
        features[name] = embedding.numpy()
    best: tuple[float, LogisticRegression | None, float] = (-1.0, None, 0.0)
    for c in _C_GRID:
        classifier = LogisticRegression(C=c, max_iter=2000)
        classifier.fit(features["train"], train.fine.numpy())
        accuracy = float((classifier.predict(features["val"]) == val.fine.numpy()).mean())
        if accuracy > best[0]:
            best = (accuracy, classifier, c)
    _, classifier, c = best
    if classifier is None:  # unreachable: the grid is not empty
        raise RuntimeError("no linear probe was fitted")
    probabilities = np.zeros((len(test), catalogue.num_classes))
    probabilities[:, classifier.classes_] = classifier.predict_proba(features["test"])
    report = classification_report(
        ClassScores(probabilities, test.fine.numpy(), test.coarse.numpy()), catalogue, ooc_threshold=0.0
    )
    report.pop("ooc_flagged_share")
    report.pop("accuracy_fine_not_flagged")
    report["C"] = c
    report["val_accuracy_fine"] = round(best[0], 4)
    report["seconds"] = round(time.perf_counter() - started, 1)
    logger.info("linear probe: test accuracy %.4f (C=%s)", report["accuracy_fine"], c)
    return report
