"""The browser pages the ingress serves: the storefront assistant (``/``) and the operator console (``/console``).

The pages are Jinja2 templates rendered without any member: they carry the modes and member names from the
code's own enums, and their scripts call the JSON API (``/v1/...``, ``/healthz``, ``/metrics``) from the
browser. Scripts and styles are package files served under ``/static/``; nothing is fetched from elsewhere.
Page routes stay out of the OpenAPI schema, which documents the JSON API only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Final

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.exceptions import HTTPException

from cluster.members import MemberName
from cluster.vision_schemas import MAX_TOP_K
from ensemble.chat import ChatMode
from ensemble.recommendation import RecommendMode

__all__ = ["PAGE_PATHS", "STATIC_FILES", "Placeholder", "register_pages", "render_console", "render_storefront"]

PAGE_PATHS: Final = ("/", "/console")

# The files under cluster/static that the pages load, and their media types; any other name answers 404.
STATIC_FILES: Final[dict[str, str]] = {
    "shopmesh.css": "text/css; charset=utf-8",
    "shopmesh.js": "text/javascript; charset=utf-8",
    "chart.js": "text/javascript; charset=utf-8",
    "storefront.js": "text/javascript; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "vision.js": "text/javascript; charset=utf-8",
}


@dataclass(frozen=True)
class Placeholder:
    """A console panel for a feature the framework does not have yet, and what it will show."""

    title: str
    will_show: str


PLACEHOLDERS: Final[tuple[Placeholder, ...]] = ()


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # One loader per process; it caches the compiled templates.
    return Environment(
        loader=PackageLoader("cluster", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_storefront(environment: Environment | None = None) -> str:
    """The storefront page: chat, photo upload, recommendations, product facts, forecast and price panels."""
    template = (environment or _environment()).get_template("storefront.html")
    return template.render(
        page="storefront",
        chat_modes=[mode.value for mode in ChatMode],
        recommend_modes=[mode.value for mode in RecommendMode],
        max_top_k=MAX_TOP_K,
    )


def render_console(environment: Environment | None = None) -> str:
    """The operator console: deployments and versions, latency percentiles, and the panels not available yet."""
    template = (environment or _environment()).get_template("console.html")
    return template.render(page="console", members=[name.value for name in MemberName], placeholders=PLACEHOLDERS)


def _static(name: str) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise HTTPException(404, f"no static file {name!r}; the pages use {sorted(STATIC_FILES)}")
    body = resources.files("cluster").joinpath("static", name).read_bytes()
    return Response(content=body, media_type=media_type, headers={"Cache-Control": "no-cache"})


def register_pages(app: FastAPI) -> None:
    """Add ``GET /``, ``GET /console`` and ``GET /static/{name}`` to ``app`` (none in the OpenAPI schema).

    Call it before Serve wraps the app (``@serve.ingress``): Serve serves the routes the app has then.
    """

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def storefront() -> HTMLResponse:
        return HTMLResponse(render_storefront())

    @app.get("/console", response_class=HTMLResponse, include_in_schema=False)
    async def console() -> HTMLResponse:
        return HTMLResponse(render_console())

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        return _static(name)
