"""Merchants as tenants: their API keys, kept in the cluster's state directory with only a salted hash at rest.

A key reads ``smk_<key id>_<secret>``: the prefix makes a leaked key easy to recognise (and to scan for), the key
id (8 hex digits) is public and names the key in ``shopmesh tenants list`` and ``revoke``, and the secret is
``secrets.token_urlsafe(32)`` (256 random bits). The store keeps the key id, the merchant, whether the key is an
admin's, when it was made and revoked, and ``scrypt(secret, salt)`` with a random salt per key; the key itself
is printed once by ``shopmesh tenants add`` and never stored. :meth:`TenantStore.verify` recomputes the hash
and compares it in constant time (``hmac.compare_digest``).

One SQLite file (``tenants.sqlite``, WAL, a 30 s busy timeout), two tables: ``api_keys`` and ``meta``, whose
``generation`` grows with every change, so a replica that caches verified keys (:mod:`cluster.auth`) notices an
added or revoked key with one cheap read.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from cluster.errors import TenantError
from cluster.sqlite_store import CountedStore
from ensemble.merchants import MERCHANT_PATTERN, merchant_name_problem

__all__ = [
    "KEY_PREFIX",
    "MERCHANT_PATTERN",
    "TENANTS_NAME",
    "ApiKey",
    "IssuedKey",
    "Tenant",
    "TenantStore",
    "parse_key",
]

TENANTS_NAME = "tenants.sqlite"
KEY_PREFIX = "smk_"
_KEY_ID_HEX = 8
_KEY = re.compile(rf"^{KEY_PREFIX}([0-9a-f]{{{_KEY_ID_HEX}}})_([A-Za-z0-9_-]{{43}})$")
# scrypt's cost: 2**14 x 8 x 128 bytes = 16 MiB and tens of milliseconds per verification, which the replicas'
# cache pays once per key, not per request
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_HASH_BYTES = 32

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    merchant TEXT NOT NULL,
    admin INTEGER NOT NULL,
    salt BLOB NOT NULL,
    digest BLOB NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
);
"""


@dataclass(frozen=True)
class Tenant:
    """Who a verified key belongs to: the merchant, the key's id, and whether it may call admin routes."""

    merchant: str
    key_id: str
    admin: bool


@dataclass(frozen=True)
class ApiKey:
    """One stored key as ``tenants list`` shows it: never the key, only its id."""

    key_id: str
    merchant: str
    admin: bool
    created_at: float
    revoked_at: float | None

    @property
    def prefix(self) -> str:
        """How the key starts (``smk_<key id>_``), to recognise it in a configuration."""
        return f"{KEY_PREFIX}{self.key_id}_"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class IssuedKey:
    """A key just made: ``key`` is shown once and then exists only with whoever received it."""

    key: str
    record: ApiKey


def parse_key(key: str) -> tuple[str, str] | None:
    """``(key id, secret)`` of a well-formed key, ``None`` for anything else."""
    found = _KEY.match(key)
    return None if found is None else (found.group(1), found.group(2))


def _digest(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=_HASH_BYTES)


def _record(row: sqlite3.Row) -> ApiKey:
    return ApiKey(
        key_id=row["key_id"],
        merchant=row["merchant"],
        admin=bool(row["admin"]),
        created_at=float(row["created_at"]),
        revoked_at=None if row["revoked_at"] is None else float(row["revoked_at"]),
    )


class TenantStore(CountedStore):
    """The ``tenants.sqlite`` file of one cluster's state directory; every add or revoke moves its generation on,
    which tells the replicas' key caches to empty themselves."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA, describe="tenant key store", error=TenantError)

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> TenantStore:
        return cls(state_dir / TENANTS_NAME)

    def add(self, merchant: str, *, admin: bool = False) -> IssuedKey:
        """Make a key for ``merchant`` and keep its hash; :class:`TenantError` for a malformed merchant name or
        a merchant that already holds an active key of the same kind (revoke that one first)."""
        problem = merchant_name_problem(merchant)
        if problem is not None:
            raise TenantError(problem)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        digest = _digest(secret, salt)
        now = time.time()
        with self._write() as db:
            held = db.execute(
                "SELECT key_id FROM api_keys WHERE merchant = ? AND admin = ? AND revoked_at IS NULL",
                (merchant, int(admin)),
            ).fetchone()
            if held is not None:
                kind = "an admin" if admin else "a tenant"
                raise TenantError(
                    f"merchant {merchant!r} already holds {kind} key ({held['key_id']}); revoke it first "
                    f"(shopmesh tenants revoke {held['key_id']}) to issue a new one"
                )
            key_id = secrets.token_hex(_KEY_ID_HEX // 2)
            while db.execute("SELECT 1 FROM api_keys WHERE key_id = ?", (key_id,)).fetchone():
                key_id = secrets.token_hex(_KEY_ID_HEX // 2)
            db.execute(
                "INSERT INTO api_keys (key_id, merchant, admin, salt, digest, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, merchant, int(admin), salt, digest, now),
            )
        record = ApiKey(key_id=key_id, merchant=merchant, admin=admin, created_at=now, revoked_at=None)
        return IssuedKey(key=f"{KEY_PREFIX}{key_id}_{secret}", record=record)

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by its id (revoking twice keeps the first time); :class:`TenantError` for an unknown id."""
        with self._write() as db:
            row = db.execute("SELECT * FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
            if row is None:
                raise TenantError(
                    f"no API key with id {key_id!r:.80}; `shopmesh tenants list` shows the key ids (8 hex digits)"
                )
            if row["revoked_at"] is None:
                db.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ?", (time.time(), key_id))
            row = db.execute("SELECT * FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
        return _record(row)

    def list(self) -> list[ApiKey]:
        """Every key, oldest first (revoked ones included)."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM api_keys ORDER BY created_at, key_id").fetchall()
        return [_record(row) for row in rows]

    def active_count(self) -> int:
        """How many keys are not revoked (none: the cluster's ``/v1`` routes are open)."""
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL").fetchone()[0])

    def verify(self, key: str) -> Tenant | None:
        """The tenant of an active key; ``None`` for a malformed, unknown or revoked key or a wrong secret."""
        parsed = parse_key(key)
        if parsed is None:
            return None
        key_id, secret = parsed
        with self._connect() as db:
            row = db.execute("SELECT * FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
        if row is None or row["revoked_at"] is not None:
            return None
        if not hmac.compare_digest(_digest(secret, bytes(row["salt"])), bytes(row["digest"])):
            return None
        return Tenant(merchant=row["merchant"], key_id=key_id, admin=bool(row["admin"]))
