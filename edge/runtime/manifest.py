"""The bundle manifest: what a bundle contains, and its Ed25519 signature.

A bundle is a folder::

    model.onnx       int8 ONNX graph: input_ids, attention_mask [B, T] int64 -> logits [B, C] float32
    tokenizer.json   a ``tokenizers`` tokenizer with truncation at max_length and padding to the longest
    labels.json      the C intent labels, in output order
    manifest.json    this module's :class:`Manifest`: format, member, version id and sequence, the signing
                     key's id, probe texts with their expected intents, and every file's sha256 and size
    manifest.sig     hex Ed25519 signature of the exact bytes of manifest.json by the platform's private key

and, optionally, a photo model beside the intent model (``vision.onnx`` and ``vision_catalogue.json``, described
by the manifest's ``vision`` entry: :mod:`edge.runtime.vision_spec`), and an ``oos`` entry for out-of-scope
detection from the intent logits (:mod:`edge.runtime.oos`).

The signature authenticates bundles from the platform: a device holding the platform's public keys accepts only
a manifest one of them signed, and the manifest's hashes pin every other file. ``sequence`` orders versions: a
device refuses a bundle older than the one it runs unless the platform signed it as a ``rollback``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge.runtime.errors import BundleDowngradeError, BundleError, BundleIntegrityError, BundleSignatureError
from edge.runtime.oos import OosSpec, oos_spec_from
from edge.runtime.threshold import ThresholdFit, threshold_fit_from
from edge.runtime.trust import TrustStore
from edge.runtime.vision_spec import VisionSpec, vision_spec_from

__all__ = [
    "FORMAT_VERSION",
    "LABELS_FILE",
    "MANIFEST_FILE",
    "MODEL_FILE",
    "SIGNATURE_FILE",
    "TOKENIZER_FILE",
    "FileEntry",
    "Manifest",
    "OosSpec",
    "Probe",
    "ThresholdFit",
    "VisionSpec",
    "check_not_downgrade",
    "file_digest",
    "verify_files",
    "verify_manifest_bytes",
    "verify_signature",
]

FORMAT_VERSION = 2
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
class Probe:
    """A text the device must classify as ``intent`` after installing the bundle (the post-swap health check)."""

    text: str
    intent: str


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
    key_id: str  # the id of the Ed25519 key that signs this manifest (edge.runtime.trust.key_id_of)
    sequence: int  # orders versions of the member; a device refuses a lower one unless ``rollback``
    rollback: bool = False  # signed permission to install over a newer version
    probes: tuple[Probe, ...] = ()
    files: Mapping[str, FileEntry] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    threshold_fit: ThresholdFit | None = None  # None: confidence_threshold was set by hand
    vision: VisionSpec | None = None  # the optional photo model (edge.runtime.vision_spec); None: text only
    oos: OosSpec | None = None  # on-device out-of-scope detection (edge.runtime.oos); None: none

    def to_bytes(self) -> bytes:
        """Canonical JSON bytes (sorted keys), the exact bytes that are signed."""
        data = asdict(self)
        data["input_names"] = list(self.input_names)
        data["output_names"] = list(self.output_names)
        data["probes"] = [asdict(p) for p in self.probes]
        data["files"] = {name: asdict(entry) for name, entry in sorted(self.files.items())}
        if self.vision is None:
            del data["vision"]  # text-only manifests keep the exact form of bundles made before photos
        else:
            data["vision"] = self.vision.to_dict()
        if self.oos is None:
            del data["oos"]  # manifests without out-of-scope detection keep their earlier exact form
        else:
            data["oos"] = self.oos.to_dict()
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
                key_id=str(data["key_id"]),
                sequence=int(data["sequence"]),
                rollback=_strict_bool(data["rollback"]),
                probes=tuple(Probe(text=str(p["text"]), intent=str(p["intent"])) for p in data["probes"]),
                files=files,
                format_version=version,
                threshold_fit=threshold_fit_from(data.get("threshold_fit")),
                vision=vision_spec_from(data.get("vision")),
                oos=oos_spec_from(data.get("oos")),
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


def _strict_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"rollback must be true or false, got {value!r}")
    return value


def verify_signature(bundle_dir: Path, trust: TrustStore) -> Manifest:
    """Read manifest.json and manifest.sig, check the Ed25519 signature, and return the parsed manifest."""
    manifest_path = bundle_dir / MANIFEST_FILE
    sig_path = bundle_dir / SIGNATURE_FILE
    for path in (manifest_path, sig_path):
        if not path.is_file():
            raise BundleSignatureError(
                f"{path} is missing; a bundle needs {MANIFEST_FILE} and {SIGNATURE_FILE}: re-export it with "
                "`edge.export.export_intent`"
            )
    return verify_manifest_bytes(manifest_path.read_bytes(), sig_path.read_bytes(), trust, manifest_path)


def verify_manifest_bytes(raw: bytes, signature: bytes, trust: TrustStore, source: Path) -> Manifest:
    """Check ``signature`` (the bytes of manifest.sig) over ``raw`` and return the parsed manifest."""
    seen = signature.decode("ascii", errors="replace").strip()
    trust.verify(raw, seen, _claimed_key_id(raw, source), str(source))
    return Manifest.from_bytes(raw, source)


def _claimed_key_id(raw: bytes, source: Path) -> str:
    """The key id a manifest names, read before the signature is checked (it only selects the public key)."""
    try:
        data = json.loads(raw.decode("utf-8"))
        key_id = data["key_id"] if isinstance(data, dict) else None
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError) as err:
        raise BundleSignatureError(
            f"{source} names no signing key_id ({err!r}); it was not made by this exporter: re-export the bundle"
        ) from err
    if not isinstance(key_id, str):
        raise BundleSignatureError(f"{source} has key_id {key_id!r}, not a string; re-export the bundle")
    return key_id


def check_not_downgrade(installed: Manifest, candidate: Manifest) -> None:
    """Refuse ``candidate`` if it is older than ``installed``, unless the platform signed it as a rollback."""
    if candidate.member != installed.member:
        raise BundleError(
            f"bundle {candidate.version_id} is for member {candidate.member!r} but the device runs "
            f"{installed.member!r}; install a {installed.member} bundle"
        )
    if candidate.sequence < installed.sequence and not candidate.rollback:
        raise BundleDowngradeError(
            f"bundle {candidate.version_id} (sequence {candidate.sequence}) is older than the installed "
            f"{installed.version_id} (sequence {installed.sequence}); a downgrade needs a bundle the platform "
            "exported as a rollback (export_intent(..., rollback=True))"
        )


def verify_files(bundle_dir: Path, manifest: Manifest) -> dict[str, bytes]:
    """Read every listed file, check its pinned size and sha256, and return the verified bytes by name.

    Callers load from the returned bytes, so what runs is exactly what was checked.
    """
    required = list(REQUIRED_FILES)
    if manifest.vision is not None:
        required += [manifest.vision.model_file, manifest.vision.catalogue_file]
    unlisted = [name for name in required if name not in manifest.files]
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
