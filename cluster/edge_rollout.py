"""Published edge bundles and their staged rollout, kept in the cluster's state directory.

Layout under the catalog's root (``<state_dir>/edge-bundles``)::

    bundles/<name>/   a published bundle's files, copied in whole and then renamed into place
    catalog.sqlite    the published versions and the rollout history (one row per ``publish``)

``publish(VERSION, percent)`` makes VERSION the rollout target for ``percent`` % of devices; the others keep
the *stable* version, the last one published to 100 %. A device's bucket is a stable hash of its id salted
with the rollout's target version (:func:`bucket_of`, 0..99) and it is in the rollout when its bucket is below
the percentage, so raising the percentage of one target only ever adds devices, and each new version's canary
group is another random share of the fleet (not the same stores every release). Every ingress replica reads
the same file, so all of them answer a device alike; nothing lives in one process's memory.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cluster.errors import EdgePublishError, NotFoundError
from edge.runtime import BundleError, Manifest, TrustStore
from edge.runtime.manifest import MANIFEST_FILE, SIGNATURE_FILE, verify_files, verify_signature

logger = logging.getLogger(__name__)

__all__ = ["DEVICE_ID_PATTERN", "BundleCatalog", "DeviceOffer", "PublishedBundle", "RolloutState", "bucket_of"]

# The device ids the SDK accepts (edge.runtime.config): they also name the device's outbox file.
DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
BUCKETS = 100
_BUSY_TIMEOUT_S = 30.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS bundles (
    version TEXT PRIMARY KEY,
    folder TEXT NOT NULL,
    manifest TEXT NOT NULL,
    published_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rollouts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL REFERENCES bundles(version),
    percent INTEGER NOT NULL CHECK (percent BETWEEN 0 AND 100),
    stable TEXT REFERENCES bundles(version),
    at TEXT NOT NULL
);
"""


def bucket_of(device_id: str, target: str) -> int:
    """The device's bucket in the rollout of ``target``, 0..99: the first 8 bytes (big-endian) of
    sha256(``"<target>/<device id>"``) modulo 100."""
    digest = hashlib.sha256(f"{target}/{device_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def check_device_id(device_id: str) -> str:
    if not _DEVICE_ID.match(device_id):
        raise EdgePublishError(
            f"device id {device_id[:80]!r} must be 1-128 letters, digits, '.', '_' or '-' starting with a letter "
            "or digit (the id the device's EdgeClientConfig uses)"
        )
    return device_id


@dataclass(frozen=True)
class PublishedBundle:
    """A bundle the cluster serves: its verified manifest and the folder holding its files."""

    manifest: Manifest
    folder: Path
    published_at: str

    @property
    def version(self) -> str:
        return self.manifest.version_id

    def file_names(self) -> list[str]:
        """Every file a device may fetch: the manifest, its signature and the files the manifest pins."""
        return [MANIFEST_FILE, SIGNATURE_FILE, *sorted(self.manifest.files)]

    def file(self, name: str) -> Path:
        """The path of one of :meth:`file_names`; any other name (``..``, a path, an unlisted file) is not found."""
        if name not in self.file_names():
            raise NotFoundError(
                "file", name, f"bundle {self.version} has no file {name[:80]!r}; its files are {self.file_names()}"
            )
        return self.folder / name


@dataclass(frozen=True)
class RolloutState:
    """The current rollout: ``target`` for ``percent`` % of devices, ``stable`` (or nothing) for the rest."""

    target: str
    percent: int
    stable: str | None
    at: str


@dataclass(frozen=True)
class DeviceOffer:
    """What one device should run, and why."""

    device_id: str
    bucket: int
    in_rollout: bool
    rollout: RolloutState
    bundle: PublishedBundle


class BundleCatalog:
    """The published bundles and the rollout, in one SQLite file under ``root`` (shared by every replica)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bundles_dir = root / "bundles"
        self.db_path = root / "catalog.sqlite"

    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        if not write and not self.db_path.exists():
            raise NotFoundError(
                "version", None, "no edge bundle is published on this cluster; run `shopmesh edge publish VERSION`"
            )
        try:
            if write:
                self.bundles_dir.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.db_path, timeout=_BUSY_TIMEOUT_S)) as conn:
                if write:
                    conn.executescript(_SCHEMA)
                with conn:  # one transaction, committed on success
                    yield conn
        except sqlite3.Error as err:
            raise EdgePublishError(
                f"the edge bundle catalog {self.db_path} cannot be used ({err}); check the cluster's state directory"
            ) from err
        except OSError as err:
            raise EdgePublishError(f"cannot write under {self.root}: {err}; pass a writable state directory") from err

    def publish(self, bundle_dir: Path, trust: TrustStore, percent: int, *, version: str | None = None) -> RolloutState:
        """Verify ``bundle_dir`` (signature and hashes), copy it in and make it the target for ``percent`` %.

        ``percent`` 100 completes the rollout: the version becomes the stable one every device gets. ``version``,
        when given, must be the bundle's version id.
        """
        if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
            raise EdgePublishError(f"rollout percentage must be an integer in 0..100, got {percent!r}")
        try:
            manifest = verify_signature(bundle_dir, trust)
            verify_files(bundle_dir, manifest)
        except BundleError as err:
            raise EdgePublishError(f"bundle {bundle_dir} is not publishable: {err}") from err
        if version is not None and manifest.version_id != version:
            raise EdgePublishError(
                f"bundle {bundle_dir} holds {manifest.version_id}, not {version!r}; name the bundle's version or "
                "pass the bundle of that version with --bundle"
            )
        raw = (bundle_dir / MANIFEST_FILE).read_bytes()
        folder = self._copy_in(bundle_dir, manifest, raw)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._connect(write=True) as conn:
            conn.execute(
                "INSERT INTO bundles (version, folder, manifest, published_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(version) DO UPDATE SET folder = excluded.folder, manifest = excluded.manifest, "
                "published_at = excluded.published_at",
                (manifest.version_id, folder.name, raw.decode("utf-8"), now),
            )
            last = _last_rollout(conn)
            stable = manifest.version_id if percent == 100 else (last.stable if last is not None else None)
            conn.execute(
                "INSERT INTO rollouts (target, percent, stable, at) VALUES (?, ?, ?, ?)",
                (manifest.version_id, percent, stable, now),
            )
        state = RolloutState(manifest.version_id, percent, stable, now)
        logger.info("published %s to %s %% of devices (stable: %s)", state.target, percent, stable)
        return state

    def _copy_in(self, bundle_dir: Path, manifest: Manifest, raw: bytes) -> Path:
        """The bundle's files in a folder of their own, named by version and manifest hash (copied, then renamed)."""
        name = f"{_UNSAFE.sub('-', manifest.version_id)}-{hashlib.sha256(raw).hexdigest()[:12]}"
        target = self.bundles_dir / name
        if target.is_dir():
            return target
        self.bundles_dir.mkdir(parents=True, exist_ok=True)
        staging = self.bundles_dir / f".{name}.{uuid.uuid4().hex}.tmp"
        try:
            staging.mkdir()
            for file_name in [MANIFEST_FILE, SIGNATURE_FILE, *manifest.files]:
                shutil.copyfile(bundle_dir / file_name, staging / file_name)
            verify_files(staging, manifest)
            staging.rename(target)
        except (OSError, BundleError) as err:
            shutil.rmtree(staging, ignore_errors=True)
            if target.is_dir():  # another publisher of the same bundle finished first
                return target
            raise EdgePublishError(f"cannot copy bundle {bundle_dir} into {self.bundles_dir}: {err}") from err
        return target

    def rollout(self) -> RolloutState:
        with self._connect(write=False) as conn:
            last = _last_rollout(conn)
        if last is None:
            raise NotFoundError(
                "version", None, "no edge bundle is published on this cluster; run `shopmesh edge publish VERSION`"
            )
        return last

    def overview(self, history: int = 20) -> tuple[RolloutState | None, list[PublishedBundle], list[RolloutState]]:
        """The current rollout (``None`` before the first publish), every published bundle (newest first) and
        the last ``history`` rollout changes (newest first): what an operator looks at."""
        if not self.db_path.exists():
            return None, [], []
        with self._connect(write=False) as conn:
            rows = conn.execute(
                "SELECT folder, manifest, published_at FROM bundles ORDER BY published_at DESC"
            ).fetchall()
            changes = conn.execute(
                "SELECT target, percent, stable, at FROM rollouts ORDER BY seq DESC LIMIT ?", (history,)
            ).fetchall()
        bundles = [
            PublishedBundle(
                Manifest.from_bytes(raw.encode("utf-8"), self.bundles_dir / folder / MANIFEST_FILE),
                self.bundles_dir / folder,
                published_at,
            )
            for folder, raw, published_at in rows
        ]
        states = [RolloutState(str(t), int(p), s, str(a)) for t, p, s, a in changes]
        return (states[0] if states else None), bundles, states

    def bundle(self, version: str) -> PublishedBundle:
        """A published version; :class:`NotFoundError` names the published ones otherwise."""
        with self._connect(write=False) as conn:
            row = conn.execute(
                "SELECT folder, manifest, published_at FROM bundles WHERE version = ?", (version,)
            ).fetchone()
            if row is None:
                known = [r[0] for r in conn.execute("SELECT version FROM bundles ORDER BY version")]
        if row is None:
            raise NotFoundError(
                "version", version, f"edge bundle {version[:80]!r} is not published; published versions: {known}"
            )
        folder, raw, published_at = row
        path = self.bundles_dir / folder
        return PublishedBundle(Manifest.from_bytes(raw.encode("utf-8"), path / MANIFEST_FILE), path, published_at)

    def offer(self, device_id: str) -> DeviceOffer:
        """The bundle ``device_id`` should run: the rollout target inside its bucket, else the stable version."""
        check_device_id(device_id)
        state = self.rollout()
        bucket = bucket_of(device_id, state.target)
        in_rollout = bucket < state.percent
        version = state.target if in_rollout else state.stable
        if version is None:
            raise NotFoundError(
                "device",
                device_id,
                f"no edge bundle is published for device {device_id!r} yet: it is in bucket {bucket}, outside the "
                f"{state.percent} % rollout of {state.target}, and no version has been published to 100 %",
            )
        return DeviceOffer(device_id, bucket, in_rollout, state, self.bundle(version))


def _last_rollout(conn: sqlite3.Connection) -> RolloutState | None:
    row = conn.execute("SELECT target, percent, stable, at FROM rollouts ORDER BY seq DESC LIMIT 1").fetchone()
    return None if row is None else RolloutState(str(row[0]), int(row[1]), row[2], str(row[3]))
