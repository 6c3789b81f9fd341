"""The Serve config file and the KubeRay manifest describe the application that cluster.app builds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from cluster.app import deployments
from cluster.config import ClusterConfig
from cluster.members import MemberName
from cluster.serve_config import reference_config, serve_config, serve_config_yaml

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
    assert config.registry_dir.name == "registry" and config.registry_dir.is_absolute()
    reconfigured = [row.deployment_name for row in deployments(config) if row.user_config is not None]
    assert [d.name for d in app.deployments] == reconfigured  # the deployments this topology starts
    assert set(app.deployments[0].user_config or {}) == {"version", "max_batch_size", "batch_wait_timeout_s"}


def test_the_committed_serve_config_is_the_generated_one() -> None:
    # Prepare
    generated = serve_config_yaml(reference_config())

    # Execute
    committed = (CLUSTER_DIR / "serve_config.yaml").read_text(encoding="utf-8")

    # Assert
    assert committed == generated, "regenerate: shopmesh --home /var/lib/shopmesh serve --print-config"


def test_generated_config_names_every_member_and_absolute_paths() -> None:
    config = reference_config()

    document = serve_config(config)

    (app,) = document["applications"]
    assert set(app["args"]["serving"]) == {*(m.value for m in MemberName), "ingress"}
    assert Path(app["args"]["registry_dir"]).is_absolute() and Path(app["args"]["graph_dir"]).is_absolute()
    assert not set(app["args"]) & {"address", "ray_temp_dir", "num_cpus"}
    assert ClusterConfig.from_args(app["args"]).serving == config.serving


def _k8s_cpus(value: str) -> float:
    return float(value[:-1]) / 1000 if value.endswith("m") else float(value)


def test_kuberay_replica_requests_fit_the_workers() -> None:
    # Prepare
    manifest = yaml.safe_load((CLUSTER_DIR / "kuberay" / "rayservice.yaml").read_text(encoding="utf-8"))
    cluster_spec = manifest["spec"]["rayClusterConfig"]
    (app,) = _serve_config(CLUSTER_DIR / "kuberay" / "rayservice.yaml")["applications"]
    config = ClusterConfig.from_args({**app["args"], "address": "auto"})
    (workers,) = cluster_spec["workerGroupSpecs"]
    (container,) = workers["template"]["spec"]["containers"]

    # Execute
    ray_cpus_per_worker = float(workers["rayStartParams"]["num-cpus"])
    pod_cpus = _k8s_cpus(container["resources"]["limits"]["cpu"])
    most = sum(config.member(name).max_replicas * config.member(name).num_cpus for name in config.serving)
    least = sum(config.member(name).replicas * config.member(name).num_cpus for name in config.serving)

    # Assert
    assert ray_cpus_per_worker <= pod_cpus  # Ray is not promised more than the pod is given
    assert cluster_spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"  # no replicas on the head
    assert least <= workers["minReplicas"] * ray_cpus_per_worker
    assert most <= workers["maxReplicas"] * ray_cpus_per_worker
    assert most == config.requested_cpus == 5.5
    assert cluster_spec["enableInTreeAutoscaling"] is True
    assert config.member(MemberName.INTENT).autoscaling is not None
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 8000}
    assert (
        workers["template"]["spec"]["containers"][0]["image"]
        == cluster_spec["headGroupSpec"]["template"]["spec"]["containers"][0]["image"]
    )


def test_the_dockerfile_installs_torch_first_and_the_project_with_constraints() -> None:
    lines = [line for line in (CLUSTER_DIR / "kuberay" / "Dockerfile").read_text().splitlines() if line.strip()]

    runs = [line for line in lines if line.startswith("RUN ")]
    assert "torch==2.13.0" in runs[0]
    assert "-c constraints.txt ." in runs[-1]
    assert any(line.startswith("FROM rayproject/ray:2.55.1") for line in lines)
