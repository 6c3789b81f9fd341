"""Property-based API testing of the running ingress with schemathesis (every check) against its OpenAPI.

Every member has a tiny trained version, so no route answers 503 for want of one: a 5xx here is a fault.
The checks include that every status a route returns is documented, that schema-valid bodies are accepted
and schema-violating ones refused, and that responses match their documented schemas. One exception is
configured: a photo's bytes can be schema-valid (base64, a binary file part) and still be no photo, so
``POST /v1/vision`` runs on its own, where schema-valid bodies may also be refused with its documented 413, 415
and 422; every other check holds for it, and its documented example (a real photo) must be answered.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import RunningCluster
from cluster.config import default_state_dir
from cluster.experiment_definition import Experiment
from cluster.experiment_routes import EXAMPLE_EXPERIMENT, EXAMPLE_REQUEST_ID
from cluster.experiments import ExperimentStore
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


def _schemathesis(
    url: str, cwd: Path, run_options: list[str], config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Every check, bounded (examples per operation, one worker, a time budget), loopback only, a fixed seed."""
    return subprocess.run(
        [
            str(SCHEMATHESIS),
            *(["--config-file", str(config)] if config is not None else []),
            "run",
            f"{url}/openapi.json",
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
) -> Iterator[RunningCluster]:
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
    with running_cluster(registry.root, graph_dir) as running:
        yield running


def test_every_route_passes_every_schemathesis_check(every_member_cluster: RunningCluster, tmp_path: Path) -> None:
    # Prepare
    config = tmp_path / "schemathesis.toml"
    config.write_text(PHOTO_CONFIG, encoding="utf-8")
    url = every_member_cluster.url

    # Execute: the photo route on its own with its configuration, then every other route
    photo = _schemathesis(url, tmp_path, ["--include-path", PHOTO_ROUTE, "--max-time", "60"], config)
    others = _schemathesis(url, tmp_path, ["--exclude-path", PHOTO_ROUTE, "--max-time", "240"])

    # Assert
    for done in (photo, others):
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
        assert "No issues found" in done.stdout, done.stdout[-6000:]
    assert "Tested: 1\n" in photo.stdout, photo.stdout[-3000:]
    assert "Tested: 1\n" not in others.stdout, others.stdout[-3000:]
