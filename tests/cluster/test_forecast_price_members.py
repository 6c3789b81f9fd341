"""The forecast and price deployments' runners, without Ray."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cluster.demand_schemas import ForecastRequest, PriceRequest
from cluster.errors import MemberUnavailableError, NotFoundError
from cluster.forecast_deployment import ForecastDeployment, forecast_runner
from cluster.outcomes import MemberOutcome, OutcomeStatus
from cluster.price_deployment import PriceDeployment, price_runner
from ensemble.forecasting.service import publish_forecaster
from ensemble.pricing.service import fit_pricing_version
from ensemble.registry import Registry
from tests.cluster.conftest import price_rows, weekly_frame

torch.set_num_threads(1)


def _forecast(registry: Registry, **request: object) -> MemberOutcome:
    # The deployment class's own method, called on an instance made without Ray (the class Serve wraps).
    deployment = ForecastDeployment.func_or_class(str(registry.root))
    outcome: MemberOutcome = deployment.forecast(ForecastRequest.model_validate(request))
    return outcome


def _price(registry: Registry, **request: object) -> MemberOutcome:
    deployment = PriceDeployment.func_or_class(str(registry.root))
    outcome: MemberOutcome = deployment.price(PriceRequest.model_validate(request))
    return outcome


def test_runners_say_not_trained_when_the_registry_is_empty(tmp_path: Path) -> None:
    registry = Registry(tmp_path)

    forecast = _forecast(registry, product="P0", horizon=2)
    price = _price(registry, store=2, brand=1)

    assert forecast.status is OutcomeStatus.NOT_TRAINED and "shopmesh train forecaster" in forecast.error
    assert price.status is OutcomeStatus.NOT_TRAINED and "shopmesh train pricer" in price.error
    with pytest.raises(MemberUnavailableError) as caught:
        forecast.unwrap("forecaster")
    assert caught.value.member == "forecaster"
    assert forecast_runner(registry).status() == {"member": "forecaster", "version": None, "error": forecast.error}
    assert forecast_runner(registry).status(node_id="n1")["node_id"] == "n1"


def test_forecast_runner_answers_found_missing_and_invalid(tmp_path: Path) -> None:
    # Prepare
    registry = Registry(tmp_path)
    publish_forecaster(registry, weekly_frame(), top_n=2, horizon=4, evaluate=False)

    # Execute
    found = _forecast(registry, product="P2", horizon=2, on_hand=3)
    fallback = _forecast(registry, product="P0", horizon=2)
    missing = _forecast(registry, product="ZZZ", horizon=2)
    capped = _forecast(registry, product="P2", horizon=9)
    series = _forecast(registry, series=[3.0, 4.0, 5.0, 4.0, 3.0, 4.0, 5.0, 4.0], horizon=2)

    # Assert
    assert found.status is OutcomeStatus.OK and found.unwrap("forecaster")["member"] == "ensemble"
    assert fallback.unwrap("forecaster")["member"] == "seasonal_naive"
    assert (missing.status, missing.what, missing.value) == (OutcomeStatus.NOT_FOUND, "product", "ZZZ")
    assert "ZZZ" in missing.error
    with pytest.raises(NotFoundError):
        missing.unwrap("forecaster")
    assert len(capped.unwrap("forecaster")["weeks"]) == 4
    assert capped.unwrap("forecaster")["horizon_capped"]["asked"] == 9
    assert "at most 4 weeks" in capped.unwrap("forecaster")["horizon_capped"]["reason"]
    assert len(series.unwrap("forecaster")["steps"]) == 2
    assert forecast_runner(registry).status()["version"] == "forecaster:v0001"


def test_price_runner_answers_found_missing_and_invalid(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    fit_pricing_version(registry, price_rows())

    found = _price(registry, store=2, brand=1, context={"policy": "mean"})
    missing = _price(registry, store=3, brand=1)

    assert found.status is OutcomeStatus.OK and found.unwrap("pricer")["version"] == "pricer:v0001"
    assert missing.status is OutcomeStatus.NOT_FOUND and "store 3" in missing.error
    assert (missing.what, missing.value) == ("store/brand", "store 3, brand 1")
    assert price_runner(registry).status()["version"] == "pricer:v0001"


def test_a_version_that_cannot_be_served_leaves_the_member_unavailable_with_the_reason(tmp_path: Path) -> None:
    # Prepare: a published forecaster whose stored weights were changed afterwards
    registry = Registry(tmp_path)
    version = publish_forecaster(registry, weekly_frame(), top_n=2, horizon=4, evaluate=False)
    weights = next(p for p in (registry.root / "forecaster" / version.version).iterdir() if p.suffix == ".safetensors")
    weights.write_bytes(weights.read_bytes()[:-8] + b"tampered")

    # Execute
    outcome = _forecast(registry, product="P2", horizon=2)

    # Assert
    assert outcome.status is OutcomeStatus.NOT_TRAINED
    assert "cannot serve its version" in outcome.error
    with pytest.raises(MemberUnavailableError, match="cannot serve its version"):
        outcome.unwrap("forecaster")


def test_forecast_runner_rolls_out_a_new_version_and_refuses_a_missing_one(tmp_path: Path) -> None:
    # Prepare
    registry = Registry(tmp_path)
    first = publish_forecaster(registry, weekly_frame(), top_n=2, horizon=4, evaluate=False).id
    runner = forecast_runner(registry)
    second = publish_forecaster(registry, weekly_frame(), top_n=3, horizon=4, evaluate=False).id

    # Execute
    unchanged = runner.reconfigure({"version": first})
    rolled = runner.reconfigure({"version": second})
    refused = runner.reconfigure({"version": "forecaster:v0009"})
    ignored = runner.reconfigure({})

    # Assert
    assert unchanged is not None and (unchanged.serving, unchanged.error) == (first, None)
    assert rolled is not None and (rolled.serving, rolled.error) == (second, None)
    assert refused is not None and refused.serving == second and "v0009" in (refused.error or "")
    assert ignored is None
    answer = runner.run(lambda service: service.forecast_product("P2", 2))
    assert answer.unwrap("forecaster")["version"] == second


def test_price_runner_rolls_out_a_new_version_after_its_smoke_check(tmp_path: Path) -> None:
    # Prepare
    registry = Registry(tmp_path)
    first = fit_pricing_version(registry, price_rows()).id
    runner = price_runner(registry)
    second = fit_pricing_version(registry, price_rows()).id

    # Execute
    rolled = runner.reconfigure({"version": "latest"})

    # Assert
    assert (first, second) == ("pricer:v0001", "pricer:v0002")
    assert rolled is not None and (rolled.serving, rolled.error) == (second, None)
    assert runner.run(lambda service: service.price(2, 1, {"policy": "mean"})).unwrap("pricer")["version"] == second
