"""The durable outbox in SQLite: records survive a new instance, ordered replay, nothing dropped or doubled."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from edge.runtime import Outbox, OutboxRecord
from edge.runtime.outbox import Delivery


def _record(text: str) -> OutboxRecord:
    return OutboxRecord.new(text, "returns", 0.4, "intent:v0001")


def test_records_survive_a_new_outbox_instance_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    # Prepare
    first = Outbox(tmp_path, "kiosk-1")
    first.append(_record("a"))
    first.append(_record("b"))
    first.close()

    # Execute
    reopened = Outbox(tmp_path, "kiosk-1")

    # Assert
    assert [r.text for r in reopened.pending()] == ["a", "b"]
    assert len(reopened) == 2
    db = sqlite3.connect(tmp_path / "kiosk-1.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert reopened._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    db.close()


def test_each_device_has_its_own_database(tmp_path: Path) -> None:
    # Execute
    Outbox(tmp_path, "kiosk-1").append(_record("a"))
    Outbox(tmp_path, "kiosk-2").append(_record("b"))

    # Assert
    assert [r.text for r in Outbox(tmp_path, "kiosk-1").pending()] == ["a"]
    assert [r.text for r in Outbox(tmp_path, "kiosk-2").pending()] == ["b"]


def test_a_record_with_a_known_idempotency_key_is_stored_once(tmp_path: Path) -> None:
    # Prepare
    outbox = Outbox(tmp_path, "kiosk-1")
    record = _record("a")

    # Execute
    first, second = outbox.append(record), outbox.append(record)

    # Assert
    assert (first, second) == (True, False)
    assert [r.id for r in outbox.pending()] == [record.id]


def test_flush_stops_at_the_first_failure_and_keeps_the_rest_in_order(tmp_path: Path) -> None:
    # Prepare
    outbox = Outbox(tmp_path, "kiosk-1")
    for text in ["a", "b", "c", "d"]:
        outbox.append(_record(text))
    offered: list[str] = []

    def deliver(record: OutboxRecord) -> Delivery:
        offered.append(record.text)
        return Delivery.FAILED if record.text == "c" else Delivery.DELIVERED

    # Execute
    result = outbox.flush(deliver)

    # Assert
    assert offered == ["a", "b", "c"]
    assert (result.delivered, result.rejected, result.remaining) == (2, 0, 2)
    assert [r.text for r in Outbox(tmp_path, "kiosk-1").pending()] == ["c", "d"]


def test_rejected_records_are_set_aside_not_lost(tmp_path: Path) -> None:
    # Prepare
    outbox = Outbox(tmp_path, "kiosk-1")
    outbox.append(_record("bad"))
    outbox.append(_record("good"))

    # Execute
    result = outbox.flush(lambda r: Delivery.REJECTED if r.text == "bad" else Delivery.DELIVERED)

    # Assert
    assert (result.delivered, result.rejected, result.remaining) == (1, 1, 0)
    assert outbox.pending() == []
    assert [r.text for r in outbox.rejected()] == ["bad"]


def test_records_of_the_json_lines_outbox_are_imported_once(tmp_path: Path) -> None:
    # Prepare: the outbox file of the previous SDK, with a torn last line from a power cut
    whole = _record("whole")
    line = json.dumps(whole.__dict__)
    (tmp_path / "kiosk-1.jsonl").write_text(line + "\n" + '{"id": "x", "text": "ha')

    # Execute
    pending = Outbox(tmp_path, "kiosk-1").pending()
    again = Outbox(tmp_path, "kiosk-1").pending()

    # Assert
    assert [r.id for r in pending] == [r.id for r in again] == [whole.id]
    assert (tmp_path / "kiosk-1.jsonl.imported").is_file() and not (tmp_path / "kiosk-1.jsonl").exists()


def test_threads_and_processes_appending_at_once_lose_nothing(tmp_path: Path) -> None:
    # Prepare: two other processes and four threads of this one write to the same device outbox
    code = (
        "import sys\nfrom pathlib import Path\nfrom edge.runtime import Outbox, OutboxRecord\n"
        "box = Outbox(Path(sys.argv[1]), 'kiosk-1')\n"
        "for i in range(100):\n    box.append(OutboxRecord.new(f'{sys.argv[2]}-{i}', 'returns', 0.4, 'intent:v0001'))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), f"p{n}"]) for n in range(2)]
    outbox = Outbox(tmp_path, "kiosk-1")

    def write(name: str) -> None:
        for i in range(50):
            outbox.append(_record(f"{name}-{i}"))

    threads = [threading.Thread(target=write, args=(f"t{n}",)) for n in range(4)]

    # Execute
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = [proc.wait(timeout=120) for proc in procs]

    # Assert
    texts = [r.text for r in outbox.pending()]
    assert codes == [0, 0]
    assert len(texts) == len(set(texts)) == 2 * 100 + 4 * 50
    assert [t for t in texts if t.startswith("p0-")] == [f"p0-{i}" for i in range(100)], "order within a writer"
