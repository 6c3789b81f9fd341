"""IdempotencyStore: one answer per key across restarts, threads and processes; a bounded window."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cluster.idempotency import IdempotencyError, IdempotencyStore

MODULE_FILE = Path(__file__).resolve().parents[2] / "cluster" / "idempotency.py"

# Load the module by its file: it depends on the standard library only, and this keeps the worker processes
# from importing the whole cluster package (Ray, Serve) just to use it.
WORKER = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("idempotency", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
store = module.IdempotencyStore(__import__("pathlib").Path(sys.argv[2]))
new = [key for key in json.loads(sys.argv[3]) if not store.seen_or_record(key)]
print(json.dumps(new))
"""


def test_a_key_is_new_once_and_seen_after_a_restart(tmp_path: Path) -> None:
    # Prepare
    store = IdempotencyStore(tmp_path / "keys.sqlite3")

    # Execute
    first = store.seen_or_record("evt-1")
    second = store.seen_or_record("evt-1")
    store.close()
    reopened = IdempotencyStore(tmp_path / "keys.sqlite3")

    # Assert
    assert (first, second) == (False, True)
    assert reopened.seen_or_record("evt-1") is True
    assert reopened.seen_or_record("evt-2") is False
    assert len(reopened) == 2


def test_the_window_keeps_only_the_newest_keys(tmp_path: Path) -> None:
    # Prepare
    store = IdempotencyStore(tmp_path / "keys.sqlite3", max_keys=3)
    for n in range(5):
        store.seen_or_record(f"evt-{n}")

    # Execute
    pruned = store.prune()

    # Assert: evt-0 and evt-1 left the window and count as new again; the newest three are still known
    assert pruned == 2
    assert [store.seen_or_record(f"evt-{n}") for n in (2, 3, 4)] == [True, True, True]
    assert store.seen_or_record("evt-0") is False


def test_keys_older_than_the_ttl_count_as_new(tmp_path: Path) -> None:
    # Prepare
    now = [1000.0]
    store = IdempotencyStore(tmp_path / "keys.sqlite3", ttl_s=60.0, clock=lambda: now[0])
    store.seen_or_record("evt-1")

    # Execute
    now[0] += 59.0
    within = store.seen_or_record("evt-1")
    now[0] += 61.0
    after = store.seen_or_record("evt-1")
    again = store.seen_or_record("evt-1")

    # Assert
    assert (within, after, again) == (True, False, True)


def test_forget_lets_a_key_come_again(tmp_path: Path) -> None:
    # Prepare
    store = IdempotencyStore(tmp_path / "keys.sqlite3")
    store.seen_or_record("evt-1")

    # Execute
    store.forget("evt-1")

    # Assert
    assert store.seen_or_record("evt-1") is False


@pytest.mark.parametrize("bad", ["", " ", "a b", "é", "x" * 201, None, 7])
def test_a_malformed_key_is_refused_naming_it(tmp_path: Path, bad: object) -> None:
    # Prepare
    store = IdempotencyStore(tmp_path / "keys.sqlite3")

    # Execute / Assert
    with pytest.raises(IdempotencyError, match="idempotency key"):
        store.seen_or_record(bad)  # type: ignore[arg-type]
    assert len(store) == 0


def test_threads_and_processes_racing_on_the_same_keys_see_each_key_new_exactly_once(tmp_path: Path) -> None:
    # Prepare: three processes and three threads offer the same 300 keys to one store file
    path = tmp_path / "keys.sqlite3"
    keys = [f"evt-{n}" for n in range(300)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(MODULE_FILE), str(path), json.dumps(keys)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    store = IdempotencyStore(path)
    found: list[list[str]] = []

    def offer() -> None:
        found.append([key for key in keys if not store.seen_or_record(key)])

    threads = [threading.Thread(target=offer) for _ in range(3)]

    # Execute
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        found.append(json.loads(out))

    # Assert
    new = [key for batch in found for key in batch]
    assert sorted(new) == sorted(keys), "every key is new for exactly one caller"


def test_the_first_answer_is_kept_with_its_key_and_goes_with_it(tmp_path: Path) -> None:
    # Prepare
    store = IdempotencyStore(tmp_path / "keys.sqlite")

    # Execute
    first = store.seen_or_record("k-1")
    store.remember("k-1", "sha-a", '{"reply": "first"}')
    store.remember("k-1", "sha-b", '{"reply": "second"}')  # a later answer never replaces the first
    kept = store.recall("k-1")
    reopened = IdempotencyStore(tmp_path / "keys.sqlite").recall("k-1")
    store.forget("k-1")

    # Assert
    assert first is False
    assert kept == reopened == ("sha-a", '{"reply": "first"}')
    assert store.recall("k-1") is None
    assert store.recall("never-seen") is None
