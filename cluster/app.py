"""The Serve application graph, built in exactly one place.

``build_app`` wires the deployments with ``.bind()``: the intent and graph deployments are bound first and
their handles are passed into the ingress's constructor. ``app_builder`` is the same graph for ``serve run`` /
``serve deploy`` config files and KubeRay (import path ``cluster.app:app_builder``, settings as ``args``);
``app_from_env`` reads ``SHOPMESH_CLUSTER_*`` variables instead.
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application, Deployment

from cluster.config import ClusterConfig
from cluster.errors import ClusterConfigError
from cluster.forecast_deployment import ForecastDeployment
from cluster.graph_deployment import GraphDeployment
from cluster.ingress import Ingress
from cluster.intent_deployment import IntentDeployment
from cluster.price_deployment import PriceDeployment
from cluster.reply_deployment import ReplyDeployment

__all__ = ["app_builder", "app_from_env", "build_app", "intent_user_config"]


def intent_user_config(config: ClusterConfig, version: str | None = None) -> dict[str, Any]:
    """The intent deployment's ``user_config``; changing it reconfigures live replicas in place."""
    return {
        "version": version if version is not None else (config.intent_version or "latest"),
        "max_batch_size": config.max_batch_size,
        "batch_wait_timeout_s": config.batch_wait_timeout_s,
    }


def _deployment(target: object) -> Deployment:
    # @serve.deployment turns a class into a Deployment; its type hints still present the class.
    if not isinstance(target, Deployment):
        raise TypeError(f"{target!r} is not a Serve deployment; decorate it with @serve.deployment")
    return target


def build_app(config: ClusterConfig) -> Application:
    """The ensemble application: the ingress over the intent, graph, reply, forecast and price deployments."""
    if not config.registry_dir.is_dir():
        raise ClusterConfigError(
            f"model registry {config.registry_dir} does not exist; train a member first "
            "(e.g. `shopmesh train intent`) or pass the registry directory"
        )
    if not config.graph_dir.is_dir():
        raise ClusterConfigError(
            f"graph directory {config.graph_dir} does not exist; build and save the graph first "
            "(ProductGraph.save) or pass its directory"
        )
    if config.reply_model_path is not None and not config.reply_model_path.is_dir():
        raise ClusterConfigError(
            f"reply model directory {config.reply_model_path} does not exist; give a local HF causal-LM "
            "directory or leave reply_model_path out to serve the registry's reply version"
        )
    actor_options = {"num_cpus": config.replica_cpus}
    intent = (
        _deployment(IntentDeployment)
        .options(
            num_replicas=config.replicas,
            ray_actor_options=actor_options,
            max_ongoing_requests=max(2 * config.max_batch_size, 8),
            user_config=intent_user_config(config),
        )
        .bind(
            str(config.registry_dir),
            config.intent_version,
            config.max_batch_size,
            config.batch_wait_timeout_s,
        )
    )
    graph = (
        _deployment(GraphDeployment)
        .options(num_replicas=config.replicas, ray_actor_options=actor_options)
        .bind(str(config.graph_dir))
    )
    reply = (
        _deployment(ReplyDeployment)
        .options(
            num_replicas=config.replicas,
            ray_actor_options=actor_options,
            max_ongoing_requests=max(2 * config.max_batch_size, 8),
        )
        .bind(
            str(config.registry_dir),
            config.reply_version,
            str(config.reply_model_path) if config.reply_model_path else None,
            str(config.reference_data) if config.reference_data else None,
            config.max_batch_size,
            config.batch_wait_timeout_s,
        )
    )
    forecast = (
        _deployment(ForecastDeployment)
        .options(num_replicas=config.replicas, ray_actor_options=actor_options)
        .bind(str(config.registry_dir), None)
    )
    price = (
        _deployment(PriceDeployment)
        .options(num_replicas=config.replicas, ray_actor_options=actor_options)
        .bind(str(config.registry_dir), None)
    )
    ingress: Application = (
        _deployment(Ingress)
        .options(
            num_replicas=config.replicas,
            ray_actor_options=actor_options,
            max_ongoing_requests=max(4 * config.max_batch_size, 32),
        )
        .bind(intent, graph, reply, forecast, price, config.max_text_length)
    )
    return ingress


def app_builder(args: dict[str, Any]) -> Application:
    """Builder for Serve config files: ``args`` are :class:`ClusterConfig` fields (``serve_config.yaml``)."""
    return build_app(ClusterConfig.from_args(args))


def app_from_env(args: dict[str, Any]) -> Application:
    """Builder reading ``SHOPMESH_CLUSTER_*`` environment variables; ``args`` from the config file win."""
    return build_app(ClusterConfig.from_env(overrides=args))
