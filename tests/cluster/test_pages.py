"""The pages without a cluster: rendered templates, the static files they load, and the routes' visibility."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cluster.ingress import api, public_routes
from cluster.members import MemberName
from cluster.pages import PAGE_PATHS, PLACEHOLDERS, STATIC_FILES, register_pages
from ensemble.chat import ChatMode
from ensemble.recommendation import RecommendMode


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    register_pages(app)
    return TestClient(app)


def test_the_storefront_offers_every_chat_and_recommendation_mode(client: TestClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    chat_form = response.text[response.text.index('id="chat-form"') : response.text.index('id="chat-result"')]
    rec_form = response.text[response.text.index('id="rec-form"') : response.text.index('id="rec-result"')]
    assert re.findall(r'name="mode" value="([a-z_]+)"', chat_form) == [mode.value for mode in ChatMode]
    assert re.findall(r'name="mode" value="([a-z_]+)"', rec_form) == [mode.value for mode in RecommendMode]


def test_the_console_has_a_row_per_member_and_says_what_is_not_available_yet(client: TestClient) -> None:
    response = client.get("/console")

    assert response.status_code == 200
    assert re.findall(r'data-member="([a-z_]+)"', response.text) == [name.value for name in MemberName]
    assert response.text.count("Not available yet.") == len(PLACEHOLDERS)
    for placeholder in PLACEHOLDERS:
        assert f">{placeholder.title}</h2>" in response.text
    for panel, title in (
        ("edge", "Edge bundles"),
        ("experiments", "Experiments"),
        ("rollouts", "Rollouts"),
        ("federation", "Federation rounds"),
    ):
        assert f'<h2 id="{panel}-title">{title}</h2>' in response.text and f'id="{panel}"' in response.text


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_every_script_and_stylesheet_a_page_loads_is_served_from_the_package(client: TestClient, path: str) -> None:
    page = client.get(path).text
    loaded = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)

    assert loaded, f"{path} loads no static file"
    for url in loaded:
        response = client.get(url)
        name = url.removeprefix("/static/")
        assert response.status_code == 200, url
        assert response.headers["content-type"] == STATIC_FILES[name]
        assert response.content == resources.files("cluster").joinpath("static", name).read_bytes()
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page), "a page loads something from elsewhere"


def test_an_unknown_static_file_is_a_404_naming_the_files_there_are(client: TestClient) -> None:
    response = client.get("/static/../pages.py")
    missing = client.get("/static/missing.js")

    assert response.status_code == 404
    assert missing.status_code == 404
    assert "no static file 'missing.js'" in missing.json()["detail"]
    assert "storefront.js" in missing.json()["detail"]


def test_pages_stay_out_of_the_openapi_schema_and_appear_in_the_announced_routes() -> None:
    paths = api.openapi()["paths"]

    assert not any(path in paths for path in PAGE_PATHS) and "/static/{name}" not in paths
    assert public_routes()[:2] == ["GET /", "GET /console"]
    assert "POST /v1/chat" in public_routes() and "GET /metrics" in public_routes()
