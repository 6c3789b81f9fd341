"""The one typed configuration of the serving tier, parsed once at the entry point and passed down."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cluster.errors import ClusterConfigError
from cluster.members import INGRESS, MemberName, MemberServing, Topology

__all__ = [
    "EDGE_BUNDLES_DIR",
    "MAX_BODY_BYTES",
    "MAX_TEXT_LENGTH",
    "REGISTRY_DIR_ENV",
    "STATE_DIR_ENV",
    "ClusterConfig",
    "default_state_dir",
    "ray_address_from_env",
    "registry_dir_from_env",
    "serving_from_env",
    "state_dir_from_env",
]

MAX_TEXT_LENGTH = 2000  # the hard ceiling of a chat message, enforced by the request schema
MAX_BODY_BYTES = 1_000_000  # request bodies above this are refused with 413 before they are parsed

_ENV_PREFIX = "SHOPMESH_CLUSTER_"
STATE_DIR_ENV = _ENV_PREFIX + "STATE_DIR"  # also how the ingress deployment learns the state directory
REGISTRY_DIR_ENV = _ENV_PREFIX + "REGISTRY_DIR"  # and the registry (the console's federation runs read it)
EDGE_BUNDLES_DIR = "edge-bundles"  # published edge bundles and their rollout, under the state directory


def default_state_dir(registry_dir: Path) -> Path:
    """The cluster's state directory when none is given: ``cluster-state`` beside the registry."""
    return registry_dir.parent / "cluster-state"


@dataclass(frozen=True)
class ClusterConfig:
    """Where the models live and how Ray and Serve run them.

    ``intent_version`` names a registry version ("v0002", "intent:v0002", "2"); ``None`` serves the latest.
    ``reply_version`` does the same for the reply member; when the registry has no reply version (and none is
    named) the cluster still starts and answers with retrieved reference responses. ``reply_model_path`` (a
    local HF causal-LM directory) replaces the registry's reply model. ``reference_data`` is a CSV with
    ``instruction``, ``intent`` and ``response`` columns for the fallback (``None``: the bundled Bitext train
    split).
    ``address`` is a running Ray cluster to deploy onto (``auto``, or the head's ``HOST:PORT``); ``None``
    starts a local Ray with ``num_cpus`` CPUs. ``replicas``, ``replica_cpus``, ``max_batch_size`` and
    ``batch_wait_timeout_s`` are the defaults of every deployment; ``serving`` overrides them per member (keys
    of :class:`~cluster.members.MemberName`, plus ``ingress``) with :class:`~cluster.members.MemberServing`
    options (replicas or autoscaling, CPUs, GPUs, batching). On a local Ray every deployment's largest replica
    count times its CPU share must fit in ``num_cpus``. ``max_body_bytes`` bounds a request body.
    ``topology`` says how the chat chain's members are deployed (:class:`~cluster.members.Topology`):
    ``colocated`` (the default) runs intent, graph and reply in one deployment with the intent member's serving
    options; ``composed`` runs one deployment per member.
    ``state_dir`` holds what the cluster itself keeps (the idempotency keys of delivered events and the answers
    given to them); ``None``: ``cluster-state`` beside the registry. It must be writable and, with several
    ingress replicas on several nodes, shared; rollouts keep what was served there too.
    ``dashboard_port`` starts Ray's dashboard with the local Ray, on ``host``, which serves the Serve REST API
    that ``shopmesh rollout`` uses (``None``: no dashboard, about 1.2 GiB less memory, and no rollouts; a joined
    cluster has its own). ``ray_temp_dir`` is Ray's session directory (``None``: Ray's
    default, ``$RAY_TMPDIR`` or /tmp/ray); keep it short, Ray puts Unix sockets under it.
    ``max_adapters_per_replica`` bounds the merchants' intent adapters (:mod:`cluster.adapters`) a replica keeps
    loaded; the least recently used one is evicted for another.
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
    max_body_bytes: int = MAX_BODY_BYTES
    ray_temp_dir: Path | None = None
    address: str | None = None
    app_name: str = "shopmesh"
    startup_timeout_s: float = 180.0
    topology: Topology = Topology.COLOCATED
    serving: Mapping[str, Any] = field(default_factory=dict)
    state_dir: Path | None = None
    dashboard_port: int | None = None
    max_adapters_per_replica: int = 4

    def __post_init__(self) -> None:
        object.__setattr__(self, "registry_dir", Path(self.registry_dir))
        object.__setattr__(self, "graph_dir", Path(self.graph_dir))
        for name in ("ray_temp_dir", "reply_model_path", "reference_data", "state_dir"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        try:
            object.__setattr__(self, "topology", Topology(self.topology))
        except ValueError as err:
            raise ClusterConfigError(
                f"unknown topology {self.topology!r}; choose one of {[t.value for t in Topology]}"
            ) from err
        if not 0 < self.port < 65536:
            raise ClusterConfigError(f"port must be in 1..65535, got {self.port}; pick a free port such as 8000")
        if self.dashboard_port is not None and not 0 < self.dashboard_port < 65536:
            raise ClusterConfigError(
                f"dashboard_port must be in 1..65535, got {self.dashboard_port}; Ray's default is 8265"
            )
        _positive("num_cpus", self.num_cpus)
        _positive("replicas", self.replicas)
        _positive("replica_cpus", self.replica_cpus)
        _positive("max_batch_size", self.max_batch_size)
        _positive("startup_timeout_s", self.startup_timeout_s)
        _positive("max_adapters_per_replica", self.max_adapters_per_replica)
        if self.batch_wait_timeout_s < 0:
            raise ClusterConfigError(
                f"batch_wait_timeout_s must be >= 0, got {self.batch_wait_timeout_s}; 0.005 s is a good start"
            )
        if not 1 <= self.max_text_length <= MAX_TEXT_LENGTH:
            raise ClusterConfigError(f"max_text_length must be in 1..{MAX_TEXT_LENGTH}, got {self.max_text_length}")
        if self.max_body_bytes < 1024:
            raise ClusterConfigError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")
        if self.address is not None and not self.address.strip():
            object.__setattr__(self, "address", None)
        object.__setattr__(self, "serving", self._resolve_serving(self.serving))
        engines = sorted(name for name, options in self.serving.items() if name != MemberName.INTENT and options.engine)
        if engines:
            raise ClusterConfigError(
                f"serving options {engines} set an engine, which only the intent member has (it runs the intent "
                "encoder on ONNX Runtime); set serving.intent.engine instead"
            )

    def check_local_budget(self, deployments: Mapping[str, MemberServing] | None = None) -> None:
        """Refuse a plan whose deployments cannot all fit in the local Ray's ``num_cpus`` (checked before a
        local Ray is started; a joined cluster brings its own nodes). ``deployments`` are the options of the
        deployments that start (:func:`cluster.app.deployment_plan`); ``None``: one per serving key."""
        chosen = self.serving if deployments is None else deployments
        needed = _most(chosen, "num_cpus")
        if needed > self.num_cpus:
            plan = ", ".join(f"{name} {options.max_replicas}x{options.num_cpus}" for name, options in chosen.items())
            raise ClusterConfigError(
                f"the deployments need {needed:g} CPUs at most ({plan}) but the local Ray gets "
                f"num_cpus={self.num_cpus}; lower replicas or num_cpus per member, or raise num_cpus"
            )

    def _resolve_serving(self, given: Mapping[str, Any]) -> dict[str, MemberServing]:
        """Every deployment's options: the defaults, then what ``given`` sets for it."""
        names = [*(m.value for m in MemberName), INGRESS]
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise ClusterConfigError(f"serving options for unknown deployments {unknown}; known ones are {names}")
        base = self.default_serving
        resolved: dict[str, MemberServing] = {}
        for name in names:
            value = given.get(name)
            if isinstance(value, MemberServing):
                resolved[name] = value
            elif value is None:
                resolved[name] = base
            elif isinstance(value, Mapping):
                resolved[name] = base.merged(value, f"serving.{name}")
            else:
                raise ClusterConfigError(f"serving.{name} must be a mapping of options, got {value!r}")
        return resolved

    @property
    def default_serving(self) -> MemberServing:
        """The serving options of a deployment that ``serving`` says nothing about."""
        return MemberServing(
            replicas=self.replicas,
            num_cpus=self.replica_cpus,
            max_batch_size=self.max_batch_size,
            batch_wait_timeout_s=self.batch_wait_timeout_s,
        )

    def member(self, name: str) -> MemberServing:
        """The serving options of one deployment (a :class:`MemberName` or ``ingress``)."""
        options: MemberServing = self.serving[str(name)]
        return options

    @property
    def requested_cpus(self) -> float:
        """CPUs a deployment per serving key reserves when every one runs its largest number of replicas (the
        ``composed`` topology; :func:`cluster.app.deployment_plan` gives the deployments of this one)."""
        return _most(self.serving, "num_cpus")

    @property
    def requested_gpus(self) -> float:
        """GPUs a deployment per serving key reserves at its largest number of replicas."""
        return _most(self.serving, "num_gpus")

    @property
    def state_path(self) -> Path:
        """Where the cluster keeps its own state (``state_dir``, else ``cluster-state`` beside the registry)."""
        return self.state_dir if self.state_dir is not None else default_state_dir(self.registry_dir)

    @property
    def url(self) -> str:
        """The base URL of the HTTP ingress."""
        return f"http://{self.host}:{self.port}"

    def to_args(self) -> dict[str, Any]:
        """JSON-ready arguments for the application builder (``cluster.app:app_builder``)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        for key, value in data.items():
            if isinstance(value, Path):
                data[key] = str(value)
        data["topology"] = self.topology.value
        data["serving"] = {name: options.to_args() for name, options in self.serving.items()}
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
            if name == "serving":
                if value is not None and not isinstance(value, Mapping):
                    raise ClusterConfigError(f"cluster setting 'serving' must be a mapping, got {value!r}")
                kwargs[name] = dict(value or {})
            else:
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
        if "serving" in args:
            args["serving"] = serving_from_env(env)
        if "address" not in args and env.get("RAY_ADDRESS"):
            args["address"] = env["RAY_ADDRESS"]
        args.update(overrides or {})
        return cls.from_args(args)


def serving_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Per-member serving options from ``SHOPMESH_CLUSTER_SERVING`` (a JSON object); empty when unset."""
    env = os.environ if environ is None else environ
    raw = env.get(_ENV_PREFIX + "SERVING")
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ClusterConfigError(f"{_ENV_PREFIX}SERVING must be a JSON object of per-member options: {err}") from err
    if not isinstance(parsed, dict):
        raise ClusterConfigError(f"{_ENV_PREFIX}SERVING must be a JSON object, got {raw!r}")
    return parsed


def state_dir_from_env(environ: Mapping[str, str] | None = None) -> Path:
    """The cluster's state directory as ``SHOPMESH_CLUSTER_STATE_DIR`` names it (set for the ingress by
    :func:`cluster.app.build_app`); :class:`ClusterConfigError` when it is unset."""
    return _dir_from_env(STATE_DIR_ENV, "state directory", environ)


def registry_dir_from_env(environ: Mapping[str, str] | None = None) -> Path:
    """The registry the cluster serves from, as ``SHOPMESH_CLUSTER_REGISTRY_DIR`` names it (set for the ingress
    by :func:`cluster.app.build_app`); :class:`ClusterConfigError` when it is unset."""
    return _dir_from_env(REGISTRY_DIR_ENV, "registry directory", environ)


def _dir_from_env(variable: str, what: str, environ: Mapping[str, str] | None) -> Path:
    env = os.environ if environ is None else environ
    raw = env.get(variable)
    if not raw:
        raise ClusterConfigError(
            f"{variable} is not set, so the ingress's routes do not know the cluster's {what}; build the "
            "application with cluster.app.build_app or set the variable"
        )
    return Path(raw)


def ray_address_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The running Ray cluster that ``RAY_ADDRESS`` names, if any (the variable Ray's own tools read)."""
    env = os.environ if environ is None else environ
    return env.get("RAY_ADDRESS") or None


def _most(deployments: Mapping[str, MemberServing], kind: str) -> float:
    """CPUs (``num_cpus``) or GPUs (``num_gpus``) the deployments reserve at their largest replica counts."""
    return float(sum(options.max_replicas * float(getattr(options, kind)) for options in deployments.values()))


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
