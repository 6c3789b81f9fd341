"""The torch-free device SDK: verify a signed int8 bundle, classify on the device, escalate, queue offline.

Imports only onnxruntime, tokenizers, numpy, httpx, cryptography and the standard library; it ships alone as
the ``shopmesh-edge`` distribution (``edge/runtime/pyproject.toml``) under the same import path.
"""

from __future__ import annotations

from edge.runtime.bundle import DevicePrediction, EdgeBundle
from edge.runtime.client import CHAT_PATH, EdgeAnswer, EdgeClient, Source
from edge.runtime.config import EdgeClientConfig
from edge.runtime.errors import (
    BundleDowngradeError,
    BundleError,
    BundleIntegrityError,
    BundleSignatureError,
    ClusterError,
    EdgeError,
    InvalidTextError,
    OutboxError,
    TrustError,
)
from edge.runtime.inference import IntentRunner, softmax
from edge.runtime.manifest import FORMAT_VERSION, FileEntry, Manifest, Probe
from edge.runtime.outbox import FlushResult, Outbox, OutboxRecord
from edge.runtime.trust import TrustedKey, TrustStore, key_id_of

__all__ = [
    "CHAT_PATH",
    "FORMAT_VERSION",
    "BundleDowngradeError",
    "BundleError",
    "BundleIntegrityError",
    "BundleSignatureError",
    "ClusterError",
    "DevicePrediction",
    "EdgeAnswer",
    "EdgeBundle",
    "EdgeClient",
    "EdgeClientConfig",
    "EdgeError",
    "FileEntry",
    "FlushResult",
    "IntentRunner",
    "InvalidTextError",
    "Manifest",
    "Outbox",
    "OutboxError",
    "OutboxRecord",
    "Probe",
    "Source",
    "TrustError",
    "TrustStore",
    "TrustedKey",
    "key_id_of",
    "softmax",
]
