"""The torch-free device SDK: verify a signed int8 bundle, classify on the device, escalate, queue offline.

Imports only onnxruntime, tokenizers, numpy, httpx, cryptography and the standard library; it ships alone as
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
    InvalidTextError,
    OutboxError,
    TrustError,
    UpdateError,
)
from edge.runtime.inference import IntentRunner, softmax
from edge.runtime.manifest import FORMAT_VERSION, FileEntry, Manifest, Probe
from edge.runtime.outbox import FlushResult, Outbox, OutboxRecord
from edge.runtime.protocol import CHAT_PATH, IDEMPOTENCY_HEADER, EdgeAnswer, Source
from edge.runtime.resilience import BreakerState, CircuitBreaker, RetryPolicy
from edge.runtime.serving import UpdateResult
from edge.runtime.store import BundleStore, InstallPhase
from edge.runtime.trust import TrustedKey, TrustStore, key_id_of

__all__ = [
    "CHAT_PATH",
    "FORMAT_VERSION",
    "IDEMPOTENCY_HEADER",
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
    "InvalidTextError",
    "Manifest",
    "Outbox",
    "OutboxError",
    "OutboxRecord",
    "Probe",
    "RetryPolicy",
    "Source",
    "TrustError",
    "TrustStore",
    "TrustedKey",
    "UpdateError",
    "UpdateResult",
    "key_id_of",
    "softmax",
]
