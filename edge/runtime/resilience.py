"""How the device talks to a cluster that may be slow or gone: retries with backoff and a circuit breaker.

Quick failures (connection refused, HTTP 5xx/429) are retried with exponential backoff and jitter. A timeout is
not retried: it already cost ``timeout_s``. When a call to the cluster has failed ``failure_threshold`` times in
a row the breaker opens, and every message for the next ``reset_after_s`` seconds is answered on the device at
once instead of waiting for another timeout; then one trial call is let through (half-open), and its outcome
closes or reopens the breaker.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from edge.runtime.errors import ClusterError, ClusterUnavailableError, EdgeError
from edge.runtime.protocol import is_permanent_rejection

logger = logging.getLogger(__name__)

__all__ = ["Attempts", "BreakerState", "CircuitBreaker", "RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries per call; the wait before try n+1 is ``base_delay_s * 2**n`` capped, with jitter.

    ``jitter`` is the fraction of each wait drawn at random (0: fixed waits, 1: anywhere in [0, wait]), so that
    devices that lost the cluster together do not all come back in the same instant.
    """

    attempts: int = 3
    base_delay_s: float = 0.05
    max_delay_s: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise EdgeError(f"retry attempts must be at least 1, got {self.attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < self.base_delay_s:
            raise EdgeError(
                f"retry delays need 0 <= base_delay_s <= max_delay_s, got {self.base_delay_s} and {self.max_delay_s}"
            )
        if not 0.0 <= self.jitter <= 1.0:
            raise EdgeError(f"retry jitter must lie in [0, 1], got {self.jitter}")

    def delay(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first retry)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * (2.0**retry))
        return ceiling * (1.0 - self.jitter) + ceiling * self.jitter * rng.random()


class BreakerState(StrEnum):
    CLOSED = "closed"  # calls go through
    OPEN = "open"  # calls fail at once until reset_after_s has passed
    HALF_OPEN = "half-open"  # one trial call is in flight; the others fail at once


class CircuitBreaker:
    """Consecutive-failure breaker shared by the threads (or tasks) of one client."""

    def __init__(
        self,
        failure_threshold: int = 1,
        reset_after_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise EdgeError(f"failure_threshold must be at least 1, got {failure_threshold}")
        if reset_after_s <= 0:
            raise EdgeError(f"reset_after_s must be positive, got {reset_after_s}")
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0

    @property
    def state(self) -> BreakerState:
        with self._lock:
            if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.reset_after_s:
                return BreakerState.HALF_OPEN
            return self._state

    def before_call(self, target: str) -> None:
        """Raise :class:`ClusterUnavailableError` unless a call may go out now."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return
            waited = self._clock() - self._opened_at
            if self._state is BreakerState.OPEN and waited >= self.reset_after_s:
                self._state = BreakerState.HALF_OPEN  # this caller makes the trial call
                logger.info("circuit to %s half-open: trying one call", target)
                return
            raise ClusterUnavailableError(
                f"{target} failed {self._failures} time(s) in a row; not calling it for "
                f"{max(0.0, self.reset_after_s - waited):.1f} s more (circuit {self._state})"
            )

    def record_success(self) -> None:
        with self._lock:
            if self._state is not BreakerState.CLOSED:
                logger.info("circuit closed: the cluster answers again")
            self._state = BreakerState.CLOSED
            self._failures = 0

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
                if self._state is not BreakerState.OPEN:
                    logger.warning("circuit open after %s failure(s): answering on the device", self._failures)
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()


class Attempts:
    """The bookkeeping of one call to the cluster, shared by the sync and async clients.

    Creating it asks the breaker (raising :class:`ClusterUnavailableError` when open). After a failed try,
    :meth:`failed` returns how long to wait before the next one, or re-raises the error when the call is over
    (not retryable, or out of attempts); after a successful try call :meth:`succeeded`.
    """

    def __init__(self, target: str, policy: RetryPolicy, breaker: CircuitBreaker, rng: random.Random) -> None:
        breaker.before_call(target)
        self._policy = policy
        self._breaker = breaker
        self._rng = rng
        self._tries = 0

    def failed(self, err: ClusterError) -> float:
        if is_permanent_rejection(err):
            self._breaker.record_success()  # the cluster is up; it refused this one message
            raise err
        self._tries += 1
        if not err.retryable or self._tries >= self._policy.attempts:
            self._breaker.record_failure()
            raise err
        return self._policy.delay(self._tries - 1, self._rng)

    def succeeded(self) -> None:
        self._breaker.record_success()
