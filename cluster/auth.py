"""Who calls ``/v1``: the bearer-key check every JSON API route runs, and its place in the OpenAPI schema.

Once the cluster's key store (:mod:`cluster.tenants`) holds an active key, every ``/v1/*`` request needs
``Authorization: Bearer KEY``. A missing, malformed, unknown or revoked key answers 401 with
``WWW-Authenticate: Bearer``; a tenant's key on an admin route (:data:`ADMIN_ROUTES`: the experiment reports, the
rollout journal and the federated runs, which show every merchant's traffic and models) answers 403. With no
active key at all the routes are open, and :func:`warn_if_open` says so loudly when the application is built.
An answer kept for an ``Idempotency-Key`` is bound to the merchant who sent it (:func:`tenant_fingerprint`), so
another merchant's request with the same key is refused (409), never answered with it.
The pages, ``/static``, ``/healthz``, ``/metrics`` and ``/openapi.json`` never need a key; the pages' scripts
send the key the user typed into them (kept in the browser tab's ``sessionStorage``).

A replica verifies a key once (scrypt, tens of milliseconds) and then keeps the verified tenant in a bounded
cache keyed by the key's SHA-256. At most every :attr:`KeyCache.refresh_s` seconds it reads the store's
generation, one small query; when a key was added or revoked since, the cache is emptied, so a revoked key stops
working within that time on every replica.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from cluster.config import state_dir_from_env
from cluster.schemas import ErrorResponse
from cluster.tenants import TENANTS_NAME, Tenant, TenantStore

__all__ = [
    "ADMIN_ROUTES",
    "API_PREFIX",
    "SECURITY_SCHEME",
    "KeyCache",
    "authorize",
    "caller",
    "install_security",
    "is_open",
    "key_cache",
    "tenant_fingerprint",
    "warn_if_open",
]

logger = logging.getLogger(__name__)

API_PREFIX: Final = "/v1/"
SECURITY_SCHEME: Final = "bearerAuth"
# Routes that show or change what every merchant shares: an admin key's only.
ADMIN_ROUTES: Final = frozenset({"/v1/experiments", "/v1/experiments/{name}", "/v1/rollouts", "/v1/federation/runs"})
_CHALLENGE: Final = {"WWW-Authenticate": "Bearer"}
_CACHE_SIZE = 1024
_REFRESH_S = 2.0


def is_open(state_dir: Path) -> bool:
    """Whether the cluster of ``state_dir`` serves ``/v1`` without keys (its store holds no active key)."""
    path = state_dir / TENANTS_NAME
    if not path.is_file():
        return True
    store = TenantStore(path)
    try:
        return store.active_count() == 0
    finally:
        store.close()


def warn_if_open(state_dir: Path) -> None:
    """Log one warning when the cluster of ``state_dir`` has no API key, so /v1 answers anyone."""
    if is_open(state_dir):
        logger.warning(
            "no API keys: /v1 is open to anyone who reaches %s's cluster; run `shopmesh tenants add MERCHANT` "
            "(and `--admin` for operators) to require keys",
            state_dir,
        )


class KeyCache:
    """The tenants of keys a replica has verified, at most ``size`` of them, emptied when the store changes."""

    def __init__(
        self,
        store: TenantStore,
        size: int = _CACHE_SIZE,
        refresh_s: float = _REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._size = size
        self.refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._verified: OrderedDict[bytes, Tenant] = OrderedDict()
        self._generation: int | None = None
        self._open = True
        self._checked_at = float("-inf")

    def _refresh(self) -> bool:
        """Re-read the store's generation when due; ``True`` while no key is active (open access)."""
        now = self._clock()
        with self._lock:
            if now - self._checked_at < self.refresh_s:
                return self._open
        generation = self._store.generation()
        opened = self._store.active_count() == 0 if generation != self._generation else None
        with self._lock:
            if generation != self._generation:
                self._verified.clear()
                self._generation = generation
                self._open = bool(opened)
            self._checked_at = now
            return self._open

    def tenant(self, key: str) -> Tenant | None:
        """The tenant of an active ``key`` (from the cache, else verified and cached); ``None`` if not valid."""
        fingerprint = hashlib.sha256(key.encode()).digest()
        with self._lock:
            found = self._verified.get(fingerprint)
            if found is not None:
                self._verified.move_to_end(fingerprint)
                return found
        verified = self._store.verify(key)
        if verified is not None:
            with self._lock:
                self._verified[fingerprint] = verified
                while len(self._verified) > self._size:
                    self._verified.popitem(last=False)
        return verified

    def __len__(self) -> int:
        return len(self._verified)

    def check(self, authorization: str | None) -> Tenant | None:
        """The caller of a request with this ``Authorization`` header: ``None`` while access is open, else its
        tenant; a 401 :class:`HTTPException` without a valid bearer key."""
        if self._refresh():
            return None
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise HTTPException(
                401,
                "this route needs an API key: send `Authorization: Bearer KEY` (see `shopmesh tenants add`)",
                headers=_CHALLENGE,
            )
        tenant = self.tenant(key.strip())
        if tenant is None:
            raise HTTPException(
                401,
                "the API key is not valid (unknown, revoked or mistyped); ask the operator for a key",
                headers=_CHALLENGE,
            )
        return tenant


@lru_cache(maxsize=8)
def _cache_at(path: Path) -> KeyCache:
    return KeyCache(TenantStore(path))


def key_cache() -> KeyCache:
    """The key cache of the cluster's state directory, one per process."""
    return _cache_at(state_dir_from_env() / TENANTS_NAME)


def _route_path(request: Request) -> str:
    route = request.scope.get("route")
    return route.path if isinstance(route, APIRoute) else request.url.path


async def authorize(request: Request) -> Tenant | None:
    """The dependency of every route: on ``/v1/*`` the caller's tenant (``None`` while access is open), kept in
    ``request.state.tenant``; 401 without a valid key, 403 for a tenant's key on an admin route. The key cache
    is :func:`key_cache`, or what the app's ``dependency_overrides`` put in its place (an app can check keys
    against another store); it is looked up only on ``/v1``, so the pages need no state directory."""
    path = _route_path(request)
    if not path.startswith(API_PREFIX):
        return None
    cache: KeyCache = request.app.dependency_overrides.get(key_cache, key_cache)()
    tenant = await asyncio.to_thread(cache.check, request.headers.get("authorization"))
    request.state.tenant = tenant
    if tenant is not None and not tenant.admin and path in ADMIN_ROUTES:
        raise HTTPException(
            403, f"{path} is an admin route and the key of merchant {tenant.merchant!r} is a tenant's; use an admin key"
        )
    return tenant


def caller(request: Request) -> Tenant | None:
    """The tenant :func:`authorize` found for ``request`` (``None`` while access is open)."""
    found: Tenant | None = getattr(request.state, "tenant", None)
    return found


def tenant_fingerprint(request: Request, fingerprint: str) -> str:
    """The fingerprint of a request sent with an ``Idempotency-Key``, bound to its caller's merchant: another
    merchant who sends the same key gets 409, never the first merchant's answer."""
    tenant: Tenant | None = getattr(request.state, "tenant", None)
    if tenant is None:
        return fingerprint
    return hashlib.sha256(f"{tenant.merchant}\n{fingerprint}".encode()).hexdigest()


def _documented(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the bearer scheme, and 401 (and 403 on admin routes) on every ``/v1`` operation."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key from `shopmesh tenants add` (needed once the cluster holds any key)",
    }
    components.setdefault("schemas", {}).setdefault("ErrorResponse", ErrorResponse.model_json_schema())
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith(API_PREFIX):
            continue
        for operation in operations.values():
            operation["security"] = [{SECURITY_SCHEME: []}]
            responses = operation.setdefault("responses", {})
            responses["401"] = {"description": "no API key, or one unknown or revoked", "content": error}
            if path in ADMIN_ROUTES:
                responses["403"] = {"description": "a tenant's key on an admin route", "content": error}
    return schema


def install_security(app: FastAPI) -> None:
    """Document the bearer keys in ``app``'s OpenAPI schema (the check itself is :func:`authorize`)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _documented(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
