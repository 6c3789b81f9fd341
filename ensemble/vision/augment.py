"""Torch-only photo transforms: shop-photo augmentation for training and the fixed resize for inference.

Inputs are uint8 batches [B, 3, S, S] from the decoded cache; outputs are float [B, 3, R, R] normalised as
EfficientNet-Lite expects, (x - 127) / 128.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional

__all__ = ["INPUT_MEAN", "INPUT_STD", "augment_batch", "normalise", "resize_batch"]

INPUT_MEAN = 127.0  # the network sees (x - INPUT_MEAN) / INPUT_STD of 0..255 pixels, every channel alike
INPUT_STD = 128.0

_GREY = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def normalise(pixels: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] in 0..255 -> the network's input range."""
    return (pixels - INPUT_MEAN) / INPUT_STD


def resize_batch(pixels: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 [B, 3, S, S] -> normalised float [B, 3, R, R] (the whole photo, antialiased bilinear)."""
    images = pixels.float()
    if images.shape[-1] != size or images.shape[-2] != size:
        images = functional.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return normalise(images)


def augment_batch(
    pixels: torch.Tensor, size: int, *, scale_min: float, jitter: float, generator: torch.Generator
) -> torch.Tensor:
    """Random resized crop (area ``scale_min``..1, aspect 3/4..4/3), horizontal flip, brightness / contrast /
    saturation jitter: uint8 [B, 3, S, S] -> normalised float [B, 3, R, R]."""
    batch, _, height, width = pixels.shape
    crops = torch.empty((batch, 3, size, size))
    draws = torch.rand((batch, 4), generator=generator)  # [B, 4]: area, log-aspect, x, y
    for i in range(batch):
        area = (scale_min + (1.0 - scale_min) * float(draws[i, 0])) * height * width
        aspect = math.exp(math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * float(draws[i, 1]))
        crop_w = min(width, max(8, round(math.sqrt(area * aspect))))
        crop_h = min(height, max(8, round(math.sqrt(area / aspect))))
        left = int((width - crop_w) * float(draws[i, 2]))
        top = int((height - crop_h) * float(draws[i, 3]))
        patch = pixels[i : i + 1, :, top : top + crop_h, left : left + crop_w].float()  # [1, 3, h, w]
        crops[i] = functional.interpolate(
            patch, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )[0]
    flip = torch.rand(batch, generator=generator) < 0.5
    crops[flip] = crops[flip].flip(-1)
    factors = 1.0 + jitter * (2.0 * torch.rand((batch, 3, 1, 1, 1), generator=generator) - 1.0)  # [B, 3, 1, 1, 1]
    crops = crops * factors[:, 0]  # brightness
    mean = (crops * _GREY).sum(dim=1, keepdim=True).mean(dim=(2, 3), keepdim=True)  # [B, 1, 1, 1]
    crops = mean + (crops - mean) * factors[:, 1]  # contrast
    grey = (crops * _GREY).sum(dim=1, keepdim=True)  # [B, 1, R, R]
    crops = grey + (crops - grey) * factors[:, 2]  # saturation
    return normalise(crops.clamp(0.0, 255.0))
