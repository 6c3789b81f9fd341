"""The Serve REST API of a running Ray cluster (Ray's dashboard), the way ``serve deploy`` and KubeRay use it.

``GET /api/serve/applications/`` gives every application with the config it was deployed from, its
deployments and their replicas; ``PUT /api/serve/applications/`` applies a whole deploy config. A config that
only changes a deployment's ``user_config`` is applied in place: Serve calls ``reconfigure`` on the live
replicas and keeps routing requests to them.

:func:`dashboard_url` finds the dashboard from an address given like ``shopmesh serve --address`` (``auto`` or
the head's ``HOST:PORT``; Ray reports its dashboard's URL to a driver that joins it) or takes a dashboard URL
(``http://HOST:8265``) as is, as ``serve deploy --address`` does.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import ray

from cluster.errors import RolloutError

__all__ = ["ServeRest", "dashboard_url"]

logger = logging.getLogger(__name__)

APPLICATIONS = "/api/serve/applications/"


def dashboard_url(address: str) -> str:
    """The base URL of the dashboard of the Ray cluster at ``address`` (or ``address`` itself when it is one)."""
    if address.startswith(("http://", "https://")):
        return address.rstrip("/")
    try:
        context = ray.init(address=address, log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as err:
        raise RolloutError(
            f"could not join the Ray cluster at {address!r}: {err}; give the head's HOST:PORT (or `auto` on one of "
            "its nodes), or the dashboard's URL (http://HOST:8265)"
        ) from err
    try:
        found = str(context.dashboard_url or "")
    finally:
        ray.shutdown()
    if not found:
        raise RolloutError(
            f"the Ray cluster at {address!r} runs without its dashboard, which serves the Serve REST API that "
            "rollouts use; start it with the dashboard (`shopmesh serve --dashboard-port 8265`, or `ray start "
            "--head` with the dashboard installed)"
        )
    return found if found.startswith("http") else f"http://{found}"


class ServeRest:
    """Calls to one cluster's Serve REST API."""

    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url
        self._timeout_s = timeout_s

    def _call(self, method: str, body: dict[str, Any] | None = None) -> httpx.Response:
        try:
            response = httpx.request(method, self.base_url + APPLICATIONS, json=body, timeout=self._timeout_s)
        except httpx.HTTPError as err:
            raise RolloutError(
                f"the Serve REST API at {self.base_url} did not answer ({type(err).__name__}: {err}); check that "
                "the cluster runs and that this is its dashboard's address"
            ) from err
        if response.status_code != 200:
            raise RolloutError(
                f"the Serve REST API at {self.base_url} answered {method} with HTTP {response.status_code}: "
                f"{response.text[:500]}"
            )
        return response

    def details(self) -> dict[str, Any]:
        """Every application with its deployed config, deployments and replicas (``ServeInstanceDetails``)."""
        found: dict[str, Any] = self._call("GET").json()
        return found

    def application(self, name: str) -> dict[str, Any]:
        """One application's details; :class:`RolloutError` naming the running ones when it is not there."""
        applications: dict[str, Any] = self.details().get("applications") or {}
        if name not in applications:
            raise RolloutError(
                f"no Serve application {name!r} runs at {self.base_url}; running: {sorted(applications) or 'none'}"
            )
        app: dict[str, Any] = applications[name]
        return app

    def apply(self, details: dict[str, Any], app_name: str, app_config: dict[str, Any]) -> None:
        """Deploy ``app_config`` as application ``app_name``, every other declarative application as it is."""
        applications = []
        for name, app in (details.get("applications") or {}).items():
            deployed = app.get("deployed_app_config")
            if name == app_name:
                applications.append(app_config)
            elif deployed:
                applications.append(deployed)
        http = details.get("http_options") or {}
        body: dict[str, Any] = {
            "applications": applications,
            "http_options": {key: http[key] for key in ("host", "port") if key in http},
        }
        if details.get("proxy_location"):
            body["proxy_location"] = details["proxy_location"]
        logger.info("applying a new config of application %s through %s", app_name, self.base_url)
        self._call("PUT", body)
