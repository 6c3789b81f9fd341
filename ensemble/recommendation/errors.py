"""Errors of the recommendation members; bad input files raise :class:`~ensemble.errors.DataError`."""

from __future__ import annotations

from ensemble.errors import ModelError

__all__ = [
    "MemberUnavailableError",
    "NotFittedError",
    "RecommendationError",
    "UnknownModeError",
    "UnknownUserError",
]


class RecommendationError(ModelError):
    """Base class of the errors a recommendation member raises on purpose."""


class NotFittedError(RecommendationError):
    """A member was asked to recommend before :meth:`fit` was called."""

    def __init__(self, member: str) -> None:
        super().__init__(f"recommendation member {member!r} is not fitted; call fit(train_interactions) first")
        self.member = member


class UnknownUserError(RecommendationError):
    """A user has no interaction in the data the member was fitted on."""

    def __init__(self, member: str, user: str) -> None:
        super().__init__(
            f"user {user!r} has no training interaction for member {member!r}; "
            "recommend only for users present in the training interactions"
        )
        self.member = member
        self.user = user


class MemberUnavailableError(RecommendationError):
    """A member cannot run on the given data (e.g. the content member without a catalogue); the evaluation
    reports it as skipped with this message as the reason."""


class UnknownModeError(RecommendationError, ValueError):
    """A recommendation mode the served ensemble does not have."""

    def __init__(self, mode: object, modes: tuple[str, ...]) -> None:
        super().__init__(f"unknown recommendation mode {mode!r}; use one of {', '.join(modes)}")
        self.mode = mode
