"""``shopmesh tenants add|list|revoke|adapter``: the API keys of a cluster's merchants and the intent adapters
that answer them, in its state directory.

``add`` prints the new key once; the store keeps only its salted hash (:mod:`cluster.tenants`), so a lost key
is revoked and replaced, never recovered. Running replicas notice an added or revoked key within seconds.
``adapter`` assigns a merchant its intent adapter (:mod:`cluster.adapters`) after checking that the adapter was
trained for that merchant and loads on its base; ``--clear`` returns the merchant to the global version.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from cluster.adapters import AdapterAssignments
from cluster.errors import TenantError
from cluster.tenants import ApiKey, TenantStore
from ensemble.members.intent_adapter import ADAPTER_MEMBER, AdapterBank
from ensemble.registry import Registry
from shopmesh.commands.state_dir import add_state_dir_argument, state_dir_of
from shopmesh.errors import CommandError


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

    adapter = group.add_parser("adapter", help="answer a merchant's requests with its own intent adapter")
    adapter.add_argument("merchant", help="the merchant whose requests the adapter answers")
    adapter.add_argument(
        "version", nargs="?", default=None, help="an intent-adapter version (default: the merchant's newest)"
    )
    adapter.add_argument("--clear", action="store_true", help="answer the merchant with the global version again")
    add_state_dir_argument(adapter)
    adapter.set_defaults(handler=run_adapter)


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
    assigned = AdapterAssignments.in_state_dir(state_dir_of(args)).all()
    adapters = {found.merchant: found.adapter for found in assigned}
    if args.merchant is not None:
        adapters = {m: a for m, a in adapters.items() if m == args.merchant}
    print(json.dumps({"keys": [_row(key) for key in keys], "adapters": adapters}, indent=2))
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    key = _store(args).revoke(args.key_id)
    print(json.dumps(_row(key), indent=2))
    return 0


def run_adapter(args: argparse.Namespace) -> int:
    store = AdapterAssignments.in_state_dir(state_dir_of(args))
    if args.clear:
        if args.version is not None:
            raise CommandError("--clear takes no version: it returns the merchant to the global version")
        previous = store.clear(args.merchant)
        print(json.dumps({"merchant": args.merchant, "adapter": None, "previous": previous}, indent=2))
        return 0
    registry = Registry(args.workspace.registry)
    if args.version is None:
        version = _newest_adapter_of(registry, args.merchant)
    else:
        version = registry.resolve(ADAPTER_MEMBER, args.version).id
    served = AdapterBank(registry).load(version)  # refuses a damaged adapter, or one its base cannot take
    try:
        if served.info.merchant != args.merchant:
            raise CommandError(
                f"{version} was trained for merchant {served.info.merchant!r}, not {args.merchant!r}; a merchant "
                "is only answered by its own adapter"
            )
    finally:
        served.release()
    previous = store.assign(args.merchant, version)
    print(
        json.dumps(
            {"merchant": args.merchant, "adapter": version, "base": served.info.base, "previous": previous}, indent=2
        )
    )
    return 0


def _newest_adapter_of(registry: Registry, merchant: str) -> str:
    for version in reversed(registry.list(ADAPTER_MEMBER)):
        config = registry.load(ADAPTER_MEMBER, version.version).config
        if config.get("merchant") == merchant:
            return version.id
    raise CommandError(
        f"the registry at {registry.root} has no intent adapter of merchant {merchant!r}; train one with "
        f"`shopmesh train intent --merchant {merchant} --data CSV`"
    )
