"""The bundle manifest: what a bundle contains, and its HMAC-SHA256 signature.

A bundle is a folder::

    model.onnx       int8 ONNX graph: input_ids, attention_mask [B, T] int64 -> logits [B, C] float32
    tokenizer.json   a ``tokenizers`` tokenizer with truncation at max_length and padding to the longest
    labels.json      the C intent labels, in output order
    manifest.json    this module's :class:`Manifest`: format, member, version id, shapes, and every file's
                     sha256 and size
    manifest.sig     hex HMAC-SHA256 of the exact bytes of manifest.json under the operator's signing key

The signature authenticates bundles from the operator: a device holding the operator's signing key accepts
only a manifest the operator signed, and the manifest's hashes pin every other file. HMAC is symmetric, so
anyone holding the key can also sign; keep the key in the device's secure storage, and rotate it by shipping a
new key to devices.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge.runtime.errors import BundleError, BundleIntegrityError, BundleSignatureError

__all__ = [
    "FORMAT_VERSION",
    "LABELS_FILE",
    "MANIFEST_FILE",
    "MODEL_FILE",
    "SIGNATURE_FILE",
    "TOKENIZER_FILE",
    "FileEntry",
    "Manifest",
    "file_digest",
    "sign_manifest",
    "verify_files",
    "verify_signature",
]

FORMAT_VERSION = 1
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
LABELS_FILE = "labels.json"
MANIFEST_FILE = "manifest.json"
SIGNATURE_FILE = "manifest.sig"
REQUIRED_FILES = (MODEL_FILE, TOKENIZER_FILE, LABELS_FILE)

_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileEntry:
    """One file of a bundle as the manifest pins it."""

    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """What a bundle holds; serialised as manifest.json and signed."""

    member: str
    version_id: str
    created_at: str  # ISO 8601, UTC
    max_length: int
    opset: int
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    confidence_threshold: float
    quantization: str  # e.g. "int8-dynamic-per-channel" or "none"
    files: Mapping[str, FileEntry] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_bytes(self) -> bytes:
        """Canonical JSON bytes (sorted keys), the exact bytes that are signed."""
        data = asdict(self)
        data["input_names"] = list(self.input_names)
        data["output_names"] = list(self.output_names)
        data["files"] = {name: asdict(entry) for name, entry in sorted(self.files.items())}
        return (json.dumps(data, sort_keys=True, indent=2) + "\n").encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes, source: Path) -> Manifest:
        try:
            data: dict[str, Any] = json.loads(raw.decode("utf-8"))
            version = int(data["format_version"])
            if version != FORMAT_VERSION:
                raise BundleError(
                    f"{source} has manifest format_version {version}; this SDK reads {FORMAT_VERSION}: "
                    "update the SDK or re-export the bundle"
                )
            files = {
                str(name): FileEntry(sha256=str(entry["sha256"]), size=int(entry["size"]))
                for name, entry in data["files"].items()
            }
            return cls(
                member=str(data["member"]),
                version_id=str(data["version_id"]),
                created_at=str(data["created_at"]),
                max_length=int(data["max_length"]),
                opset=int(data["opset"]),
                input_names=tuple(str(n) for n in data["input_names"]),
                output_names=tuple(str(n) for n in data["output_names"]),
                confidence_threshold=float(data["confidence_threshold"]),
                quantization=str(data["quantization"]),
                files=files,
                format_version=version,
            )
        except (
            UnicodeDecodeError,
            json.JSONDecodeError,
            KeyError,
            TypeError,
            ValueError,
            AttributeError,
        ) as err:
            raise BundleError(f"{source} is not a valid bundle manifest ({err!r}); re-export the bundle") from err


def file_digest(path: Path) -> FileEntry:
    """sha256 and size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileEntry(sha256=digest.hexdigest(), size=size)


def sign_manifest(manifest_bytes: bytes, signing_key: bytes) -> str:
    """Hex HMAC-SHA256 of the manifest bytes."""
    if not signing_key:
        raise BundleSignatureError("the signing key is empty; pass the operator's bundle signing key (bytes)")
    return hmac.new(signing_key, manifest_bytes, hashlib.sha256).hexdigest()


def verify_signature(bundle_dir: Path, signing_key: bytes) -> Manifest:
    """Read manifest.json and manifest.sig, check the HMAC, and return the parsed manifest."""
    manifest_path = bundle_dir / MANIFEST_FILE
    sig_path = bundle_dir / SIGNATURE_FILE
    for path in (manifest_path, sig_path):
        if not path.is_file():
            raise BundleSignatureError(
                f"{path} is missing; a bundle needs {MANIFEST_FILE} and {SIGNATURE_FILE}: re-export it with "
                "`edge.export.export_intent`"
            )
    raw = manifest_path.read_bytes()
    seen = sig_path.read_text(encoding="ascii", errors="replace").strip()
    expected = sign_manifest(raw, signing_key)
    if not hmac.compare_digest(seen, expected):
        raise BundleSignatureError(
            f"signature of {manifest_path} does not match {sig_path} (seen {seen[:16]}...) under this "
            "signing key: the bundle was altered or signed with another key; do not use it, fetch it "
            "again from the operator"
        )
    return Manifest.from_bytes(raw, manifest_path)


def verify_files(bundle_dir: Path, manifest: Manifest) -> dict[str, bytes]:
    """Read every listed file, check its pinned size and sha256, and return the verified bytes by name.

    Callers load from the returned bytes, so what runs is exactly what was checked.
    """
    unlisted = [name for name in REQUIRED_FILES if name not in manifest.files]
    if unlisted:
        raise BundleIntegrityError(
            f"manifest of {bundle_dir} does not list {unlisted}; re-export it with the current exporter"
        )
    verified: dict[str, bytes] = {}
    for name, entry in manifest.files.items():
        if Path(name).name != name or name in (MANIFEST_FILE, SIGNATURE_FILE):
            raise BundleIntegrityError(f"manifest of {bundle_dir} lists an invalid file name {name!r}")
        path = bundle_dir / name
        try:
            data = path.read_bytes()
        except FileNotFoundError as err:
            raise BundleIntegrityError(f"{path} is missing from the bundle; fetch the whole bundle again") from err
        except OSError as err:
            raise BundleIntegrityError(f"cannot read {path}: {err}; check the device's storage") from err
        digest = hashlib.sha256(data).hexdigest()
        if len(data) != entry.size or digest != entry.sha256:
            raise BundleIntegrityError(
                f"{path} does not match its manifest entry (size {len(data)} vs {entry.size}, sha256 "
                f"{digest[:12]}... vs {entry.sha256[:12]}...): the file was altered or truncated; "
                "fetch the bundle again"
            )
        verified[name] = data
    return verified
