"""From the registry to a kiosk camera: `shopmesh edge export` puts the workspace's published vision version into
the signed bundle, and the torch-free device SDK, in a fresh interpreter, classifies a bundled shop photo with it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ensemble.members.intent import IntentModel
from ensemble.members.intent_artifact import save_intent
from ensemble.registry import Lineage, Registry
from ensemble.vision import bundled_grocery_dir
from shopmesh.cli import main
from shopmesh.config import Workspace
from tests.vision_training import TrainedVision, copy_vision_version

PHOTO = bundled_grocery_dir() / "images" / "test" / "Fruit" / "Banana" / "Banana_001.jpg"

# What a store device runs: the SDK alone, with the platform's public key; it reports which heavy modules loaded.
DEVICE = """
import json, sys
from edge.runtime import EdgeClient, TrustedKey
bundle, key, outbox, photo = sys.argv[1:5]
with EdgeClient(bundle, cluster_url="http://127.0.0.1:9", trusted_keys=[TrustedKey.parse(key)], outbox_dir=outbox,
                vision_confidence_threshold=0.0) as client:
    answer = client.classify_image(photo, top_k=3)
    queued = len(client.outbox)
heavy = sorted(m for m in ("torch", "ray", "flwr", "transformers", "fastapi") if m in sys.modules)
print(json.dumps({"source": answer.source, "version": answer.version, "class_name": answer.product.class_name,
                  "iconic_image": answer.product.iconic_image, "confidence": answer.confidence,
                  "out_of_catalogue": answer.out_of_catalogue, "similar": len(answer.similar), "queued": queued,
                  "heavy": heavy}))
"""


@pytest.mark.integration
def test_a_published_vision_version_is_exported_by_the_cli_and_classifies_a_photo_on_the_device(
    tmp_path: Path, trained_vision: TrainedVision, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare: a workspace whose registry holds an intent version and the session's trained vision version
    workspace = Workspace(tmp_path / "ws")
    registry = Registry(workspace.registry)
    model = IntentModel.tiny(["track_order", "cancel_order", "get_refund"], seed=0)
    save_intent(registry, model, metrics={}, lineage=Lineage(None, "test", "central"))
    vision_id = copy_vision_version(trained_vision, registry)
    home = ["--home", str(workspace.root)]

    # Execute: the user's commands (the photos come from the version's lineage), then the device in a fresh process
    # (18 test photos: one photo is 5.6 accuracy points, so the tiny version's int8 tolerance is wide)
    export = [*home, "edge", "export", "--version", "v0001", "--threshold", "0.5", "--vision-max-accuracy-loss", "0.2"]
    exported = main(export)
    printed = capsys.readouterr()
    assert exported == 0, printed.err[-2000:]
    summary = json.loads(printed.out)
    assert main([*home, "edge", "public-key"]) == 0
    key = json.loads(capsys.readouterr().out)["public_key"]
    device = subprocess.run(
        [sys.executable, "-c", DEVICE, summary["bundle"], key, str(tmp_path / "outbox"), str(PHOTO)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # Assert: the bundle carries the registry's vision version, validated on the bundled test photos
    assert summary["vision"]["version_id"] == vision_id
    test_rows = pd.read_csv(bundled_grocery_dir() / "images.csv").query("split == 'test'")
    assert summary["vision"]["validation"]["n_photos"] == len(test_rows)
    # the device answered the photo with that version, without loading anything heavy
    assert device.returncode == 0, device.stderr[-2000:]
    answer = json.loads(device.stdout)
    assert answer["heavy"] == []
    assert answer["version"] == vision_id
    assert answer["similar"] == 3
    names = trained_vision.predictor.catalogue.names
    assert answer["class_name"] in names
    # a photo flagged out of catalogue escalates; nothing listens on the cluster port, so it is queued
    expected_source = "device-offline" if answer["out_of_catalogue"] else "device"
    assert (answer["source"], answer["queued"]) == (expected_source, int(answer["out_of_catalogue"]))
