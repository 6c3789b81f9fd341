"""Merchant names: what a merchant may be called everywhere (API keys, adapters, federated nodes)."""

from __future__ import annotations

import re

__all__ = ["MERCHANT_PATTERN", "merchant_name_problem"]

MERCHANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def merchant_name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a merchant, or None when it can."""
    if isinstance(name, str) and re.match(MERCHANT_PATTERN, name):
        return None
    return (
        f"merchant name {name!r:.80} is not allowed; use 1-64 letters, digits, '_', '.' or '-', starting with a "
        "letter or digit"
    )
