"""Property-based API testing of the running ingress with schemathesis (every check) against its OpenAPI.

Every member has a tiny trained version, so no route answers 503 for want of one: a 5xx here is a fault.
The checks include that every status a route returns is documented, that schema-valid bodies are accepted
and schema-violating ones refused, and that responses match their documented schemas.
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

pytestmark = pytest.mark.integration

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture(scope="module")
def every_member_cluster(tmp_path_factory: pytest.TempPathFactory, graph_dir: Path) -> Iterator[RunningCluster]:
    registry = Registry(tmp_path_factory.mktemp("all-members") / "registry")
    publish_tiny_intent(registry, 0)
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
    # Execute: bounded (examples per operation, one worker, a time budget), loopback only, a fixed seed
    done = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{every_member_cluster.url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "40",
            "--workers",
            "1",
            "--seed",
            "20261201",
            "--max-time",
            "240",
        ],
        cwd=tmp_path,  # schemathesis keeps its cache in the working directory
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )

    # Assert
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "No issues found" in done.stdout, done.stdout[-6000:]
