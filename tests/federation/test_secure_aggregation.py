"""SecAgg+ on Flower's simulation runtime (tiny model, 3 nodes, 1 round): nothing the server receives equals one
merchant's adapters, while the aggregate it ends with is their example-weighted mean within SecAgg+'s
quantisation error; the published lineage names the protocol and its parameters. Marked integration."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ensemble.registry import Registry
from federation import FederationConfig
from federation.task import initial_adapters, load_node_data, local_train

pytestmark = pytest.mark.integration

NUM_NODES = 3
ROOT = Path(__file__).resolve().parents[2]


def test_the_server_holds_only_the_masked_updates_and_their_sum(
    tmp_path: Path, bitext_intents: list[str], publish_tiny_base: Callable[[Path, list[str]], str]
) -> None:
    # Prepare: a tiny base version, one round of SecAgg+ with 3 shares and a threshold of 2
    config = FederationConfig(
        num_server_rounds=1,
        min_nodes=NUM_NODES,
        registry_dir=str(tmp_path / "registry"),
        max_train_examples=24,
        batch_size=8,
        learning_rate=1e-2,
        lora_r=4,
        lora_alpha=8,
        augment_rate=0.0,
        seed=3,
        secure_aggregation=True,
        num_shares=3,
        reconstruction_threshold=2,
        clipping_range=4.0,
        quantization_range=2**22,
        max_weight=100.0,
    )
    base_id = publish_tiny_base(Path(config.registry_dir), bitext_intents)
    run_config = tmp_path / "run-config.json"
    run_config.write_text(json.dumps(config.to_run_config()), encoding="utf-8")
    ray_tmp = tempfile.mkdtemp(prefix="secagg-ray-")
    env = dict(os.environ) | {
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]),
        "FLWR_HOME": str(tmp_path / "flwr-home"),
        "FLWR_TELEMETRY_ENABLED": "0",
        "RAY_TMPDIR": ray_tmp,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }

    # Execute: the real ServerApp and ClientApp, the server's grid recording every reply
    try:
        child = subprocess.run(
            [
                sys.executable,
                str(ROOT / "tests" / "federation" / "_secagg_capture.py"),
                str(run_config),
                str(tmp_path),
                "3",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert child.returncode == 0 and (tmp_path / "result.json").exists(), child.stdout[-4000:] + child.stderr[-4000:]
    received = dict(np.load(tmp_path / "received.npz"))
    aggregate = dict(np.load(tmp_path / "aggregate.npz"))
    result = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))

    # Prepare the reference: each node's training redone here, from the same start, seed and partition
    start = initial_adapters(config, base_id)
    updates, examples = [], []
    for partition_id in range(NUM_NODES):
        data = load_node_data(config, partition_id, NUM_NODES)
        state, report = local_train(config, base_id, start, data, server_round=1, partition_id=partition_id)
        updates.append({name: tensor.double().numpy() for name, tensor in state.items()})
        examples.append(report.examples)
    # SecAgg+ weights node i by dq_i = round(n_i / max-weight x Q) / Q and divides the sum by sum(dq_i)
    q = config.quantization_range
    weights = [round(n / config.max_weight * q) / q for n in examples]
    expected = {name: sum(w * u[name] for w, u in zip(weights, updates, strict=True)) / sum(weights) for name in start}
    # Stochastic rounding errs by under one step (2 x clipping-range / Q) per node and value
    tolerance = NUM_NODES * (2 * config.clipping_range / q) / sum(weights)

    # Assert: the aggregate is the weighted mean within the quantisation error, and differs from every node's
    assert set(aggregate) == set(start)
    for name in start:
        assert np.max(np.abs(aggregate[name] - expected[name])) <= tolerance, name
    for update in updates:
        assert max(float(np.max(np.abs(update[name] - aggregate[name]))) for name in start) > 100 * tolerance

    # Assert: the server received one masked vector per node (the weight factor first, then one array per
    # adapter tensor) and no reply held a node's adapters, raw or dequantised the way the server would
    masked = {key: array for key, array in received.items() if "/masked_params/" in key}
    senders = {key.split("/")[0] for key in masked}
    assert len(senders) == NUM_NODES and len(masked) == NUM_NODES * (1 + len(start))
    shapes = {name: tensor.shape for name, tensor in start.items()}
    compared = 0
    for key, array in received.items():
        naive = array.astype(np.float64) * (2 * config.clipping_range / q) - config.clipping_range
        for update, weight in zip(updates, weights, strict=True):
            for name, shape in shapes.items():
                if array.shape != shape:
                    continue
                compared += 1
                for candidate in (array.astype(np.float64), naive / weight):
                    assert np.max(np.abs(candidate - update[name])) > 100 * tolerance, (key, name)
    assert compared >= NUM_NODES * NUM_NODES * len(start)

    # Assert: the published version's lineage says the run used SecAgg+ with these parameters
    assert result["status"] == "published" and len(result["participants"]) == NUM_NODES
    secure = Registry(config.registry_dir).load("intent", result["version_id"]).lineage.details["secure_aggregation"]
    assert secure["protocol"] == "SecAgg+" and secure["num_shares"] == 3 and secure["reconstruction_threshold"] == 2
    assert secure["clipping_range"] == 4.0 and secure["quantization_range"] == 2**22 and secure["max_weight"] == 100.0
