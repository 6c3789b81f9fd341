"""The tenant key store on a real SQLite file: keys hashed at rest, verification, revocation, admin keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.errors import TenantError
from cluster.tenants import KEY_PREFIX, TENANTS_NAME, TenantStore, parse_key


def _stored_bytes(state_dir: Path) -> bytes:
    """Everything SQLite wrote for the store: the database, its write-ahead log and shared memory."""
    return b"".join(path.read_bytes() for path in sorted(state_dir.glob(TENANTS_NAME + "*")))


def test_a_key_is_never_stored_only_its_hash(tmp_path: Path) -> None:
    # Prepare
    store = TenantStore.in_state_dir(tmp_path)

    # Execute
    issued = store.add("acme")
    store.close()

    # Assert
    parsed = parse_key(issued.key)
    assert parsed is not None and parsed[0] == issued.record.key_id
    secret = parsed[1]
    stored = _stored_bytes(tmp_path)
    assert issued.record.key_id.encode() in stored  # the store holds the key's record ...
    assert issued.key.encode() not in stored  # ... but neither the key nor its secret part
    assert secret.encode() not in stored
    assert issued.key.startswith(f"{KEY_PREFIX}{issued.record.key_id}_")


def test_verify_names_the_tenant_and_refuses_wrong_keys(tmp_path: Path) -> None:
    # Prepare
    store = TenantStore.in_state_dir(tmp_path)
    tenant = store.add("acme")
    admin = store.add("ops", admin=True)
    key_id, secret = parse_key(tenant.key) or ("", "")
    other_secret = secret[:-1] + ("A" if secret[-1] != "A" else "B")

    # Execute
    found, found_admin = store.verify(tenant.key), store.verify(admin.key)

    # Assert
    assert found is not None and (found.merchant, found.key_id, found.admin) == ("acme", key_id, False)
    assert found_admin is not None and (found_admin.merchant, found_admin.admin) == ("ops", True)
    assert store.verify(f"{KEY_PREFIX}{key_id}_{other_secret}") is None  # right id, wrong secret
    assert store.verify(f"{KEY_PREFIX}00000000_{secret}") is None  # unknown id
    assert store.verify("not-a-key") is None
    assert store.verify("") is None


def test_revoke_ends_a_key_and_changes_the_generation(tmp_path: Path) -> None:
    # Prepare
    store = TenantStore.in_state_dir(tmp_path)
    issued = store.add("acme")
    before = store.generation()

    # Execute
    revoked = store.revoke(issued.record.key_id)

    # Assert
    assert revoked.revoked_at is not None and not revoked.active
    assert store.verify(issued.key) is None
    assert store.generation() == before + 1
    assert store.active_count() == 0
    assert store.revoke(issued.record.key_id).revoked_at == revoked.revoked_at  # revoking twice keeps the first
    assert store.add("acme").record.key_id != issued.record.key_id  # a revoked key's merchant gets a new one


def test_list_shows_every_key_and_survives_reopening(tmp_path: Path) -> None:
    # Prepare
    store = TenantStore.in_state_dir(tmp_path)
    first = store.add("acme")
    store.add("acme", admin=True)
    store.revoke(first.record.key_id)
    store.close()

    # Execute
    listed = TenantStore.in_state_dir(tmp_path).list()

    # Assert
    assert [(k.merchant, k.admin, k.active) for k in listed] == [("acme", False, False), ("acme", True, True)]
    assert all(k.prefix == f"{KEY_PREFIX}{k.key_id}_" for k in listed)


@pytest.mark.parametrize("merchant", ["", "has space", "-leading-dash", "x" * 65, "semi;colon"])
def test_a_malformed_merchant_name_is_refused(tmp_path: Path, merchant: str) -> None:
    store = TenantStore.in_state_dir(tmp_path)
    with pytest.raises(TenantError, match="merchant name"):
        store.add(merchant)
    assert store.list() == []


def test_a_second_active_key_of_one_kind_and_an_unknown_key_id_are_refused(tmp_path: Path) -> None:
    store = TenantStore.in_state_dir(tmp_path)
    held = store.add("acme")
    with pytest.raises(TenantError, match=f"already holds a tenant key \\({held.record.key_id}\\)"):
        store.add("acme")
    with pytest.raises(TenantError, match="no API key with id 'ffffffff'"):
        store.revoke("ffffffff")
    assert [k.key_id for k in store.list()] == [held.record.key_id]
