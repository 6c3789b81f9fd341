"""torch -> signed int8 ONNX bundles for the device SDK, with parity validation."""

from __future__ import annotations

from edge.export.bundle_writer import DEFAULT_PROBE_TEXTS, BundleInfo, bundle_tokenizer, export_intent
from edge.export.cascade import Calibration, CascadeScores, cascade_scores, fit_threshold
from edge.export.errors import BundleExistsError, ExportError, ParityError, SigningKeyError, TokenizerMismatchError
from edge.export.from_registry import cluster_calibration, export_registry_version
from edge.export.onnx_graph import OnnxGraph, export_fp32, quantize_int8
from edge.export.oos_fit import DEFAULT_OOS_TARGET, fit_oos
from edge.export.signing import BundleSigner
from edge.export.validation import ValidationReport, validate_bundle

__all__ = [
    "DEFAULT_OOS_TARGET",
    "DEFAULT_PROBE_TEXTS",
    "BundleExistsError",
    "BundleInfo",
    "BundleSigner",
    "Calibration",
    "CascadeScores",
    "ExportError",
    "OnnxGraph",
    "ParityError",
    "SigningKeyError",
    "TokenizerMismatchError",
    "ValidationReport",
    "bundle_tokenizer",
    "cascade_scores",
    "cluster_calibration",
    "export_fp32",
    "export_intent",
    "export_registry_version",
    "fit_oos",
    "fit_threshold",
    "quantize_int8",
    "validate_bundle",
]
