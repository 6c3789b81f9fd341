"""Fixtures of the cluster tests: a tiny product graph saved to disk, a registry with a tiny intent model, and a
real local Ray + Serve cluster started over them."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cluster import ClusterConfig, RunningCluster, start, stop
from cluster.config import EDGE_BUNDLES_DIR, default_state_dir
from cluster.edge_rollout import BundleCatalog
from edge.export import BundleInfo, BundleSigner, export_registry_version
from edge.runtime import TrustStore
from ensemble.members.intent import IntentModel
from ensemble.members.intent_artifact import save_intent
from ensemble.registry import Lineage, Registry
from federation.privacy import PrivacyLedger, RoundRelease
from federation.rounds import RoundRecord
from federation.traffic import traffic_summary
from knowledge_graph.build import build_graph
from knowledge_graph.config import BuildConfig

LABELS = ("track_order", "cancel_order", "get_refund")

PRODUCTS = {
    "85123A": ("WHITE HANGING HEART T-LIGHT HOLDER", 2.55),
    "71053": ("WHITE METAL LANTERN", 3.39),
    "22423": ("REGENCY CAKESTAND 3 TIER", 12.75),
    "84879": ("ASSORTED COLOUR BIRD ORNAMENT", 1.69),
}

# customer -> the products of each of their invoices
BASKETS = {
    12001: [["85123A", "71053"], ["85123A", "71053"], ["85123A"]],
    12002: [["85123A", "71053", "22423"], ["71053", "22423"]],
    12003: [["22423", "84879"], ["22423", "84879"], ["85123A", "22423"]],
    12004: [["84879", "85123A"], ["71053", "84879"]],
}


def orders_frame() -> pd.DataFrame:
    """Order lines in the Online Retail layout (one line per product of each basket)."""
    rows = []
    invoice = 536365
    for customer, baskets in BASKETS.items():
        for basket in baskets:
            for code in basket:
                description, price = PRODUCTS[code]
                day = pd.Timestamp("2011-01-03") + pd.Timedelta(days=invoice - 536365)
                rows.append((str(invoice), code, description, 6, day, price, customer, "United Kingdom"))
            invoice += 1
    frame = pd.DataFrame(
        rows,
        columns=[
            "InvoiceNo",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "UnitPrice",
            "CustomerID",
            "Country",
        ],
    )
    return frame.astype({"Quantity": "int64", "UnitPrice": "float64", "CustomerID": "Int64"})


def publish_tiny_intent(registry: Registry, seed: int) -> str:
    """Publish a random-weight intent model and return its version id."""
    model = IntentModel.tiny(list(LABELS), seed=seed)
    lineage = Lineage(parent=None, data_fingerprint=f"test-seed-{seed}", method="central")
    return save_intent(registry, model, metrics={"accuracy": 0.0}, lineage=lineage).id


def privacy_ledger() -> PrivacyLedger:
    """Federation's epsilon ledger of a 2-round DP run of merchants 11 and 12 (sigma 1.1, C 0.5, all sampled);
    12 was left out of round 2 once its budget was spent."""
    ledger = PrivacyLedger(delta=1e-5)
    ledger.record_release(RoundRelease(1, 1.1, 0.5, 1.0), [11, 12], [11, 12])
    ledger.exclude(2, 12, "its budget of epsilon 1.0 is spent")
    ledger.record_release(RoundRelease(2, 1.1, 0.5, 1.0), [11], [11])
    return ledger


def federated_lineage(parent: str, private: bool = False) -> Lineage:
    """The lineage federation publishes for a 2-round run of 2 merchants (one node failed in round 1), made
    from federation's own round records and traffic summary; ``private`` adds :func:`privacy_ledger`."""
    first = RoundRecord(
        round=1,
        train={11: {"train-loss": 0.4}, 12: {"train-loss": 0.6}},
        failures={13: "Node Unavailable"},
        train_aggregate={"train-loss": 0.5},
        evaluate_aggregate={"accuracy": 0.9},
    )
    first.traffic.direction("train", "down").array_bytes = 1000
    first.traffic.direction("train", "up").array_bytes = 800
    second = RoundRecord(round=2, train={11: {}, 12: {}}, evaluate_aggregate={"accuracy": 0.95})
    rounds = [first, second]
    details = {
        "strategy": {"name": "fedavg", "flower_class": "FedAvg", "parameters": {}},
        "rounds": len(rounds),
        "participants": [11, 12],
        "num_examples": 240,
        "round_metrics": [r.to_dict() for r in rounds],
        "traffic": traffic_summary([r.traffic for r in rounds], model_bytes=100_000, adapter_bytes=500),
    }
    if private:
        details["privacy"] = privacy_ledger().to_dict()
    return Lineage(parent=parent, data_fingerprint="sha256:federated", method="federated", details=details)


def publish_federated_intent(registry: Registry, parent: str, accuracy: float = 0.93, private: bool = False) -> str:
    """Publish a random-weight intent model with :func:`federated_lineage` and return its version id."""
    model = IntentModel.tiny(list(LABELS), seed=7)
    metrics = {"accuracy": accuracy, "macro_f1": 0.92}
    return save_intent(registry, model, metrics=metrics, lineage=federated_lineage(parent, private)).id


def publish_edge_bundle(registry: Registry, work_dir: Path, percent: int = 100) -> BundleInfo:
    """Export the registry's latest intent version as a signed bundle and publish it in the state directory the
    cluster of ``registry`` serves edge bundles from (to ``percent`` % of devices)."""
    signer = BundleSigner.generate()
    version = registry.latest("intent").id
    bundle = export_registry_version(
        registry, work_dir / "bundle", signer=signer, version=version, confidence_threshold=0.7
    )
    catalog = BundleCatalog(default_state_dir(registry.root) / EDGE_BUNDLES_DIR)
    catalog.publish(bundle.path, TrustStore([signer.trusted_key]), percent)
    return bundle


def weekly_frame() -> pd.DataFrame:
    """Three weekly series of 32 weeks with a period-4 pattern (a tiny forecaster's training data)."""
    dates = pd.date_range("2020-01-06", periods=32, freq="7D")
    pattern = np.array([10.0, 20.0, 30.0, 40.0])
    return pd.concat(
        [pd.DataFrame({"unique_id": f"P{i}", "ds": dates, "y": np.tile(pattern * (i + 1), 8)}) for i in range(3)],
        ignore_index=True,
    )


def price_rows() -> pd.DataFrame:
    """Twenty weeks of one Dominick's-like store and brand with a known price elasticity of -2."""
    rng = np.random.default_rng(1)
    rows = []
    for week in range(1, 21):
        prices = np.exp(rng.normal(np.log(0.04), 0.15, size=11))
        logmove = 2.0 - 2.0 * np.log(prices[0]) + rng.normal(0, 0.1)
        row = {"store": 2, "brand": 1, "week": week, "logmove": logmove, "deal": 0.0, "feat": 0.0, "profit": 30.0}
        row.update({f"price{b + 1}": prices[b] for b in range(11)})
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def graph_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("graph") / "graph"
    build_graph(orders_frame(), BuildConfig(min_support=1, min_category_products=1)).save(directory)
    return directory


@pytest.fixture(scope="module")
def publish_intent() -> Callable[[Registry, int], str]:
    """Publishes a tiny intent model (seeded) to a registry; returns the version id."""
    return publish_tiny_intent


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    # A folder of its own, so the cluster's state directory beside it (edge bundles, rollouts) is this module's.
    registry = Registry(tmp_path_factory.mktemp("registry") / "registry")
    publish_tiny_intent(registry, seed=0)
    return registry


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_cluster(registry_dir: Path, graph_dir: Path, **overrides: Any) -> Iterator[RunningCluster]:
    """The ensemble on a local Ray on a free port, stopped at the end whatever happened; ``overrides`` are
    further :class:`ClusterConfig` settings (e.g. ``dashboard_port`` for the Serve REST API)."""
    # Ray puts Unix sockets under its temp dir, whose path must stay short: not under pytest's tmp_path.
    with tempfile.TemporaryDirectory(prefix="ray-", dir="/tmp") as ray_tmp:
        config = ClusterConfig(
            registry_dir=registry_dir,
            graph_dir=graph_dir,
            port=free_port(),
            num_cpus=2,
            replicas=1,
            ray_temp_dir=Path(ray_tmp),
            startup_timeout_s=420,  # replicas import torch; on a busy 2-core machine that alone takes minutes
            **overrides,
        )
        running = start(config)
        try:
            yield running
        finally:
            stop()
