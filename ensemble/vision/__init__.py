"""The vision member: EfficientNet-Lite0 fine-tuned on shop photos, calibrated, with similar-product and
text -> photo retrieval in its embedding space (Grocery Store data set)."""

from __future__ import annotations

from ensemble.vision.baseline import linear_probe
from ensemble.vision.config import VisionConfig
from ensemble.vision.data import (
    Catalogue,
    GroceryData,
    ImageSet,
    bundled_grocery_dir,
    decode_photos,
    default_grocery_dir,
    load_grocery,
)
from ensemble.vision.fitting import VisionFit, fit_vision
from ensemble.vision.images import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, decode_image
from ensemble.vision.predictor import CatalogueMatch, VisionPrediction, VisionPredictor

__all__ = [
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "Catalogue",
    "CatalogueMatch",
    "GroceryData",
    "ImageSet",
    "VisionConfig",
    "VisionFit",
    "VisionPrediction",
    "VisionPredictor",
    "bundled_grocery_dir",
    "decode_image",
    "decode_photos",
    "default_grocery_dir",
    "fit_vision",
    "linear_probe",
    "load_grocery",
]
