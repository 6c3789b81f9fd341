"""A durable, per-device outbox of messages the cluster has not received yet, in SQLite.

One database per device (``<outbox_dir>/<device_id>.sqlite3``) in WAL mode with ``synchronous=FULL``: an
appended message is on disk when :meth:`Outbox.append` returns and survives a crash, a power cut or a restart.
Threads share one connection behind a lock; processes share the file through SQLite's own locking.

Every record carries an idempotency key (its ``id``), sent with each delivery as the ``Idempotency-Key`` header.
A record leaves the outbox only after the cluster acknowledged it, so a crash between the acknowledgement and
the delete delivers it once more under the same key, and the cluster's deduplicating store drops the repeat:
nothing is lost and nothing counts twice. Records the cluster refuses for good (HTTP 4xx) are kept, marked
``rejected``, instead of being retried or dropped.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from edge.runtime.errors import OutboxError

logger = logging.getLogger(__name__)

__all__ = ["Delivery", "FlushResult", "Outbox", "OutboxRecord", "Route"]

_BUSY_TIMEOUT_MS = 30_000
_BATCH = 200
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    device_intent TEXT NOT NULL,
    device_confidence REAL NOT NULL,
    version TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'rejected')),
    route TEXT NOT NULL DEFAULT 'chat',
    photo BLOB
)
"""
# Columns added after the first schema, with their definitions: an older database gains them when opened.
_ADDED_COLUMNS = {"route": "TEXT NOT NULL DEFAULT 'chat'", "photo": "BLOB"}
_COLUMNS = "id, text, device_intent, device_confidence, version, created_at, route, photo"


class Route(StrEnum):
    """Which cluster route a queued record is delivered to."""

    CHAT = "chat"  # a text message: POST /v1/chat
    VISION = "vision"  # a photo: POST /v1/vision


class Delivery(StrEnum):
    """What happened to one record when it was offered to the cluster."""

    DELIVERED = "delivered"
    REJECTED = "rejected"  # the cluster refused it for good; kept aside, not retried
    FAILED = "failed"  # the cluster is unreachable or failing; retried on the next flush


@dataclass(frozen=True)
class OutboxRecord:
    """One message or photo the device answered offline; ``id`` is its idempotency key.

    A photo record (``route`` vision) holds the photo's bytes in ``photo``, ``text`` empty and the device's
    class name in ``device_intent``.
    """

    id: str
    text: str
    device_intent: str
    device_confidence: float
    version: str
    created_at: str
    route: Route = Route.CHAT
    photo: bytes | None = None

    @classmethod
    def new(
        cls, text: str, device_intent: str, device_confidence: float, version: str, key: str | None = None
    ) -> OutboxRecord:
        return cls(
            id=key or uuid.uuid4().hex,
            text=text,
            device_intent=device_intent,
            device_confidence=device_confidence,
            version=version,
            created_at=datetime.now(UTC).isoformat(),
        )

    @classmethod
    def new_photo(
        cls, photo: bytes, device_class: str, device_confidence: float, version: str, key: str
    ) -> OutboxRecord:
        return cls(
            id=key,
            text="",
            device_intent=device_class,
            device_confidence=device_confidence,
            version=version,
            created_at=datetime.now(UTC).isoformat(),
            route=Route.VISION,
            photo=photo,
        )


@dataclass(frozen=True)
class FlushResult:
    """Counts of one flush: delivered now, rejected for good, still waiting."""

    delivered: int
    rejected: int
    remaining: int


class Outbox:
    """The durable queue of one device; safe across threads and processes."""

    def __init__(self, outbox_dir: Path, device_id: str) -> None:
        self.path = outbox_dir / f"{device_id}.sqlite3"
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        try:
            outbox_dir.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
            self._db.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            self._db.execute("PRAGMA synchronous=FULL")
            with self._db:
                self._db.execute(_SCHEMA)
                present = {str(row[1]) for row in self._db.execute("PRAGMA table_info(outbox)")}
                for name, definition in _ADDED_COLUMNS.items():
                    if name not in present:
                        self._db.execute(f"ALTER TABLE outbox ADD COLUMN {name} {definition}")
        except (OSError, sqlite3.Error) as err:
            raise OutboxError(f"cannot open outbox {self.path}: {err}; pass a writable outbox_dir") from err
        if str(mode).lower() != "wal":
            logger.warning(
                "outbox %s runs in journal mode %s, not WAL (the file system lacks shared memory)", self.path, mode
            )
        self._import_legacy(outbox_dir / f"{device_id}.jsonl")

    @contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                with self._db:
                    yield self._db
            except sqlite3.Error as err:
                raise OutboxError(f"cannot {what} outbox {self.path}: {err}; check free space and permissions") from err

    def append(self, record: OutboxRecord) -> bool:
        """Store one record durably; False if a record with its id was already stored (nothing changes)."""
        with self._transaction("append to") as db:
            cursor = db.execute(
                f"INSERT OR IGNORE INTO outbox ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.text,
                    record.device_intent,
                    record.device_confidence,
                    record.version,
                    record.created_at,
                    str(record.route),
                    record.photo,
                ),
            )
            return cursor.rowcount == 1

    def pending(self, limit: int | None = None) -> list[OutboxRecord]:
        """The records not delivered yet, oldest first."""
        return self._select("pending", limit)

    def rejected(self) -> list[OutboxRecord]:
        """The records the cluster refused for good, oldest first."""
        return self._select("rejected", None)

    def __len__(self) -> int:
        with self._transaction("read") as db:
            count: int = db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()[0]
            return count

    def _select(self, state: str, limit: int | None) -> list[OutboxRecord]:
        with self._transaction("read") as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE state = ? ORDER BY seq LIMIT ?",
                (state, -1 if limit is None else limit),
            ).fetchall()
        return [
            OutboxRecord(
                str(r[0]),
                str(r[1]),
                str(r[2]),
                float(r[3]),
                str(r[4]),
                str(r[5]),
                Route(str(r[6])),
                bytes(r[7]) if r[7] is not None else None,
            )
            for r in rows
        ]

    def flush(self, deliver: Callable[[OutboxRecord], Delivery]) -> FlushResult:
        """Offer records oldest first; stop at the first failure and keep it and everything after it.

        Each outcome is committed as soon as it is known, so a crash mid-flush re-offers at most the record
        whose acknowledgement was in flight (under its idempotency key).
        """
        delivered = rejected = 0
        with self._flush_lock:
            stopped = False
            while not stopped:
                batch = self.pending(_BATCH)
                if not batch:
                    break
                for record in batch:
                    outcome = deliver(record)
                    if outcome is Delivery.FAILED:
                        stopped = True
                        break
                    self.settle(record, outcome)
                    if outcome is Delivery.DELIVERED:
                        delivered += 1
                    else:
                        rejected += 1
        remaining = len(self)
        if delivered or rejected:
            logger.info("outbox %s: delivered %s, rejected %s, %s remaining", self.path, delivered, rejected, remaining)
        return FlushResult(delivered=delivered, rejected=rejected, remaining=remaining)

    def settle(self, record: OutboxRecord, outcome: Delivery) -> None:
        """Commit one delivery's outcome: a delivered record leaves, a rejected one is set aside."""
        with self._transaction("update") as db:
            if outcome is Delivery.DELIVERED:
                db.execute("DELETE FROM outbox WHERE id = ?", (record.id,))
            elif outcome is Delivery.REJECTED:
                db.execute("UPDATE outbox SET state = 'rejected' WHERE id = ?", (record.id,))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _import_legacy(self, legacy: Path) -> None:
        """Move records of the JSON-lines outbox of earlier SDK versions into the database, then retire the file."""
        if not legacy.is_file():
            return
        imported = 0
        for line in legacy.read_text(encoding="utf-8").splitlines():
            try:
                data = json.loads(line)
                record = OutboxRecord(
                    str(data["id"]),
                    str(data["text"]),
                    str(data["device_intent"]),
                    float(data["device_confidence"]),
                    str(data["version"]),
                    str(data["created_at"]),
                )
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                logger.warning("outbox %s: skipping an unreadable line of %s", self.path, legacy)
                continue
            imported += int(self.append(record))
        legacy.rename(legacy.with_name(legacy.name + ".imported"))
        logger.info("outbox %s: imported %s record(s) from %s", self.path, imported, legacy)
