"""Filling the ``{{Slot}}`` placeholders of a generated reply with known values, never with invented ones.

The reply model writes templates such as "Log into {{Website Name}} and open {{Order History}}". A slot
whose value is given (the order number from the request, the shop's name and phone from configuration) is
replaced by it; any other slot is rendered by a neutral phrase that states nothing new ("our website", "your
order") or, for the names of pages and buttons ("{{Order History}}"), by the name itself. The result lists
which slots were filled and which had no value, so a caller can log them or fall back to a template.

Templates often put a determiner before a slot ("visit our {{Website Name}}", "call the {{Customer Support
Phone Number}}"). A neutral phrase starts with its own determiner ("our website"), so when the template's word
right before the slot is one of ``our``/``the``/``your``/``a``/``an``, the phrase's leading determiner is
dropped and the template's kept: "our {{Website Name}}" reads "our website", not "our our website".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ensemble.members.reply_tokenizer import SLOT_PATTERN

# Neutral wording of the slots whose literal name would read as a missing fact (keys are lower-case names).
NEUTRAL_PHRASES: dict[str, str] = {
    "website name": "our website",
    "website url": "our website",
    "website": "our website",
    "website or app": "our website or app",
    "website/app name": "our website or app",
    "company name": "our company",
    "company website": "our website",
    "customer support phone number": "our customer support phone line",
    "customer service phone number": "our customer support phone line",
    "support phone number": "our customer support phone line",
    "phone number": "our customer support phone line",
    "customer support email": "our customer support email",
    "customer support email address": "our customer support email",
    "customer service email": "our customer support email",
    "support email": "our customer support email",
    "email": "our customer support email",
    "live chat": "live chat",
    "customer support availability": "during our support hours",
    "customer support hours": "during our support hours",
    "customer service hours": "during our support hours",
    "order number": "your order",
    "order number anonymized": "your order",
    "order id anonymized": "your order",
    "purchase id anonymized": "your order",
    "purchase number anonymized": "your order",
    "invoice number anonymized": "your invoice",
    "bill number anonymized": "your bill",
    "name field anonymized": "dear customer",
    "number of days": "the stated number of days",
}

# Determiners a neutral phrase may start with, and that a template may write right before a slot.
DETERMINERS: frozenset[str] = frozenset({"our", "the", "your", "a", "an"})
_DETERMINER_BEFORE = re.compile(r"\b(our|the|your|an?)\s+$", re.IGNORECASE)

# Which entity of a request (Bitext's entity_type) can fill which slots.
ENTITY_SLOTS: dict[str, tuple[str, ...]] = {
    "order_id": (
        "Order Number",
        "Order Number Anonymized",
        "Order ID Anonymized",
        "Purchase ID Anonymized",
        "Purchase Number Anonymized",
    ),
    "invoice_id": ("Invoice Number Anonymized", "Bill Number Anonymized"),
}


@dataclass(frozen=True)
class FilledReply:
    """A reply with its slots replaced: the slot names that got a value and those rendered neutrally."""

    text: str
    filled: tuple[str, ...]
    unfilled: tuple[str, ...]


def neutral_phrase(name: str) -> str:
    """What an unfilled slot reads as: a neutral phrase, or the name itself for pages and buttons."""
    key = " ".join(name.split()).lower()
    if key in NEUTRAL_PHRASES:
        return NEUTRAL_PHRASES[key]
    if key.replace(" ", "").isalnum() and any(ch.isdigit() for ch in key) and " " not in key:
        return "your reference"  # an anonymised number kept as a slot in the data, e.g. {{113542617735902}}
    if key.endswith(" anonymized"):
        return "the details you gave"
    return " ".join(name.split())


def after_determiner(phrase: str) -> str:
    """``phrase`` without its leading determiner, for a slot the template already gives one
    ("our website" -> "website"); a phrase without one is returned unchanged."""
    head, _, rest = phrase.partition(" ")
    if head.lower() in DETERMINERS and rest:
        return rest
    return phrase


def entity_slot_values(entity_type: str, entity_value: str) -> dict[str, str]:
    """Slot values implied by a request's entity, e.g. order_id 123 -> {"Order Number": "123", ...}."""
    value = entity_value.strip()
    if not value:
        return {}
    return {slot: value for slot in ENTITY_SLOTS.get(entity_type.strip(), ())}


def fill_slots(text: str, values: Mapping[str, str]) -> FilledReply:
    """Replace each ``{{Slot}}`` by ``values[Slot]`` (names match ignoring case and spacing) or neutrally.

    A neutral phrase after a determiner in the template loses its own (see the module doc). ``filled`` and
    ``unfilled`` list slot names once each, in order of first appearance.
    """
    known = {" ".join(k.split()).lower(): v for k, v in values.items() if v is not None and str(v).strip()}
    filled: list[str] = []
    unfilled: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = " ".join(match.group(1).split())
        key = name.lower()
        if key in known:
            if name not in filled:
                filled.append(name)
            return str(known[key])
        if name not in unfilled:
            unfilled.append(name)
        phrase = neutral_phrase(name)
        if _DETERMINER_BEFORE.search(match.string, 0, match.start()):
            return after_determiner(phrase)
        return phrase

    return FilledReply(SLOT_PATTERN.sub(replace, text), tuple(filled), tuple(unfilled))
