"""The edge bundle routes: which bundle a device should run, and the bundle files, resumable with HTTP Range.

``GET /v1/edge/bundles`` lists what is published and the rollout's state and history.
``GET /v1/edge/bundles/latest?device=ID`` answers the bundle of the device's rollout bucket
(:mod:`cluster.edge_rollout`) with ``files_path``; a device installs it with ``EdgeClient.update()``, which
fetches ``{files_path}/manifest.json``, ``manifest.sig`` and every pinned file from there and continues a cut
download with ``Range: bytes=N-`` (answered ``206 Partial Content``). ``GET /v1/edge/bundles/{version}``
describes one published version. Unknown versions, unknown file names (``..`` included) and a device with no
bundle answer 404; a malformed device id answers 422.

The routes read the catalog in the cluster's state directory, which the ingress deployment is told through
its environment (:func:`cluster.config.state_dir_from_env`).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel

from cluster.config import EDGE_BUNDLES_DIR, state_dir_from_env
from cluster.edge_rollout import DEVICE_ID_PATTERN, BundleCatalog, PublishedBundle
from cluster.schemas import NotFoundResponse, ValidationErrorResponse
from edge.runtime.manifest import MANIFEST_FILE

logger = logging.getLogger(__name__)

__all__ = [
    "DeviceBundleResponse",
    "EdgeBundleFile",
    "EdgeBundleResponse",
    "EdgeCatalogResponse",
    "EdgeRollout",
    "EdgeRolloutChange",
    "router",
]

BUNDLES_PATH = "/v1/edge/bundles"

router = APIRouter(prefix=BUNDLES_PATH, tags=["edge"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": NotFoundResponse, "description": "no such published version, file, or no bundle for the device"}
}
# manifest.json is JSON; the signature, the model, the tokenizer and the labels are sent as bytes
_FILE_TYPES: dict[str, Any] = {"application/json": {}, "application/octet-stream": {}}
_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationErrorResponse, "description": "a parameter does not match the schema"}
}


class EdgeBundleFile(BaseModel):
    """One file the bundle's signed manifest pins."""

    name: str
    sha256: str
    size: int


class EdgeBundleResponse(BaseModel):
    """A published bundle; its files (and ``manifest.json``, ``manifest.sig``) are at ``{files_path}/{name}``."""

    version: str
    member: str
    sequence: int
    rollback: bool
    created_at: str
    published_at: str
    quantization: str
    confidence_threshold: float
    key_id: str
    files_path: str
    files: list[EdgeBundleFile]


class EdgeRollout(BaseModel):
    """The rollout: ``target`` for ``percent`` % of devices (by bucket), ``stable`` for the others."""

    target: str
    percent: int
    stable: str | None


class EdgeRolloutChange(EdgeRollout):
    """One change of the rollout, as ``shopmesh edge publish`` made it (UTC, ISO 8601)."""

    at: str


class EdgeCatalogResponse(BaseModel):
    """Every published bundle (newest first), the current rollout (``null`` before the first publish) and its
    recent changes (newest first)."""

    rollout: EdgeRollout | None
    bundles: list[EdgeBundleResponse]
    history: list[EdgeRolloutChange]


class DeviceBundleResponse(BaseModel):
    """The bundle a device should run: the rollout target when its bucket is below the percentage."""

    device: str
    bucket: int
    in_rollout: bool
    rollout: EdgeRollout
    bundle: EdgeBundleResponse


def edge_catalog() -> BundleCatalog:
    """The catalog of the cluster's state directory (a dependency, so an app can serve another one)."""
    return BundleCatalog(state_dir_from_env() / EDGE_BUNDLES_DIR)


Catalog = Annotated[BundleCatalog, Depends(edge_catalog)]
VersionParam = Annotated[str, Path(description="a published version id", examples=["intent:v0001"])]
FileParam = Annotated[str, Path(description="a file the bundle's manifest pins", examples=[MANIFEST_FILE])]


def files_path(version: str) -> str:
    return f"{BUNDLES_PATH}/{quote(version, safe=':')}/files"


def describe(bundle: PublishedBundle) -> EdgeBundleResponse:
    manifest = bundle.manifest
    return EdgeBundleResponse(
        version=manifest.version_id,
        member=manifest.member,
        sequence=manifest.sequence,
        rollback=manifest.rollback,
        created_at=manifest.created_at,
        published_at=bundle.published_at,
        quantization=manifest.quantization,
        confidence_threshold=manifest.confidence_threshold,
        key_id=manifest.key_id,
        files_path=files_path(manifest.version_id),
        files=[EdgeBundleFile(name=n, sha256=e.sha256, size=e.size) for n, e in sorted(manifest.files.items())],
    )


@router.get("", response_model=EdgeCatalogResponse)
def catalog_overview(catalog: Catalog) -> EdgeCatalogResponse:
    """What is published for store devices and how far the rollout has gone (the console's edge panel)."""
    current, bundles, changes = catalog.overview()
    rollout = (
        None if current is None else EdgeRollout(target=current.target, percent=current.percent, stable=current.stable)
    )
    return EdgeCatalogResponse(
        rollout=rollout,
        bundles=[describe(bundle) for bundle in bundles],
        history=[EdgeRolloutChange(target=c.target, percent=c.percent, stable=c.stable, at=c.at) for c in changes],
    )


@router.get("/latest", response_model=DeviceBundleResponse, responses={**_NOT_FOUND, **_INVALID})
def latest_for_device(
    catalog: Catalog,
    device: Annotated[
        str, Query(min_length=1, max_length=128, pattern=DEVICE_ID_PATTERN, examples=["store-0042-till-1"])
    ],
) -> DeviceBundleResponse:
    """The bundle this device should run under the staged rollout (stable hash of the device id)."""
    offer = catalog.offer(device)
    rollout = EdgeRollout(target=offer.rollout.target, percent=offer.rollout.percent, stable=offer.rollout.stable)
    return DeviceBundleResponse(
        device=offer.device_id,
        bucket=offer.bucket,
        in_rollout=offer.in_rollout,
        rollout=rollout,
        bundle=describe(offer.bundle),
    )


@router.get("/{version}", response_model=EdgeBundleResponse, responses=_NOT_FOUND)
def bundle_version(catalog: Catalog, version: VersionParam) -> EdgeBundleResponse:
    """One published version (e.g. ``intent:v0002``) and where its files are."""
    return describe(catalog.bundle(version))


@router.get(
    "/{version}/files/{name}",
    response_class=FileResponse,
    responses={
        200: {"content": _FILE_TYPES, "description": "the whole file"},
        206: {"content": _FILE_TYPES, "description": "the requested byte range"},
        416: {"description": "the byte range lies outside the file"},
        **_NOT_FOUND,
    },
)
def bundle_file(catalog: Catalog, version: VersionParam, name: FileParam) -> FileResponse:
    """A file of a published bundle; ``Range: bytes=N-`` continues a cut download (206)."""
    path = catalog.bundle(version).file(name)
    media_type = "application/json" if name == MANIFEST_FILE else "application/octet-stream"
    return FileResponse(path, media_type=media_type)
