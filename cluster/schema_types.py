"""Field types the ingress's bodies share: integers and numbers as JSON Schema defines them, ISO dates, ids, bounds.

Each type carries its bounds inside itself, so they stay in the OpenAPI schema even under ``Optional[...]``, and
none accepts a string or a boolean where a number is meant.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

__all__ = ["CUSTOMER_ID_MAX", "CustomerId", "IsoDate", "JsonFloat", "JsonInt", "LogPrice", "Price", "Share", "Units"]


def _json_integer(value: Any) -> Any:
    """JSON Schema counts 12.0 as an integer: accept integral floats, refuse booleans and strings."""
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _date_text(value: Any) -> Any:
    """A date must come as ISO text (``2011-12-09``), not as a number of seconds."""
    if not isinstance(value, str | dt.date):
        raise ValueError("expected a date as text, YYYY-MM-DD")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_date_text)]

# An integer as JSON Schema defines it (12 and 12.0), never a string or a boolean.
JsonInt = Annotated[int, BeforeValidator(_json_integer), Field(strict=True)]
# A number, never a string or a boolean.
JsonFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]


CUSTOMER_ID_MAX = 2**53  # ids beyond what a JSON number holds exactly are refused, not rounded
CustomerId = Annotated[int, Field(strict=True, ge=0, le=CUSTOMER_ID_MAX), BeforeValidator(_json_integer)]


# Numbers with their bounds inside the type, so that the bounds stay in the JSON schema under Optional[...].
Share = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=1)]
LogPrice = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-10, le=10)]
Price = Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0, le=1000)]
Units = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=1e9)]
