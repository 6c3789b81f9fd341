"""One SQLite file of a cluster's state directory, shared by the threads of a replica and by its processes.

A store keeps one connection open (opening one per call would cost a WAL checkpoint on every close); the threads
sharing it take turns. The file is in WAL mode, so readers never block the writer and a crash never corrupts it.
Writes run in autocommit mode with an explicit ``BEGIN IMMEDIATE``: a write takes the file's lock before it
reads what it checks, so two processes never both act on the same stale read.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["CountedStore", "SqliteStore"]

_BUSY_TIMEOUT_S = 30.0


class SqliteStore:
    """The open SQLite file at ``path`` with ``schema`` applied; ``describe`` names the store in errors, which are
    ``error(message)``; ``synchronous`` is SQLite's setting (``FULL``: a power cut loses no commit; ``NORMAL``:
    the last commits may be lost, the file is still never corrupt)."""

    def __init__(
        self,
        path: Path,
        schema: str,
        *,
        describe: str,
        error: Callable[[str], Exception],
        synchronous: str = "FULL",
    ) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.executescript(schema)
        except (OSError, sqlite3.Error) as err:
            raise error(
                f"cannot open the {describe} {path}: {err}; the cluster's state_dir must be writable from here"
            ) from err

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    def _on_write(self, db: sqlite3.Connection) -> None:
        """Runs inside every write transaction, after its statements (a store may count its changes here)."""

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                self._on_write(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")


_GENERATION_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (id, generation) VALUES (1, 0);
"""


class CountedStore(SqliteStore):
    """A store whose every write moves a change counter on (table ``meta``), so a process that caches what it
    read notices a change with one cheap query (:meth:`generation`)."""

    def __init__(self, path: Path, schema: str, **options: Any) -> None:
        super().__init__(path, schema + _GENERATION_SCHEMA, **options)

    def _on_write(self, db: sqlite3.Connection) -> None:
        db.execute("UPDATE meta SET generation = generation + 1 WHERE id = 1")

    def generation(self) -> int:
        """A number that changes with every write."""
        with self._connect() as db:
            return int(db.execute("SELECT generation FROM meta WHERE id = 1").fetchone()[0])
