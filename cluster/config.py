"""The one typed configuration of the serving tier, parsed once at the entry point and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from cluster.errors import ClusterConfigError

__all__ = ["MAX_TEXT_LENGTH", "ClusterConfig"]

MAX_TEXT_LENGTH = 2000  # the hard ceiling of a chat message, enforced by the request schema

_ENV_PREFIX = "SHOPMESH_CLUSTER_"
DEPLOYMENTS = 6  # intent, graph, reply, forecast, price, ingress


@dataclass(frozen=True)
class ClusterConfig:
    """Where the models live and how Ray and Serve run them.

    ``intent_version`` names a registry version ("v0002", "intent:v0002", "2"); ``None`` serves the latest.
    ``reply_version`` does the same for the reply member; when the registry has no reply version (and none is
    named) the cluster still starts and answers with retrieved reference responses. ``reply_model_path`` (a
    local HF causal-LM directory) replaces the registry's reply model. ``reference_data`` is a CSV with
    ``instruction``, ``intent`` and ``response`` columns for the fallback (``None``: the bundled Bitext train
    split).
    ``replica_cpus`` is the CPU share Ray reserves for each replica, so that all deployments fit in
    ``num_cpus``. ``ray_temp_dir`` is Ray's session directory (``None``: Ray's default, ``$RAY_TMPDIR`` or
    /tmp/ray); keep it short, Ray puts Unix sockets under it.
    """

    registry_dir: Path
    graph_dir: Path
    intent_version: str | None = None
    reply_version: str | None = None
    reply_model_path: Path | None = None
    reference_data: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    num_cpus: int = 2
    replicas: int = 1
    replica_cpus: float = 0.25
    max_batch_size: int = 8
    batch_wait_timeout_s: float = 0.005
    max_text_length: int = MAX_TEXT_LENGTH
    ray_temp_dir: Path | None = None
    app_name: str = "shopmesh"
    startup_timeout_s: float = 180.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "registry_dir", Path(self.registry_dir))
        object.__setattr__(self, "graph_dir", Path(self.graph_dir))
        for name in ("ray_temp_dir", "reply_model_path", "reference_data"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        if not 0 < self.port < 65536:
            raise ClusterConfigError(f"port must be in 1..65535, got {self.port}; pick a free port such as 8000")
        _positive("num_cpus", self.num_cpus)
        _positive("replicas", self.replicas)
        _positive("replica_cpus", self.replica_cpus)
        _positive("max_batch_size", self.max_batch_size)
        _positive("startup_timeout_s", self.startup_timeout_s)
        if self.batch_wait_timeout_s < 0:
            raise ClusterConfigError(
                f"batch_wait_timeout_s must be >= 0, got {self.batch_wait_timeout_s}; 0.005 s is a good start"
            )
        if not 1 <= self.max_text_length <= MAX_TEXT_LENGTH:
            raise ClusterConfigError(f"max_text_length must be in 1..{MAX_TEXT_LENGTH}, got {self.max_text_length}")
        if self.replicas * DEPLOYMENTS * self.replica_cpus > self.num_cpus:
            raise ClusterConfigError(
                f"{self.replicas} replica(s) of {DEPLOYMENTS} deployments at {self.replica_cpus} CPU each need "
                f"{self.replicas * DEPLOYMENTS * self.replica_cpus} CPUs but num_cpus is {self.num_cpus}; "
                "lower replica_cpus or raise num_cpus"
            )

    @property
    def url(self) -> str:
        """The base URL of the HTTP ingress."""
        return f"http://{self.host}:{self.port}"

    def to_args(self) -> dict[str, Any]:
        """JSON-ready arguments for the application builder (``cluster.app:app_builder``)."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, Path):
                data[key] = str(value)
        return data

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> ClusterConfig:
        """Parse builder arguments (a Serve config file's or :meth:`to_args`'s); unknown keys are an error."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(args) - set(known))
        if unknown:
            raise ClusterConfigError(f"unknown cluster settings {unknown}; known settings are {sorted(known)}")
        missing = [name for name in ("registry_dir", "graph_dir") if not args.get(name)]
        if missing:
            raise ClusterConfigError(f"cluster settings {missing} are required; give the directories")
        kwargs: dict[str, Any] = {}
        for name, value in args.items():
            kwargs[name] = _coerce(name, known[name].type, value)
        return cls(**kwargs)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
    ) -> ClusterConfig:
        """Read ``SHOPMESH_CLUSTER_<FIELD>`` variables (e.g. ``..._REGISTRY_DIR``); ``overrides`` win."""
        env = os.environ if environ is None else environ
        args: dict[str, Any] = {
            f.name: env[_ENV_PREFIX + f.name.upper()] for f in fields(cls) if _ENV_PREFIX + f.name.upper() in env
        }
        args.update(overrides or {})
        return cls.from_args(args)


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise ClusterConfigError(f"{name} must be > 0, got {value}")


def _coerce(name: str, annotation: Any, value: Any) -> Any:
    """Turn a string or JSON value into the field's type (annotations are strings here)."""
    kind = str(annotation)
    if value is None or (isinstance(value, str) and value == "" and "None" in kind):
        return None
    try:
        if kind.startswith("int"):
            return int(value)
        if kind.startswith("float"):
            return float(value)
        if kind.startswith("Path"):
            return Path(value)
        return str(value)
    except (TypeError, ValueError) as err:
        raise ClusterConfigError(f"cluster setting {name!r} must be {kind}, got {value!r}") from err
