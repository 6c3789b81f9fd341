"""The durable outbox: fsynced appends that survive a new instance, ordered replay, nothing dropped."""

from __future__ import annotations

import json
from pathlib import Path

from edge.runtime import Outbox, OutboxRecord
from edge.runtime.outbox import Delivery


def _record(text: str) -> OutboxRecord:
    return OutboxRecord.new(text, "returns", 0.4, "intent:v0001")


def test_records_survive_a_new_outbox_instance(tmp_path: Path) -> None:
    # Prepare
    first = Outbox(tmp_path, "kiosk-1")
    first.append(_record("a"))
    first.append(_record("b"))

    # Execute
    reopened = Outbox(tmp_path, "kiosk-1")

    # Assert
    assert [r.text for r in reopened.pending()] == ["a", "b"]
    assert (tmp_path / "kiosk-1.jsonl").read_text().count("\n") == 2


def test_each_device_has_its_own_file(tmp_path: Path) -> None:
    # Execute
    Outbox(tmp_path, "kiosk-1").append(_record("a"))
    Outbox(tmp_path, "kiosk-2").append(_record("b"))

    # Assert
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kiosk-1.jsonl", "kiosk-2.jsonl"]


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
    aside = [json.loads(line)["text"] for line in (tmp_path / "kiosk-1.rejected.jsonl").read_text().splitlines()]
    assert aside == ["bad"]


def test_torn_last_line_is_moved_aside_and_the_rest_kept(tmp_path: Path) -> None:
    # Prepare: a power cut in the middle of an append leaves half a JSON line
    outbox = Outbox(tmp_path, "kiosk-1")
    outbox.append(_record("whole"))
    with (tmp_path / "kiosk-1.jsonl").open("a") as fh:
        fh.write('{"id": "x", "text": "ha')

    # Execute
    pending = Outbox(tmp_path, "kiosk-1").pending()

    # Assert
    assert [r.text for r in pending] == ["whole"]
    assert (tmp_path / "kiosk-1.corrupt.jsonl").read_text() == '{"id": "x", "text": "ha\n'
