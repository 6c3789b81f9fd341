"""Bundles installed on a device, and the atomic switch between them.

Layout of an install directory::

    versions/<name>/   complete bundles whose signature and hashes were checked before they got here
    staging/<name>/    downloads in progress (kept between attempts so that HTTP downloads resume)
    current            the <name> of the serving version, replaced atomically (write, fsync, rename)
    previous           the <name> that served before it, for rollback

A bundle reaches ``versions/`` by one ``rename`` of its finished staging folder, and ``current`` only ever
names a folder of ``versions/``, so a crash at any point leaves ``current`` on a whole, verified bundle.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from edge.runtime.errors import BundleIntegrityError, UpdateError
from edge.runtime.fetch import BundleSource, DirectorySource
from edge.runtime.manifest import (
    MANIFEST_FILE,
    SIGNATURE_FILE,
    Manifest,
    check_not_downgrade,
    verify_files,
    verify_manifest_bytes,
)
from edge.runtime.trust import TrustStore

logger = logging.getLogger(__name__)

__all__ = ["BundleStore", "InstallPhase"]

CURRENT = "current"
PREVIOUS = "previous"
VERSIONS = "versions"
STAGING = "staging"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class InstallPhase(StrEnum):
    """Steps of :meth:`BundleStore.install`, reported to its observer as each one is reached."""

    VERIFIED = "verified"  # the manifest's signature checked and no downgrade
    DOWNLOADING = "downloading"  # before the first file is fetched
    STAGED = "staged"  # every file in staging and its hash checked
    MOVED = "moved"  # the staging folder renamed into versions/
    SWAPPING = "swapping"  # the new pointer written beside `current`, not yet renamed onto it
    SWAPPED = "swapped"  # `current` names the new version


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_if_orphaned(pointer: Path) -> None:
    """Delete a pointer written by an update whose process died before renaming it (``.current.<pid>.tmp``)."""
    pid_text = pointer.name.split(".")[-2]
    if not pid_text.isdigit():
        return
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        pointer.unlink(missing_ok=True)
        logger.info("removed %s, left by an update that did not finish", pointer)
    except PermissionError:
        return  # the process exists under another user: its update may still be running


def version_folder_name(manifest_bytes: bytes, version_id: str) -> str:
    """A folder name unique to one signed manifest: the version id made safe plus the manifest's hash."""
    digest = hashlib.sha256(manifest_bytes).hexdigest()[:12]
    return f"{_UNSAFE.sub('-', version_id)}-{digest}"


class BundleStore:
    """The install directory of one device: which verified bundle serves, and how a new one gets there."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.versions = root / VERSIONS
        self.staging = root / STAGING
        try:
            self.versions.mkdir(parents=True, exist_ok=True)
            self.staging.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UpdateError(f"cannot create the install directory {root}: {err}; pass a writable folder") from err
        for leftover in root.glob(".*.*.tmp"):
            _remove_if_orphaned(leftover)

    def _read_pointer(self, name: str) -> Path | None:
        try:
            target = (self.root / name).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise UpdateError(f"cannot read {self.root / name}: {err}; check the device's storage") from err
        if not target or _UNSAFE.search(target) or not (self.versions / target).is_dir():
            logger.warning("%s names %r, which is not an installed version; ignoring it", self.root / name, target)
            return None
        return self.versions / target

    def current(self) -> Path | None:
        """The folder of the serving version, or None before the first install."""
        return self._read_pointer(CURRENT)

    def previous(self) -> Path | None:
        return self._read_pointer(PREVIOUS)

    def _write_pointer(self, name: str, target: Path, observe: Callable[[InstallPhase], None] | None) -> None:
        tmp = self.root / f".{name}.{os.getpid()}.tmp"
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(target.name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if observe is not None:
            observe(InstallPhase.SWAPPING)
        os.replace(tmp, self.root / name)
        _fsync_dir(self.root)

    def activate(self, target: Path, observe: Callable[[InstallPhase], None] | None = None) -> None:
        """Make ``target`` (a folder of versions/) the serving version; the one before becomes ``previous``."""
        if target.parent != self.versions or not target.is_dir():
            raise UpdateError(f"{target} is not an installed version under {self.versions}")
        old = self.current()
        if old is not None and old != target:
            self._write_pointer(PREVIOUS, old, None)
        self._write_pointer(CURRENT, target, observe)
        logger.info("install %s: %s now serves (was %s)", self.root, target.name, old.name if old else None)

    def install(
        self,
        source: BundleSource | Path,
        trust: TrustStore,
        *,
        installed: Manifest | None = None,
        observe: Callable[[InstallPhase], None] | None = None,
    ) -> Path:
        """Fetch, verify and install a bundle, then make it current; returns its folder under versions/.

        ``installed`` is the serving manifest (default: the current version's): a lower sequence is refused
        unless signed as a rollback. Raises :class:`BundleSignatureError`, :class:`BundleDowngradeError`,
        :class:`BundleIntegrityError` or :class:`UpdateError`; after any error ``current`` is unchanged.
        """
        src = DirectorySource(source) if isinstance(source, Path) else source
        try:
            return self._install(src, trust, installed, observe)
        except OSError as err:
            raise UpdateError(
                f"installing into {self.root} failed: {err}; check free space and permissions (the serving "
                "version is unchanged)"
            ) from err

    def _install(
        self,
        src: BundleSource,
        trust: TrustStore,
        installed: Manifest | None,
        observe: Callable[[InstallPhase], None] | None,
    ) -> Path:
        raw = src.read_small(MANIFEST_FILE)
        signature = src.read_small(SIGNATURE_FILE)
        manifest = verify_manifest_bytes(raw, signature, trust, Path(f"{src!r}/{MANIFEST_FILE}"))
        if installed is None:
            serving = self.current()
            if serving is not None:
                installed = Manifest.from_bytes((serving / MANIFEST_FILE).read_bytes(), serving / MANIFEST_FILE)
        if installed is not None:
            check_not_downgrade(installed, manifest)
        if observe is not None:
            observe(InstallPhase.VERIFIED)
        name = version_folder_name(raw, manifest.version_id)
        target = self.versions / name
        if not target.is_dir():
            self._stage(src, raw, signature, manifest, name, observe)
            os.rename(self.staging / name, target)
            _fsync_dir(self.versions)
            if observe is not None:
                observe(InstallPhase.MOVED)
        self.activate(target, observe)
        if observe is not None:
            observe(InstallPhase.SWAPPED)
        return target

    def _stage(
        self,
        src: BundleSource,
        raw: bytes,
        signature: bytes,
        manifest: Manifest,
        name: str,
        observe: Callable[[InstallPhase], None] | None,
    ) -> None:
        folder = self.staging / name
        folder.mkdir(exist_ok=True)
        if observe is not None:
            observe(InstallPhase.DOWNLOADING)
        for file_name, entry in sorted(manifest.files.items()):
            if Path(file_name).name != file_name or file_name in (MANIFEST_FILE, SIGNATURE_FILE):
                raise BundleIntegrityError(f"manifest of {manifest.version_id} lists an invalid file {file_name!r}")
            src.fetch(file_name, folder / file_name, entry.size)
        try:
            verify_files(folder, manifest)
        except BundleIntegrityError:
            shutil.rmtree(folder, ignore_errors=True)  # a bad file is never resumed from
            raise
        for file_name, data in ((MANIFEST_FILE, raw), (SIGNATURE_FILE, signature)):
            with (folder / file_name).open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        _fsync_dir(folder)
        if observe is not None:
            observe(InstallPhase.STAGED)
