"""The bearer-key check on a real FastAPI app over a real key store: open without keys, 401, 403, the cache."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from starlette.exceptions import HTTPException

from cluster.auth import (
    ADMIN_ROUTES,
    SECURITY_SCHEME,
    KeyCache,
    authorize,
    install_security,
    is_open,
    tenant_fingerprint,
    warn_if_open,
)
from cluster.config import STATE_DIR_ENV
from cluster.tenants import TENANTS_NAME, TenantStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _app() -> FastAPI:
    """A tenant route, an admin route and an open one, guarded as the ingress guards its own."""
    app = FastAPI(dependencies=[Depends(authorize)])
    install_security(app)

    @app.get("/v1/products/{code}")
    async def product(code: str) -> dict[str, str]:
        return {"code": code}

    @app.get("/v1/rollouts")
    async def rollouts() -> dict[str, str]:
        return {"members": "all"}

    @app.get("/v1/fingerprint")
    async def fingerprint(request: Request) -> dict[str, str]:
        return {"fingerprint": tenant_fingerprint(request, "same-body")}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path))
    return tmp_path


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_without_keys_every_route_is_open(state_dir: Path) -> None:
    client = TestClient(_app())
    assert is_open(state_dir)
    assert client.get("/v1/products/85123A").status_code == 200
    assert client.get("/v1/rollouts").status_code == 200


def test_keys_decide_who_calls_which_route(state_dir: Path) -> None:
    # Prepare: the keys exist before the app's first request
    store = TenantStore.in_state_dir(state_dir)
    tenant, admin, revoked = store.add("acme"), store.add("ops", admin=True), store.add("gone")
    store.revoke(revoked.record.key_id)
    client = TestClient(_app())

    # Execute
    missing = client.get("/v1/products/85123A")
    wrong_scheme = client.get("/v1/products/85123A", headers={"Authorization": f"Basic {tenant.key}"})
    unknown = client.get("/v1/products/85123A", headers=_bearer(tenant.key[:-2] + "zz"))
    was_revoked = client.get("/v1/products/85123A", headers=_bearer(revoked.key))
    tenant_on_admin = client.get("/v1/rollouts", headers=_bearer(tenant.key))

    # Assert
    assert not is_open(state_dir)
    for refused in (missing, wrong_scheme, unknown, was_revoked):
        assert refused.status_code == 401, refused.text
        assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert "Authorization: Bearer KEY" in missing.json()["detail"]
    assert tenant_on_admin.status_code == 403
    assert "'acme'" in tenant_on_admin.json()["detail"]
    assert client.get("/v1/products/85123A", headers=_bearer(tenant.key)).json() == {"code": "85123A"}
    assert client.get("/v1/rollouts", headers=_bearer(admin.key)).status_code == 200
    assert client.get("/healthz").status_code == 200  # no key needed outside /v1


def test_the_schema_documents_the_bearer_scheme_and_its_answers(state_dir: Path) -> None:
    schema = TestClient(_app()).get("/openapi.json").json()

    assert schema["components"]["securitySchemes"][SECURITY_SCHEME] == {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key from `shopmesh tenants add` (needed once the cluster holds any key)",
    }
    product = schema["paths"]["/v1/products/{code}"]["get"]
    assert product["security"] == [{SECURITY_SCHEME: []}]
    assert "401" in product["responses"] and "403" not in product["responses"]
    assert "403" in schema["paths"]["/v1/rollouts"]["get"]["responses"]
    assert "security" not in schema["paths"]["/healthz"]["get"]
    assert "/v1/rollouts" in ADMIN_ROUTES


def test_the_cache_verifies_once_and_forgets_a_revoked_key_at_the_next_refresh(tmp_path: Path) -> None:
    # Prepare
    store = TenantStore.in_state_dir(tmp_path)
    issued = store.add("acme")
    clock = Clock()
    cache = KeyCache(store, size=4, refresh_s=2.0, clock=clock)
    header = f"Bearer {issued.key}"

    # Execute / Assert: verified once, then answered from the cache
    first = cache.check(header)
    assert first is not None and first.merchant == "acme" and len(cache) == 1
    store.revoke(issued.record.key_id)
    store.add("other")  # a key stays active, so access does not fall back to open
    clock.now = 1.0
    assert cache.check(header) == first  # within refresh_s the replica has not looked at the store
    clock.now = 2.5
    with pytest.raises(HTTPException, match="not valid") as refused:
        cache.check(header)
    assert refused.value.status_code == 401
    assert len(cache) == 0


def test_the_cache_holds_at_most_its_size(tmp_path: Path) -> None:
    store = TenantStore.in_state_dir(tmp_path)
    keys = [store.add(f"m{i}").key for i in range(3)]
    cache = KeyCache(store, size=2, clock=Clock())

    for key in keys:
        assert cache.check(f"Bearer {key}") is not None

    assert len(cache) == 2


def test_revoking_the_last_key_opens_access_again(tmp_path: Path) -> None:
    store = TenantStore.in_state_dir(tmp_path)
    issued = store.add("acme")
    clock = Clock()
    cache = KeyCache(store, clock=clock)
    with pytest.raises(HTTPException, match="needs an API key"):
        cache.check(None)

    store.revoke(issued.record.key_id)
    clock.now = 10.0

    assert cache.check(None) is None


def test_a_kept_answer_is_bound_to_the_merchant_that_asked(state_dir: Path) -> None:
    store = TenantStore.in_state_dir(state_dir)
    first, second = store.add("acme"), store.add("globex")
    client = TestClient(_app())
    opened = tenant_fingerprint(Request({"type": "http", "headers": []}), "same-body")  # no tenant: open access

    acme = client.get("/v1/fingerprint", headers=_bearer(first.key)).json()["fingerprint"]
    globex = client.get("/v1/fingerprint", headers=_bearer(second.key)).json()["fingerprint"]

    assert opened == "same-body"  # the request alone, as before keys existed
    assert acme != globex
    assert acme == client.get("/v1/fingerprint", headers=_bearer(first.key)).json()["fingerprint"]


def test_an_open_cluster_is_announced_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="cluster.auth"):
        warn_if_open(tmp_path)
    assert len([r for r in caplog.records if "no API keys: /v1 is open" in r.getMessage()]) == 1
    assert not (tmp_path / TENANTS_NAME).exists()  # looking does not create a store

    TenantStore.in_state_dir(tmp_path).add("acme")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="cluster.auth"):
        warn_if_open(tmp_path)
    assert caplog.records == []
