"""Where a model version came from: parent version, data fingerprint, training method and its details."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import pandas as pd

from ensemble.errors import DataError, RegistryError

__all__ = ["Lineage", "LineageMethod", "fingerprint_file", "fingerprint_frame"]

LineageMethod = Literal["central", "federated", "export"]
_METHODS: tuple[str, ...] = get_args(LineageMethod)


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class Lineage:
    """Provenance of one version.

    ``parent`` is the full id of the version it started from (``"intent:v0002"``) or ``None``;
    ``data_fingerprint`` identifies the training data (see :func:`fingerprint_frame` /
    :func:`fingerprint_file`); ``method`` says how it was produced; ``details`` holds method-specific facts
    such as the federated round, participants or privacy budget; ``created_at`` is an ISO 8601 UTC time.
    """

    parent: str | None
    data_fingerprint: str
    method: LineageMethod
    details: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=_now)

    def __post_init__(self) -> None:
        if self.method not in _METHODS:
            raise RegistryError(f"unknown lineage method {self.method!r}; use one of {list(_METHODS)}.")
        if self.parent is not None and (":" not in self.parent or not self.parent.partition(":")[2].startswith("v")):
            raise RegistryError(
                f"lineage parent {self.parent!r} is not a full version id; use e.g. 'intent:v0002' or None."
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "parent": self.parent,
            "data_fingerprint": self.data_fingerprint,
            "method": self.method,
            "details": dict(self.details),
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, content: Mapping[str, Any]) -> Lineage:
        """Rebuild from :meth:`to_dict` output; raises :class:`RegistryError` if a field is missing."""
        try:
            return cls(
                parent=content["parent"],
                data_fingerprint=str(content["data_fingerprint"]),
                method=content["method"],
                details=dict(content.get("details", {})),
                created_at=str(content["created_at"]),
            )
        except KeyError as err:
            raise RegistryError(f"lineage record lacks the field {err.args[0]!r}; found {sorted(content)}.") from err


def fingerprint_frame(frame: pd.DataFrame) -> str:
    """A stable ``"sha256:..."`` digest of a frame's column names, dtypes, index and values."""
    digest = hashlib.sha256()
    for name, dtype in frame.dtypes.items():
        digest.update(f"{name}\x1f{dtype}\x1e".encode())
    digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return f"sha256:{digest.hexdigest()}"


def fingerprint_file(path: Path | str) -> str:
    """The ``"sha256:..."`` digest of a file's bytes; raises :class:`DataError` if it cannot be read."""
    path = Path(path)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except OSError as err:
        raise DataError(f"cannot fingerprint {path}: {err}; check that the file exists.", path=path) from err
    return f"sha256:{digest.hexdigest()}"
