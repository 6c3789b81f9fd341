"""Errors raised by the cluster package.

Every message names what was wrong, the value seen and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "ClusterConfigError",
    "ClusterError",
    "ClusterNotRunningError",
    "ClusterStartError",
    "EdgePublishError",
    "ExperimentConflictError",
    "ExperimentError",
    "ForbiddenError",
    "KeyReusedError",
    "MemberUnavailableError",
    "NotFoundError",
    "RequestRejectedError",
    "RolloutError",
    "SmokeCheckError",
    "TenantError",
]


class ClusterError(Exception):
    """Base class of every error the cluster package raises on purpose."""


class ClusterConfigError(ClusterError, ValueError):
    """A cluster setting is invalid (a port out of range, a missing registry or graph directory, ...)."""


class ClusterStartError(ClusterError):
    """Ray or Serve did not come up, or the application did not answer /healthz in time."""


class ClusterNotRunningError(ClusterError):
    """An operation needs the Serve application started by :func:`cluster.start`, and none is running."""


class EdgePublishError(ClusterError):
    """An edge bundle cannot be published (unsigned, altered, a bad rollout percentage) or the catalog is unusable."""


class ExperimentError(ClusterError, ValueError):
    """An experiment cannot be started, stopped or analysed as asked (bad arms, split, alpha, outcomes)."""


class ExperimentConflictError(ExperimentError):
    """The request contradicts the experiments' state: a name taken, a target already under test, a second
    outcome for one request (answered with HTTP 409)."""


class ForbiddenError(ClusterError):
    """The caller's key may not touch what the request names: another merchant's data (answered with HTTP 403)."""


class KeyReusedError(ClusterError):
    """An ``Idempotency-Key`` came again with a request other than the one it was first sent with (HTTP 409)."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key[:40]!r} was first sent with another request; send a new key for a new request"
        )


class RequestRejectedError(ClusterError):
    """A request passed the schema but the serving settings refuse it (answered with HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NotFoundError(ClusterError):
    """A request names something the graph does not hold (answered with HTTP 404)."""

    def __init__(self, what: str, value: object, message: str) -> None:
        super().__init__(message)
        self.what = what
        self.value = value


class MemberUnavailableError(ClusterError):
    """A member has no trained version to serve (answered with HTTP 503 and what to run)."""

    def __init__(self, member: str, message: str) -> None:
        super().__init__(message)
        self.member = member


class RolloutError(ClusterError):
    """A rollout or rollback could not be made, or the new version did not take; the old one keeps serving."""


class SmokeCheckError(RolloutError):
    """A new version loaded but failed its smoke check (one prediction on the probe inputs)."""


class TenantError(ClusterError, ValueError):
    """A tenant key cannot be added, revoked or listed as asked (a malformed or unknown merchant, an unknown key
    id, a merchant that already holds a key of that kind), or the key store is unusable."""
