"""The torch-free device SDK: verify a signed int8 bundle, classify on the device, escalate, queue offline.

Imports only onnxruntime, tokenizers, numpy, httpx, cryptography and the standard library (and Pillow, the
optional ``vision`` extra, when a photo is classified); it ships alone as
the ``shopmesh-edge`` distribution (``edge/runtime/pyproject.toml``) under the same import path.
"""

from __future__ import annotations

from edge.runtime.async_client import AsyncEdgeClient
from edge.runtime.bundle import DevicePrediction, EdgeBundle
from edge.runtime.client import EdgeClient
from edge.runtime.config import EdgeClientConfig
from edge.runtime.errors import (
    BundleDowngradeError,
    BundleError,
    BundleIntegrityError,
    BundleSignatureError,
    ClusterError,
    ClusterUnavailableError,
    EdgeError,
    HealthCheckError,
    InvalidImageError,
    InvalidTextError,
    MissingExtraError,
    OutboxError,
    TrustError,
    UpdateError,
)
from edge.runtime.inference import IntentRunner, softmax
from edge.runtime.manifest import FORMAT_VERSION, FileEntry, Manifest, Probe
from edge.runtime.oos import OosScore, OosSpec
from edge.runtime.outbox import FlushResult, Outbox, OutboxRecord, Route
from edge.runtime.protocol import CHAT_PATH, IDEMPOTENCY_HEADER, EdgeAnswer, Source
from edge.runtime.resilience import BreakerState, CircuitBreaker, RetryPolicy
from edge.runtime.serving import UpdateResult
from edge.runtime.store import BundleStore, InstallPhase
from edge.runtime.trust import TrustedKey, TrustStore, key_id_of
from edge.runtime.vision import ProductMatch, VisionGuess, VisionRunner
from edge.runtime.vision_protocol import VISION_PATH, VisionAnswer
from edge.runtime.vision_spec import Preprocessing, VisionSpec

__all__ = [
    "CHAT_PATH",
    "FORMAT_VERSION",
    "IDEMPOTENCY_HEADER",
    "VISION_PATH",
    "AsyncEdgeClient",
    "BreakerState",
    "BundleDowngradeError",
    "BundleError",
    "BundleIntegrityError",
    "BundleSignatureError",
    "BundleStore",
    "CircuitBreaker",
    "ClusterError",
    "ClusterUnavailableError",
    "DevicePrediction",
    "EdgeAnswer",
    "EdgeBundle",
    "EdgeClient",
    "EdgeClientConfig",
    "EdgeError",
    "FileEntry",
    "FlushResult",
    "HealthCheckError",
    "InstallPhase",
    "IntentRunner",
    "InvalidImageError",
    "InvalidTextError",
    "Manifest",
    "MissingExtraError",
    "OosScore",
    "OosSpec",
    "Outbox",
    "OutboxError",
    "OutboxRecord",
    "Preprocessing",
    "Probe",
    "ProductMatch",
    "RetryPolicy",
    "Route",
    "Source",
    "TrustError",
    "TrustStore",
    "TrustedKey",
    "UpdateError",
    "UpdateResult",
    "VisionAnswer",
    "VisionGuess",
    "VisionRunner",
    "VisionSpec",
    "key_id_of",
    "softmax",
]
