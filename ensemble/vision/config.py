"""The vision member's one typed configuration: resolution, the two training phases, calibration, retrieval."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from ensemble.errors import ModelError

__all__ = ["VisionConfig"]


@dataclass(frozen=True)
class VisionConfig:
    """How the vision member is trained and used.

    Photos are decoded once to ``cache_size`` squares (uint8) and fed to the network at ``image_size``. Training is a
    head warm-up on the frozen backbone (``warmup_epochs``) then end-to-end fine-tuning (``epochs``) with a one-cycle
    schedule whose peak learning rates are ``backbone_lr`` and ``head_lr``.
    """

    image_size: int = 112
    cache_size: int = 128
    batch_size: int = 32
    warmup_epochs: int = 1
    epochs: int = 6
    head_lr: float = 3e-3
    backbone_lr: float = 5e-4
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    dropout: float = 0.2
    crop_scale_min: float = 0.35  # random resized crop keeps 35-100 % of the photo's area
    jitter: float = 0.3  # brightness, contrast and saturation factors in [1 - jitter, 1 + jitter]
    ooc_quantile: float = 0.05  # share of correct validation photos allowed under the out-of-catalogue threshold
    ridge_alphas: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0)  # text -> image projection, chosen on validation
    threads: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        positive = {
            "image_size": self.image_size,
            "cache_size": self.cache_size,
            "batch_size": self.batch_size,
            "threads": self.threads,
        }
        for name, value in positive.items():
            if value < 1:
                raise ModelError(f"vision config {name} must be at least 1, got {value}; pass a positive value.")
        if self.epochs < 0 or self.warmup_epochs < 0 or self.epochs + self.warmup_epochs < 1:
            raise ModelError(
                f"vision training needs at least one epoch, got warmup_epochs={self.warmup_epochs}, "
                f"epochs={self.epochs}; pass --epochs 1 or more."
            )
        if self.image_size > self.cache_size:
            raise ModelError(
                f"image_size {self.image_size} is larger than cache_size {self.cache_size}; photos would be "
                "upsampled twice. Use image_size <= cache_size."
            )
        if not 0.0 < self.crop_scale_min <= 1.0 or not 0.0 <= self.jitter < 1.0:
            raise ModelError(
                f"crop_scale_min must be in (0, 1] and jitter in [0, 1); got {self.crop_scale_min}, {self.jitter}."
            )
        if not 0.0 <= self.ooc_quantile < 1.0:
            raise ModelError(f"ooc_quantile must be in [0, 1), got {self.ooc_quantile}.")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ridge_alphas"] = list(self.ridge_alphas)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VisionConfig:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if "ridge_alphas" in kwargs:
            kwargs["ridge_alphas"] = tuple(float(a) for a in kwargs["ridge_alphas"])
        return cls(**kwargs)
