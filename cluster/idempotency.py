"""A persisted store of idempotency keys already seen, to drop repeated deliveries of one event.

Devices send every event with an ``Idempotency-Key`` header and send it again when they are not sure it arrived
(a crash between the cluster's answer and the device's bookkeeping, a timeout, a retry). The receiving side
asks :meth:`IdempotencyStore.seen_or_record` before it acts on an event: ``False`` the first time a key comes
(the key is now recorded), ``True`` for every repeat. The check and the record are one SQLite statement, so
several processes or threads sharing the file never both see a key as new.

The store keeps a bounded window: the newest ``max_keys`` keys, none older than ``ttl_s``. A repeat that comes
after its key left the window counts as new, so choose the window longer than a device may stay offline.

This module depends on the standard library only, so any ingress (FastAPI, a plain HTTP server) can use it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["IdempotencyError", "IdempotencyStore", "check_key"]

MAX_KEY_LENGTH = 200
_BUSY_TIMEOUT_MS = 30_000
_PRUNE_EVERY = 1_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen_keys (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    seen_at REAL NOT NULL
)
"""


_ANSWERS = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    response TEXT NOT NULL
)
"""


class IdempotencyError(ValueError):
    """An idempotency key is malformed, or the store cannot be opened or written."""


def check_key(key: object) -> str:
    """The key if it is 1-200 printable ASCII characters without spaces; else :class:`IdempotencyError`."""
    if not isinstance(key, str) or not key:
        raise IdempotencyError(f"idempotency key must be a non-empty string, got {key!r:.80}")
    if len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable() or " " in key:
        raise IdempotencyError(
            f"idempotency key {key[:40]!r} must be at most {MAX_KEY_LENGTH} printable ASCII characters without "
            "spaces (e.g. a UUID)"
        )
    return key


class IdempotencyStore:
    """Idempotency keys seen, in one SQLite file (WAL, ``synchronous=FULL``), shared by processes and threads."""

    def __init__(
        self,
        path: Path,
        *,
        max_keys: int = 1_000_000,
        ttl_s: float = 30 * 24 * 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_keys < 1:
            raise IdempotencyError(f"max_keys must be at least 1, got {max_keys}")
        if ttl_s <= 0:
            raise IdempotencyError(f"ttl_s must be positive, got {ttl_s}")
        self.path = path
        self.max_keys = max_keys
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._since_prune = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
            self._db.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            with self._db:
                self._db.execute(_SCHEMA)
                self._db.execute(_ANSWERS)
        except (OSError, sqlite3.Error) as err:
            raise IdempotencyError(f"cannot open the idempotency store {path}: {err}; pass a writable path") from err

    def seen_or_record(self, key: str) -> bool:
        """True if ``key`` was seen within the window; otherwise record it and return False."""
        checked = check_key(key)
        now = self._clock()
        with self._lock:
            try:
                with self._db:
                    inserted = self._db.execute(
                        "INSERT OR IGNORE INTO seen_keys (key, seen_at) VALUES (?, ?)", (checked, now)
                    ).rowcount
                    if not inserted:
                        row = self._db.execute("SELECT seen_at FROM seen_keys WHERE key = ?", (checked,)).fetchone()
                        if row is not None and float(row[0]) >= now - self.ttl_s:
                            return True
                        # the key aged out of the window: it counts as new and starts a new window
                        self._db.execute("UPDATE seen_keys SET seen_at = ? WHERE key = ?", (now, checked))
            except sqlite3.Error as err:
                raise IdempotencyError(f"cannot record key {checked!r} in {self.path}: {err}") from err
            self._since_prune += 1
            if self._since_prune >= _PRUNE_EVERY:
                self._prune_locked(now)
        return False

    def remember(self, key: str, fingerprint: str, response: str) -> None:
        """Keep the answer given to ``key``'s first delivery (and what the request was, as ``fingerprint``)."""
        checked = check_key(key)
        with self._lock:
            try:
                with self._db:
                    self._db.execute(
                        "INSERT INTO answers (key, fingerprint, response) VALUES (?, ?, ?) ON CONFLICT(key) DO NOTHING",
                        (checked, fingerprint, response),
                    )
            except sqlite3.Error as err:
                raise IdempotencyError(f"cannot keep the answer to {checked!r} in {self.path}: {err}") from err

    def recall(self, key: str) -> tuple[str, str] | None:
        """``(fingerprint, response)`` kept for ``key`` while the key is in the window, else ``None``."""
        checked = check_key(key)
        with self._lock:
            try:
                row = self._db.execute(
                    "SELECT a.fingerprint, a.response FROM answers a JOIN seen_keys s ON s.key = a.key "
                    "WHERE a.key = ? AND s.seen_at >= ?",
                    (checked, self._clock() - self.ttl_s),
                ).fetchone()
            except sqlite3.Error as err:
                raise IdempotencyError(f"cannot read the answer to {checked!r} in {self.path}: {err}") from err
        return None if row is None else (str(row[0]), str(row[1]))

    def forget(self, key: str) -> None:
        """Remove ``key``, so that a delivery whose processing failed after it was recorded may come again."""
        checked = check_key(key)
        with self._lock:
            try:
                with self._db:
                    self._db.execute("DELETE FROM seen_keys WHERE key = ?", (checked,))
                    self._db.execute("DELETE FROM answers WHERE key = ?", (checked,))
            except sqlite3.Error as err:
                raise IdempotencyError(f"cannot forget key {checked!r} in {self.path}: {err}") from err

    def prune(self) -> int:
        """Drop keys older than ``ttl_s`` and all but the newest ``max_keys``; returns how many went."""
        with self._lock:
            return self._prune_locked(self._clock())

    def _prune_locked(self, now: float) -> int:
        self._since_prune = 0
        try:
            with self._db:
                old = self._db.execute("DELETE FROM seen_keys WHERE seen_at < ?", (now - self.ttl_s,)).rowcount
                extra = self._db.execute(
                    "DELETE FROM seen_keys WHERE seq <= (SELECT MAX(seq) FROM seen_keys) - ?", (self.max_keys,)
                ).rowcount
                self._db.execute("DELETE FROM answers WHERE key NOT IN (SELECT key FROM seen_keys)")
        except sqlite3.Error as err:
            raise IdempotencyError(f"cannot prune {self.path}: {err}") from err
        if old or extra:
            logger.info("idempotency store %s: pruned %s expired and %s surplus key(s)", self.path, old, extra)
        return int(old) + int(extra)

    def __len__(self) -> int:
        with self._lock:
            count: int = self._db.execute("SELECT COUNT(*) FROM seen_keys").fetchone()[0]
            return count

    def close(self) -> None:
        with self._lock:
            self._db.close()
