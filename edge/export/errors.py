"""Errors raised while exporting and validating edge bundles.

Every message names what was wrong, the value seen and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "BundleExistsError",
    "ExportError",
    "ParityError",
    "QuantizationLossError",
    "SigningKeyError",
    "TokenizerMismatchError",
]


class ExportError(Exception):
    """Base class of every error edge.export raises on purpose."""


class ParityError(ExportError):
    """The fp32 ONNX graph does not reproduce the torch model within the stated tolerance."""


class TokenizerMismatchError(ExportError):
    """The bundle's tokenizer produces other ids than the model's Hugging Face tokenizer."""


class BundleExistsError(ExportError):
    """The output folder already exists and overwriting was not asked for."""


class SigningKeyError(ExportError):
    """The platform's signing key file cannot be read, is not Ed25519, or is readable by others."""


class QuantizationLossError(ExportError):
    """The int8 graph loses more task accuracy against the torch model than the stated tolerance."""
