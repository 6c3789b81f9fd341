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
    ExperimentConflictError,
    ExperimentError,
    MemberUnavailableError,
    NotFoundError,
    RequestRejectedError,
    RolloutError,
    SmokeCheckError,
)
from cluster.experiment_definition import Experiment, ExperimentTarget
from cluster.experiment_stats import Decision, OutcomeKind, StopRule
from cluster.experiments import ExperimentStore
from cluster.ingress import public_routes
from cluster.members import Autoscaling, MemberName, MemberServing, Topology
from cluster.outcomes import MemberOutcome, OutcomeStatus
from cluster.rollout import CandidateEnd, RolloutMember, RolloutResult, abort, promote, rollback, rollout
from cluster.serve_config import reference_config, serve_config, serve_config_yaml
from cluster.serving import RunningCluster, connect, reload_intent, start, stop

__all__ = [
    "ENSEMBLE",
    "MAX_BODY_BYTES",
    "MAX_TEXT_LENGTH",
    "SERVED_MEMBERS",
    "Autoscaling",
    "CandidateEnd",
    "ClusterConfig",
    "ClusterConfigError",
    "ClusterError",
    "ClusterNotRunningError",
    "ClusterStartError",
    "Decision",
    "Experiment",
    "ExperimentConflictError",
    "ExperimentError",
    "ExperimentStore",
    "ExperimentTarget",
    "MemberName",
    "MemberOutcome",
    "MemberServing",
    "MemberUnavailableError",
    "NotFoundError",
    "OutcomeKind",
    "OutcomeStatus",
    "RequestRejectedError",
    "RolloutError",
    "RolloutMember",
    "RolloutResult",
    "RunningCluster",
    "ServedMember",
    "SmokeCheckError",
    "StopRule",
    "Topology",
    "abort",
    "app_builder",
    "app_from_env",
    "build_app",
    "connect",
    "deployment_plan",
    "deployments",
    "promote",
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
