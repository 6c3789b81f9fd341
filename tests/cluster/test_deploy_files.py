"""The Serve config file and the KubeRay manifest describe the application that cluster.app builds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from cluster.config import ClusterConfig

CLUSTER_DIR = Path(__file__).resolve().parents[2] / "cluster"


def _serve_config(path: Path) -> dict[str, Any]:
    content: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    if content.get("kind") == "RayService":
        inner: dict[str, Any] = yaml.safe_load(content["spec"]["serveConfigV2"])
        return inner
    return content


@pytest.mark.parametrize("name", ["serve_config.yaml", "kuberay/rayservice.yaml"])
def test_deploy_file_is_a_valid_serve_config_for_our_builder(name: str) -> None:
    # Execute
    schema = ServeDeploySchema.model_validate(_serve_config(CLUSTER_DIR / name))

    # Assert
    (app,) = schema.applications
    assert app.import_path == "cluster.app:app_builder"
    config = ClusterConfig.from_args(app.args)
    assert config.registry_dir.name == "registry"
    assert [d.name for d in app.deployments] == ["IntentDeployment"]
    assert set(app.deployments[0].user_config or {}) == {"version", "max_batch_size", "batch_wait_timeout_s"}
