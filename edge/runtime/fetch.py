"""Where an update comes from: a bundle folder, an HTTP base URL serving the bundle's files, or the cluster.

The cluster names the bundle a device should run at ``GET /v1/edge/bundles/latest?device=ID`` (its staged
rollout decides by the device id); :func:`offered_bundle_url` turns that answer into the files' base URL.

HTTP downloads resume: a partial file left by an interrupted download is continued with a ``Range`` request,
and restarted from zero only when the server does not answer ``206 Partial Content``.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any, Protocol

import httpx

from edge.runtime.errors import UpdateError
from edge.runtime.protocol import BUNDLES_LATEST_PATH

logger = logging.getLogger(__name__)

__all__ = ["BundleSource", "DirectorySource", "HttpSource", "offered_bundle_url", "open_source"]

_CHUNK = 1 << 16
_SMALL_LIMIT = 1 << 20  # manifest.json and manifest.sig are read whole; refuse anything larger


class BundleSource(Protocol):
    """The files of one bundle, by name."""

    def read_small(self, name: str) -> bytes:
        """The whole content of a small file (the manifest and its signature)."""
        ...

    def fetch(self, name: str, dest: Path, size: int) -> None:
        """Bring ``name`` to ``dest`` (``size`` bytes expected), continuing a partial ``dest`` where possible."""
        ...


def _fsync(fh_fileno: int) -> None:
    os.fsync(fh_fileno)


class DirectorySource:
    """A bundle folder on local or mounted storage (a USB stick, a network share)."""

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise UpdateError(f"update source {folder} is not a folder; pass a bundle folder or an http(s):// URL")
        self.folder = folder

    def __repr__(self) -> str:
        return f"DirectorySource({str(self.folder)!r})"

    def read_small(self, name: str) -> bytes:
        path = self.folder / name
        try:
            if path.stat().st_size > _SMALL_LIMIT:
                raise UpdateError(f"{path} is larger than {_SMALL_LIMIT} bytes; it is not a bundle manifest")
            return path.read_bytes()
        except OSError as err:
            raise UpdateError(f"cannot read {path}: {err}; is {self.folder} a complete bundle?") from err

    def fetch(self, name: str, dest: Path, size: int) -> None:
        src = self.folder / name
        try:
            with src.open("rb") as fin, dest.open("wb") as fout:
                shutil.copyfileobj(fin, fout, _CHUNK)
                fout.flush()
                _fsync(fout.fileno())
        except OSError as err:
            raise UpdateError(f"cannot copy {src} to {dest}: {err}; check the source and free space") from err


class HttpSource:
    """``{base_url}/{name}`` for each file of the bundle; downloads continue with HTTP Range requests."""

    def __init__(self, base_url: str, client: httpx.Client, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"HttpSource({self.base_url!r})"

    def _url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def read_small(self, name: str) -> bytes:
        url = self._url(name)
        try:
            response = self._client.get(url, timeout=self._timeout_s)
        except httpx.HTTPError as err:
            raise UpdateError(f"GET {url} failed: {err!r}; check the update URL and the network") from err
        if response.status_code != 200:
            raise UpdateError(f"GET {url} answered HTTP {response.status_code}; is this a bundle's base URL?")
        if len(response.content) > _SMALL_LIMIT:
            raise UpdateError(f"GET {url} sent {len(response.content)} bytes; it is not a bundle manifest")
        return response.content

    def fetch(self, name: str, dest: Path, size: int) -> None:
        url = self._url(name)
        have = dest.stat().st_size if dest.exists() else 0
        if have > size:
            dest.unlink()
            have = 0
        if have == size:
            return
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with self._client.stream("GET", url, headers=headers, timeout=self._timeout_s) as response:
                if have and response.status_code == 206:
                    mode = "ab"
                    logger.info("resuming %s at byte %s of %s", url, have, size)
                elif response.status_code == 200:
                    mode, have = "wb", 0
                else:
                    raise UpdateError(f"GET {url} answered HTTP {response.status_code}; the bundle is incomplete")
                with dest.open(mode) as fh:
                    try:
                        for chunk in response.iter_bytes():  # as received, so a cut keeps all that arrived
                            fh.write(chunk)
                    finally:
                        fh.flush()
                        _fsync(fh.fileno())
        except httpx.HTTPError as err:
            got = dest.stat().st_size if dest.exists() else 0
            raise UpdateError(
                f"download of {url} stopped at {got} of {size} bytes ({err!r}); call update again to resume"
            ) from err
        got = dest.stat().st_size
        if got < size:
            raise UpdateError(
                f"download of {url} ended at {got} of {size} bytes (the server closed early); "
                "call update again to resume"
            )


def open_source(source: str | Path, client: httpx.Client, timeout_s: float) -> BundleSource:
    """An :class:`HttpSource` for an ``http(s)://`` base URL, else a :class:`DirectorySource`."""
    if isinstance(source, str) and source.startswith(("http://", "https://")):
        return HttpSource(source, client, timeout_s)
    return DirectorySource(Path(source))


def offered_bundle_url(client: httpx.Client, cluster_url: str, device_id: str, timeout_s: float) -> str | None:
    """The base URL of the bundle files the cluster offers this device, or None when it offers none (404)."""
    url = f"{cluster_url}{BUNDLES_LATEST_PATH}"
    try:
        response = client.get(url, params={"device": device_id}, timeout=timeout_s)
    except httpx.HTTPError as err:
        raise UpdateError(f"GET {url} failed: {err!r}; check the cluster URL and the network") from err
    if response.status_code == 404:
        logger.info("the cluster offers device %s no bundle: %s", device_id, response.text[:200])
        return None
    if response.status_code != 200:
        raise UpdateError(f"GET {url}?device={device_id} answered HTTP {response.status_code}: {response.text[:200]}")
    try:
        body: Any = response.json()
        path = body["bundle"]["files_path"]
    except (ValueError, KeyError, TypeError) as err:
        raise UpdateError(
            f"GET {url} answered no bundle.files_path ({response.text[:120]!r}); is it a shopmesh cluster?"
        ) from err
    if not isinstance(path, str) or not path.startswith("/"):
        raise UpdateError(f"GET {url} answered files_path {path!r}; expected an absolute path on the cluster")
    return f"{cluster_url}{path}"
