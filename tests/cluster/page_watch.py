"""What the browser tests watch in a page: console errors, page errors, failed requests and error answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse

from playwright.sync_api import ConsoleMessage, Request, Response

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "Watch"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Watch:
    """What went wrong in the page: console errors, page errors, failed requests and error answers."""

    allowed: set[tuple[int, str]] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def allow(self, status: int, path: str) -> None:
        """An error answer the test expects (and the console line Chromium writes for it)."""
        self.allowed.add((status, path))

    def _allowed_path(self, url: str) -> bool:
        return any(urlparse(url).path == path for _, path in self.allowed)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        location = str(message.location.get("url", ""))
        if "Failed to load resource" in message.text and self._allowed_path(location):
            return
        self.problems.append(f"console error: {message.text} ({location})")

    def on_response(self, response: Response) -> None:
        if response.status >= 400 and (response.status, urlparse(response.url).path) not in self.allowed:
            self.problems.append(f"{response.status} for {response.request.method} {response.url}")

    def on_request_failed(self, request: Request) -> None:
        self.problems.append(f"request failed: {request.method} {request.url} ({request.failure})")

    def assert_clean(self) -> None:
        assert self.problems == []
