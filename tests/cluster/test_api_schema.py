"""Property-based API testing of the running ingress with schemathesis (every check) against its OpenAPI.

Every member has a tiny trained version, so no route answers 503 for want of one: a 5xx here is a fault.
The checks include that every status a route returns is documented, that schema-valid bodies are accepted
and schema-violating ones refused, and that responses match their documented schemas. One exception is
configured: a photo's bytes can be schema-valid (base64, a binary file part) and still be no photo, so
``POST /v1/vision`` runs on its own, where schema-valid bodies may also be refused with its documented 413, 415
and 422; every other check holds for it, and its documented example (a real photo) must be answered.

The cluster holds API keys, so every ``/v1`` route needs one: schemathesis sends an admin's key (and checks that
each route refuses requests without it or with a wrong one), and one more test calls the same running cluster
with no key, a wrong, a revoked and a tenant's key.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cluster import RunningCluster
from cluster.config import default_state_dir
from cluster.experiment_definition import Experiment
from cluster.experiment_routes import EXAMPLE_EXPERIMENT, EXAMPLE_REQUEST_ID
from cluster.experiments import ExperimentStore
from cluster.tenants import IssuedKey, TenantStore
from ensemble.forecasting.service import publish_forecaster
from ensemble.pricing.service import fit_pricing_version
from ensemble.registry import Registry
from tests.cluster.conftest import (
    price_rows,
    publish_edge_bundle,
    publish_tiny_intent,
    running_cluster,
    weekly_frame,
)
from tests.vision_training import TrainedVision, copy_vision_version

pytestmark = pytest.mark.integration

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")

# Content the schema cannot describe: whether bytes are a photo (the defaults plus 413, 415 and 422). For the same
# reason most generated bodies are refused with 415/422, which schemathesis reports as a "validation mismatch" or a
# "low valid rate" warning; those two are expected here and are not displayed, every other warning still is.
PHOTO_CONFIG = """
[warnings]
display = [
    "missing_auth", "missing_test_data", "base_url_mismatch", "missing_deserializer", "unused_openapi_auth",
    "unsupported_regex", "method_not_allowed", "constants_extraction", "unmatched_filter", "unresolvable_reference",
    "rate_limited", "dictionary_mismatch", "timeout_units",
]

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "413", "415", "422", "429"]
"""
PHOTO_ROUTE = "/v1/vision"


@dataclass(frozen=True)
class KeyedCluster:
    """The running cluster and the keys in its store: an operator's, a merchant's, and one to revoke."""

    running: RunningCluster
    admin: IssuedKey
    tenant: IssuedKey
    spare: IssuedKey
    store: TenantStore


def _schemathesis(
    url: str, cwd: Path, key: str, run_options: list[str], config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Every check, bounded (examples per operation, one worker, a time budget), loopback only, a fixed seed."""
    return subprocess.run(
        [
            str(SCHEMATHESIS),
            *(["--config-file", str(config)] if config is not None else []),
            "run",
            f"{url}/openapi.json",
            "--header",
            f"Authorization: Bearer {key}",
            *run_options,
            "--checks",
            "all",
            "--max-examples",
            "40",
            "--workers",
            "1",
            "--seed",
            "20261201",
        ],
        cwd=cwd,  # schemathesis keeps its cache in the working directory
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )


@pytest.fixture(scope="module")
def every_member_cluster(
    tmp_path_factory: pytest.TempPathFactory, graph_dir: Path, trained_vision: TrainedVision
) -> Iterator[KeyedCluster]:
    registry = Registry(tmp_path_factory.mktemp("all-members") / "registry")
    publish_tiny_intent(registry, 0)
    copy_vision_version(trained_vision, registry)
    publish_forecaster(registry, weekly_frame(), top_n=2, horizon=4, evaluate=False)
    fit_pricing_version(registry, price_rows())
    # a published bundle, so the edge routes' documented examples (intent:v0001, manifest.json) reach real data
    publish_edge_bundle(registry, tmp_path_factory.mktemp("edge"))
    # an experiment with an enrolled request, so the experiment routes' documented examples reach real data
    experiments = ExperimentStore.in_state_dir(default_state_dir(registry.root))
    experiment = experiments.start(Experiment.define(EXAMPLE_EXPERIMENT, "chat", ["serial", "fusion"]))
    experiments.enroll(experiment, EXAMPLE_REQUEST_ID, "customer:12001")
    tenants = TenantStore.in_state_dir(default_state_dir(registry.root))
    admin, tenant, spare = tenants.add("operator", admin=True), tenants.add("acme"), tenants.add("globex")
    with running_cluster(registry.root, graph_dir) as running:
        yield KeyedCluster(running, admin, tenant, spare, tenants)


def test_every_route_passes_every_schemathesis_check(every_member_cluster: KeyedCluster, tmp_path: Path) -> None:
    # Prepare
    config = tmp_path / "schemathesis.toml"
    config.write_text(PHOTO_CONFIG, encoding="utf-8")
    url, key = every_member_cluster.running.url, every_member_cluster.admin.key

    # Execute: the photo route on its own with its configuration, then every other route
    photo = _schemathesis(url, tmp_path, key, ["--include-path", PHOTO_ROUTE, "--max-time", "60"], config)
    others = _schemathesis(url, tmp_path, key, ["--exclude-path", PHOTO_ROUTE, "--max-time", "240"])

    # Assert
    for done in (photo, others):
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
        assert "No issues found" in done.stdout, done.stdout[-6000:]
    assert "Tested: 1\n" in photo.stdout, photo.stdout[-3000:]
    assert "Tested: 1\n" not in others.stdout, others.stdout[-3000:]


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_keys_decide_who_reaches_the_running_cluster(every_member_cluster: KeyedCluster) -> None:
    # Prepare
    keyed = every_member_cluster
    chat = {"text": "where is my order 536365?"}
    wrong = keyed.tenant.key[:-4] + ("aaaa" if not keyed.tenant.key.endswith("aaaa") else "bbbb")

    with httpx.Client(base_url=keyed.running.url, timeout=60.0) as client:
        # Execute
        missing = client.post("/v1/chat", json=chat)
        mistyped = client.post("/v1/chat", json=chat, headers=_bearer(wrong))
        tenant_chat = client.post("/v1/chat", json=chat, headers=_bearer(keyed.tenant.key))
        tenant_admin = client.get("/v1/rollouts", headers=_bearer(keyed.tenant.key))
        admin_admin = client.get("/v1/experiments", headers=_bearer(keyed.admin.key))
        spare_before = client.get("/v1/edge/bundles", headers=_bearer(keyed.spare.key))
        # one Idempotency-Key sent by two merchants: the second must not get the first one's kept answer
        once = {"Idempotency-Key": "tenants-shared-key-0001"}
        kept = client.post("/v1/chat", json=chat, headers={**once, **_bearer(keyed.tenant.key)})
        other_merchant = client.post("/v1/chat", json=chat, headers={**once, **_bearer(keyed.spare.key)})
        replayed = client.post("/v1/chat", json=chat, headers={**once, **_bearer(keyed.tenant.key)})
        # an answer enrolled in the running experiment takes feedback from its own merchant only
        enrolled = client.post("/v1/chat", json={**chat, "customer_id": 12002}, headers=_bearer(keyed.tenant.key))
        outcome = {"request_id": enrolled.json().get("request_id"), "outcome": True}
        foreign_feedback = client.post("/v1/feedback", json=outcome, headers=_bearer(keyed.spare.key))
        own_feedback = client.post("/v1/feedback", json=outcome, headers=_bearer(keyed.tenant.key))
        keyed.store.revoke(keyed.spare.record.key_id)
        # replicas re-read the store every few seconds; the bound only ends a broken test
        deadline = time.monotonic() + 60.0
        revoked = client.get("/v1/edge/bundles", headers=_bearer(keyed.spare.key))
        while revoked.status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.5)
            revoked = client.get("/v1/edge/bundles", headers=_bearer(keyed.spare.key))
        open_routes = [client.get(path).status_code for path in ("/healthz", "/openapi.json", "/console", "/")]

    # Assert
    for refused in (missing, mistyped, revoked):
        assert refused.status_code == 401, refused.text
        assert refused.headers["WWW-Authenticate"] == "Bearer"
        assert refused.json()["request_id"]
    assert tenant_chat.status_code == 200, tenant_chat.text
    assert tenant_chat.json()["intent"]
    assert tenant_admin.status_code == 403, tenant_admin.text
    assert admin_admin.status_code == 200, admin_admin.text
    assert [e["name"] for e in admin_admin.json()["experiments"]] == [EXAMPLE_EXPERIMENT]
    assert spare_before.status_code == 200, spare_before.text
    assert open_routes == [200, 200, 200, 200]
    assert kept.status_code == 200, kept.text
    assert other_merchant.status_code == 409, other_merchant.text
    assert replayed.status_code == 200 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == kept.json()
    assert enrolled.status_code == 200 and enrolled.json()["experiment"]["name"] == EXAMPLE_EXPERIMENT, enrolled.text
    assert foreign_feedback.status_code == 403, foreign_feedback.text
    assert own_feedback.status_code == 200 and not own_feedback.json()["replayed"], own_feedback.text
