"""Devices find their update through the cluster's edge bundle routes (the ingress's FastAPI app, served by uvicorn
on 127.0.0.1): `shopmesh edge publish` with a staged rollout, Range downloads, refusals of bad requests."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from cluster.config import EDGE_BUNDLES_DIR, STATE_DIR_ENV
from cluster.edge_rollout import bucket_of
from cluster.ingress import api
from cluster.tenants import TenantStore
from edge.export import BundleInfo, BundleSigner
from edge.runtime import EdgeClient, EdgeError, UpdateError
from edge.runtime.fetch import HttpSource
from shopmesh.cli import main
from shopmesh.config import Workspace

pytestmark = pytest.mark.integration

DEVICES = [f"store-{i:04d}" for i in range(1000)]


def reference_bucket(device_id: str, target: str = "intent:v0002") -> int:
    """The bucket in the rollout of ``target`` as documented: the first 8 bytes of sha256("<target>/<id>"),
    big-endian, modulo 100."""
    return int.from_bytes(hashlib.sha256(f"{target}/{device_id}".encode()).digest()[:8], "big") % 100


def test_each_target_version_draws_its_own_canary_group() -> None:
    # The buckets of two versions' rollouts: a 20 % canary of each is a different share of the same fleet
    first = {d for d in DEVICES if bucket_of(d, "intent:v0002") < 20}
    second = {d for d in DEVICES if bucket_of(d, "intent:v0003") < 20}

    assert {bucket_of(d, "intent:v0002") for d in DEVICES[:50]} == {reference_bucket(d) for d in DEVICES[:50]}
    assert 0.15 <= len(first) / len(DEVICES) <= 0.25 and 0.15 <= len(second) / len(DEVICES) <= 0.25
    # independent draws overlap in about 20 % x 20 % = 4 % of the fleet, not in the whole canary group
    assert len(first & second) / len(DEVICES) < 0.08


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def cluster_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The ingress's app over real HTTP, reading the state directory the workspace's cluster uses."""
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "ws" / "cluster-state"))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def workspace(tmp_path: Path, signer: BundleSigner) -> Workspace:
    """A workspace whose platform key is the one the session's bundles are signed with."""
    ws = Workspace(tmp_path / "ws")
    ws.root.mkdir()
    signer.save(ws.signing_key_file)
    return ws


def publish(workspace: Workspace, bundle: Path, version: str, rollout: int, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    code = main(
        ["--home", str(workspace.root), "edge", "publish", version, "--bundle", str(bundle), "--rollout", str(rollout)]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def _offers(http: httpx.Client, url: str) -> dict[str, tuple[str, bool, int]]:
    offers = {}
    for device in DEVICES:
        body = http.get(f"{url}/v1/edge/bundles/latest", params={"device": device}).json()
        offers[device] = (body["bundle"]["version"], body["in_rollout"], body["bucket"])
    return offers


def test_a_20_percent_rollout_reaches_the_devices_of_the_lowest_fifth_of_buckets_and_grows_monotonically(
    cluster_url: str,
    workspace: Workspace,
    tiny_bundle: BundleInfo,
    v2: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Prepare: v0001 to every device, then v0002 to 20 %
    publish(workspace, tiny_bundle.path, "intent:v0001", 100, capsys)
    publish(workspace, v2, "intent:v0002", 20, capsys)

    with httpx.Client(timeout=10) as http:
        # Execute
        first = _offers(http, cluster_url)
        again = _offers(http, cluster_url)
        publish(workspace, v2, "intent:v0002", 50, capsys)
        wider = _offers(http, cluster_url)

    # Assert: the documented bucket, the new version exactly below 20, the same answer on every call
    expected = {d: ("intent:v0002" if reference_bucket(d) < 20 else "intent:v0001") for d in DEVICES}
    assert {d: offer[0] for d, offer in first.items()} == expected
    assert {d: offer[2] for d, offer in first.items()} == {d: reference_bucket(d) for d in DEVICES}
    assert again == first
    share = sum(version == "intent:v0002" for version, _, _ in first.values()) / len(DEVICES)
    assert 0.17 <= share <= 0.23, share
    # raising the percentage keeps every device that had the new version and adds others
    early = {d for d, (version, _, _) in first.items() if version == "intent:v0002"}
    late = {d for d, (version, _, _) in wider.items() if version == "intent:v0002"}
    assert early < late and 0.45 <= len(late) / len(DEVICES) <= 0.55


def test_update_without_a_source_installs_what_the_rollout_offers_the_device(
    cluster_url: str,
    workspace: Workspace,
    tiny_bundle: BundleInfo,
    v2: Path,
    tmp_path: Path,
    install_client: Callable[..., EdgeClient],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Prepare: one device inside the 20 % and one outside, both running v0001
    inside = next(d for d in DEVICES if reference_bucket(d) < 20)
    outside = next(d for d in DEVICES if reference_bucket(d) >= 20)
    devices = {
        name: install_client(
            tiny_bundle.path,
            cluster_url=cluster_url,
            device_id=name,
            install_dir=tmp_path / name / "install",
            outbox_dir=tmp_path / name / "outbox",
        )
        for name in (inside, outside)
    }
    publish(workspace, tiny_bundle.path, "intent:v0001", 100, capsys)
    publish(workspace, v2, "intent:v0002", 20, capsys)

    # Execute / Assert: only the device in the rollout updates
    staged = {name: client.update() for name, client in devices.items()}
    assert (staged[inside].version, staged[inside].changed) == ("intent:v0002", True)
    assert (staged[outside].version, staged[outside].changed) == ("intent:v0001", False)
    assert devices[inside].classify("hi").version == "intent:v0002"

    # Execute / Assert: completing the rollout brings the other device along; the first has nothing new
    publish(workspace, v2, "intent:v0002", 100, capsys)
    done = {name: client.update() for name, client in devices.items()}
    assert (done[outside].version, done[outside].changed) == ("intent:v0002", True)
    assert (done[inside].version, done[inside].changed) == ("intent:v0002", False)
    for client in devices.values():
        client.close()


def test_update_changes_nothing_while_the_cluster_offers_the_device_no_bundle(
    cluster_url: str, tiny_bundle: BundleInfo, install_client: Callable[..., EdgeClient]
) -> None:
    # Prepare: nothing published
    with install_client(tiny_bundle.path, cluster_url=cluster_url) as client:
        # Execute
        result = client.update()

    # Assert
    assert (result.version, result.changed) == ("intent:v0001", False)


def test_bundle_files_honour_range_requests_so_a_cut_download_resumes(
    cluster_url: str, workspace: Workspace, v2: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare: a partial file whose first bytes are NOT the model's, so an ignored Range would show
    publish(workspace, v2, "intent:v0002", 100, capsys)
    model = (v2 / "model.onnx").read_bytes()
    cut = len(model) // 3
    partial = tmp_path / "model.onnx.part"
    partial.write_bytes(b"\0" * cut)
    base = f"{cluster_url}/v1/edge/bundles/intent:v0002/files"

    with httpx.Client(timeout=30) as http:
        # Execute
        ranged = http.get(f"{base}/model.onnx", headers={"Range": f"bytes={cut}-"})
        HttpSource(base, http, 30).fetch("model.onnx", partial, len(model))
        whole = http.get(f"{base}/manifest.json")

    # Assert: 206 with the tail; the device appended the tail to what it had
    assert ranged.status_code == 206
    assert ranged.headers["content-range"] == f"bytes {cut}-{len(model) - 1}/{len(model)}"
    assert ranged.content == model[cut:]
    assert partial.read_bytes() == b"\0" * cut + model[cut:]
    assert whole.status_code == 200 and whole.content == (v2 / "manifest.json").read_bytes()


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/v1/edge/bundles/intent:v0009", 404, "version"),
        ("/v1/edge/bundles/..%2F..%2Fetc%2Fpasswd", 404, None),
        ("/v1/edge/bundles/intent:v0002/files/catalog.sqlite", 404, "file"),
        ("/v1/edge/bundles/intent:v0002/files/%2E%2E", 404, "file"),
        ("/v1/edge/bundles/intent:v0002/files/..%2F..%2Fcatalog.sqlite", 404, None),
        ("/v1/edge/bundles/intent:v0009/files/model.onnx", 404, "version"),
        ("/v1/edge/bundles/latest?device=..%2Fescape", 422, None),
        ("/v1/edge/bundles/latest?device=" + "x" * 129, 422, None),
        ("/v1/edge/bundles/latest?device=", 422, None),
        ("/v1/edge/bundles/latest", 422, None),
    ],
)
def test_unknown_versions_files_outside_the_bundle_and_bad_device_ids_are_refused(
    cluster_url: str,
    workspace: Workspace,
    v2: Path,
    capsys: pytest.CaptureFixture[str],
    path: str,
    status: int,
    field: str | None,
) -> None:
    # Prepare
    publish(workspace, v2, "intent:v0002", 100, capsys)

    # Execute
    response = httpx.get(cluster_url + path, timeout=10)

    # Assert: a 4xx that says what was wrong, never a file from outside the bundle
    assert response.status_code == status, response.text
    body = response.json()
    assert body["detail"]
    if field is not None:
        assert body["field"] == field
        assert "published" in body["detail"] or "files are" in body["detail"]


def test_a_device_outside_the_first_rollout_gets_404_naming_its_bucket(
    cluster_url: str, workspace: Workspace, v2: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare: the very first version goes to 20 % only
    publish(workspace, v2, "intent:v0002", 20, capsys)
    outside = next(d for d in DEVICES if reference_bucket(d) >= 20)

    # Execute
    response = httpx.get(f"{cluster_url}/v1/edge/bundles/latest", params={"device": outside}, timeout=10)

    # Assert
    assert response.status_code == 404
    assert f"bucket {reference_bucket(outside)}" in response.json()["detail"]


@pytest.mark.parametrize("case", ["tampered", "untrusted", "bad-percentage", "wrong-version"])
def test_publish_refuses_what_devices_would_refuse_and_keeps_the_catalog(
    workspace: Workspace,
    tiny_bundle: BundleInfo,
    v2: Path,
    resign: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    case: str,
) -> None:
    # Prepare: v0001 published; a bad candidate
    publish(workspace, tiny_bundle.path, "intent:v0001", 100, capsys)
    version, rollout = "intent:v0002", "20"
    if case == "tampered":
        data = bytearray((v2 / "model.onnx").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (v2 / "model.onnx").write_bytes(bytes(data))
    elif case == "untrusted":
        resign(v2, BundleSigner.generate(), "intent:v0002", 2)
    elif case == "bad-percentage":
        rollout = "150"
    else:
        version = "intent:v0003"

    # Execute
    code = main(["--home", str(workspace.root), "edge", "publish", version, "--bundle", str(v2), "--rollout", rollout])

    # Assert: one line naming the problem, exit 2, the rollout unchanged and nothing half-copied
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("shopmesh edge: error: ") and len(err.strip().splitlines()) == 1
    assert {"tampered": "does not match", "untrusted": "key", "bad-percentage": "150", "wrong-version": "v0003"}[
        case
    ] in err
    catalog = workspace.root / "cluster-state" / EDGE_BUNDLES_DIR
    assert [p.name.split("-")[1] for p in (catalog / "bundles").iterdir()] == ["v0001"]


def test_publish_without_bundle_needs_an_exported_one(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    # Execute: an empty workspace has no registry version and no bundle
    code = main(["--home", str(workspace.root), "edge", "publish", "intent:v0001"])

    # Assert
    assert code == 2
    assert "shopmesh edge: error:" in capsys.readouterr().err
    assert not (workspace.root / "cluster-state").exists()


def test_the_catalog_lists_published_bundles_and_the_rollout_with_its_history(
    cluster_url: str,
    workspace: Workspace,
    tiny_bundle: BundleInfo,
    v2: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with httpx.Client(timeout=10) as http:
        # Execute: before anything is published, then after v0001 to all and v0002 to 20 %
        empty = http.get(f"{cluster_url}/v1/edge/bundles")
        publish(workspace, tiny_bundle.path, "intent:v0001", 100, capsys)
        publish(workspace, v2, "intent:v0002", 20, capsys)
        listed = http.get(f"{cluster_url}/v1/edge/bundles")

    # Assert
    assert empty.status_code == 200
    assert empty.json() == {"rollout": None, "bundles": [], "history": []}
    body = listed.json()
    assert body["rollout"] == {"target": "intent:v0002", "percent": 20, "stable": "intent:v0001"}
    assert sorted(b["version"] for b in body["bundles"]) == ["intent:v0001", "intent:v0002"]
    assert all(b["files_path"].endswith("/files") and b["files"] for b in body["bundles"])
    changes = [(c["target"], c["percent"], c["stable"]) for c in body["history"]]
    assert changes == [("intent:v0002", 20, "intent:v0001"), ("intent:v0001", 100, "intent:v0001")]


def test_a_device_with_its_merchants_key_updates_from_a_cluster_that_has_keys_and_one_without_is_refused(
    cluster_url: str,
    workspace: Workspace,
    tiny_bundle: BundleInfo,
    v2: Path,
    tmp_path: Path,
    install_client: Callable[..., EdgeClient],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Prepare: the cluster holds a merchant's key before any device calls it; v0002 goes to every device
    store = TenantStore.in_state_dir(workspace.root / "cluster-state")
    key = store.add("corner-shop").key
    store.close()
    publish(workspace, tiny_bundle.path, "intent:v0001", 100, capsys)
    publish(workspace, v2, "intent:v0002", 100, capsys)
    keyless = install_client(tiny_bundle.path, cluster_url=cluster_url, install_dir=tmp_path / "keyless")
    keyed = install_client(tiny_bundle.path, cluster_url=cluster_url, install_dir=tmp_path / "keyed", api_key=key)

    # Execute / Assert: without the key the cluster answers 401 and the device keeps its version
    with pytest.raises(UpdateError, match="401"):
        keyless.update()
    assert keyless.version == "intent:v0001"
    # Execute / Assert: with it, the offer and every file download are authorised
    result = keyed.update()
    assert (result.version, result.changed) == ("intent:v0002", True)
    assert keyed.classify("where is my parcel?").version == "intent:v0002"
    for client in (keyless, keyed):
        client.close()


def test_a_malformed_api_key_is_refused_when_the_device_opens(
    tiny_bundle: BundleInfo, install_client: Callable[..., EdgeClient]
) -> None:
    with pytest.raises(EdgeError, match="api_key must be the key"):
        install_client(tiny_bundle.path, api_key="has spaces in it")
