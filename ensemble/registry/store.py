"""A directory of versioned model artifacts, one folder per member version.

Layout::

    <root>/<member>/v0001/weights.safetensors   tensors (safetensors.torch)
                         config.json            how to rebuild the model
                         metrics.json           evaluation results
                         lineage.json           parent version, data fingerprint, method, details
                         <extra files/folders>  e.g. a tokenizer folder
                         manifest.json          sha256 and size of every file above

A version is written into a hidden temporary sibling folder and then renamed into place. The rename is both
the atomic publish and the claim of the version number: a version folder is never empty, and renaming a folder
onto an existing non-empty one fails, so two concurrent publishers cannot take the same id (the loser retries
with the next number). A crashed publish leaves only a hidden ``.tmp-*`` folder, which listing ignores.
"""

from __future__ import annotations

import builtins
import errno
import json
import logging
import re
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ensemble.errors import ArtifactIntegrityError, RegistryError, VersionNotFoundError
from ensemble.registry.lineage import Lineage
from ensemble.registry.manifest import MANIFEST_NAME, read_manifest, verify_manifest, write_manifest

__all__ = ["LoadedArtifact", "ModelVersion", "Registry"]

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "weights.safetensors"
CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.json"
LINEAGE_NAME = "lineage.json"
_RESERVED = frozenset({WEIGHTS_NAME, CONFIG_NAME, METRICS_NAME, LINEAGE_NAME, MANIFEST_NAME})
_MEMBER_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_VERSION_RE = re.compile(r"^v(\d{4,})$")
_MAX_CLAIM_ATTEMPTS = 1000


@dataclass(frozen=True)
class ModelVersion:
    """One published version: ``member`` ("intent"), ``version`` ("v0003"), its folder and creation time."""

    member: str
    version: str
    path: Path
    created_at: str

    @property
    def id(self) -> str:
        """The full id used everywhere (cluster, federation, edge): ``"intent:v0003"``."""
        return f"{self.member}:{self.version}"

    @property
    def number(self) -> int:
        """The version number (3 for ``v0003``)."""
        return int(self.version[1:])


@dataclass(frozen=True)
class LoadedArtifact:
    """A verified version read back: tensors on CPU, config, metrics, lineage and the paths of extra files."""

    version: ModelVersion
    tensors: dict[str, torch.Tensor]
    config: dict[str, Any]
    metrics: dict[str, Any]
    lineage: Lineage
    files: dict[str, Path]

    @property
    def path(self) -> Path:
        """The version's folder."""
        return self.version.path


class Registry:
    """Versioned artifacts of every ensemble member under ``root`` (created on first publish)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Registry({str(self.root)!r})"

    def publish(
        self,
        member: str,
        *,
        tensors: Mapping[str, torch.Tensor],
        config: Mapping[str, Any],
        metrics: Mapping[str, Any],
        lineage: Lineage,
        files: Mapping[str, Path] | None = None,
    ) -> ModelVersion:
        """Write a new version of ``member`` and return it; nothing is visible unless every file was written.

        ``files`` maps a name inside the version folder to a file or folder to copy, e.g. a tokenizer folder
        as ``{"tokenizer": path}``. Raises :class:`RegistryError` if anything cannot be written; the partial
        folder is then removed.
        """
        member_dir = self._member_dir(member)
        created_at = datetime.now(UTC).isoformat()
        staging = member_dir / f".tmp-{uuid.uuid4().hex}"
        try:
            staging.mkdir(parents=True)
        except OSError as err:
            raise RegistryError(f"cannot create a version folder under {member_dir}: {err}") from err
        try:
            extra = self._write_contents(staging, tensors, config, metrics, lineage, files or {})
            write_manifest(staging, member=member, created_at=created_at, extra=extra)
            version = self._claim(member_dir, staging)
        except OSError as err:
            shutil.rmtree(staging, ignore_errors=True)
            raise RegistryError(f"cannot write a new version of {member!r} under {member_dir}: {err}") from err
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        published = ModelVersion(member, version, member_dir / version, created_at)
        logger.info("published %s at %s", published.id, published.path)
        return published

    def list(self, member: str) -> builtins.list[ModelVersion]:
        """Every published version of ``member``, oldest first; empty if there is none."""
        member_dir = self._member_dir(member)
        if not member_dir.is_dir():
            return []
        found = []
        for entry in member_dir.iterdir():
            if entry.is_dir() and _VERSION_RE.match(entry.name):
                found.append(self._version_at(member, entry))
        return sorted(found, key=lambda version: version.number)

    def members(self) -> builtins.list[str]:
        """Names of the members that have a folder in the registry."""
        if not self.root.is_dir():
            return []
        return sorted(entry.name for entry in self.root.iterdir() if entry.is_dir() and _MEMBER_RE.match(entry.name))

    def latest(self, member: str) -> ModelVersion:
        """The newest version of ``member``; raises :class:`VersionNotFoundError` if there is none."""
        versions = self.list(member)
        if not versions:
            raise VersionNotFoundError(
                f"no version of {member!r} in the registry at {self.root}; train one first, e.g. "
                f"`shopmesh train {member}`, or point to another registry."
            )
        return versions[-1]

    def resolve(self, member: str, version: str | None = None) -> ModelVersion:
        """Find a version: ``None`` or ``"latest"`` (the newest), ``"v0003"``, ``"3"`` or ``"intent:v0003"``.

        Raises :class:`VersionNotFoundError` naming the versions that exist.
        """
        if version is None or version == "latest":
            return self.latest(member)
        wanted = version
        if ":" in wanted:
            prefix, _, wanted = wanted.partition(":")
            if prefix != member:
                raise VersionNotFoundError(
                    f"version id {version!r} belongs to member {prefix!r}, not {member!r}; pass a version "
                    f"of {member!r}."
                )
        if wanted.isdigit():
            wanted = f"v{int(wanted):04d}"
        for candidate in self.list(member):
            if candidate.version == wanted:
                return candidate
        available = ", ".join(candidate.version for candidate in self.list(member)) or "none"
        raise VersionNotFoundError(
            f"{member}:{wanted} is not in the registry at {self.root} (available: {available}); pass one of "
            "those "
            f"with --version, or train one first, e.g. `shopmesh train {member}`."
        )

    def verify(self, member: str, version: str | None = None) -> ModelVersion:
        """Check every file of a version against its manifest and return the version.

        Raises :class:`ArtifactIntegrityError` if a file is missing or differs in size or sha256.
        """
        resolved = self.resolve(member, version)
        try:
            verify_manifest(resolved.path, resolved.id)
        except ArtifactIntegrityError as err:
            raise ArtifactIntegrityError(f"{err} Refusing to load it; {self._previous_hint(resolved)}") from err
        return resolved

    def load(self, member: str, version: str | None = None) -> LoadedArtifact:
        """Verify and read a version (the newest by default).

        Raises :class:`ArtifactIntegrityError` on a missing or changed file and :class:`VersionNotFoundError`
        if the version does not exist.
        """
        resolved = self.verify(member, version)
        manifest = read_manifest(resolved.path, resolved.id)
        try:
            tensors = load_file(resolved.path / WEIGHTS_NAME, device="cpu")
            config = _read_json(resolved.path / CONFIG_NAME)
            metrics = _read_json(resolved.path / METRICS_NAME)
            lineage = Lineage.from_dict(_read_json(resolved.path / LINEAGE_NAME))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise RegistryError(
                f"{resolved.id} at {resolved.path} passed its manifest check but cannot be read ({err}); "
                f"{self._previous_hint(resolved)}"
            ) from err
        files = {name: resolved.path / name for name in manifest.get("extra", [])}
        logger.info("loaded %s (%s tensors)", resolved.id, len(tensors))
        return LoadedArtifact(resolved, tensors, config, metrics, lineage, files)

    def _member_dir(self, member: str) -> Path:
        if not _MEMBER_RE.match(member):
            raise RegistryError(
                f"invalid member name {member!r}; use lower-case letters, digits, '-' or '_' (e.g. 'intent')."
            )
        return self.root / member

    def _version_at(self, member: str, folder: Path) -> ModelVersion:
        try:
            created_at = str(read_manifest(folder, f"{member}:{folder.name}")["created_at"])
        except (RegistryError, KeyError):
            # A damaged version stays listed (load refuses it); the folder time stands in for its timestamp.
            created_at = datetime.fromtimestamp(folder.stat().st_mtime, UTC).isoformat()
        return ModelVersion(member, folder.name, folder, created_at)

    def _previous_hint(self, version: ModelVersion) -> str:
        earlier = [candidate for candidate in self.list(version.member) if candidate.number < version.number]
        if earlier:
            return f"the previous version can be loaded with --version {earlier[-1].version}."
        return f"there is no earlier version; publish a new one, e.g. `shopmesh train {version.member}`."

    @staticmethod
    def _write_contents(
        staging: Path,
        tensors: Mapping[str, torch.Tensor],
        config: Mapping[str, Any],
        metrics: Mapping[str, Any],
        lineage: Lineage,
        files: Mapping[str, Path],
    ) -> builtins.list[str]:
        try:
            save_file(_prepare_tensors(tensors), str(staging / WEIGHTS_NAME))
        except (TypeError, ValueError, RuntimeError, AttributeError) as err:
            raise RegistryError(f"cannot serialise the tensors to safetensors: {err}") from err
        _write_json(staging / CONFIG_NAME, config, "config")
        _write_json(staging / METRICS_NAME, metrics, "metrics")
        _write_json(staging / LINEAGE_NAME, lineage.to_dict(), "lineage")
        for name, source in files.items():
            target = staging / _checked_extra_name(name)
            source = Path(source)
            try:
                if source.is_dir():
                    shutil.copytree(source, target)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, target)
            except OSError as err:
                raise RegistryError(
                    f"cannot copy extra file {name!r} from {source} ({err}); check that it exists and is readable."
                ) from err
        return sorted(files)

    @staticmethod
    def _claim(member_dir: Path, staging: Path) -> str:
        """Rename ``staging`` to the next free version folder and return its name."""
        existing = [int(match.group(1)) for entry in member_dir.iterdir() if (match := _VERSION_RE.match(entry.name))]
        number = max(existing, default=0) + 1
        for _ in range(_MAX_CLAIM_ATTEMPTS):
            name = f"v{number:04d}"
            try:
                staging.rename(member_dir / name)
            except OSError as err:
                if isinstance(err, FileExistsError) or err.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    number += 1
                    continue
                raise RegistryError(f"cannot move the new version into {member_dir / name}: {err}") from err
            return name
        raise RegistryError(f"gave up claiming a version number in {member_dir} after {_MAX_CLAIM_ATTEMPTS} tries.")


def _prepare_tensors(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU tensors; ones sharing storage (tied weights) are cloned for safetensors."""
    prepared: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, tensor in tensors.items():
        if not isinstance(name, str) or not isinstance(tensor, torch.Tensor):
            raise RegistryError(
                f"tensor {name!r} is a {type(tensor).__name__}; every value of `tensors` must be a "
                "torch.Tensor "
                f"keyed by a string."
            )
        value = tensor.detach().to("cpu").contiguous()
        pointer = value.untyped_storage().data_ptr()
        if pointer in seen and value.numel() > 0:
            value = value.clone()
        seen.add(pointer)
        prepared[name] = value
    return prepared


def _checked_extra_name(name: str) -> str:
    relative = Path(name)
    if (
        not name
        or relative.is_absolute()
        or ".." in relative.parts
        or name.startswith(".")
        or relative.parts[0] in _RESERVED
    ):
        raise RegistryError(
            f"invalid extra file name {name!r}: use a relative name without '..' or a leading '.', other "
            "than "
            f"{sorted(_RESERVED)}."
        )
    return name


def _json_default(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):
        return value.item()  # numpy and torch scalars
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _write_json(path: Path, content: Mapping[str, Any], what: str) -> None:
    try:
        text = json.dumps(dict(content), indent=2, sort_keys=True, default=_json_default)
    except (TypeError, ValueError) as err:
        raise RegistryError(
            f"cannot write {what} as JSON: {err}; use plain numbers, strings, lists and dicts."
        ) from err
    path.write_text(text + "\n", encoding="utf-8")


def _read_json(path: Path) -> dict[str, Any]:
    content = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(content, dict):
        raise ValueError(f"{path.name} holds a {type(content).__name__}, expected a JSON object")
    return content
