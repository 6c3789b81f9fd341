"""The torch-free device SDK: verify a signed int8 bundle, classify on the device, escalate, queue offline.

Imports only onnxruntime, tokenizers, numpy, httpx and the standard library.
"""

from __future__ import annotations

from edge.runtime.bundle import DevicePrediction, EdgeBundle
from edge.runtime.client import CHAT_PATH, EdgeAnswer, EdgeClient, Source
from edge.runtime.config import EdgeClientConfig
from edge.runtime.errors import (
    BundleError,
    BundleIntegrityError,
    BundleSignatureError,
    ClusterError,
    EdgeError,
    InvalidTextError,
    OutboxError,
)
from edge.runtime.inference import IntentRunner, softmax
from edge.runtime.manifest import FORMAT_VERSION, FileEntry, Manifest
from edge.runtime.outbox import FlushResult, Outbox, OutboxRecord

__all__ = [
    "CHAT_PATH",
    "FORMAT_VERSION",
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
    "Source",
    "softmax",
]
