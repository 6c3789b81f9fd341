"""Bodies of the demand routes: ``POST /v1/forecast`` (weekly quantiles, reorder) and ``POST /v1/price``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from cluster.schema_types import IsoDate, JsonFloat, JsonInt, LogPrice, Price, Share, Units

__all__ = [
    "MIN_SERIES",
    "ForecastRequest",
    "ForecastResponse",
    "ForecastWeek",
    "PriceContext",
    "PriceRequest",
    "PriceResponse",
]


MIN_SERIES = 8  # the shortest series the request forecaster (AutoETS) accepts
SeriesValue = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-1e9, le=1e9)]


class ForecastRequest(BaseModel):
    """``POST /v1/forecast``: exactly one of a product (its stock code) or a series of weekly values, and the
    horizon in weeks. A product's reorder suggestion uses ``lead_time_weeks``, ``service_level`` and
    ``on_hand``; a series may give the date of its last value (``last_date``) to date the forecast weeks."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["product"], "properties": {"product": {"type": "string"}}},
                {"required": ["series"], "properties": {"series": {"type": "array"}}},
            ],
            "examples": [{"product": "85123A", "horizon": 4, "on_hand": 120}, {"series": [3, 4, 5, 4, 3, 4, 5, 4]}],
        },
    )

    product: StrictStr | None = Field(default=None, min_length=1, max_length=32, pattern="^[0-9A-Za-z-]+$")
    series: list[SeriesValue] | None = Field(default=None, min_length=MIN_SERIES, max_length=1_000)
    last_date: IsoDate | None = Field(default=None, description="the date of the series' last value (series only)")
    horizon: JsonInt = Field(default=8, ge=1, le=52)
    lead_time_weeks: JsonFloat = Field(default=2.0, gt=0, le=52)
    service_level: JsonFloat = Field(default=0.95, gt=0.5, lt=1.0)
    on_hand: Units | None = None

    @model_validator(mode="after")
    def _one_target(self) -> ForecastRequest:
        if (self.product is None) == (self.series is None):
            raise ValueError("send exactly one of `product` (a stock code) or `series` (weekly values)")
        return self

    def step_dates(self) -> list[str] | None:
        """The dates of the forecast weeks, a week apart after ``last_date`` (``None`` without it, or when
        they would fall past the calendar's end)."""
        if self.last_date is None:
            return None
        try:
            return [(self.last_date + dt.timedelta(weeks=i + 1)).isoformat() for i in range(self.horizon)]
        except OverflowError:
            return None


class PriceContext(BaseModel):
    """What is known of next week at the store: promotion flags and prices (all optional)."""

    model_config = ConfigDict(extra="forbid")

    deal: Share | None = Field(default=None, description="1 when the brand is on deal that week")
    feat: Share | None = Field(default=None, description="share of the week the brand is featured")
    competitor_log_price: LogPrice | None = None
    previous_price: Price | None = None
    policy: Literal["thompson", "mean"] | None = None


class PriceRequest(BaseModel):
    """``POST /v1/price``: a Dominick's store and brand, and optional context (deal, feat, previous_price, ...)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"store": 2, "brand": 1, "context": {"deal": 1, "policy": "mean"}}]},
    )

    store: JsonInt = Field(ge=0, le=10_000)
    brand: JsonInt = Field(ge=0, le=10_000)
    context: PriceContext | None = None


class ForecastWeek(BaseModel):
    """One forecast step: the week (or step number for a request series) and its P10/P50/P90 units."""

    model_config = ConfigDict(extra="allow")

    p10: float
    p50: float
    p90: float


class ForecastResponse(BaseModel):
    """The answer to ``POST /v1/forecast``: for a product, ``weeks`` and a ``reorder`` suggestion; for a
    series, ``steps``; ``member`` names the model that answered and ``note`` how."""

    model_config = ConfigDict(extra="allow")

    member: str
    note: str
    stock_code: str | None = None
    version: str | None = None
    weeks: list[ForecastWeek] | None = None
    steps: list[ForecastWeek] | None = None
    reorder: dict[str, Any] | None = None


class PriceResponse(BaseModel):
    """The answer to ``POST /v1/price``: the price, what the demand model expects of it, the guardrails that
    bound it and why."""

    model_config = ConfigDict(extra="allow")

    store: int
    brand: int
    price: float
    expected_units: float
    expected_profit: float
    reason: str
    binding_guardrails: list[str]
    guardrails: dict[str, Any]
    policy: str
    version: str
