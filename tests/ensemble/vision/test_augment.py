from __future__ import annotations

import torch

from ensemble.vision.augment import augment_batch, resize_batch


def test_resize_keeps_a_flat_photo_flat_and_normalises_it() -> None:
    pixels = torch.full((2, 3, 40, 40), 255, dtype=torch.uint8)
    out = resize_batch(pixels, 24)
    assert out.shape == (2, 3, 24, 24)
    torch.testing.assert_close(out, torch.full_like(out, 128 / 128))


def test_augmentation_is_reproducible_and_stays_in_range() -> None:
    pixels = torch.randint(0, 256, (5, 3, 48, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    first = augment_batch(pixels, 32, scale_min=0.35, jitter=0.3, generator=torch.Generator().manual_seed(1))
    second = augment_batch(pixels, 32, scale_min=0.35, jitter=0.3, generator=torch.Generator().manual_seed(1))
    third = augment_batch(pixels, 32, scale_min=0.35, jitter=0.3, generator=torch.Generator().manual_seed(2))
    assert first.shape == (5, 3, 32, 32)
    torch.testing.assert_close(first, second)
    assert not torch.allclose(first, third)
    assert first.min() >= -127 / 128 and first.max() <= 128 / 128
