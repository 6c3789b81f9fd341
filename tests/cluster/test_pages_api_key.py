"""The pages' API key field in Debian's chromium: a key typed once is sent with the page's /v1 calls.

The pages are served by a plain uvicorn process on loopback, with the ingress's key check over a real key
store; no Ray is needed to test what the browser sends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import Depends, FastAPI, Request
from playwright.sync_api import sync_playwright

from cluster.auth import authorize
from cluster.config import STATE_DIR_ENV
from cluster.pages import register_pages
from cluster.tenants import IssuedKey, TenantStore
from tests.cluster.conftest import free_port
from tests.cluster.page_watch import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.integration

CALL = "() => window.shopmesh.callApi('GET', '/v1/whoami')"


def _app() -> FastAPI:
    app = FastAPI(dependencies=[Depends(authorize)])
    register_pages(app)

    @app.get("/v1/whoami")
    async def whoami(request: Request) -> dict[str, str]:
        return {"merchant": request.state.tenant.merchant}

    return app


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, IssuedKey]]:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path))
    issued = TenantStore.in_state_dir(tmp_path).add("acme")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(_app(), host="127.0.0.1", port=port, log_level="warning", ws="none"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60.0  # bounds a broken start only
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}", issued
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_a_key_typed_in_the_page_is_sent_with_its_api_calls(served: tuple[str, IssuedKey]) -> None:
    url, issued = served
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{url}/console")

            # Execute: a call before the key, the key typed in, a call after; then a new tab
            before: dict[str, Any] = page.evaluate(CALL)
            hint: str = page.evaluate("(body) => window.shopmesh.errorText(401, body)", before["body"])
            page.get_by_label("API key").fill(issued.key)
            page.get_by_role("button", name="Use key").click()
            page.locator("#api-key-state", has_text="key set for this tab").wait_for()
            after: dict[str, Any] = page.evaluate(CALL)
            page.reload()
            reloaded: dict[str, Any] = page.evaluate(CALL)
            field_value = page.get_by_label("API key").input_value()
            elsewhere_page = browser.new_context().new_page()
            elsewhere_page.goto(f"{url}/")
            elsewhere: dict[str, Any] = elsewhere_page.evaluate(CALL)
        finally:
            browser.close()

    # Assert
    assert before["status"] == 401
    assert hint.endswith("(enter an API key at the top of the page)")
    assert after == {"ok": True, "status": 200, "body": {"merchant": "acme"}}
    assert reloaded == after  # sessionStorage keeps it for the tab
    assert field_value == ""  # the field does not keep showing the key
    assert elsewhere["status"] == 401  # another browsing context has no key
