"""The vision member as a Ray Serve deployment: batched photo classification from the registry's ``vision`` versions.

A call carries the photo's bytes (the ingress has read the header and refused what is not a photo); the replica
decodes them (:func:`ensemble.vision.decode_image`, which refuses truncated files and decodes nothing past the
pixel limit) and ``@serve.batch`` groups concurrent photos into one forward pass. Answers are
:class:`~cluster.outcomes.MemberOutcome` values: ``ok`` with the prediction, ``invalid`` for a photo that cannot
be decoded, ``not_trained`` (503, naming ``shopmesh train vision``) while the registry holds no version.
``user_config = {"version", "max_batch_size", "batch_wait_timeout_s"}`` serves another version (loaded beside
the one serving, smoke-checked with one prediction on a generated photo, swapped in) or changes the batching.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from ray import serve

from cluster.errors import SmokeCheckError
from cluster.members import MemberName
from cluster.metrics import ReplicaMetrics, placement
from cluster.outcomes import MemberOutcome
from cluster.registry_runner import RegistryRunner
from cluster.reloading import report_outcomes
from ensemble.errors import ImageError
from ensemble.registry import Registry
from ensemble.vision import VisionPredictor, decode_image
from ensemble.vision.artifact import load_vision

__all__ = ["PHOTO_FIELD", "ServedVision", "VisionDeployment", "classify_photos", "probe_photo", "vision_runner"]

PHOTO_FIELD = "image"  # the request field an undecodable photo is reported on


@dataclass(frozen=True)
class ServedVision:
    """A loaded vision version and its id."""

    predictor: VisionPredictor
    version_id: str

    @classmethod
    def load(cls, registry: Registry, version: str | None) -> ServedVision:
        predictor = load_vision(registry, version)
        return cls(predictor, predictor.version_id or registry.resolve("vision", version).id)


def probe_photo(size: int = 96) -> Image.Image:
    """A generated RGB photo (colour gradients) for smoke checks: every version must answer it."""
    ramp = np.linspace(0, 255, size, dtype=np.float64)
    red, green = np.meshgrid(ramp, ramp[::-1])
    pixels = np.stack([red, green, np.full_like(red, 128.0)], axis=-1).astype(np.uint8)  # [size, size, 3]
    return Image.fromarray(pixels, mode="RGB")


def _smoke(service: ServedVision) -> None:
    """One prediction on :func:`probe_photo`: a catalogue class with a probability for its confidence."""
    predictor = service.predictor
    [answer] = predictor.predict([probe_photo()], k=1)
    if not math.isfinite(answer.confidence) or not 0.0 <= answer.confidence <= 1.0:
        raise SmokeCheckError(f"{service.version_id} answered the probe photo with confidence {answer.confidence}")
    if answer.product.class_id not in predictor.catalogue.class_ids:
        raise SmokeCheckError(f"{service.version_id} names class {answer.product.class_id}, not one of its catalogue")


def vision_runner(registry: Registry, version: str | None = None) -> RegistryRunner[ServedVision]:
    """The vision member's runner over a registry."""
    return RegistryRunner(
        MemberName.VISION,
        registry,
        ServedVision.load,
        train_command="shopmesh train vision",
        version=version,
        smoke=_smoke,
    )


def classify_photos(runner: RegistryRunner[ServedVision], photos: Sequence[tuple[bytes, int]]) -> list[MemberOutcome]:
    """One outcome per ``(photo bytes, top_k)``, in order, every answer from the same version; the photos that
    decode go through the model in one pass (blocking: run it in a worker thread)."""
    service = runner.service
    if service is None:
        return [MemberOutcome.not_trained(runner.load_error) for _ in photos]
    outcomes: list[MemberOutcome | None] = [None] * len(photos)
    images: list[Image.Image] = []
    rows: list[int] = []
    for row, (data, _) in enumerate(photos):
        try:
            images.append(decode_image(data))
        except ImageError as err:
            outcomes[row] = MemberOutcome.invalid(str(err), PHOTO_FIELD)
        else:
            rows.append(row)
    started = time.perf_counter()
    answers = service.predictor.predict(images, k=max((photos[row][1] for row in rows), default=1))
    model_ms = round(1000 * (time.perf_counter() - started), 3)
    for row, answer in zip(rows, answers, strict=True):
        result = answer.to_dict()
        result["similar"] = result["similar"][: photos[row][1]]
        result.update(version=service.version_id, model_ms=model_ms, batch_size=len(photos))
        outcomes[row] = MemberOutcome.ok(result)
    return [outcome for outcome in outcomes if outcome is not None]


@serve.deployment(name="VisionDeployment")
class VisionDeployment:
    """Hosts the vision member's runner, one per replica."""

    def __init__(
        self, registry_dir: str, version: str | None, max_batch_size: int, batch_wait_timeout_s: float
    ) -> None:
        self._runner = vision_runner(Registry(Path(registry_dir)), version)
        self._metrics = ReplicaMetrics(MemberName.VISION)
        self._set_batching(max_batch_size, batch_wait_timeout_s)

    def _set_batching(self, max_batch_size: int | None, batch_wait_timeout_s: float | None) -> None:
        # @serve.batch adds these setters to the method; its type hints do not declare them.
        batched: Any = self.classify
        if max_batch_size is not None:
            batched.set_max_batch_size(int(max_batch_size))
        if batch_wait_timeout_s is not None:
            batched.set_batch_wait_timeout_s(float(batch_wait_timeout_s))

    async def reconfigure(self, user_config: Mapping[str, Any]) -> None:
        """Apply new batching and serve the version ``user_config["version"]`` names, smoke-checked (absent:
        keep the loaded one); the replica reports the outcome to the rollout that asked."""
        self._set_batching(user_config.get("max_batch_size"), user_config.get("batch_wait_timeout_s"))
        outcome = await asyncio.to_thread(self._runner.reconfigure, user_config)
        if outcome is not None:
            report_outcomes(user_config, [outcome])

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def classify(self, photos: list[tuple[bytes, int]]) -> list[MemberOutcome]:
        """Outcomes for a batch of ``(photo bytes, top_k)``, in a thread so the replica keeps accepting calls."""
        started = time.perf_counter()
        outcomes = await asyncio.to_thread(classify_photos, self._runner, photos)
        self._metrics.observe_batch(len(photos), time.perf_counter() - started)
        return outcomes

    def status(self) -> dict[str, Any]:
        service = self._runner.service
        classes = service.predictor.catalogue.num_classes if service is not None else 0
        status = self._runner.status(classes=classes, **placement())
        self._metrics.serving(status["version"])
        return status
