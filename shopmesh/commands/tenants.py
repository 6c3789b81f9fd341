"""``shopmesh tenants add|list|revoke``: the API keys of a cluster's merchants, in its state directory.

``add`` prints the new key once; the store keeps only its salted hash (:mod:`cluster.tenants`), so a lost key
is revoked and replaced, never recovered. Running replicas notice an added or revoked key within seconds.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from cluster.errors import TenantError
from cluster.tenants import ApiKey, TenantStore
from shopmesh.commands.state_dir import add_state_dir_argument, state_dir_of


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("tenants", help="API keys of the merchants that call the cluster")
    group = parser.add_subparsers(dest="tenants_command", required=True, metavar="ACTION")

    add = group.add_parser("add", help="make a key for a merchant and print it once")
    add.add_argument("merchant", help="the merchant's name (letters, digits, _ . -)")
    add.add_argument("--admin", action="store_true", help="an operator's key: may also call the admin routes")
    add_state_dir_argument(add)
    add.set_defaults(handler=run_add)

    listing = group.add_parser("list", help="every key: merchant, key id, admin, created, revoked (never the key)")
    listing.add_argument("--merchant", default=None, help="only this merchant's keys")
    add_state_dir_argument(listing)
    listing.set_defaults(handler=run_list)

    revoke = group.add_parser("revoke", help="revoke a key by its id; replicas refuse it within seconds")
    revoke.add_argument("key_id", help="the key's id, as `tenants list` shows it")
    add_state_dir_argument(revoke)
    revoke.set_defaults(handler=run_revoke)


def _store(args: argparse.Namespace) -> TenantStore:
    state_dir = state_dir_of(args)
    return TenantStore.in_state_dir(state_dir)


def _when(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


def _row(key: ApiKey) -> dict[str, object]:
    return {
        "merchant": key.merchant,
        "key_id": key.key_id,
        "prefix": key.prefix,
        "admin": key.admin,
        "created": _when(key.created_at),
        "revoked": _when(key.revoked_at),
    }


def run_add(args: argparse.Namespace) -> int:
    issued = _store(args).add(args.merchant, admin=args.admin)
    kind = "admin" if args.admin else "tenant"
    print(f"{kind} key {issued.record.key_id} for merchant {issued.record.merchant} (shown once, store it now):")
    print(issued.key)
    return 0


def run_list(args: argparse.Namespace) -> int:
    keys = _store(args).list()
    if args.merchant is not None:
        keys = [key for key in keys if key.merchant == args.merchant]
        if not keys:
            raise TenantError(
                f"no keys for merchant {args.merchant!r:.80}; `shopmesh tenants list` shows every merchant"
            )
    print(json.dumps({"keys": [_row(key) for key in keys]}, indent=2))
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    key = _store(args).revoke(args.key_id)
    print(json.dumps(_row(key), indent=2))
    return 0
