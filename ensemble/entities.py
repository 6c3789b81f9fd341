"""Entities in customer messages: order and invoice numbers, amounts with a currency, e-mail addresses, and
product mentions through an injected callable (e.g. the knowledge graph's ``ProductGraph.mentions``), so this
module needs no graph at import time.

Order numbers are long digit strings (Bitext uses 8 to 15 digits, e.g. ``732201349959``); invoice numbers are
Online Retail's 6 digits, optionally prefixed with ``C`` for a cancellation (``536365``, ``C536379``). A
6-digit number is an invoice number; 7 digits or more (up to 20) an order number.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

__all__ = ["Entity", "EntityKind", "extract_entities"]

logger = logging.getLogger(__name__)


class EntityKind(StrEnum):
    ORDER_NUMBER = "order_number"
    INVOICE_NUMBER = "invoice_number"
    AMOUNT = "amount"
    EMAIL = "email"
    PRODUCT = "product"


@dataclass(frozen=True)
class Entity:
    """One entity: its kind, the normalised value, the text span [start, end) and, for amounts, the currency
    (ISO 4217 code); for products, ``value`` is what the mention callable names (e.g. the stock code)."""

    kind: EntityKind
    value: str
    span: tuple[int, int]
    currency: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "value": self.value, "span": list(self.span), "currency": self.currency}


_CURRENCY_SYMBOLS = {"£": "GBP", "$": "USD", "€": "EUR"}
_CURRENCY_WORDS = {
    "gbp": "GBP",
    "usd": "USD",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "pound": "GBP",
    "pounds": "GBP",
    "quid": "GBP",
    "dollar": "USD",
    "dollars": "USD",
}
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?"
_WORDS = "|".join(sorted(_CURRENCY_WORDS, key=len, reverse=True))
_AMOUNT = re.compile(
    rf"(?P<sym>[£$€])\s?(?P<n1>{_NUMBER})"
    rf"|(?<![\w.])(?P<code>GBP|USD|EUR)\s?(?P<n2>{_NUMBER})"
    rf"|(?<![\w.])(?P<n3>{_NUMBER})\s?(?P<suffix>[£€]|(?i:{_WORDS})\b)",
)
_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_INVOICE = re.compile(r"(?<![\w.,£$€])(?P<c>[Cc]?)(?P<digits>\d{6})(?![\w.,]\d|\w)")
_ORDER = re.compile(r"(?<![\w.,£$€])\d{7,20}(?![\w]|[.,]\d)")

ProductMentions = Callable[[str], Sequence[Any]]


def _amounts(text: str) -> list[Entity]:
    found = []
    for match in _AMOUNT.finditer(text):
        number = match.group("n1") or match.group("n2") or match.group("n3")
        if match.group("sym"):
            currency = _CURRENCY_SYMBOLS[match.group("sym")]
        elif match.group("code"):
            currency = match.group("code")
        else:
            suffix = match.group("suffix")
            currency = _CURRENCY_SYMBOLS.get(suffix) or _CURRENCY_WORDS[suffix.lower()]
        try:
            value = Decimal(number.replace(",", ""))
        except InvalidOperation:  # the pattern only admits digits, commas and one point
            continue
        found.append(Entity(EntityKind.AMOUNT, str(value), match.span(), currency))
    return found


def _overlaps(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in taken)


def _product_entities(text: str, mentions: ProductMentions) -> list[Entity]:
    found = []
    for mention in mentions(text):
        span = getattr(mention, "span", None)
        value = getattr(mention, "stock_code", None) or getattr(mention, "description", None) or str(mention)
        if span is None:
            logger.debug("product mention %r has no span; kept with an empty span", value)
            span = (0, 0)
        found.append(Entity(EntityKind.PRODUCT, str(value), (int(span[0]), int(span[1]))))
    return found


def extract_entities(text: str, product_mentions: ProductMentions | None = None) -> list[Entity]:
    """Every entity in ``text``, in text order. Amounts and e-mail addresses are found first, so their digits
    are not also read as order or invoice numbers. ``product_mentions`` (e.g. ``graph.mentions``) returns
    objects with ``span`` and ``stock_code`` or ``description`` attributes."""
    entities = _amounts(text)
    entities += [Entity(EntityKind.EMAIL, m.group(0).lower(), m.span()) for m in _EMAIL.finditer(text)]
    taken = [e.span for e in entities]
    for match in _INVOICE.finditer(text):
        if not _overlaps(match.span(), taken):
            value = match.group("c").upper() + match.group("digits")
            entities.append(Entity(EntityKind.INVOICE_NUMBER, value, match.span()))
            taken.append(match.span())
    for match in _ORDER.finditer(text):
        if not _overlaps(match.span(), taken):
            entities.append(Entity(EntityKind.ORDER_NUMBER, match.group(0), match.span()))
    if product_mentions is not None:
        entities += _product_entities(text, product_mentions)
    return sorted(entities, key=lambda e: (e.span, e.kind.value))
