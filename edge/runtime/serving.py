"""The bundle a device serves: loaded from a folder or an install directory, swapped, updated, rolled back."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge.runtime.bundle import EdgeBundle
from edge.runtime.errors import BundleError, HealthCheckError, UpdateError
from edge.runtime.fetch import BundleSource, DirectorySource
from edge.runtime.manifest import check_not_downgrade
from edge.runtime.store import BundleStore, InstallPhase
from edge.runtime.trust import TrustStore

logger = logging.getLogger(__name__)

__all__ = ["ServingBundle", "UpdateResult"]


@dataclass(frozen=True)
class UpdateResult:
    """The outcome of :meth:`EdgeClient.update`: what serves now and what served before."""

    version: str
    previous_version: str
    path: Path
    changed: bool  # False when the source held the version already serving


def _health_problem(bundle: EdgeBundle) -> str | None:
    failed = bundle.failed_probes()
    if not failed:
        return None
    shown = ", ".join(f"{p.text[:40]!r} -> {got} (expected {p.intent})" for p, got in failed[:3])
    return f"{len(failed)} of {len(bundle.manifest.probes)} probe texts classified otherwise: {shown}"


class ServingBundle:
    """The verified bundle in use, and, with an install directory, the versions installed on disk.

    Without ``install_dir`` the bundle folder is served as it is and :meth:`update` is refused. With it, the
    store's current version serves (``bundle_dir`` seeds an empty store); a current version that no longer
    verifies or fails its probes at start-up is replaced by the previous one.
    """

    def __init__(
        self, bundle_dir: Path, install_dir: Path | None, trust: TrustStore, *, intra_op_threads: int = 1
    ) -> None:
        self._trust = trust
        self._threads = intra_op_threads
        self._lock = threading.Lock()
        self.store = BundleStore(install_dir) if install_dir is not None else None
        if self.store is None:
            self._bundle = self._load(bundle_dir)
            return
        if self.store.current() is None:
            self.store.install(DirectorySource(bundle_dir), trust)
        self._bundle = self._open_installed(self.store)

    @property
    def bundle(self) -> EdgeBundle:
        return self._bundle

    def _load(self, folder: Path) -> EdgeBundle:
        return EdgeBundle.load(folder, self._trust, intra_op_threads=self._threads)

    def _open_installed(self, store: BundleStore) -> EdgeBundle:
        current = store.current()
        if current is None:
            raise UpdateError(f"{store.root} has no current version; install a bundle first")
        try:
            bundle = self._load(current)
            problem = _health_problem(bundle)
            if problem is None:
                return bundle
            error: Exception = HealthCheckError(f"{current.name}: {problem}")
        except BundleError as err:
            error = err
        previous = store.previous()
        if previous is None:
            raise UpdateError(f"the installed version {current.name} is unusable and none precedes it: {error}")
        logger.error("installed version %s is unusable (%s); rolling back to %s", current.name, error, previous.name)
        bundle = self._load(previous)
        store.activate(previous)
        return bundle

    def swap(self, bundle_dir: Path) -> str:
        """Serve another verified bundle folder (in memory only); a downgrade needs a signed rollback."""
        new = self._load(bundle_dir)
        with self._lock:
            check_not_downgrade(self._bundle.manifest, new.manifest)
            old, self._bundle = self._bundle.version_id, new
        logger.info("edge bundle swapped from %s to %s", old, new.version_id)
        return new.version_id

    def unchanged(self) -> UpdateResult:
        """The result of an update that found nothing to install."""
        current = self.store.current() if self.store is not None else None
        version = self._bundle.version_id
        return UpdateResult(version, version, current or self._bundle.path, changed=False)

    def update(self, source: BundleSource, observe: Callable[[InstallPhase], None] | None = None) -> UpdateResult:
        """Install from ``source``, switch to it, check it on its probe texts; roll back if that check fails."""
        store = self.store
        if store is None:
            raise UpdateError(
                "this client serves a plain bundle folder; updates need an install directory: pass install_dir="
            )
        with self._lock:
            old = self._bundle
            old_path = store.current()
            path = store.install(source, self._trust, installed=old.manifest, observe=observe)
            if path == old_path:
                return UpdateResult(old.version_id, old.version_id, path, changed=False)
            try:
                new = self._load(path)
                problem = _health_problem(new)
            except BundleError as err:
                problem = str(err)
            if problem is not None:
                if old_path is not None:
                    store.activate(old_path)
                raise HealthCheckError(
                    f"update to {path.name} failed its health check ({problem}); rolled back to {old.version_id}"
                )
            self._bundle = new
        logger.info("updated from %s to %s", old.version_id, new.version_id)
        return UpdateResult(new.version_id, old.version_id, path, changed=True)
