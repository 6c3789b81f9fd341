"""The Serve application graph, built in exactly one place from one table of served members.

:data:`SERVED_MEMBERS` lists every member deployment: its name, its Serve deployment, the registry member whose
versions it serves and how its constructor arguments come from the configuration. ``build_app`` binds each row
with its serving options (replicas or autoscaling, CPUs, GPUs, batching) and passes the handles, by member
name, into the ingress. Adding a served member is one deployment module and one row here.

``app_builder`` is the same graph for ``serve run`` / ``serve deploy`` config files and KubeRay (import path
``cluster.app:app_builder``, settings as ``args``); ``app_from_env`` reads ``SHOPMESH_CLUSTER_*`` variables.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ray.serve import Application, Deployment

from cluster.auth import warn_if_open
from cluster.config import REGISTRY_DIR_ENV, STATE_DIR_ENV, ClusterConfig
from cluster.ensemble_deployment import EnsembleDeployment
from cluster.errors import ClusterConfigError
from cluster.forecast_deployment import ForecastDeployment
from cluster.graph_deployment import GraphDeployment
from cluster.ingress import Ingress, IngressSettings
from cluster.intent_deployment import IntentDeployment
from cluster.members import INGRESS, MemberName, MemberServing, Topology
from cluster.price_deployment import PriceDeployment
from cluster.reply_deployment import ReplyDeployment
from cluster.vision_deployment import VisionDeployment

__all__ = [
    "ENSEMBLE",
    "SERVED_MEMBERS",
    "ServedMember",
    "app_builder",
    "app_from_env",
    "build_app",
    "deployment_plan",
    "deployments",
    "ignored_serving",
    "served_member",
]

logger = logging.getLogger(__name__)

Args = Callable[[ClusterConfig, MemberServing], tuple[Any, ...]]


def _deployment(target: object) -> Deployment:
    # @serve.deployment turns a class into a Deployment; its type hints still present the class.
    if not isinstance(target, Deployment):
        raise TypeError(f"{target!r} is not a Serve deployment; decorate it with @serve.deployment")
    return target


@dataclass(frozen=True)
class ServedMember:
    """One row of the member table.

    ``registry_member`` is the registry member whose versions the deployment serves (``None`` for the graph,
    which is loaded from its own directory); ``batched`` members group concurrent calls with
    ``@serve.batch``; ``args`` gives the deployment's constructor arguments; ``user_config`` (when set) is the
    part of the configuration that live replicas apply in place (``reconfigure``); ``colocated`` members run
    inside :data:`ENSEMBLE` in the ``colocated`` topology; ``key`` names a deployment that is not one member's.
    """

    name: MemberName
    deployment: Deployment
    registry_member: str | None
    batched: bool
    args: Args
    user_config: Callable[[ClusterConfig, MemberServing], dict[str, Any]] | None = None
    colocated: bool = False
    key: str | None = None

    @property
    def deployment_name(self) -> str:
        return str(self.deployment.name)

    @property
    def label(self) -> str:
        """The name of the deployment in plans and messages: ``key``, else the member's name."""
        return self.key or self.name.value

    def bind(self, config: ClusterConfig) -> Application:
        options = config.member(self.name)
        extra: dict[str, Any] = {}
        if self.user_config is not None:
            extra["user_config"] = self.user_config(config, options)
        default_ongoing = max(2 * options.max_batch_size, 8) if self.batched else None
        return self.deployment.options(**options.deployment_options(default_ongoing), **extra).bind(
            *self.args(config, options)
        )


def intent_user_config(config: ClusterConfig, options: MemberServing, version: str | None = None) -> dict[str, Any]:
    """The intent deployment's ``user_config``; changing it reconfigures live replicas in place."""
    return {
        "version": version if version is not None else (config.intent_version or "latest"),
        "max_batch_size": options.max_batch_size,
        "batch_wait_timeout_s": options.batch_wait_timeout_s,
    }


def version_user_config(config: ClusterConfig, options: MemberServing) -> dict[str, Any]:
    """The ``user_config`` of a registry-backed member that only names its version (a rollout changes it)."""
    return {"version": "latest"}


def batched_version_user_config(config: ClusterConfig, options: MemberServing) -> dict[str, Any]:
    """The ``user_config`` of a batched registry-backed member: its version and its batching."""
    return {
        "version": "latest",
        "max_batch_size": options.max_batch_size,
        "batch_wait_timeout_s": options.batch_wait_timeout_s,
    }


def _optional(path: object) -> str | None:
    return str(path) if path else None


def _engine(config: ClusterConfig, options: MemberServing) -> tuple[str, str]:
    """The intent encoder's engine and where its ONNX graphs are cached (the cluster's state directory)."""
    return options.engine or "torch", str(config.state_path.absolute() / "onnx-cache")


SERVED_MEMBERS: tuple[ServedMember, ...] = (
    ServedMember(
        MemberName.INTENT,
        _deployment(IntentDeployment),
        "intent",
        batched=True,
        args=lambda c, o: (
            str(c.registry_dir),
            c.intent_version,
            o.max_batch_size,
            o.batch_wait_timeout_s,
            *_engine(c, o),
            c.max_adapters_per_replica,
        ),
        user_config=intent_user_config,
        colocated=True,
    ),
    ServedMember(
        MemberName.GRAPH,
        _deployment(GraphDeployment),
        None,
        batched=False,
        args=lambda c, o: (str(c.graph_dir),),
        colocated=True,
    ),
    ServedMember(
        MemberName.REPLY,
        _deployment(ReplyDeployment),
        "reply",
        batched=True,
        args=lambda c, o: (
            str(c.registry_dir),
            c.reply_version,
            _optional(c.reply_model_path),
            _optional(c.reference_data),
            o.max_batch_size,
            o.batch_wait_timeout_s,
        ),
        colocated=True,
    ),
    ServedMember(
        MemberName.FORECASTER,
        _deployment(ForecastDeployment),
        "forecaster",
        batched=False,
        args=lambda c, o: (str(c.registry_dir), None),
        user_config=version_user_config,
    ),
    ServedMember(
        MemberName.PRICER,
        _deployment(PriceDeployment),
        "pricer",
        batched=False,
        args=lambda c, o: (str(c.registry_dir), None),
        user_config=version_user_config,
    ),
    ServedMember(
        MemberName.VISION,
        _deployment(VisionDeployment),
        "vision",
        batched=True,
        args=lambda c, o: (str(c.registry_dir), None, o.max_batch_size, o.batch_wait_timeout_s),
        user_config=batched_version_user_config,
    ),
)


# The co-located members in one deployment. It serves the registry's intent versions and takes the intent
# member's serving options and user_config: a batch of chat requests is one pass of the intent stage.
ENSEMBLE = ServedMember(
    MemberName.INTENT,
    _deployment(EnsembleDeployment),
    "intent",
    batched=True,
    args=lambda c, o: (
        str(c.registry_dir),
        c.intent_version,
        str(c.graph_dir),
        c.reply_version,
        _optional(c.reply_model_path),
        _optional(c.reference_data),
        o.max_batch_size,
        o.batch_wait_timeout_s,
        *_engine(c, o),
        c.max_adapters_per_replica,
    ),
    user_config=intent_user_config,
    key="ensemble",
)


def deployments(config: ClusterConfig) -> tuple[ServedMember, ...]:
    """The rows started under ``config.topology``: every row (composed), or :data:`ENSEMBLE` and the rows that
    are not co-located (colocated)."""
    if config.topology is Topology.COMPOSED:
        return SERVED_MEMBERS
    return (ENSEMBLE, *(row for row in SERVED_MEMBERS if not row.colocated))


def ignored_serving(config: ClusterConfig) -> list[str]:
    """The co-located members other than intent whose serving options differ from the defaults: in the
    ``colocated`` topology they run inside :data:`ENSEMBLE`, which takes the intent member's options, so
    theirs have no effect."""
    if config.topology is not Topology.COLOCATED:
        return []
    default = config.default_serving
    return [
        row.name.value
        for row in SERVED_MEMBERS
        if row.colocated and row.name is not ENSEMBLE.name and config.member(row.name) != default
    ]


def deployment_plan(config: ClusterConfig) -> dict[str, MemberServing]:
    """The serving options of every deployment that starts, the ingress included, by :attr:`ServedMember.label`."""
    plan = {row.label: config.member(row.name) for row in deployments(config)}
    plan[INGRESS] = config.member(INGRESS)
    return plan


def served_member(name: MemberName | str) -> ServedMember:
    """The table row of one member."""
    for row in SERVED_MEMBERS:
        if row.name == name:
            return row
    raise ClusterConfigError(f"no served member {name!r}; served members are {[m.name.value for m in SERVED_MEMBERS]}")


def _check_paths(config: ClusterConfig) -> None:
    if not config.registry_dir.is_dir():
        raise ClusterConfigError(
            f"model registry {config.registry_dir} does not exist; train a member first "
            "(e.g. `shopmesh train intent`) or pass the registry directory"
        )
    if not config.graph_dir.is_dir():
        raise ClusterConfigError(
            f"graph directory {config.graph_dir} does not exist; build and save the graph first "
            "(`shopmesh kg build`) or pass its directory"
        )
    if config.reply_model_path is not None and not config.reply_model_path.is_dir():
        raise ClusterConfigError(
            f"reply model directory {config.reply_model_path} does not exist; give a local HF causal-LM "
            "directory or leave reply_model_path out to serve the registry's reply version"
        )


def build_app(config: ClusterConfig) -> Application:
    """The ensemble application: the ingress over the deployments of :func:`deployments`, its handles keyed by
    member name (in the ``colocated`` topology the co-located members share the ensemble's handle)."""
    _check_paths(config)
    warn_if_open(config.state_path)
    ignored = ignored_serving(config)
    if ignored:
        logger.warning(
            "serving options for %s are ignored in the colocated topology: those members run inside the ensemble "
            "deployment, which takes the intent member's options; set serving.intent instead, or serve with "
            "topology composed to scale them on their own",
            ignored,
        )
    colocated = config.topology is Topology.COLOCATED
    ensemble = ENSEMBLE.bind(config) if colocated else None
    handles = {
        row.name.value: ensemble if ensemble is not None and row.colocated else row.bind(config)
        for row in SERVED_MEMBERS
    }
    ingress = config.member(INGRESS)
    settings = IngressSettings(
        max_text_length=config.max_text_length,
        max_body_bytes=config.max_body_bytes,
        idempotency_db=str(config.state_path / "idempotency.sqlite"),
        colocated=tuple(row.name.value for row in SERVED_MEMBERS if colocated and row.colocated),
    )
    options = ingress.deployment_options(max(4 * config.member(MemberName.INTENT).max_batch_size, 32))
    # The ingress's module-level routes (edge bundles, rollouts, federation runs) find the state directory and
    # the registry in their environment.
    options["ray_actor_options"]["runtime_env"] = {
        "env_vars": {
            STATE_DIR_ENV: str(config.state_path.absolute()),
            REGISTRY_DIR_ENV: str(config.registry_dir.absolute()),
        }
    }
    app: Application = _deployment(Ingress).options(**options).bind(handles, settings)
    return app


def app_builder(args: dict[str, Any]) -> Application:
    """Builder for Serve config files: ``args`` are :class:`ClusterConfig` fields (``serve_config.yaml``)."""
    return build_app(ClusterConfig.from_args(args))


def app_from_env(args: dict[str, Any]) -> Application:
    """Builder reading ``SHOPMESH_CLUSTER_*`` environment variables; ``args`` from the config file win."""
    return build_app(ClusterConfig.from_env(overrides=args))
