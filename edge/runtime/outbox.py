"""A durable, per-device outbox of messages the cluster has not received yet.

One JSON-lines file per device (``<outbox_dir>/<device_id>.jsonl``). Each append is written, flushed and
fsynced before :meth:`Outbox.append` returns, so a message survives a crash or restart. Delivery rewrites the
file with only the undelivered records through a temporary file and an atomic rename, so a crash during a
flush keeps either the old or the new file, never a half of one. A torn last line (power cut mid-append) is
moved to ``.corrupt.jsonl`` rather than dropped; records the cluster rejects for good (HTTP 4xx) move to
``.rejected.jsonl``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from edge.runtime.errors import OutboxError

logger = logging.getLogger(__name__)

__all__ = ["Delivery", "FlushResult", "Outbox", "OutboxRecord"]


class Delivery(StrEnum):
    """What happened to one record when it was offered to the cluster."""

    DELIVERED = "delivered"
    REJECTED = "rejected"  # the cluster refused it for good; kept aside, not retried
    FAILED = "failed"  # the cluster is unreachable or failing; retried on the next flush


@dataclass(frozen=True)
class OutboxRecord:
    """One message the device answered offline."""

    id: str
    text: str
    device_intent: str
    device_confidence: float
    version: str
    created_at: str

    @classmethod
    def new(cls, text: str, device_intent: str, device_confidence: float, version: str) -> OutboxRecord:
        return cls(
            id=uuid.uuid4().hex,
            text=text,
            device_intent=device_intent,
            device_confidence=device_confidence,
            version=version,
            created_at=datetime.now(UTC).isoformat(),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutboxRecord:
        return cls(
            id=str(data["id"]),
            text=str(data["text"]),
            device_intent=str(data["device_intent"]),
            device_confidence=float(data["device_confidence"]),
            version=str(data["version"]),
            created_at=str(data["created_at"]),
        )


@dataclass(frozen=True)
class FlushResult:
    """Counts of one flush: delivered now, rejected for good, still waiting."""

    delivered: int
    rejected: int
    remaining: int


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Outbox:
    """The durable queue of one device; safe to share between threads of one process."""

    def __init__(self, outbox_dir: Path, device_id: str) -> None:
        self.path = outbox_dir / f"{device_id}.jsonl"
        self.rejected_path = outbox_dir / f"{device_id}.rejected.jsonl"
        self.corrupt_path = outbox_dir / f"{device_id}.corrupt.jsonl"
        self._lock = threading.Lock()
        try:
            outbox_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutboxError(
                f"cannot create outbox directory {outbox_dir}: {err}; pass a writable outbox_dir"
            ) from err

    def append(self, record: OutboxRecord) -> None:
        """Append one record and fsync it before returning."""
        line = json.dumps(asdict(record), ensure_ascii=False) + "\n"
        with self._lock:
            self._append_lines(self.path, [line])

    def pending(self) -> list[OutboxRecord]:
        """The records not delivered yet, oldest first."""
        with self._lock:
            return self._read()

    def __len__(self) -> int:
        return len(self.pending())

    def flush(self, deliver: Callable[[OutboxRecord], Delivery]) -> FlushResult:
        """Offer records oldest first; stop at the first failure and keep it and everything after it."""
        with self._lock:
            records = self._read()
            delivered: list[OutboxRecord] = []
            rejected: list[OutboxRecord] = []
            remaining: list[OutboxRecord] = []
            for index, record in enumerate(records):
                outcome = deliver(record)
                if outcome is Delivery.FAILED:
                    remaining = records[index:]
                    break
                (delivered if outcome is Delivery.DELIVERED else rejected).append(record)
            if rejected:
                self._append_lines(
                    self.rejected_path, (json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in rejected)
                )
            if delivered or rejected:
                self._rewrite(remaining)
        if delivered or rejected:
            logger.info(
                "outbox %s: delivered %s, rejected %s, %s remaining",
                self.path,
                len(delivered),
                len(rejected),
                len(remaining),
            )
        return FlushResult(delivered=len(delivered), rejected=len(rejected), remaining=len(remaining))

    def _read(self) -> list[OutboxRecord]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as err:
            raise OutboxError(f"cannot read outbox {self.path}: {err}") from err
        records: list[OutboxRecord] = []
        corrupt: list[str] = []
        for line in raw.splitlines():
            if not line.strip():
                continue
            try:
                records.append(OutboxRecord.from_dict(json.loads(line)))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                corrupt.append(line + "\n")
        if corrupt:
            logger.warning("outbox %s: moving %s unreadable line(s) to %s", self.path, len(corrupt), self.corrupt_path)
            self._append_lines(self.corrupt_path, corrupt)
            self._rewrite(records)
        return records

    def _append_lines(self, path: Path, lines: Iterable[str]) -> None:
        try:
            with path.open("a", encoding="utf-8") as fh:
                fh.writelines(lines)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as err:
            raise OutboxError(f"cannot append to outbox {path}: {err}; check free space and permissions") from err

    def _rewrite(self, records: list[OutboxRecord]) -> None:
        tmp = self.path.with_suffix(".jsonl.tmp")
        try:
            with tmp.open("w", encoding="utf-8") as fh:
                fh.writelines(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in records)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
        except OSError as err:
            raise OutboxError(f"cannot rewrite outbox {self.path}: {err}; check free space and permissions") from err
