"""One outcome type for every member call that can miss, be refused or find no trained version.

Member deployments return a :class:`MemberOutcome` instead of raising, so the ingress maps it to an answer or
an HTTP error without unwrapping exceptions that crossed a process boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cluster.errors import MemberUnavailableError, NotFoundError, RequestRejectedError

__all__ = ["MemberOutcome", "OutcomeStatus"]


class OutcomeStatus(StrEnum):
    """What became of a member call: answered, a miss (404), a refused request (422), no version (503)."""

    OK = "ok"
    NOT_FOUND = "not_found"
    INVALID = "invalid"
    NOT_TRAINED = "not_trained"


@dataclass(frozen=True)
class MemberOutcome:
    """A member's answer (``result``) or why there is none (``error``; ``what``/``value`` for a miss)."""

    status: OutcomeStatus
    result: dict[str, Any] | None = None
    error: str = ""
    what: str = ""
    value: object = None

    @classmethod
    def ok(cls, result: dict[str, Any]) -> MemberOutcome:
        return cls(OutcomeStatus.OK, result=result)

    @classmethod
    def not_found(cls, what: str, value: object, error: str) -> MemberOutcome:
        return cls(OutcomeStatus.NOT_FOUND, error=error, what=what, value=value)

    @classmethod
    def invalid(cls, error: str, field: str = "body") -> MemberOutcome:
        return cls(OutcomeStatus.INVALID, error=error, what=field)

    @classmethod
    def not_trained(cls, error: str) -> MemberOutcome:
        return cls(OutcomeStatus.NOT_TRAINED, error=error)

    def unwrap(self, member: str) -> dict[str, Any]:
        """The result, or the matching error: :class:`NotFoundError` (404), :class:`RequestRejectedError`
        (422) or :class:`MemberUnavailableError` (503) naming ``member``."""
        if self.status is OutcomeStatus.OK and self.result is not None:
            return self.result
        if self.status is OutcomeStatus.NOT_FOUND:
            raise NotFoundError(self.what, self.value, self.error)
        if self.status is OutcomeStatus.INVALID:
            raise RequestRejectedError(self.what or "body", self.error)
        raise MemberUnavailableError(member, self.error or f"the {member} member is not available")
