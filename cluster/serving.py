"""Start and stop the ensemble on a local Ray, and roll a new intent version out to it.

The application is deployed declaratively, the way ``serve deploy`` / ``serve run serve_config.yaml`` and
KubeRay do it: an application config naming the builder ``cluster.app:app_builder`` with the settings as
``args``. Because the code version Serve derives from that config stays the same when only a deployment's
``user_config`` changes, :func:`reload_intent` reconfigures the live intent replicas in place
(``IntentDeployment.reconfigure``) instead of replacing every replica.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
import ray
from ray import serve
from ray.serve.schema import ServeDeploySchema

from cluster.app import build_app, intent_user_config
from cluster.config import ClusterConfig
from cluster.errors import ClusterNotRunningError, ClusterStartError
from ensemble.registry import Registry

__all__ = ["RunningCluster", "reload_intent", "start", "stop"]

logger = logging.getLogger(__name__)

BUILDER_IMPORT_PATH = "cluster.app:app_builder"
_POLL_S = 0.25


@dataclass(frozen=True)
class RunningCluster:
    """A started application: its settings and the base URL of its HTTP ingress."""

    config: ClusterConfig
    url: str


def _deploy(config: ClusterConfig, user_config: dict[str, Any]) -> None:
    """Apply the application config (the request ``serve deploy`` sends to the controller)."""
    schema = ServeDeploySchema.model_validate(
        {
            "applications": [
                {
                    "name": config.app_name,
                    "route_prefix": "/",
                    "import_path": BUILDER_IMPORT_PATH,
                    "args": config.to_args(),
                    "deployments": [{"name": "IntentDeployment", "user_config": user_config}],
                }
            ]
        }
    )
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


def start(config: ClusterConfig) -> RunningCluster:
    """Start Ray (unless connected) and Serve on ``config.host:config.port``, deploy, wait for /healthz."""
    build_app(config)  # fails fast, in this process, on a missing registry, graph or version
    intent_version = Registry(config.registry_dir).resolve("intent", config.intent_version).id
    if not ray.is_initialized():
        ray.init(
            num_cpus=config.num_cpus,
            include_dashboard=False,
            _temp_dir=str(config.ray_temp_dir) if config.ray_temp_dir else None,
            log_to_driver=False,
        )
    started = time.perf_counter()
    serve.start(http_options={"host": config.host, "port": config.port})
    _deploy(config, intent_user_config(config))
    _wait_for_health(config, intent_version)
    logger.info("cluster ready at %s in %.1f s (intent %s)", config.url, time.perf_counter() - started, intent_version)
    return RunningCluster(config=config, url=config.url)


def reload_intent(running: RunningCluster, version: str | None = None) -> str:
    """Serve another intent version (None: the latest) without restarting; returns its id once live."""
    if not ray.is_initialized():
        raise ClusterNotRunningError("no Ray session in this process; call cluster.start(config) first")
    config = running.config
    wanted = Registry(config.registry_dir).resolve("intent", version).id
    _deploy(config, intent_user_config(config, wanted))
    _wait_for_health(config, wanted)
    logger.info("intent %s now serving at %s", wanted, running.url)
    return wanted


def stop() -> None:
    """Shut Serve and Ray down (a no-op when nothing runs)."""
    if not ray.is_initialized():
        return
    serve.shutdown()  # type: ignore[no-untyped-call]
    ray.shutdown()
    logger.info("cluster stopped")
