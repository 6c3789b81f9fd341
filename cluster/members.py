"""The names of the served members and their per-member serving options.

Adding a served member means one deployment module and one row in :data:`cluster.app.SERVED_MEMBERS`; its name
goes here so that configuration, health and routes can name it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from cluster.errors import ClusterConfigError
from ensemble.members.intent_onnx import EncoderEngine

__all__ = ["ENGINES", "INGRESS", "Autoscaling", "MemberName", "MemberServing", "Topology"]

ENGINES = tuple(engine.value for engine in EncoderEngine)  # what can run the intent member's encoder
INGRESS = "ingress"  # the options of the HTTP ingress deployment sit beside the members' under this key


class MemberName(StrEnum):
    """Every member the cluster serves, one deployment each (the ingress is not a member)."""

    INTENT = "intent"
    GRAPH = "graph"
    REPLY = "reply"
    FORECASTER = "forecaster"
    PRICER = "pricer"
    VISION = "vision"


class Topology(StrEnum):
    """How the chat chain's members (intent, graph, reply) are deployed.

    ``colocated``: in one deployment, called once per chat request (no handle hop between members; it takes the
    intent member's serving options). ``composed``: one deployment per member, composed by handles in the
    ingress (each member scales on its own).
    """

    COLOCATED = "colocated"
    COMPOSED = "composed"


@dataclass(frozen=True)
class Autoscaling:
    """Serve's autoscaling for one deployment: replicas move between the bounds to keep about
    ``target_ongoing_requests`` requests in flight per replica."""

    min_replicas: int = 1
    max_replicas: int = 2
    target_ongoing_requests: float = 4.0
    upscale_delay_s: float = 5.0
    downscale_delay_s: float = 30.0

    def __post_init__(self) -> None:
        if self.min_replicas < 0 or self.max_replicas < max(1, self.min_replicas):
            raise ClusterConfigError(
                f"autoscaling needs 0 <= min_replicas <= max_replicas and max_replicas >= 1; got "
                f"min_replicas={self.min_replicas}, max_replicas={self.max_replicas}"
            )
        if self.target_ongoing_requests <= 0:
            raise ClusterConfigError(
                f"autoscaling target_ongoing_requests must be > 0, got {self.target_ongoing_requests}"
            )
        if self.upscale_delay_s < 0 or self.downscale_delay_s < 0:
            raise ClusterConfigError("autoscaling delays must be >= 0 seconds")

    def to_serve(self) -> dict[str, Any]:
        """Serve's ``autoscaling_config``."""
        return asdict(self)


@dataclass(frozen=True)
class MemberServing:
    """How one deployment runs: replicas (or autoscaling), the CPU and GPU share of each replica, request
    batching and how many requests a replica takes at once (``None``: Serve's default). ``resources`` asks for
    custom Ray resources as well (e.g. ``{"gpu_pool": 1}`` places replicas on the nodes started with
    ``--resources '{"gpu_pool": N}'``). ``num_gpus`` reserves GPUs for each replica, so replicas are placed on
    GPU nodes; the members still run their models on the CPU there (loading them on CUDA is not built yet).
    ``engine`` runs the intent member's encoder on ONNX Runtime (``onnx``: fp32, ``onnx-int8``: weights
    quantized per channel) instead of torch eager (``torch``, the default when unset); only the intent member
    (and, co-located, the ensemble deployment, which takes its options) has one."""

    replicas: int = 1
    num_cpus: float = 0.25
    num_gpus: float = 0.0
    max_batch_size: int = 8
    batch_wait_timeout_s: float = 0.005
    max_ongoing_requests: int | None = None
    autoscaling: Autoscaling | None = None
    resources: Mapping[str, float] = field(default_factory=dict)
    engine: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.autoscaling, Mapping):
            object.__setattr__(self, "autoscaling", _parse(Autoscaling, self.autoscaling, "autoscaling"))
        object.__setattr__(self, "resources", _resources(self.resources, "resources"))
        if self.replicas < 1:
            raise ClusterConfigError(f"replicas must be >= 1, got {self.replicas}")
        if self.num_cpus < 0 or self.num_gpus < 0 or self.num_cpus + self.num_gpus <= 0:
            raise ClusterConfigError(
                f"a replica needs num_cpus >= 0 and num_gpus >= 0, not both 0; got num_cpus={self.num_cpus}, "
                f"num_gpus={self.num_gpus}"
            )
        if self.max_batch_size < 1:
            raise ClusterConfigError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.batch_wait_timeout_s < 0:
            raise ClusterConfigError(
                f"batch_wait_timeout_s must be >= 0, got {self.batch_wait_timeout_s}; 0.005 s is a good start"
            )
        if self.max_ongoing_requests is not None and self.max_ongoing_requests < 1:
            raise ClusterConfigError(f"max_ongoing_requests must be >= 1, got {self.max_ongoing_requests}")
        if self.engine is not None and self.engine not in ENGINES:
            raise ClusterConfigError(f"engine must be one of {list(ENGINES)}, got {self.engine!r}")

    @property
    def max_replicas(self) -> int:
        """The most replicas this deployment can run (for the resource budget)."""
        return self.autoscaling.max_replicas if self.autoscaling is not None else self.replicas

    def deployment_options(self, default_ongoing: int | None = None) -> dict[str, Any]:
        """Keyword arguments of ``Deployment.options`` (replicas or autoscaling, actor resources)."""
        actor: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}
        if self.resources:
            actor["resources"] = dict(self.resources)
        options: dict[str, Any] = {"ray_actor_options": actor}
        if self.max_ongoing_requests or default_ongoing:
            options["max_ongoing_requests"] = self.max_ongoing_requests or default_ongoing
        if self.autoscaling is not None:
            options["autoscaling_config"] = self.autoscaling.to_serve()
        else:
            options["num_replicas"] = self.replicas
        return options

    def to_args(self) -> dict[str, Any]:
        """JSON-ready options; unset ones (``None``, no custom resources) left out."""
        return {key: value for key, value in asdict(self).items() if value is not None and value != {}}

    def merged(self, overrides: Mapping[str, Any], where: str) -> MemberServing:
        """These options with ``overrides`` (a config file's mapping) applied; unknown keys are an error."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ClusterConfigError(
                f"unknown serving options {unknown} for {where}; known options are {sorted(known)}"
            )
        values = {key: _coerce_option(key, value, where) for key, value in overrides.items()}
        try:
            return replace(self, **values)
        except TypeError as err:
            raise ClusterConfigError(f"serving options for {where}: {err}") from err


def _resources(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ClusterConfigError(f"{where} must map resource names to amounts, got {value!r}")
    parsed: dict[str, float] = {}
    for name, amount in value.items():
        try:
            parsed[str(name)] = float(amount)
        except (TypeError, ValueError) as err:
            raise ClusterConfigError(f"{where}.{name} must be a number, got {amount!r}") from err
        if parsed[str(name)] <= 0 or name in ("CPU", "GPU"):
            raise ClusterConfigError(
                f"{where}.{name} must be a custom resource with an amount > 0 (CPUs and GPUs have their own "
                f"options num_cpus / num_gpus); got {amount!r}"
            )
    return parsed


def _coerce_option(key: str, value: Any, where: str) -> Any:
    if key == "resources":
        return _resources(value, f"{where}.resources")
    if key == "autoscaling":
        if value is None or isinstance(value, Autoscaling):
            return value
        if not isinstance(value, Mapping):
            raise ClusterConfigError(f"{where}.autoscaling must be a mapping, got {value!r}")
        return _parse(Autoscaling, value, f"{where}.autoscaling")
    caster: dict[str, type] = {
        "replicas": int,
        "num_cpus": float,
        "num_gpus": float,
        "max_batch_size": int,
        "batch_wait_timeout_s": float,
        "max_ongoing_requests": int,
    }
    if value is None and key in ("max_ongoing_requests", "engine"):
        return None
    if key == "engine":
        return str(value)
    try:
        return caster[key](value)
    except (TypeError, ValueError) as err:
        raise ClusterConfigError(f"{where}.{key} must be a number, got {value!r}") from err


def _parse(kind: type[Autoscaling], values: Mapping[str, Any], where: str) -> Autoscaling:
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ClusterConfigError(f"unknown settings {unknown} in {where}; known settings are {sorted(known)}")
    try:
        parsed: dict[str, Any] = {k: (int(v) if k.endswith("replicas") else float(v)) for k, v in values.items()}
        return kind(**parsed)
    except (TypeError, ValueError) as err:
        raise ClusterConfigError(f"{where}: {err}") from err
