"""EdgeBundle.load refuses altered, re-signed or incomplete bundles with a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.export import BundleInfo, BundleSigner
from edge.runtime import (
    BundleError,
    BundleIntegrityError,
    BundleSignatureError,
    EdgeBundle,
    TrustedKey,
    TrustError,
    TrustStore,
)


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_untouched_bundle_loads_with_its_version_and_labels(
    bundle_copy: Path, trusted_keys: tuple[TrustedKey, ...], tiny_version: str, labels: tuple[str, ...]
) -> None:
    # Execute
    bundle = EdgeBundle.load(bundle_copy, trusted_keys, intra_op_threads=2)

    # Assert
    assert bundle.version_id == tiny_version
    assert bundle.labels == list(labels)
    assert bundle.manifest.confidence_threshold == 0.7


def test_altered_model_is_refused_as_an_integrity_error(
    bundle_copy: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare
    model = bundle_copy / "model.onnx"
    _flip_byte(model, model.stat().st_size // 2)

    # Execute / Assert
    with pytest.raises(BundleIntegrityError, match=r"model\.onnx does not match its manifest entry"):
        EdgeBundle.load(bundle_copy, trusted_keys)


def test_edited_manifest_is_refused_as_a_signature_error(
    bundle_copy: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare: lower the threshold, as an attacker wanting fewer escalations might
    manifest_path = bundle_copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["confidence_threshold"] = 0.0
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    # Execute / Assert
    with pytest.raises(BundleSignatureError, match="was altered"):
        EdgeBundle.load(bundle_copy, trusted_keys)


def test_bundle_from_an_untrusted_key_is_refused_naming_the_key(bundle_copy: Path, signer: BundleSigner) -> None:
    # Prepare
    stranger = BundleSigner.generate().trusted_key

    # Execute / Assert
    with pytest.raises(BundleSignatureError, match=f"signed with key '{signer.key_id}', which this device does not"):
        EdgeBundle.load(bundle_copy, [stranger])


def test_signature_by_another_key_under_the_trusted_key_id_is_refused(
    bundle_copy: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare: a forger signs the untouched manifest with their own key
    raw = (bundle_copy / "manifest.json").read_bytes()
    (bundle_copy / "manifest.sig").write_text(BundleSigner.generate().sign(raw))

    # Execute / Assert
    with pytest.raises(BundleSignatureError, match="does not verify under key"):
        EdgeBundle.load(bundle_copy, trusted_keys)


def test_rotation_a_device_trusting_old_and_new_keys_accepts_bundles_of_both(
    bundle_copy: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare: the platform rotates to a new key and re-signs the bundle with it
    new = BundleSigner.generate()
    manifest_path = bundle_copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["key_id"] = new.key_id
    raw = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    manifest_path.write_bytes(raw)
    (bundle_copy / "manifest.sig").write_text(new.sign(raw))

    # Execute
    during_rotation = EdgeBundle.load(bundle_copy, [*trusted_keys, new.trusted_key])

    # Assert: accepted while both are trusted; refused by a device that still trusts only the old key
    assert during_rotation.manifest.key_id == new.key_id
    with pytest.raises(BundleSignatureError, match="does not trust"):
        EdgeBundle.load(bundle_copy, trusted_keys)


def test_a_private_key_is_refused_as_a_trusted_key(signer: BundleSigner, tmp_path: Path) -> None:
    # Prepare
    signer.save(tmp_path / "platform.key")
    pem = (tmp_path / "platform.key").read_text()

    # Execute / Assert
    with pytest.raises(TrustError, match="this is a private key; a device takes only public keys"):
        TrustedKey.parse(pem)
    with pytest.raises(TrustError, match="TrustedKey objects"):
        TrustStore([pem])  # type: ignore[list-item]
    assert TrustedKey.parse(signer.trusted_key.hex()) == signer.trusted_key


def test_bundle_of_the_hmac_format_is_refused_with_what_to_do(
    bundle_copy: Path, trusted_keys: tuple[TrustedKey, ...], signer: BundleSigner
) -> None:
    # Prepare: a format-1 manifest, correctly signed, as an old exporter would have written (bar the HMAC)
    manifest_path = bundle_copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 1
    raw = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    manifest_path.write_bytes(raw)
    (bundle_copy / "manifest.sig").write_text(signer.sign(raw))

    # Execute / Assert
    with pytest.raises(BundleError, match="format_version 1; this SDK reads 2"):
        EdgeBundle.load(bundle_copy, trusted_keys)


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
    bundle_copy: Path, trusted_keys: tuple[TrustedKey, ...], missing: str, error: type[BundleError]
) -> None:
    # Prepare
    (bundle_copy / missing).unlink()

    # Execute / Assert
    with pytest.raises(error, match=missing.replace(".", r"\.") + " is missing"):
        EdgeBundle.load(bundle_copy, trusted_keys)


def test_absent_folder_is_refused(tmp_path: Path, trusted_keys: tuple[TrustedKey, ...]) -> None:
    # Execute / Assert
    with pytest.raises(BundleError, match="does not exist"):
        EdgeBundle.load(tmp_path / "nowhere", trusted_keys)


def test_bundle_errors_are_edge_errors_and_not_value_errors(tiny_bundle: BundleInfo) -> None:
    # Assert: callers can catch every SDK error with EdgeError; only bad input is a ValueError
    from edge.runtime import EdgeError, InvalidTextError

    assert issubclass(BundleIntegrityError, EdgeError)
    assert not issubclass(BundleError, ValueError)
    assert issubclass(InvalidTextError, ValueError) and issubclass(InvalidTextError, EdgeError)
