"""The storefront and the console in a real browser (Debian's chromium through Playwright) against one real
local Ray + Serve cluster: a tiny graph, a tiny intent model, a tiny forecaster, a tiny vision version, no reply
model, no pricer.

Every test fails on a console error, an uncaught page error or a failed request, except the answers it names
as expected (the pricer's 503 when no pricer is trained, for instance). Screenshots go to the test's tmp dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from cluster import RunningCluster
from cluster.config import default_state_dir
from cluster.experiment_definition import Experiment
from cluster.experiment_stats import StopRule
from cluster.experiments import ExperimentStore
from cluster.pages import PLACEHOLDERS
from cluster.rollout_journal import ReplicaReport, RolloutJournal
from ensemble.forecasting.service import publish_forecaster
from ensemble.registry import Registry
from ensemble.vision import bundled_grocery_dir
from tests.cluster.conftest import (
    PRODUCTS,
    privacy_ledger,
    publish_edge_bundle,
    publish_federated_intent,
    publish_tiny_intent,
    running_cluster,
)
from tests.cluster.histogram_reference import reference_summary
from tests.cluster.page_watch import CHROMIUM, CHROMIUM_ARGS, Watch
from tests.vision_training import TrainedVision, copy_vision_version

pytestmark = pytest.mark.integration

PHONE: ViewportSize = {"width": 375, "height": 740}
WAIT_MS = 30_000


def _weekly_units() -> pd.DataFrame:
    """32 weeks of units for every product of the test graph (a 4-week pattern, scaled per product)."""
    dates = pd.date_range("2011-01-03", periods=32, freq="7D")
    pattern = np.array([10.0, 20.0, 30.0, 40.0])
    return pd.concat(
        [
            pd.DataFrame({"unique_id": code, "ds": dates, "y": np.tile(pattern * (i + 1), 8)})
            for i, code in enumerate(PRODUCTS)
        ],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def web_registry(tmp_path_factory: pytest.TempPathFactory, trained_vision: TrainedVision) -> Registry:
    # A folder of its own, so the cluster's state directory beside it (edge bundles) is this module's alone.
    registry = Registry(tmp_path_factory.mktemp("web") / "registry")
    publish_tiny_intent(registry, seed=0)
    publish_forecaster(registry, _weekly_units(), top_n=2, horizon=8, evaluate=False)
    copy_vision_version(trained_vision, registry)
    return registry


@pytest.fixture(scope="module")
def cluster(web_registry: Registry, graph_dir: Path) -> Iterator[RunningCluster]:
    with running_cluster(web_registry.root, graph_dir) as running:
        yield running


@pytest.fixture(scope="module")
def http(cluster: RunningCluster) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.url, timeout=30.0) as client:
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture()
def watched(browser: Browser, cluster: RunningCluster, tmp_path: Path) -> Iterator[tuple[Page, Watch]]:
    context = browser.new_context(base_url=cluster.url)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    watch = Watch()
    page.on("console", watch.on_console)
    page.on("pageerror", lambda error: watch.problems.append(f"page error: {error}"))
    page.on("response", watch.on_response)
    page.on("requestfailed", watch.on_request_failed)
    try:
        yield page, watch
    finally:
        context.close()


def _screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _reply_text(page: Page, test_id: str = "reply") -> str:
    """A reply as a reader sees it, without the screen-reader notes on the marked claims."""
    text: str = page.get_by_test_id(test_id).evaluate(
        "p => { const c = p.cloneNode(true); c.querySelectorAll('.visually-hidden').forEach(n => n.remove());"
        " return c.textContent; }"
    )
    return text


def test_a_message_gets_a_reply_with_the_graph_facts_it_used_marked(
    watched: tuple[Page, Watch], http: httpx.Client, tmp_path: Path
) -> None:
    # Prepare: the same request through the API, for what the page must show
    page, watch = watched
    message = "where is my order 536366?"
    expected = http.post("/v1/chat", json={"text": message, "customer_id": 12001, "mode": "parallel"}).json()
    page.goto("/")

    # Execute: fill the form and send it from the keyboard
    page.get_by_label("Your message").fill(message)
    page.get_by_label("Customer id (optional)").fill("12001")
    page.locator("#chat-form").get_by_label("parallel").check()
    page.get_by_role("button", name="Send").focus()
    page.keyboard.press("Enter")
    reply = page.get_by_test_id("reply")
    reply.wait_for()
    shot = _screenshot(page, tmp_path, "storefront-chat")

    # Assert
    assert _reply_text(page) == expected["reply"]
    assert "[graph fact (order): " in reply.inner_text()
    marked = page.locator("#chat-result mark.fact").evaluate_all("marks => marks.map(m => m.firstChild.textContent)")
    assert expected["grounding"]["grounded"] is True
    assert marked == [claim["text"] for claim in expected["grounding"]["supported"]]
    assert "536366" in marked
    summary = page.locator("#chat-result dl.facts").inner_text()
    assert expected["intent"] in summary and "parallel" in summary
    members = page.locator("#chat-result table tbody tr td:first-child").all_inner_texts()
    assert members == [member["name"] for member in expected["members"]]
    assert shot.stat().st_size > 0
    watch.assert_clean()


def test_a_fallback_reply_shows_its_reason_and_refused_claims_are_marked(
    watched: tuple[Page, Watch], http: httpx.Client, tmp_path: Path
) -> None:
    # Prepare: no reply model is served, so every answer is the reference fallback with that reason
    page, watch = watched
    expected = http.post("/v1/chat", json={"text": "I want a refund for the lantern", "mode": "fusion"}).json()
    page.goto("/")

    # Execute
    page.get_by_label("Your message").fill("I want a refund for the lantern")
    page.locator("#chat-form").get_by_label("fusion").check()
    page.get_by_role("button", name="Send").click()
    fallback = page.get_by_test_id("fallback")
    fallback.wait_for()
    served = fallback.inner_text()
    served_reply = _reply_text(page)
    # The answer the chain gives when a generated reply states a price the graph does not hold: the same served
    # answer, with the reply member's text and the verifier's verdict on it as the chain records them.
    draft = "The lantern costs £99.00."
    claim = {"kind": "price", "text": "£99.00", "span": [18, 24], "supported": False, "reason": "no such price"}
    members = [
        {**m, "output": {**m["output"], "text": draft, "filled": draft}} if m["name"] == "reply" else m
        for m in expected["members"]
    ]
    verdict = {"checked": "reply", "grounded": False, "claims": [claim]}
    refused = {
        **expected,
        "members": [*members, {"name": "verifier", "output": verdict, "weight": 1.0, "latency_ms": 1.0}],
        "fallback_reason": "the reply stated claims the graph does not support ('£99.00': no such price)",
    }
    page.evaluate(
        "body => document.getElementById('chat-result').replaceChildren(...window.shopmeshStorefront.renderChat(body))",
        refused,
    )
    shot = _screenshot(page, tmp_path, "storefront-refused")

    # Assert
    assert expected["fallback"] is True and "no reply model" in expected["fallback_reason"]
    assert served == f"Fallback reply. Reason: {expected['fallback_reason']}"
    assert served_reply == expected["reply"]
    assert _reply_text(page, "refused-reply") == draft
    assert _reply_text(page) == expected["reply"]
    assert page.locator("#chat-result mark.refused").evaluate("m => m.firstChild.textContent") == "£99.00"
    assert "£99.00 — no such price" in page.get_by_test_id("refused").inner_text()
    assert "the reply stated claims the graph does not support" in page.get_by_test_id("fallback").inner_text()
    assert shot.stat().st_size > 0
    watch.assert_clean()


def test_an_uploaded_photo_shows_the_product_similar_products_and_what_the_graph_holds(
    watched: tuple[Page, Watch], http: httpx.Client, tmp_path: Path
) -> None:
    # Prepare: a bundled shop photo and the cluster's own answer to it, for what the page must show
    page, watch = watched
    photo = bundled_grocery_dir() / "images" / "test" / "Fruit" / "Orange" / "Orange_001.jpg"
    expected = http.post(
        "/v1/vision", files={"image": (photo.name, photo.read_bytes(), "image/jpeg")}, data={"top_k": "2"}
    ).json()
    page.goto("/")

    # Execute: choose the file, set the count and send the form from the keyboard
    page.get_by_label("Photo of a product").set_input_files(str(photo))
    page.get_by_label("Similar products").fill("2")
    page.get_by_role("button", name="Identify").focus()
    page.keyboard.press("Enter")
    page.get_by_test_id("photo-product").wait_for()
    shot = _screenshot(page, tmp_path, "storefront-photo")

    # Assert
    summary = page.locator("#photo-result dl.facts").inner_text()
    assert expected["product"]["class_name"] in summary and expected["coarse_name"] in summary
    assert f"{100 * expected['confidence']:.1f} %" in summary
    assert ("yes" if expected["out_of_catalogue"] else "no") in summary
    assert page.get_by_test_id("photo-ooc").count() == (1 if expected["out_of_catalogue"] else 0)
    rows = page.locator("#photo-result table tbody tr")
    assert rows.count() == 2
    for row, similar in zip(rows.all(), expected["similar"], strict=True):
        cells = row.locator("td").all_inner_texts()
        assert cells[0] == similar["class_name"] and cells[3] == similar["description"]
    # the test graph holds no grocery product: the page says so instead of showing facts
    assert expected["facts"] == [] and page.get_by_test_id("photo-no-facts").is_visible()
    assert page.locator("#photo-preview").get_attribute("alt") == f"the photo chosen: {photo.name}"
    assert shot.stat().st_size > 0
    watch.assert_clean()


def test_a_file_that_is_not_a_photo_is_refused_with_the_reason(watched: tuple[Page, Watch], tmp_path: Path) -> None:
    page, watch = watched
    watch.allow(415, "/v1/vision")
    notes = tmp_path / "notes.jpg"
    notes.write_text("milk, eggs, bread", encoding="utf-8")
    page.goto("/")

    page.get_by_label("Photo of a product").set_input_files(str(notes))
    page.get_by_role("button", name="Identify").click()
    alert = page.locator("#photo-result [role=alert]")
    alert.wait_for()

    assert "not a readable image" in alert.inner_text()
    watch.assert_clean()


@pytest.mark.parametrize("mode", ["graph", "parallel", "fusion"])
def test_recommendations_show_each_items_explanation(
    watched: tuple[Page, Watch], http: httpx.Client, tmp_path: Path, mode: str
) -> None:
    # Prepare
    page, watch = watched
    expected = http.post("/v1/recommend", json={"customer_id": 12001, "k": 2, "mode": mode}).json()
    page.goto("/")

    # Execute
    page.get_by_label("Customer id", exact=True).fill("12001")
    page.get_by_label("How many").fill("2")
    page.locator("#rec-form").get_by_label(mode).check()
    page.get_by_role("button", name="Recommend").click()
    page.locator("#rec-result ol.items").first.wait_for()
    shot = _screenshot(page, tmp_path, f"storefront-recommend-{mode}")

    # Assert
    first_list = page.locator("#rec-result ol.items").first
    codes = first_list.locator("li").evaluate_all("items => items.map(i => i.dataset.stockCode)")
    explanations = first_list.locator("p.explanation").all_inner_texts()
    assert codes == [item["stock_code"] for item in expected["items"]]
    assert explanations == [item["explanation"] for item in expected["items"]]
    assert all(explanations)
    headings = page.locator("#rec-result h3").all_inner_texts()
    assert headings == [f"From {member}" for member in expected["lists"]]
    statuses = page.locator("#rec-result table tbody tr td:nth-child(2)").all_inner_texts()
    assert statuses == [member["status"] for member in expected["members"]]
    assert shot.stat().st_size > 0
    watch.assert_clean()


def test_an_unknown_customer_sees_the_popularity_fallback(watched: tuple[Page, Watch]) -> None:
    page, watch = watched
    page.goto("/")

    page.get_by_label("Customer id", exact=True).fill("424242")
    page.get_by_role("button", name="Recommend").click()
    notice = page.get_by_test_id("rec-fallback")
    notice.wait_for()

    assert "popularity" in notice.inner_text() and "424242" in notice.inner_text()
    watch.assert_clean()


def test_a_recommended_product_opens_its_graph_facts_and_forecast_chart(
    watched: tuple[Page, Watch], http: httpx.Client, tmp_path: Path
) -> None:
    # Prepare
    page, watch = watched
    page.goto("/")
    page.get_by_label("Customer id", exact=True).fill("12001")
    page.get_by_role("button", name="Recommend").click()
    first = page.locator("#rec-result ol.items li").first
    first.wait_for()
    code = str(first.get_attribute("data-stock-code"))
    facts = http.get(f"/v1/products/{code}").json()
    forecast = http.post("/v1/forecast", json={"product": code, "horizon": 8}).json()

    # Execute
    first.get_by_role("button").click()
    chart = page.get_by_test_id("forecast-chart")
    chart.wait_for()
    shot = _screenshot(page, tmp_path, "storefront-product")

    # Assert
    product = page.locator("#product-result")
    assert product.locator("h3").inner_text() == facts["description"]
    assert f"Orders\n{facts['n_orders']}" in product.inner_text()
    rows = page.locator("#forecast-result table tbody tr")
    assert rows.count() == len(forecast["weeks"]) == 8
    p50 = rows.locator("td:nth-child(3)").all_inner_texts()
    assert p50 == [f"{week['p50']:.1f}" for week in forecast["weeks"]]
    assert chart.locator("path.band").count() == 1 and chart.locator("path.median").count() == 1
    assert forecast["note"] in page.locator("#forecast-result figcaption").inner_text()
    assert shot.stat().st_size > 0
    watch.assert_clean()


def test_an_unknown_stock_code_says_so(watched: tuple[Page, Watch]) -> None:
    page, watch = watched
    watch.allow(404, "/v1/products/00000")
    page.goto("/")

    page.get_by_label("Stock code").fill("00000")
    page.get_by_role("button", name="Show product").click()
    alert = page.locator("#product-result [role=alert]")
    alert.wait_for()

    assert "00000" in alert.inner_text()
    watch.assert_clean()


def test_a_series_forecast_is_drawn_after_its_history(watched: tuple[Page, Watch]) -> None:
    page, watch = watched
    page.goto("/")

    page.get_by_text("Forecast a series of your own").click()
    page.get_by_label("Weekly units, oldest first (comma separated)").fill("12, 15, 9, 20, 18, 14, 22, 19, 17, 21")
    page.get_by_role("button", name="Forecast series").click()
    chart = page.get_by_test_id("forecast-chart")
    chart.wait_for()

    assert chart.locator("path.history").count() == 1
    assert "after 10 weeks of history" in str(chart.get_attribute("aria-label"))
    assert page.locator("#forecast-result table tbody tr").count() == 8
    watch.assert_clean()


def test_the_price_panel_says_what_to_run_when_no_pricer_is_trained(
    watched: tuple[Page, Watch], http: httpx.Client
) -> None:
    page, watch = watched
    watch.allow(503, "/v1/price")
    expected = http.post("/v1/price", json={"store": 2, "brand": 1})
    page.goto("/")

    page.get_by_role("button", name="Suggest a price").click()
    alert = page.locator("#price-result [role=alert]")
    alert.wait_for()

    assert expected.status_code == 503
    assert alert.inner_text() == f"Not available: {expected.json()['detail']}"
    assert "shopmesh train pricer" in alert.inner_text()
    watch.assert_clean()


def _labelled_controls(page: Page) -> list[str]:
    unlabelled: list[str] = page.evaluate(
        "() => [...document.querySelectorAll('input, textarea, select')]"
        ".filter(control => control.labels.length === 0).map(control => control.outerHTML)"
    )
    return unlabelled


@pytest.mark.parametrize("path", ["/", "/console"])
def test_pages_label_every_control_and_fit_a_phone(watched: tuple[Page, Watch], tmp_path: Path, path: str) -> None:
    page, watch = watched
    page.set_viewport_size(PHONE)

    page.goto(path)
    page.wait_for_load_state("networkidle")
    shot = _screenshot(page, tmp_path, f"phone-{path.strip('/') or 'storefront'}")

    assert _labelled_controls(page) == []
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    assert shot.stat().st_size > 0
    watch.assert_clean()


def test_the_console_shows_versions_latency_percentiles_and_what_is_not_available(
    watched: tuple[Page, Watch], http: httpx.Client, web_registry: Registry, tmp_path: Path
) -> None:
    # Prepare: traffic, so that every histogram has observations
    page, watch = watched
    for text in ("where is my order 536366?", "refund please"):
        assert http.post("/v1/chat", json={"text": text, "customer_id": 12001}).status_code == 200
    health = http.get("/healthz").json()

    # Execute
    page.goto("/console")
    page.locator("#latency table").first.wait_for()
    page.get_by_text("updated").wait_for()
    shot = _screenshot(page, tmp_path, "console")
    metrics_text = http.get("/metrics").text
    shown: dict[str, Any] = page.evaluate(
        """text => Object.fromEntries(["shopmesh_member_latency_seconds", "shopmesh_chain_member_latency_seconds"]
            .map(f => [f, window.shopmesh.histogramSummary(window.shopmesh.parseMetrics(text), f, "member",
                                                           [0.5, 0.9, 0.99])]))""",
        metrics_text,
    )

    # Assert: versions and health per member, as /healthz says
    for member in ("intent", "graph", "reply", "forecaster", "pricer"):
        cells = page.locator(f"#deployments tr[data-member={member}] td").all_inner_texts()
        assert cells[0] == (health[member]["version"] or "none")
        assert cells[1] == ("serving" if health[member]["version"] else "no version")
    assert page.locator("#deployments tr[data-deployment=ingress] td").nth(1).inner_text() == "answering"
    assert page.locator("#deployments tr[data-member=intent] td").first.inner_text() == web_registry.latest("intent").id
    assert "shopmesh train pricer" in page.locator("#deployments tr[data-member=pricer] td").nth(2).inner_text()
    # the page's percentiles equal the reference computed from the same metrics text
    for family, rows in shown.items():
        reference = reference_summary(metrics_text, family, "member")
        assert reference and sorted(row["label"] for row in rows) == sorted(reference)
        for row in rows:
            assert row["quantiles"] == pytest.approx(reference[row["label"]])
    chain = page.locator("#latency [data-family=shopmesh_chain_member_latency_seconds] tbody td:first-child")
    assert {"intent_head", "knowledge_graph"} <= set(chain.all_inner_texts())
    placeholders = page.locator("section.placeholder")
    assert placeholders.count() == len(PLACEHOLDERS)
    assert all(text.count("Not available yet.") == 1 for text in placeholders.all_inner_texts())
    assert shot.stat().st_size > 0
    watch.assert_clean()


def test_the_console_shows_the_published_edge_bundles_and_their_rollout(
    watched: tuple[Page, Watch], web_registry: Registry, tmp_path: Path
) -> None:
    # Prepare: before any bundle, then the intent version exported and published to 100 % of devices
    page, watch = watched
    page.goto("/console")
    page.get_by_text("No bundle is published yet").wait_for()
    bundle = publish_edge_bundle(web_registry, tmp_path)
    version = bundle.manifest.version_id

    # Execute
    page.locator("#refresh").click()
    page.locator("#edge table").first.wait_for()
    shot = _screenshot(page, tmp_path, "console-edge")

    # Assert: the rollout sentence, the bundle row and the change, as /v1/edge/bundles says
    assert page.locator("#edge .rollout").inner_text() == f"{version} to 100 % of devices; the others run {version}."
    rows = page.locator("#edge table").first.locator("tbody tr")
    assert rows.count() == 1
    cells = rows.first.locator("td").all_inner_texts()
    assert cells[0] == version and cells[2] == "0.700" and cells[3] == bundle.manifest.quantization
    history = page.locator("#edge table").nth(1).locator("tbody tr td").all_inner_texts()
    assert history[1:] == [version, "100 %", version]
    assert shot.stat().st_size > 0
    watch.assert_clean()


def test_the_console_shows_rollouts_and_federated_runs(
    watched: tuple[Page, Watch], web_registry: Registry, tmp_path: Path
) -> None:
    # Prepare: nothing rolled out or federated, then a rollout's journal entries in the cluster's state directory
    # and a federated version in its registry, with the lineage federation publishes
    page, watch = watched
    page.goto("/console")
    page.get_by_text("No rollout yet").wait_for()
    page.get_by_text("No federated version in the registry yet").wait_for()
    base = web_registry.latest("intent").id
    journal = RolloutJournal.in_state_dir(default_state_dir(web_registry.root))
    journal.record_served("intent", base, base, "initial")
    journal.record_served("intent", "intent:v0009", "intent:v0009", "rollout")
    journal.report(ReplicaReport("r-9", "replica-1", "intent", "intent:v0009", base, "smoke check failed: no decision"))
    federated = publish_federated_intent(web_registry, parent=base, private=True)
    epsilon = max(account.epsilon for account in privacy_ledger().accounts.values())

    # Execute
    page.locator("#refresh").click()
    page.locator("#rollouts table").first.wait_for()
    page.locator("#federation table").first.wait_for()
    shot = _screenshot(page, tmp_path, "console-rollouts-federation")

    # Assert: what the journal and the lineage say, as a reader sees it
    intent = page.locator("#rollouts [data-member=intent]")
    assert intent.locator("h3").inner_text() == "intent — serving intent:v0009"
    history = intent.locator("table").first.locator("tbody tr")
    assert [row.locator("td").nth(1).inner_text() for row in history.all()] == ["rollout", "initial"]
    replica = intent.locator("table").nth(1).locator("tbody td").all_inner_texts()
    assert replica == ["replica-1", "intent:v0009", base, "kept the old version: smoke check failed: no decision"]
    run = page.locator(f"#federation [data-version='{federated}']")
    assert run.locator("h3").inner_text() == f"{federated} from {base}"
    summary = run.locator(".run-summary").inner_text()
    assert summary.startswith("fedavg, 2 rounds, 2 merchants, 240 examples; validation accuracy 93.0 %")
    assert summary.endswith(
        f"privacy: epsilon up to {epsilon:.2f} per merchant at delta 1e-5 (2 merchants, 1 left out of rounds once "
        "their budget was spent)."
    )
    rounds = run.locator("tbody tr")
    assert rounds.count() == 2
    assert rounds.first.locator("td").all_inner_texts()[:5] == ["1", "2", "1", "90.0 %", "0.5000"]
    assert shot.stat().st_size > 0
    watch.assert_clean()


def test_the_console_shows_each_experiment_with_its_arms_and_decision(
    watched: tuple[Page, Watch], web_registry: Registry, tmp_path: Path
) -> None:
    # Prepare: an experiment on recommend whose arm B bought every time and arm A never
    page, watch = watched
    store = ExperimentStore.in_state_dir(default_state_dir(web_registry.root))
    rule = StopRule(min_samples=10)
    experiment = store.start(Experiment.define("console-panel", "recommend", ["graph", "fusion"], rule=rule))
    try:
        for i in range(60):
            arm = store.enroll(experiment, f"console-{i}", f"customer:{i}")
            store.record_outcome(f"console-{i}", arm.label == "B")
        report = store.report("console-panel")

        # Execute
        page.goto("/console")
        row = page.locator("#experiments tbody tr").first
        row.wait_for()
        shot = _screenshot(page, tmp_path, "console-experiments")
    finally:
        store.stop("console-panel")

    # Assert: the row says what the report says
    cells = row.locator("td").all_inner_texts()
    a, b = report.analysis.arms
    assert cells[:3] == ["console-panel", "recommend", "running"]
    assert cells[3].startswith(f"A: graph: {a.n} outcomes, 0.00 [")
    assert cells[4].startswith(f"B: fusion: {b.n} outcomes, 1.00 [")
    assert cells[6] == "arm B better"
    assert shot.stat().st_size > 0
    watch.assert_clean()
