"""Photos on the device: untrusted bytes -> checked RGB image -> the network's input -> calibrated answer.

Pillow and numpy only (Pillow is the optional ``vision`` extra of the SDK, imported when a photo is first
classified). The steps equal the torch member's (``ensemble.vision.images.decode_image``, ``data.image_to_tensor``,
``augment.resize_batch``) as :class:`~edge.runtime.vision_spec.Preprocessing` describes them; a test holds the
two within 1e-5 on real photos.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from edge.runtime.errors import BundleError, InvalidImageError, MissingExtraError
from edge.runtime.inference import softmax
from edge.runtime.vision_spec import Preprocessing, VisionSpec

if TYPE_CHECKING:
    from PIL.Image import Image

logger = logging.getLogger(__name__)

__all__ = ["ProductMatch", "VisionGuess", "VisionRunner", "decode_photo", "photo_input", "read_photo"]

FloatArray = npt.NDArray[np.float32]
_CATALOGUE_KEYS = ("class_id", "class_name", "coarse_id", "coarse_name", "department", "description", "iconic_image")


def _pillow() -> ModuleType:
    try:
        import PIL.Image
        import PIL.ImageOps
    except ImportError as err:
        raise MissingExtraError(
            "classifying photos needs Pillow, the SDK's 'vision' extra: pip install 'shopmesh-edge[vision]'"
        ) from err
    return PIL


def read_photo(image: object, pre: Preprocessing) -> bytes:
    """The bytes of a photo given as bytes or as a file path; a file larger than ``max_bytes`` is not read."""
    if isinstance(image, bytes | bytearray | memoryview):
        return bytes(image)
    if not isinstance(image, str | Path):
        raise InvalidImageError(f"the photo must be bytes or a file path, got {type(image).__name__}: {image!r:.80}")
    path = Path(image)
    try:
        size = path.stat().st_size
        if size > pre.max_bytes:
            raise InvalidImageError(
                f"photo file {path} has {size:,} bytes, more than the limit of {pre.max_bytes:,}; pass a smaller photo"
            )
        return path.read_bytes()
    except OSError as err:
        raise InvalidImageError(f"cannot read the photo file {path}: {err}; pass an existing, readable file") from err


def decode_photo(data: bytes, pre: Preprocessing) -> Image:
    """The photo in ``data`` as an RGB image (EXIF orientation applied), refused as the cluster refuses it.

    Raises :class:`InvalidImageError` for non-bytes, empty or oversized input, bytes that are not an image,
    a declared size above ``max_pixels`` (read from the header, before any pixel is decoded) and truncated or
    corrupt files. CMYK, greyscale, palette and 16-bit photos are converted; transparency goes onto white.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidImageError(f"the photo must be bytes or a file path, got {type(data).__name__}")
    if len(data) == 0:
        raise InvalidImageError("the photo is empty (0 bytes); pass the bytes of a JPEG, PNG or WebP photo")
    if len(data) > pre.max_bytes:
        raise InvalidImageError(
            f"the photo has {len(data):,} bytes, more than the limit of {pre.max_bytes:,}; pass a smaller photo"
        )
    pil = _pillow()
    image_module: Any = pil.Image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", image_module.DecompressionBombWarning)
            image = image_module.open(io.BytesIO(bytes(data)))
            width, height = image.size
            if width * height > pre.max_pixels:
                raise InvalidImageError(
                    f"the photo declares {width}x{height} pixels, more than the limit of {pre.max_pixels:,}; "
                    "pass a photo downscaled below it"
                )
            image.load()
    except InvalidImageError:
        raise
    except (image_module.DecompressionBombError, image_module.DecompressionBombWarning) as err:
        raise InvalidImageError(
            f"the photo declares more pixels than the limit of {pre.max_pixels:,} ({err}); pass it downscaled"
        ) from err
    except image_module.UnidentifiedImageError as err:
        raise InvalidImageError(f"the bytes are not a readable image ({err}); pass a JPEG, PNG or WebP photo") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise InvalidImageError(f"the photo is truncated or corrupt ({err}); pass the complete file") from err
    return _to_rgb(pil.ImageOps.exif_transpose(image), image_module)


def _to_rgb(image: Any, image_module: Any) -> Image:
    if image.mode == "RGB":
        return image  # type: ignore[no-any-return]
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = image_module.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background  # type: ignore[no-any-return]
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        return image.point(lambda value: value / 256).convert("L").convert("RGB")  # type: ignore[no-any-return]
    return image.convert("RGB")  # type: ignore[no-any-return]


_RESAMPLE = {"bicubic": "BICUBIC", "bilinear": "BILINEAR", "bilinear-antialias": "BILINEAR"}


def _filter(name: str, image_module: Any) -> Any:
    if name not in _RESAMPLE:
        raise BundleError(f"the bundle asks for resize method {name!r}; this SDK knows {sorted(_RESAMPLE)}: update it")
    return getattr(image_module.Resampling, _RESAMPLE[name])


def photo_input(image: Image, pre: Preprocessing) -> FloatArray:
    """An RGB image -> the network's input [3, R, R] float32.

    Pillow squashes it to the cache size and rounds to uint8 (as the member's decoded cache), then resizes each
    channel as a float image (Pillow's resampling in float equals torch's antialiased bilinear
    ``interpolate``), then normalises per channel.
    """
    image_module: Any = _pillow().Image
    if pre.layout != "NCHW":
        raise BundleError(f"the bundle asks for input layout {pre.layout!r}; this SDK feeds NCHW: update it")
    square = image.resize((pre.cache_size, pre.cache_size), _filter(pre.cache_resample, image_module))
    cached = np.asarray(square, dtype=np.uint8)  # [S, S, 3]
    channels = []
    for c in range(3):
        plane = cached[:, :, c].astype(np.float32)
        if pre.image_size != pre.cache_size:
            resized = image_module.fromarray(plane).resize(
                (pre.image_size, pre.image_size), _filter(pre.resize, image_module)
            )
            plane = np.asarray(resized, dtype=np.float32)
        channels.append((plane - np.float32(pre.mean[c])) / np.float32(pre.std[c]))
    return np.stack(channels).astype(np.float32)  # [3, R, R]


@dataclass(frozen=True)
class ProductMatch:
    """One catalogue product with the score that ranked it (a probability on the device)."""

    class_id: int
    class_name: str
    coarse_name: str
    department: str
    description: str
    iconic_image: str
    score: float


@dataclass(frozen=True)
class VisionGuess:
    """The device model's answer for one photo; ``similar`` ranks catalogue classes by probability."""

    product: ProductMatch
    coarse_id: int
    coarse_name: str
    coarse_confidence: float
    confidence: float
    out_of_catalogue: bool
    similar: tuple[ProductMatch, ...]


class VisionRunner:
    """The bundle's vision graph, catalogue and calibration; no verification (see :class:`EdgeBundle`)."""

    def __init__(
        self, model: bytes, catalogue: object, spec: VisionSpec, *, intra_op_threads: int = 1, source: str = "bundle"
    ) -> None:
        if not isinstance(catalogue, list) or len(catalogue) < 2:
            raise BundleError(f"{source}: {spec.catalogue_file} must list at least two classes; re-export the bundle")
        for entry in catalogue:
            if not isinstance(entry, dict) or any(key not in entry for key in _CATALOGUE_KEYS):
                raise BundleError(
                    f"{source}: a {spec.catalogue_file} entry lacks one of {_CATALOGUE_KEYS}: {entry!r:.120}"
                )
        self.spec = spec
        self.catalogue: list[dict[str, Any]] = catalogue
        coarse_ids = sorted({int(e["coarse_id"]) for e in catalogue})
        self._coarse_ids = coarse_ids
        self._coarse_names = {int(e["coarse_id"]): str(e["coarse_name"]) for e in catalogue}
        self._mapping = np.zeros((len(catalogue), len(coarse_ids)), dtype=np.float32)  # [C, K] one-hot
        for row, entry in enumerate(catalogue):
            self._mapping[row, coarse_ids.index(int(entry["coarse_id"]))] = 1.0
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types without a common base
            raise BundleError(f"onnxruntime cannot open the vision model of {source}: {err}; re-export it") from err
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = {o.name: o for o in self.session.get_outputs()}
        if inputs != [spec.input_name] or spec.output_name not in outputs:
            raise BundleError(
                f"the vision model of {source} maps {inputs} -> {sorted(outputs)}, not [{spec.input_name!r}] -> "
                f"{spec.output_name!r}: re-export the bundle"
            )
        width = outputs[spec.output_name].shape[-1]
        if isinstance(width, int) and width != len(catalogue):
            raise BundleError(
                f"the vision model of {source} outputs {width} classes but its catalogue lists {len(catalogue)}; "
                "the files come from different exports: re-export the bundle"
            )

    def inputs(self, photos: Sequence[bytes]) -> FloatArray:
        """Decoded, checked and preprocessed photos: [B, 3, R, R]."""
        pre = self.spec.preprocessing
        return np.stack([photo_input(decode_photo(p, pre), pre) for p in photos])

    def probabilities(self, inputs: FloatArray) -> FloatArray:
        """Calibrated fine-class probabilities [B, C] of network inputs [B, 3, R, R]."""
        logits = np.asarray(self.session.run([self.spec.output_name], {self.spec.input_name: inputs})[0])
        return softmax(logits.astype(np.float32) / np.float32(self.spec.temperature))

    def _match(self, index: int, score: float) -> ProductMatch:
        entry = self.catalogue[index]
        return ProductMatch(
            class_id=int(entry["class_id"]),
            class_name=str(entry["class_name"]),
            coarse_name=str(entry["coarse_name"]),
            department=str(entry["department"]),
            description=str(entry["description"]),
            iconic_image=str(entry["iconic_image"]),
            score=score,
        )

    def predict(self, photo: bytes, *, top_k: int = 5) -> VisionGuess:
        """The answer for one photo's bytes (raises :class:`InvalidImageError` for a bad photo)."""
        probs = self.probabilities(self.inputs([photo]))[0]  # [C]
        coarse = probs @ self._mapping  # [K]
        best, best_coarse = int(probs.argmax()), int(coarse.argmax())
        confidence = float(probs[best])
        ranked = np.argsort(-probs, kind="stable")[:top_k]
        coarse_id = self._coarse_ids[best_coarse]
        return VisionGuess(
            product=self._match(best, confidence),
            coarse_id=coarse_id,
            coarse_name=self._coarse_names[coarse_id],
            coarse_confidence=float(coarse[best_coarse]),
            confidence=confidence,
            out_of_catalogue=confidence < self.spec.ooc_threshold,
            similar=tuple(self._match(int(i), float(probs[int(i)])) for i in ranked),
        )
