"""The manifest of a version folder: size and sha256 of every file, checked before a version is loaded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ensemble.errors import ArtifactIntegrityError

__all__ = ["MANIFEST_FORMAT", "MANIFEST_NAME", "read_manifest", "verify_manifest", "write_manifest"]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, *, member: str, created_at: str, extra: list[str]) -> None:
    """List every file under ``folder`` (relative POSIX paths) with its size and sha256 in
    ``manifest.json``."""
    files = {
        path.relative_to(folder).as_posix(): {"sha256": _sha256(path), "size": path.stat().st_size}
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST_NAME
    }
    content = {
        "format": MANIFEST_FORMAT,
        "member": member,
        "created_at": created_at,
        "extra": extra,
        "files": files,
    }
    (folder / MANIFEST_NAME).write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_manifest(folder: Path, version_id: str) -> dict[str, Any]:
    """The parsed manifest; raises :class:`ArtifactIntegrityError` if it is missing or unreadable."""
    path = folder / MANIFEST_NAME
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ArtifactIntegrityError(f"{version_id}: {MANIFEST_NAME} is missing from {folder}.") from err
    except (OSError, ValueError) as err:
        raise ArtifactIntegrityError(f"{version_id}: {path} cannot be read as JSON ({err}).") from err
    if not isinstance(content, dict) or not isinstance(content.get("files"), dict):
        raise ArtifactIntegrityError(f"{version_id}: {path} has no 'files' table; the manifest is damaged.")
    return content


def verify_manifest(folder: Path, version_id: str) -> None:
    """Check that every file the manifest lists exists with the listed size and sha256.

    Raises :class:`ArtifactIntegrityError` naming the version and the first file that differs.
    """
    manifest = read_manifest(folder, version_id)
    for name, expected in sorted(manifest["files"].items()):
        path = folder / name
        if not path.is_file():
            raise ArtifactIntegrityError(
                f"{version_id}: file {name!r} listed in the manifest is missing from {folder}."
            )
        size = path.stat().st_size
        if size != expected.get("size"):
            raise ArtifactIntegrityError(
                f"{version_id}: file {name!r} has {size} bytes, the manifest says {expected.get('size')}; "
                "the artifact was changed or truncated."
            )
        actual = _sha256(path)
        if actual != expected.get("sha256"):
            raise ArtifactIntegrityError(
                f"{version_id}: file {name!r} has sha256 {actual}, the manifest says "
                f"{expected.get('sha256')}; the artifact was changed."
            )
