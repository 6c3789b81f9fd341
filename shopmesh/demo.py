"""The end-to-end main job: one real request through all four tiers, on the embedded defaults.

Stages: knowledge graph from Online Retail -> central intent training -> Flower LoRA rounds (separate process)
-> the intent ensemble (kNN, logistic regression, fusion, out-of-scope threshold) on the federated version
-> the reply, forecasting and pricing members (trained, or reused when the workspace has them; the pricer only
where Dominick's data is at hand) -> the vision member (a short fine-tuning on the bundled Grocery Store subset,
or the workspace's version) -> int8 ONNX edge bundle validated against torch -> Ray Serve cluster serving every
member, one shop photo classified there -> edge SDK answering on the device or escalating to the cluster ->
summary. With ``serve=True`` the
cluster keeps serving until Ctrl-C.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pandas as pd

import cluster
from cluster import ClusterConfig
from cluster.tenants import TenantStore
from edge.export import cluster_calibration, export_intent, validate_bundle
from edge.export.errors import QuantizationLossError
from edge.export.from_registry import vision_export_from_registry
from edge.export.vision_bundle import VisionExport, VisionPart
from edge.export.vision_validation import DEFAULT_MAX_ACCURACY_LOSS
from edge.runtime import EdgeClient, TrustedKey
from ensemble.central import train_intent_version
from ensemble.datasets import (
    DataSplits,
    bundled_intent_splits,
    load_dominicks,
    load_grocery_catalogue,
    load_online_retail,
)
from ensemble.errors import DataError
from ensemble.forecasting.service import MEMBER as FORECASTER
from ensemble.forecasting.service import train_forecaster_version
from ensemble.intent_ensemble import ENSEMBLE_MEMBER, build_intent_ensemble
from ensemble.members.intent_artifact import load_intent
from ensemble.members.reply import MEMBER as REPLY_MEMBER
from ensemble.members.reply_artifact import train_reply_version
from ensemble.members.reply_training import ReplyTrainConfig
from ensemble.pricing.service import MEMBER as PRICER
from ensemble.pricing.service import fit_pricing_version
from ensemble.registry import Registry
from ensemble.vision import VisionConfig, bundled_grocery_dir, fit_vision, load_grocery
from ensemble.vision.artifact import MEMBER as VISION
from ensemble.vision.artifact import publish_vision_version
from federation import FederatedRunError, FederationConfig, run_federated_simulation
from knowledge_graph import build_graph
from shopmesh.config import Workspace
from shopmesh.plots import round_accuracy
from shopmesh.progress import Progress, RoundBar, StepBar, ticking
from shopmesh.signals import wait_for_shutdown
from shopmesh.signing import bundle_signer

logger = logging.getLogger(__name__)

# The photo the demo classifies on the cluster: a test-split photo of the bundled subset.
DEMO_MERCHANT = "demo"  # the merchant whose key the demo makes and calls its cluster with
DEMO_PHOTO = ("images", "test", "Fruit", "Orange", "Orange_001.jpg")

# Messages that are not customer-service requests of the 27 intents: the device should be unsure of them.
OFF_TOPIC_MESSAGES = (
    "what is the capital of australia",
    "my cat keeps sleeping on the keyboard, any tips?",
)


@dataclass(frozen=True)
class DemoOptions:
    serve: bool = True
    host: str = "127.0.0.1"
    port: int = 8000
    nodes: int = 3
    rounds: int = 2
    edge_samples: int = 10
    reply_seconds: float = 90.0
    # The vision member's fine-tuning epochs on the bundled subset, after one head epoch (a minute or two here);
    # `shopmesh train vision` trains on the full set, and the demo then serves that version.
    vision_epochs: int = 1


def run_demo(workspace: Workspace, options: DemoOptions) -> int:
    progress = Progress(total=9)
    registry = Registry(workspace.registry)
    signer = bundle_signer(workspace)

    with progress.stage("knowledge graph") as stage:
        with ticking("building the knowledge graph"):
            orders = load_online_retail()
            graph = build_graph(orders)
            graph.add_catalogue(load_grocery_catalogue())
            graph.save(workspace.graph)
        nodes = graph.stats().nodes
        stage.metric = f"{len(orders):,} order lines -> " + ", ".join(f"{n:,} {kind}" for kind, n in nodes.items())

    with progress.stage("intent member, central training") as stage:
        splits = bundled_intent_splits()
        with StepBar("fine-tuning", unit="batch") as bar:
            central = train_intent_version(registry, splits, on_step=bar)
        m = central.metrics
        stage.metric = (
            f"{central.version.id}: val accuracy {m['val_accuracy']:.4f}, "
            f"ECE {m['val_ece_uncalibrated']:.3f} -> {m['val_ece']:.3f} after temperature scaling"
        )

    with progress.stage("federated LoRA rounds (Flower simulation, separate process)") as stage:
        with RoundBar(options.rounds, say=progress.note) as rounds:
            federation = run_federated_simulation(
                FederationConfig(
                    registry_dir=str(workspace.registry),
                    base_version=central.version.id,
                    num_server_rounds=options.rounds,
                    min_nodes=options.nodes,
                ),
                options.nodes,
                work_dir=workspace.federation,
                progress=rounds,
            )
        if federation.version_id is None:
            raise FederatedRunError(
                f"the federated run ended {federation.status} without a version: {federation.error}"
            )
        accuracy = ", ".join(f"round {r}: {a:.4f}" for r, a in federation.round_accuracy().items())
        if federation.round_accuracy():
            figure = workspace.federation / "round_accuracy.png"
            round_accuracy(federation.round_accuracy(), figure, title=f"Federated rounds ({federation.version_id})")
            progress.note(f"round accuracy plot: {figure}")
        stage.metric = (
            f"{federation.version_id}: {options.nodes} merchants x {options.rounds} rounds on "
            f"{federation.num_examples:,} examples; node-weighted val accuracy {accuracy}; published model "
            f"val accuracy {federation.metrics.get('accuracy', float('nan')):.4f}"
        )

    with progress.stage("intent ensemble (kNN, logistic regression, fusion, out-of-scope)") as stage:
        with ticking("building the intent ensemble"):
            built = build_intent_ensemble(registry, federation.version_id, splits)
        artifact = registry.load(ENSEMBLE_MEMBER, built.id)
        fusion, oos = artifact.config["fusion"], artifact.metrics["pseudo_oos"]
        weights = ", ".join(f"{n} {w:.2f}" for n, w in zip(fusion["names"], fusion["weights"], strict=True))
        stage.metric = (
            f"{built.id} on {federation.version_id}: fusion weights {weights}; "
            f"pseudo-out-of-scope AUROC {oos['auroc'][oos['score']]:.3f} ({oos['score']})"
        )

    with progress.stage("reply, forecaster and pricer members (trained or reused)") as stage:
        stage.metric = _other_members(registry, splits, options)

    with progress.stage("vision member (EfficientNet-Lite0 on shop photos, trained or reused)") as stage:
        stage.metric = _vision_member(registry, options)

    with progress.stage("edge export (int8 ONNX bundle)") as stage:
        model, _ = load_intent(registry, federation.version_id)
        bundle_dir = workspace.bundles / federation.version_id.replace(":", "-")
        with ticking("exporting and validating the int8 bundle, fitting its escalation threshold"):
            val_texts = splits.val["instruction"].tolist()
            calibration = cluster_calibration(registry, federation.version_id, val_texts)
            vision = _vision_for_bundle(registry)
            try:
                bundle = export_intent(
                    model,
                    bundle_dir,
                    version_id=federation.version_id,
                    signer=signer,
                    calibration=calibration,
                    overwrite=True,
                    vision=vision,
                )
                photo_model = _photo_model_metric(bundle.vision)
            except QuantizationLossError as err:
                if vision is None:
                    raise
                photo_model = f"photo model left out: {err}"
                bundle = export_intent(
                    model,
                    bundle_dir,
                    version_id=federation.version_id,
                    signer=signer,
                    calibration=calibration,
                    overwrite=True,
                )
            report = validate_bundle(bundle_dir, model, val_texts, splits.val["intent"].tolist())
            fit = bundle.manifest.threshold_fit
        stage.metric = (
            f"{bundle.model_size_bytes / 2**20:.1f} MB int8 (fp32 {bundle.fp32_size_bytes / 2**20:.1f} MB), "
            f"fp32 max|diff| {report.fp32_max_abs_diff:.1e}; on {report.n_texts} val messages int8 agrees "
            f"{report.int8_agreement:.4f}, accuracy torch {report.torch_accuracy:.4f} / int8 {report.int8_accuracy:.4f}"
        )
        if fit is not None:
            stage.metric += (
                f"; escalation threshold {fit.threshold:.3f} fitted against {fit.teacher}: "
                f"{100 * fit.device_share:.1f} % of val on device, {100 * fit.disagreement:.2f} % answered otherwise"
            )
        stage.metric += f"; {photo_model}"

    config = ClusterConfig(
        registry_dir=workspace.registry,
        graph_dir=workspace.graph,
        intent_version=federation.version_id,
        host=options.host,
        port=options.port,
        ray_temp_dir=workspace.ray_tmp,
    )
    key = demo_key(config.state_path)
    headers = {"Authorization": f"Bearer {key}"}
    progress.note(f"demo API key (merchant {DEMO_MERCHANT}, admin; shown once): {key}")
    try:
        with progress.stage("cluster (Ray Serve, FastAPI ingress)") as stage:
            running = cluster.start(config)
            stage.metric = f"serving {running.url}; " + _probe_cluster(running.url, orders, headers)
            progress.note(_probe_vision(running.url, headers))

        edge_stage = progress.stage("edge SDK: answer on device or escalate")
        with edge_stage as stage, httpx.Client(headers=headers, timeout=30.0) as http:
            stage.metric = _run_edge(
                progress, bundle_dir, running.url, signer.trusted_key, workspace.outbox, splits.test, options, http
            )

        print("\nSummary\n" + progress.table(), flush=True)
        if options.serve:
            routes = ", ".join(cluster.public_routes())
            announcement = (
                f"\nserving on {running.url} ({routes}); /v1 needs `Authorization: Bearer {key}` (the console "
                "takes it in its API key field); press Ctrl-C to stop"
            )
            print(f"\nreceived {wait_for_shutdown(announcement)}; stopping", flush=True)
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
    finally:
        cluster.stop()
    return 0


def demo_key(state_dir: Path) -> str:
    """A new admin key of the demo's merchant in the cluster's key store (the previous run's is revoked), so the
    demo calls its own cluster the way every caller must."""
    store = TenantStore.in_state_dir(state_dir)
    try:
        for held in store.list():
            if held.merchant == DEMO_MERCHANT and held.active:
                store.revoke(held.key_id)
        return store.add(DEMO_MERCHANT, admin=True).key
    finally:
        store.close()


def _other_members(registry: Registry, splits: DataSplits, options: DemoOptions) -> str:
    """Train the reply, forecasting and pricing members the workspace lacks; say what each one serves."""
    said = []
    if registry.list(REPLY_MEMBER):
        said.append(f"reply {registry.latest(REPLY_MEMBER).id} reused")
    else:
        with StepBar("training the reply model", unit="batch") as bar:
            reply, metrics = train_reply_version(
                registry, splits, ReplyTrainConfig(max_train_seconds=options.reply_seconds), on_step=bar
            )
        said.append(
            f"reply {reply.id} trained ({options.reply_seconds:g} s budget, val ppl {metrics['val_perplexity']:.1f})"
        )
    if registry.list(FORECASTER):
        said.append(f"forecaster {registry.latest(FORECASTER).id} reused")
    else:
        with ticking("fitting the forecaster"):
            forecaster = train_forecaster_version(registry)
        said.append(f"forecaster {forecaster.id} trained")
    if registry.list(PRICER):
        said.append(f"pricer {registry.latest(PRICER).id} reused")
    else:
        try:
            rows = load_dominicks()
        except DataError as err:
            said.append(f"pricer skipped: {err}")
        else:
            pricer = fit_pricing_version(registry, rows)
            said.append(f"pricer {pricer.id} trained")
    return "; ".join(said)


def _vision_member(registry: Registry, options: DemoOptions) -> str:
    """Reuse the workspace's vision version, or fine-tune one briefly on the bundled subset; say which."""
    if registry.list(VISION):
        return f"vision {registry.latest(VISION).id} reused"
    data = load_grocery(labels=bundled_grocery_dir() / "images.csv")
    config = VisionConfig(warmup_epochs=1, epochs=options.vision_epochs)
    with ticking("fine-tuning EfficientNet-Lite0 on the bundled Grocery Store subset"):
        fitted = fit_vision(data, config)
        version = publish_vision_version(registry, fitted, data, data_name="grocery-store (bundled subset)")
    m = fitted.val_metrics
    return (
        f"vision {version.id} trained on the bundled subset ({data.catalogue.num_classes} classes, "
        f"{config.warmup_epochs}+{config.epochs} epochs, {fitted.fit.train_seconds:.0f} s): val accuracy "
        f"{m['accuracy_fine']:.2f} fine / {m['accuracy_coarse']:.2f} coarse; `shopmesh train vision` trains on the "
        "full set"
    )


def _vision_for_bundle(registry: Registry) -> VisionExport | None:
    """The workspace's vision version for the device bundle, calibrated, fitted and validated on the bundled
    subset's photos (a few seconds, whatever set the version was trained on); None without a vision version."""
    if not registry.list(VISION):
        return None
    subset = bundled_grocery_dir()
    export = vision_export_from_registry(registry, images_dir=subset / "images", labels=subset / "images.csv")
    # One of the subset's few test photos weighs several accuracy points: int8 may lose up to two photos here,
    # and the stage prints both accuracies.
    return replace(export, max_accuracy_loss=max(DEFAULT_MAX_ACCURACY_LOSS, 2.0 / len(export.test)))


def _photo_model_metric(part: VisionPart | None) -> str:
    if part is None:
        return "no vision version, text only"
    r = part.report
    return (
        f"photo model {part.spec.version_id} {part.model_size_bytes / 2**20:.1f} MB int8 (fp32 "
        f"{part.fp32_size_bytes / 2**20:.1f} MB): on {r.n_photos} test photos int8 agrees {r.int8_agreement:.2f} "
        f"with torch, fine accuracy torch {r.torch_accuracy_fine:.2f} / int8 {r.int8_accuracy_fine:.2f}"
    )


def _photo_on_device(client: EdgeClient) -> str:
    """One bundled shop photo classified by the device SDK; says whether it was escalated."""
    if client.bundle.vision is None:
        return "no photo model in the bundle"
    photo = bundled_grocery_dir().joinpath(*DEMO_PHOTO)
    answer = client.classify_image(photo, top_k=3)
    where = {"device": "answered on the device", "cluster": "escalated to the cluster"}.get(
        answer.source, "cluster unreachable, answered on the device and queued"
    )
    return (
        f"photo {photo.name}: {where}: {answer.product.class_name} ({answer.coarse_name}, confidence "
        f"{answer.confidence:.2f}, {answer.latency_ms:.0f} ms, {answer.version})"
    )


def _probe_vision(url: str, headers: dict[str, str]) -> str:
    """One shop photo uploaded to ``/v1/vision``, and what the cluster answered."""
    photo = bundled_grocery_dir().joinpath(*DEMO_PHOTO)
    files = {"image": (photo.name, photo.read_bytes(), "image/jpeg")}
    response = httpx.post(f"{url}/v1/vision", files=files, data={"top_k": "3"}, headers=headers, timeout=60.0)
    if response.status_code != 200:
        return f"/v1/vision {photo.name} -> {response.status_code}: {response.text[:300]}"
    body = response.json()
    similar = ", ".join(f"{m['class_name']} {m['score']:.2f}" for m in body["similar"])
    return (
        f"/v1/vision {photo.name} -> 200: {body['product']['class_name']} ({body['coarse_name']}, confidence "
        f"{body['confidence']:.2f}, out of catalogue: {body['out_of_catalogue']}); similar: {similar}; "
        f"{len(body['facts'])} graph facts; {body['version']}"
    )


def _probe_cluster(url: str, orders: pd.DataFrame, headers: dict[str, str]) -> str:
    """One real request through the ingress naming a real product, to show the graph's facts coming back."""
    product = orders["Description"].value_counts().index[0]
    text = f"where is my order of the {str(product).lower()}?"
    response = httpx.post(f"{url}/v1/chat", json={"text": text}, headers=headers, timeout=30.0)
    response.raise_for_status()
    body = response.json()
    named = [p.get("description", "") for p in body.get("products", [])][:1]
    code = str(orders.loc[orders["Description"] == product, "StockCode"].iloc[0])
    forecast = httpx.post(
        f"{url}/v1/forecast", json={"product": code, "horizon": 4, "on_hand": 100}, headers=headers, timeout=60.0
    )
    weeks = forecast.json().get("weeks") if forecast.status_code == 200 else None
    health = httpx.get(f"{url}/healthz", timeout=30.0).json()
    versions = ", ".join(f"{name} {health[name].get('version')}" for name in cluster.MemberName if name in health)
    return (
        f"/v1/chat {text!r} -> {body['intent']} ({body['confidence']:.2f}); product facts: {named}; "
        f"/v1/forecast {code} -> {forecast.status_code} ({len(weeks or [])} weeks); serving {versions}"
    )


def _run_edge(
    progress: Progress,
    bundle_dir: Path,
    url: str,
    key: TrustedKey,
    outbox: Path,
    test: pd.DataFrame,
    options: DemoOptions,
    http: httpx.Client,
) -> str:
    # ``http`` carries the demo's API key: the device's escalations are /v1 calls like any other
    client = EdgeClient(bundle_dir, cluster_url=url, trusted_keys=(key,), outbox_dir=outbox, http_client=http)
    sample = test.sample(n=min(options.edge_samples, len(test)), random_state=0)
    messages = [*zip(sample["instruction"], sample["intent"], strict=True)]
    messages += [(text, "(off-topic)") for text in OFF_TOPIC_MESSAGES]
    sources: dict[str, int] = {}
    for text, truth in messages:
        answer = client.classify(text)
        sources[answer.source] = sources.get(answer.source, 0) + 1
        progress.note(
            f"{answer.source:<14} {answer.intent:<24} {answer.confidence:5.2f} "
            f"{answer.latency_ms:7.1f} ms  truth={truth:<24} {text[:60]!r}"
        )
    photo = _photo_on_device(client)
    progress.note(photo)
    return ", ".join(f"{n} {source}" for source, n in sorted(sources.items())) + f"; {photo}"
