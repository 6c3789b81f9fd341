"""The workspace keeps the platform's private key; bundles and device settings carry only public keys."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from edge.export import SigningKeyError, export_intent
from edge.runtime import EdgeBundle
from ensemble.members.intent import IntentModel
from shopmesh.cli import main
from shopmesh.config import Workspace
from shopmesh.signing import bundle_signer, trusted_keys


def test_private_key_is_an_owner_only_file_and_stays_stable(tmp_path: Path) -> None:
    # Prepare
    workspace = Workspace(tmp_path / "ws")

    # Execute
    first = bundle_signer(workspace)
    second = bundle_signer(workspace)

    # Assert
    mode = stat.S_IMODE(workspace.signing_key_file.stat().st_mode)
    assert mode == 0o600
    assert first.key_id == second.key_id == trusted_keys(workspace)[0].key_id
    assert "PRIVATE" not in repr(first)


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    # Prepare
    workspace = Workspace(tmp_path / "ws")
    bundle_signer(workspace)
    workspace.signing_key_file.chmod(0o644)

    # Execute / Assert
    with pytest.raises(SigningKeyError, match="chmod 600"):
        bundle_signer(workspace)


def test_no_private_key_material_ends_up_in_a_bundle(tmp_path: Path) -> None:
    # Prepare
    workspace = Workspace(tmp_path / "ws")
    signer = bundle_signer(workspace)
    pem = workspace.signing_key_file.read_bytes()
    private = serialization.load_pem_private_key(pem, password=None)
    raw_private = private.private_bytes(  # type: ignore[union-attr]
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    model = IntentModel.tiny(["a", "b"], seed=0)
    model.eval()

    # Execute
    info = export_intent(model, tmp_path / "bundle", version_id="intent:v0001", signer=signer)

    # Assert: neither the raw key, its hex, nor the PEM body appears in any file of the bundle
    pem_body = b"".join(pem.splitlines()[1:-1])
    needles = [raw_private, raw_private.hex().encode(), pem_body, b"PRIVATE KEY"]
    for path in info.path.iterdir():
        data = path.read_bytes()
        assert not any(needle in data for needle in needles), f"private key material in {path.name}"
    assert EdgeBundle.load(info.path, trusted_keys(workspace)).version_id == "intent:v0001"


def test_public_key_command_prints_the_key_devices_trust(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Execute
    code = main(["--home", str(tmp_path / "ws"), "edge", "public-key"])

    # Assert
    printed = json.loads(capsys.readouterr().out)
    key = trusted_keys(Workspace((tmp_path / "ws").resolve()))[0]
    assert code == 0
    assert printed == {"key_id": key.key_id, "public_key": key.hex()}
    assert "PRIVATE" not in json.dumps(printed)
