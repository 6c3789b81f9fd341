"""The serving tier: the ensemble on Ray Serve (intent, graph and reply deployments behind one FastAPI ingress)."""

from __future__ import annotations

from cluster.app import app_builder, app_from_env, build_app
from cluster.config import MAX_TEXT_LENGTH, ClusterConfig
from cluster.errors import (
    ClusterConfigError,
    ClusterError,
    ClusterNotRunningError,
    ClusterStartError,
    NotFoundError,
    RequestRejectedError,
)
from cluster.serving import RunningCluster, reload_intent, start, stop

__all__ = [
    "MAX_TEXT_LENGTH",
    "ClusterConfig",
    "ClusterConfigError",
    "ClusterError",
    "ClusterNotRunningError",
    "ClusterStartError",
    "NotFoundError",
    "RequestRejectedError",
    "RunningCluster",
    "app_builder",
    "app_from_env",
    "build_app",
    "reload_intent",
    "start",
    "stop",
]
