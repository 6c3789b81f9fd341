"""The device's photo preprocessing (Pillow + numpy) equals the torch member's on real photos."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge.export.vision_onnx import preprocessing_of
from edge.runtime.vision import decode_photo, photo_input
from ensemble.vision import VisionConfig, decode_image
from ensemble.vision.augment import resize_batch
from ensemble.vision.data import image_to_tensor


def _torch_input(data: bytes, config: VisionConfig) -> np.ndarray:
    """What the member feeds its network for these bytes (ensemble.vision.predictor.VisionPredictor.predict)."""
    pixels = image_to_tensor(decode_image(data), config.cache_size)[None]  # [1, 3, S, S] uint8
    return resize_batch(pixels, config.image_size)[0].numpy()  # [3, R, R]


def _variants(photo: bytes) -> list[bytes]:
    """The same photo as CMYK JPEG, RGBA PNG with transparency, greyscale PNG and a rotated-by-EXIF JPEG."""
    image = Image.open(io.BytesIO(photo)).convert("RGB")
    out = []
    for mode, fmt in (("CMYK", "JPEG"), ("RGBA", "PNG"), ("L", "PNG")):
        converted = image.convert(mode)
        if mode == "RGBA":
            converted.putalpha(Image.linear_gradient("L").resize(image.size))
        buffer = io.BytesIO()
        converted.save(buffer, fmt)
        out.append(buffer.getvalue())
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes())
    out.append(buffer.getvalue())
    return out


@pytest.mark.parametrize("image_size", [112, 64, 128])
def test_device_input_equals_the_torch_input_within_1e5(test_photos: list[Path], image_size: int) -> None:
    # Prepare
    config = VisionConfig(image_size=image_size)
    pre = preprocessing_of(config)
    photos = [p.read_bytes() for p in test_photos]
    photos += _variants(photos[0])

    # Execute / Assert
    for data in photos:
        device = photo_input(decode_photo(data, pre), pre)
        reference = _torch_input(data, config)
        assert device.shape == reference.shape == (3, image_size, image_size)
        assert device.dtype == np.float32
        np.testing.assert_allclose(device, reference, rtol=0, atol=1e-5)
