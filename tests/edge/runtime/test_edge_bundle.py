"""EdgeBundle.load refuses altered, re-signed or incomplete bundles with a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.export import BundleInfo
from edge.runtime import BundleError, BundleIntegrityError, BundleSignatureError, EdgeBundle


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_untouched_bundle_loads_with_its_version_and_labels(
    bundle_copy: Path, signing_key: bytes, tiny_version: str, labels: tuple[str, ...]
) -> None:
    # Execute
    bundle = EdgeBundle.load(bundle_copy, signing_key, intra_op_threads=2)

    # Assert
    assert bundle.version_id == tiny_version
    assert bundle.labels == list(labels)
    assert bundle.manifest.confidence_threshold == 0.7


def test_altered_model_is_refused_as_an_integrity_error(bundle_copy: Path, signing_key: bytes) -> None:
    # Prepare
    model = bundle_copy / "model.onnx"
    _flip_byte(model, model.stat().st_size // 2)

    # Execute / Assert
    with pytest.raises(BundleIntegrityError, match=r"model\.onnx does not match its manifest entry"):
        EdgeBundle.load(bundle_copy, signing_key)


def test_edited_manifest_is_refused_as_a_signature_error(bundle_copy: Path, signing_key: bytes) -> None:
    # Prepare: lower the threshold, as an attacker wanting fewer escalations might
    manifest_path = bundle_copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["confidence_threshold"] = 0.0
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    # Execute / Assert
    with pytest.raises(BundleSignatureError, match="does not match"):
        EdgeBundle.load(bundle_copy, signing_key)


def test_other_key_is_refused(bundle_copy: Path) -> None:
    # Execute / Assert
    with pytest.raises(BundleSignatureError, match="another key"):
        EdgeBundle.load(bundle_copy, b"not-the-operator-key")


@pytest.mark.parametrize(
    ("missing", "error"),
    [
        ("tokenizer.json", BundleIntegrityError),
        ("model.onnx", BundleIntegrityError),
        ("labels.json", BundleIntegrityError),
        ("manifest.sig", BundleSignatureError),
        ("manifest.json", BundleSignatureError),
    ],
)
def test_missing_file_is_refused_naming_the_file(
    bundle_copy: Path, signing_key: bytes, missing: str, error: type[BundleError]
) -> None:
    # Prepare
    (bundle_copy / missing).unlink()

    # Execute / Assert
    with pytest.raises(error, match=missing.replace(".", r"\.") + " is missing"):
        EdgeBundle.load(bundle_copy, signing_key)


def test_absent_folder_is_refused(tmp_path: Path, signing_key: bytes) -> None:
    # Execute / Assert
    with pytest.raises(BundleError, match="does not exist"):
        EdgeBundle.load(tmp_path / "nowhere", signing_key)


def test_bundle_errors_are_edge_errors_and_not_value_errors(tiny_bundle: BundleInfo) -> None:
    # Assert: callers can catch every SDK error with EdgeError; only bad input is a ValueError
    from edge.runtime import EdgeError, InvalidTextError

    assert issubclass(BundleIntegrityError, EdgeError)
    assert not issubclass(BundleError, ValueError)
    assert issubclass(InvalidTextError, ValueError) and issubclass(InvalidTextError, EdgeError)
