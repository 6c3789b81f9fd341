"""Which merchant is answered by which intent adapter: the assignments in the cluster's state directory.

A merchant's requests (the merchant of their API key, :mod:`cluster.auth`) are answered by the intent adapter
assigned to it (:mod:`ensemble.members.intent_adapter`), on the base version the adapter was trained on; a
merchant without one gets the global version. ``shopmesh tenants adapter MERCHANT [VERSION]`` assigns one,
``--clear`` takes it away; only an adapter trained for that merchant can be assigned to it.

The ingress passes the assigned adapter's version id as Ray Serve's multiplexed model id, so requests go to a
replica that has the adapter loaded where one does, and each replica keeps the adapters it answered most recently
(``max_adapters_per_replica``, least recently used evicted). The ingress reads the assignments through
:class:`AdapterRoutes`: at most every ``refresh_s`` seconds one query for the store's generation, and the whole
table again only when it changed, so an assignment takes effect on every ingress replica within seconds.

One SQLite file (``adapters.sqlite``): ``assignments`` (merchant, adapter, when) and ``meta`` (the generation).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cluster.config import state_dir_from_env
from cluster.errors import TenantError
from cluster.sqlite_store import CountedStore
from ensemble.merchants import merchant_name_problem

__all__ = ["ADAPTERS_NAME", "AdapterAssignments", "AdapterRoutes", "Assignment", "adapter_routes"]

ADAPTERS_NAME = "adapters.sqlite"
_ADAPTER_ID = re.compile(r"^intent-adapter:v\d{4,}$")
_REFRESH_S = 2.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS assignments (
    merchant TEXT PRIMARY KEY,
    adapter TEXT NOT NULL,
    assigned_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Assignment:
    merchant: str
    adapter: str
    assigned_at: float


class AdapterAssignments(CountedStore):
    """The ``adapters.sqlite`` file of one cluster's state directory."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA, describe="adapter assignments", error=TenantError)

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> AdapterAssignments:
        return cls(state_dir / ADAPTERS_NAME)

    def assign(self, merchant: str, adapter: str) -> str | None:
        """Answer ``merchant``'s requests with ``adapter`` (``intent-adapter:vNNNN``); returns the adapter it
        replaces. Checks only the names: the command checks that the adapter is the merchant's and loads."""
        problem = merchant_name_problem(merchant)
        if problem is not None:
            raise TenantError(problem)
        if not _ADAPTER_ID.match(adapter):
            raise TenantError(f"{adapter!r:.80} is not an adapter version id; use one like intent-adapter:v0003")
        with self._write() as db:
            previous = db.execute("SELECT adapter FROM assignments WHERE merchant = ?", (merchant,)).fetchone()
            db.execute(
                "INSERT INTO assignments (merchant, adapter, assigned_at) VALUES (?, ?, ?) "
                "ON CONFLICT(merchant) DO UPDATE SET adapter = excluded.adapter, assigned_at = excluded.assigned_at",
                (merchant, adapter, time.time()),
            )
        return None if previous is None else str(previous["adapter"])

    def clear(self, merchant: str) -> str | None:
        """Answer ``merchant`` with the global version again; returns the adapter it had (None: it had none)."""
        with self._write() as db:
            previous = db.execute("SELECT adapter FROM assignments WHERE merchant = ?", (merchant,)).fetchone()
            db.execute("DELETE FROM assignments WHERE merchant = ?", (merchant,))
        return None if previous is None else str(previous["adapter"])

    def all(self) -> list[Assignment]:
        """Every assignment, by merchant."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM assignments ORDER BY merchant").fetchall()
        return [Assignment(row["merchant"], row["adapter"], float(row["assigned_at"])) for row in rows]


class AdapterRoutes:
    """The ingress's view of the assignments, re-read when the store's generation moved (checked at most every
    ``refresh_s`` seconds)."""

    def __init__(
        self,
        store: AdapterAssignments,
        refresh_s: float = _REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self.refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._routes: dict[str, str] = {}
        self._generation: int | None = None
        self._checked_at = float("-inf")

    def adapter_for(self, merchant: str | None) -> str | None:
        """The adapter that answers ``merchant`` (None: the global version; also for no merchant)."""
        if merchant is None:
            return None
        now = self._clock()
        with self._lock:
            due = now - self._checked_at >= self.refresh_s
        if due:
            generation = self._store.generation()
            if generation != self._generation:
                routes = {found.merchant: found.adapter for found in self._store.all()}
                with self._lock:
                    self._routes, self._generation = routes, generation
            with self._lock:
                self._checked_at = now
        with self._lock:
            return self._routes.get(merchant)


@lru_cache(maxsize=8)
def _routes_at(path: Path) -> AdapterRoutes:
    return AdapterRoutes(AdapterAssignments(path))


def adapter_routes() -> AdapterRoutes:
    """The assignments of the cluster's state directory, one view per process."""
    return _routes_at(state_dir_from_env() / ADAPTERS_NAME)
