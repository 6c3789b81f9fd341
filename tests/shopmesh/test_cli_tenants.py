"""``shopmesh tenants``: a key printed once and never again, clear errors with exit status 2; the demo's key."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cluster.config import default_state_dir
from cluster.tenants import TenantStore
from shopmesh.cli import main
from shopmesh.demo import DEMO_MERCHANT, demo_key

KEY = re.compile(r"^smk_([0-9a-f]{8})_\S{43}$", re.MULTILINE)


def _run(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--home", str(home), "tenants", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_add_prints_the_key_once_and_list_never_shows_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Execute
    added, printed, _ = _run(capsys, tmp_path, "add", "acme")
    admin, _, _ = _run(capsys, tmp_path, "add", "ops", "--admin")
    listed, listing, _ = _run(capsys, tmp_path, "list")

    # Assert
    assert (added, admin, listed) == (0, 0, 0)
    found = KEY.search(printed)
    assert found is not None, printed
    key, key_id = found.group(0), found.group(1)
    assert key not in listing
    rows = json.loads(listing)["keys"]
    assert [(r["merchant"], r["key_id"] == key_id, r["admin"], r["revoked"]) for r in rows] == [
        ("acme", True, False, None),
        ("ops", False, True, None),
    ]
    store = TenantStore.in_state_dir(default_state_dir(tmp_path / "registry"))
    verified = store.verify(key)
    assert verified is not None and verified.merchant == "acme"


def test_revoke_marks_the_key_and_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Prepare
    _, printed, _ = _run(capsys, tmp_path, "add", "acme")
    found = KEY.search(printed)
    assert found is not None
    key_id = found.group(1)

    # Execute
    duplicate = _run(capsys, tmp_path, "add", "acme")
    malformed = _run(capsys, tmp_path, "add", "two words")
    unknown_id = _run(capsys, tmp_path, "revoke", "0000ffff")
    unknown_merchant = _run(capsys, tmp_path, "list", "--merchant", "globex")
    revoked, revoked_out, _ = _run(capsys, tmp_path, "revoke", key_id)

    # Assert
    assert duplicate[0] == 2 and f"already holds a tenant key ({key_id})" in duplicate[2]
    assert malformed[0] == 2 and "merchant name 'two words'" in malformed[2]
    assert unknown_id[0] == 2 and "no API key with id '0000ffff'" in unknown_id[2]
    assert unknown_merchant[0] == 2 and "no keys for merchant 'globex'" in unknown_merchant[2]
    assert all("Traceback" not in result[2] for result in (duplicate, malformed, unknown_id, unknown_merchant))
    assert revoked == 0 and json.loads(revoked_out)["revoked"] is not None


def test_each_demo_run_makes_a_new_admin_key_and_revokes_the_last(tmp_path: Path) -> None:
    # Execute
    first, second = demo_key(tmp_path), demo_key(tmp_path)

    # Assert
    store = TenantStore.in_state_dir(tmp_path)
    assert first != second
    assert store.verify(first) is None
    verified = store.verify(second)
    assert verified is not None and (verified.merchant, verified.admin) == (DEMO_MERCHANT, True)
