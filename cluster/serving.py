"""Start and stop the ensemble on Ray, local or an existing cluster, and roll a new intent version out to it.

The application is deployed declaratively, the way ``serve deploy`` and KubeRay do it: an application config
(:mod:`cluster.serve_config`) naming the builder ``cluster.app:app_builder`` with the settings as ``args``.
Because the code version Serve derives from that config stays the same when only a deployment's
``user_config`` changes, :func:`reload_intent` reconfigures the live intent replicas in place
(``IntentDeployment.reconfigure``) instead of replacing every replica.

With ``address`` set the driver connects to the running cluster and asks it for nothing: the cluster's own
nodes give the resources, and replicas land on whichever nodes have them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any

import httpx
import ray
from ray import serve
from ray.serve.schema import ServeDeploySchema

from cluster.app import build_app, deployment_plan
from cluster.config import ClusterConfig
from cluster.errors import ClusterNotRunningError, ClusterStartError
from cluster.serve_config import serve_config
from ensemble.registry import Registry

__all__ = ["RunningCluster", "connect", "reload_intent", "start", "stop"]

logger = logging.getLogger(__name__)

_POLL_S = 0.25


@dataclass(frozen=True)
class RunningCluster:
    """A started application: its settings and the base URL of its HTTP ingress."""

    config: ClusterConfig
    url: str


def _absolute(config: ClusterConfig) -> ClusterConfig:
    """The configuration with absolute paths: replicas on other nodes do not share the driver's cwd."""
    paths: dict[str, Any] = {"registry_dir": config.registry_dir.resolve(), "graph_dir": config.graph_dir.resolve()}
    for name in ("reply_model_path", "reference_data", "state_dir"):
        value = getattr(config, name)
        if value is not None:
            paths[name] = value.resolve()
    return replace(config, **paths)


def _deploy(config: ClusterConfig, intent_version: str | None = None) -> None:
    """Apply the application config (the request ``serve deploy`` sends to the controller)."""
    schema = ServeDeploySchema.model_validate(serve_config(config, intent_version=intent_version))
    # serve.start returns nothing; the controller client it creates is the one `serve deploy` talks to.
    client = serve.context._get_global_client()
    if client is None:
        raise ClusterNotRunningError("Serve is not started in this process; call cluster.start(config) first")
    client.deploy_apps(schema)


def _app_failure(config: ClusterConfig) -> str | None:
    app = serve.status().applications.get(config.app_name)
    if app is not None and str(app.status) in ("DEPLOY_FAILED", "ApplicationStatus.DEPLOY_FAILED"):
        return str(app.message)
    return None


def _wait_for_health(config: ClusterConfig, intent_version: str | None) -> dict[str, Any]:
    """Poll /healthz until it answers 200 (with ``intent_version`` loaded, when given)."""
    deadline = time.monotonic() + config.startup_timeout_s
    last = "no answer yet"
    with httpx.Client(timeout=5.0) as http:
        while time.monotonic() < deadline:
            failure = _app_failure(config)
            if failure is not None:
                raise ClusterStartError(f"application {config.app_name!r} failed to deploy: {failure}")
            try:
                response = http.get(f"{config.url}/healthz")
            except httpx.HTTPError as err:
                last = f"{type(err).__name__}: {err}"
            else:
                if response.status_code == 200:
                    health: dict[str, Any] = response.json()
                    if intent_version is None or health["intent"]["version"] == intent_version:
                        return health
                    last = f"intent version {health['intent']['version']}, waiting for {intent_version}"
                else:
                    last = f"HTTP {response.status_code}"
            time.sleep(_POLL_S)
    raise ClusterStartError(
        f"{config.url}/healthz did not become ready within {config.startup_timeout_s} s (last: {last}); "
        "see Ray's logs under the session directory, or raise startup_timeout_s"
    )


def connect(config: ClusterConfig) -> None:
    """Join the Ray cluster at ``config.address``, or start a local Ray with ``config.num_cpus`` CPUs."""
    if ray.is_initialized():
        return
    if config.address is None:
        config.check_local_budget(deployment_plan(config))
    try:
        if config.address is not None:
            ray.init(address=config.address, log_to_driver=False)
        else:
            ray.init(
                num_cpus=config.num_cpus,
                include_dashboard=config.dashboard_port is not None,
                dashboard_host=config.host,
                dashboard_port=config.dashboard_port,
                _temp_dir=str(config.ray_temp_dir) if config.ray_temp_dir else None,
                log_to_driver=False,
            )
    except (ConnectionError, ValueError, RuntimeError) as err:
        where = f"the Ray cluster at {config.address!r}" if config.address else "a local Ray"
        hint = (
            "check that `ray start --head` runs there and the address is the head's HOST:PORT (or `auto` on a node)"
            if config.address
            else "if RAY_ADDRESS is set, pass --address to join that cluster instead, or unset it"
        )
        raise ClusterStartError(f"could not start or join {where}: {err}; {hint}") from err
    if config.address is not None:
        _check_capacity(config)


def _check_capacity(config: ClusterConfig) -> None:
    """Warn when the joined cluster has fewer CPUs or GPUs than the deployments reserve at most."""
    resources = ray.cluster_resources()  # type: ignore[no-untyped-call]
    plan = deployment_plan(config)
    for kind, needed in (
        ("CPU", sum(o.max_replicas * o.num_cpus for o in plan.values())),
        ("GPU", sum(o.max_replicas * o.num_gpus for o in plan.values())),
    ):
        have = float(resources.get(kind, 0.0))
        if needed > have:
            logger.warning(
                "the deployments reserve up to %.2f %s but the cluster has %.2f now; replicas wait until nodes "
                "with that much join (or lower replicas / num_%ss per member)",
                needed,
                kind,
                have,
                kind.lower(),
            )


def start(config: ClusterConfig) -> RunningCluster:
    """Start Ray (or join ``config.address``) and Serve on ``config.host:config.port``, deploy, wait for
    /healthz."""
    config = _absolute(config)
    build_app(config)  # fails fast, in this process, on a missing registry, graph or version
    intent_version = Registry(config.registry_dir).resolve("intent", config.intent_version).id
    connect(config)
    started = time.perf_counter()
    serve.start(http_options={"host": config.host, "port": config.port})
    _deploy(config)
    _wait_for_health(config, intent_version)
    logger.info("cluster ready at %s in %.1f s (intent %s)", config.url, time.perf_counter() - started, intent_version)
    return RunningCluster(config=config, url=config.url)


def reload_intent(running: RunningCluster, version: str | None = None) -> str:
    """Serve another intent version (None: the latest) without restarting; returns its id once live."""
    if not ray.is_initialized():
        raise ClusterNotRunningError("no Ray session in this process; call cluster.start(config) first")
    config = running.config
    wanted = Registry(config.registry_dir).resolve("intent", version).id
    _deploy(config, intent_version=wanted)
    _wait_for_health(config, wanted)
    logger.info("intent %s now serving at %s", wanted, running.url)
    return wanted


def stop(config: ClusterConfig | None = None) -> None:
    """Take the application down; on a local Ray started here, shut Serve and Ray down too. On a joined
    cluster only this application is deleted and the driver disconnects (the cluster keeps running)."""
    if not ray.is_initialized():
        return
    if config is not None and config.address is not None:
        serve.delete(config.app_name)
        ray.shutdown()
        logger.info("application %s deleted from the cluster at %s", config.app_name, config.address)
        return
    serve.shutdown()  # type: ignore[no-untyped-call]
    ray.shutdown()
    logger.info("cluster stopped")
