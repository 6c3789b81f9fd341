"""The serving tier: the ensemble on Ray Serve behind one FastAPI ingress, the chat chain's members in one
deployment (``colocated``) or one deployment per member (``composed``)."""

from __future__ import annotations

from cluster.app import (
    ENSEMBLE,
    SERVED_MEMBERS,
    ServedMember,
    app_builder,
    app_from_env,
    build_app,
    deployment_plan,
    deployments,
    served_member,
)
from cluster.config import MAX_BODY_BYTES, MAX_TEXT_LENGTH, ClusterConfig, ray_address_from_env, serving_from_env
from cluster.errors import (
    ClusterConfigError,
    ClusterError,
    ClusterNotRunningError,
    ClusterStartError,
    MemberUnavailableError,
    NotFoundError,
    RequestRejectedError,
    RolloutError,
    SmokeCheckError,
)
from cluster.ingress import public_routes
from cluster.members import Autoscaling, MemberName, MemberServing, Topology
from cluster.outcomes import MemberOutcome, OutcomeStatus
from cluster.rollout import RolloutMember, RolloutResult, rollback, rollout
from cluster.serve_config import reference_config, serve_config, serve_config_yaml
from cluster.serving import RunningCluster, connect, reload_intent, start, stop

__all__ = [
    "ENSEMBLE",
    "MAX_BODY_BYTES",
    "MAX_TEXT_LENGTH",
    "SERVED_MEMBERS",
    "Autoscaling",
    "ClusterConfig",
    "ClusterConfigError",
    "ClusterError",
    "ClusterNotRunningError",
    "ClusterStartError",
    "MemberName",
    "MemberOutcome",
    "MemberServing",
    "MemberUnavailableError",
    "NotFoundError",
    "OutcomeStatus",
    "RequestRejectedError",
    "RolloutError",
    "RolloutMember",
    "RolloutResult",
    "RunningCluster",
    "ServedMember",
    "SmokeCheckError",
    "Topology",
    "app_builder",
    "app_from_env",
    "build_app",
    "connect",
    "deployment_plan",
    "deployments",
    "public_routes",
    "ray_address_from_env",
    "reference_config",
    "reload_intent",
    "rollback",
    "rollout",
    "serve_config",
    "serve_config_yaml",
    "served_member",
    "serving_from_env",
    "start",
    "stop",
]
