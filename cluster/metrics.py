"""Prometheus metrics of the serving tier.

The ingress keeps its own registry (:class:`IngressMetrics`, served as text by ``GET /metrics``): requests by
route and status, end-to-end latency, latency per member call, batch sizes the batched members formed, and
the version each member serves. Member replicas report through Ray's metrics pipeline
(:class:`ReplicaMetrics`, ``ray.serve.metrics``), which Ray exports per node for a cluster-wide scrape.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import ray
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from ray import serve
from ray.serve import metrics as serve_metrics
from ray.serve.exceptions import RayServeException

if TYPE_CHECKING:
    from cluster.schemas import ChatResponse

__all__ = ["IngressMetrics", "ReplicaMetrics", "placement"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class IngressMetrics:
    """The ingress replica's metrics, in a registry of its own (no process-wide state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "shopmesh_requests",
            "HTTP requests answered, by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "shopmesh_request_latency_seconds",
            "End-to-end latency of a request in the ingress, by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.member_latency = Histogram(
            "shopmesh_member_latency_seconds",
            "Latency of one call to a member deployment, seen by the ingress",
            ["member"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.chain_member_latency = Histogram(
            "shopmesh_chain_member_latency_seconds",
            "Latency of each member that ran in a chat chain",
            ["member"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "shopmesh_batch_size",
            "Requests a batched member answered in one batch",
            ["member"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.degraded = Counter(
            "shopmesh_degraded_answers",
            "Chat answers given without a member that failed",
            ["member"],
            registry=self.registry,
        )
        self.version = Gauge(
            "shopmesh_member_version_info",
            "1 for the version each member serves",
            ["member", "version"],
            registry=self.registry,
        )

    def observe_request(self, route: str, status: str, seconds: float) -> None:
        self.requests.labels(route=route, status=status).inc()
        self.latency.labels(route=route).observe(seconds)

    def observe_chat(self, answer: ChatResponse, batch_sizes: Mapping[str, int]) -> None:
        for run in answer.members:
            self.chain_member_latency.labels(member=run.name).observe(run.latency_ms / 1000)
        for member, size in batch_sizes.items():
            self.batch_size.labels(member=str(member)).observe(size)
        for member in answer.degraded:
            self.degraded.labels(member=member).inc()

    def observe_versions(self, statuses: Mapping[str, Mapping[str, Any]]) -> None:
        """Set the version gauge from the members' statuses (one series per member, the served version)."""
        self.version.clear()
        for member, status in statuses.items():
            self.version.labels(member=member, version=str(status.get("version") or "none")).set(1)

    def render(self) -> tuple[bytes, str]:
        """The registry in Prometheus text format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def placement() -> dict[str, Any]:
    """Where the calling replica runs: its Ray node id, its process id and, inside Serve, its replica id."""
    where: dict[str, Any] = {"node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}
    try:
        where["replica"] = serve.get_replica_context().replica_id.unique_id
    except RayServeException:
        where["replica"] = None  # called outside a Serve replica (tests of the member's own class)
    return where


class ReplicaMetrics:
    """A member replica's metrics through Ray's pipeline (tagged with deployment and replica by Serve)."""

    def __init__(self, member: str) -> None:
        self.member = member
        self.batches = serve_metrics.Histogram(
            "shopmesh_replica_batch_size",
            description="Requests in one batch formed by a member replica",
            boundaries=list(BATCH_BUCKETS),
            tag_keys=("member",),
        )
        self.batches.set_default_tags({"member": member})
        self.inference = serve_metrics.Histogram(
            "shopmesh_replica_inference_seconds",
            description="Time a member replica spent on one batch",
            boundaries=list(LATENCY_BUCKETS),
            tag_keys=("member",),
        )
        self.inference.set_default_tags({"member": member})
        self.version = serve_metrics.Gauge(
            "shopmesh_replica_version_info",
            description="1 for the version a member replica serves",
            tag_keys=cast(Any, ("member", "version")),  # the stub types tag_keys as a 1-tuple
        )

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batches.observe(size)
        self.inference.observe(seconds)

    def serving(self, version: str | None, member: str | None = None) -> None:
        """Mark ``version`` as served by this replica's member (or by ``member``, one of several it hosts)."""
        self.version.set(1, tags={"member": member or self.member, "version": str(version or "none")})
