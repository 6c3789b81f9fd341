"""The photo cascade that :class:`~edge.runtime.client.EdgeClient` and
:class:`~edge.runtime.async_client.AsyncEdgeClient` share: classify a photo on the device, decide whether the
device answers it, and what goes to ``/v1/vision`` or waits in the outbox when it does not.

A photo is answered on the device when its calibrated confidence reaches the vision threshold (the configured one,
else the bundle's fitted one) and it is not out of catalogue. The clients only add the transport.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from edge.runtime.bundle import EdgeBundle
from edge.runtime.config import EdgeClientConfig
from edge.runtime.errors import BundleError, EdgeError
from edge.runtime.outbox import OutboxRecord
from edge.runtime.protocol import Source
from edge.runtime.vision import VisionGuess, VisionRunner, read_photo
from edge.runtime.vision_protocol import MAX_TOP_K, VisionAnswer, device_answer, vision_body

__all__ = ["PhotoOnDevice", "check_top_k", "classify_on_device", "vision_runner"]


def check_top_k(top_k: object) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise EdgeError(f"top_k must be an integer from 1 to {MAX_TOP_K}, got {top_k!r}")
    return top_k


def vision_runner(bundle: EdgeBundle) -> VisionRunner:
    if bundle.vision is None:
        raise BundleError(
            f"bundle {bundle.version_id} at {bundle.path} carries no vision model; export one with "
            "`shopmesh edge export` from a registry that holds a vision version (`shopmesh train vision`)"
        )
    return bundle.vision


@dataclass(frozen=True)
class PhotoOnDevice:
    """One photo as the device classified it, and whether the device answers it (``on_device``).

    ``key`` is the ``Idempotency-Key`` of its escalation and, when the cluster cannot be reached, of its outbox
    record, so a replay is recognised as the same request.
    """

    photo: bytes
    guess: VisionGuess
    version: str  # the bundle's vision version id
    top_k: int
    device_ms: float
    on_device: bool
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    def answer(self, source: Source, waited_ms: float = 0.0) -> VisionAnswer:
        """The device's answer, after ``waited_ms`` spent on a cluster call that did not answer."""
        return device_answer(self.guess, source, self.device_ms + waited_ms, self.version)

    def request(self) -> dict[str, object]:
        """The JSON body of its ``POST /v1/vision``."""
        return vision_body(self.photo, self.top_k)

    def record(self) -> OutboxRecord:
        """The outbox record that replays it under the same key."""
        return OutboxRecord.new_photo(
            self.photo, self.guess.product.class_name, self.guess.confidence, self.version, self.key
        )


def classify_on_device(
    bundle: EdgeBundle, config: EdgeClientConfig, image: bytes | str | Path, top_k: int
) -> PhotoOnDevice:
    """Check ``top_k`` and the photo, classify it with the bundle's vision model and decide where it is answered.

    Raises :class:`EdgeError` for a bad ``top_k``, :class:`InvalidImageError` for a bad photo and
    :class:`BundleError` when the bundle has no vision model.
    """
    top_k = check_top_k(top_k)
    start = time.perf_counter()
    runner = vision_runner(bundle)
    photo = read_photo(image, runner.spec.preprocessing)
    guess = runner.predict(photo, top_k=top_k)
    sure = guess.confidence >= config.vision_threshold(runner.spec.confidence_threshold)
    return PhotoOnDevice(
        photo=photo,
        guess=guess,
        version=runner.spec.version_id,
        top_k=top_k,
        device_ms=(time.perf_counter() - start) * 1000.0,
        on_device=sure and not guess.out_of_catalogue,
    )
