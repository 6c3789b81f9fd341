"""Style augmentation of customer messages for training the intent member.

Bitext's utterances are machine-expanded from a few seeds: short, on-topic, with a narrow vocabulary. Real
customers add greetings, back-story and sign-offs, use other words for the same thing ("parcel", "bill",
"mailing list"), drop punctuation and case, and make typos. :class:`StyleAugmenter` rewrites a training message
along those axes while keeping its intent:

- a domain thesaurus swaps e-commerce terms for common alternatives (each rule at most once per message);
- keyboard typos (adjacent swap, drop, double, neighbouring key) in a few words of four letters or more;
- lower-casing and punctuation removal;
- intent-neutral context (a greeting, one or two sentences of back-story with a product, order number, name or
  e-mail, a sign-off) around the request, so the model learns that such text carries no intent.

Every rewrite is drawn from a ``random.Random`` the caller seeds, so an epoch's augmented batch is reproducible.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ensemble.errors import ModelError

__all__ = ["CALIBRATION_SEED", "AugmentConfig", "StyleAugmenter", "styled_copy"]

# The seed of the style-rewritten copy of validation that temperatures and fusion weights are fitted on,
# together with validation itself.
CALIBRATION_SEED = 0

# Neighbouring keys on a QWERTY keyboard, for substitution typos.
_KEYBOARD = {
    "q": "wa", "w": "qes", "e": "wrd", "r": "etf", "t": "ryg", "y": "tuh", "u": "yij", "i": "uok", "o": "ipl",
    "p": "ol", "a": "qsz", "s": "awdx", "d": "sefc", "f": "drgv", "g": "fthb", "h": "gyjn", "j": "hukm",
    "k": "jil", "l": "kop", "z": "asx", "x": "zcd", "c": "xvf", "v": "cbg", "b": "vnh", "n": "bmj", "m": "nk",
}  # fmt: skip

# (pattern, alternatives): a match is replaced by one alternative. Alternatives keep the intent of the message;
# none of them is a word that names a different intent (no "delivery" for an order, no "cancel" for deleting).
_THESAURUS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"\b(order|purchase)\b", ("order", "purchase", "parcel", "package", "shipment", "stuff I bought", "items")),
    (r"\bcancel(l?ing)?\b", ("cancel", "call off", "scrap", "stop", "back out of")),
    (r"\b(invoice|bill)\b", ("invoice", "bill", "receipt", "VAT invoice", "paperwork")),
    (r"\brefund\b", ("refund", "money back", "reimbursement")),
    (r"\baccount\b", ("account", "profile", "membership", "login")),
    (r"\b(open|create|make) (an?|my|the)? ?account\b", ("sign up", "register", "join", "become a member")),
    (r"\b(delete|remove|close)\b", ("delete", "close", "remove", "get rid of")),
    (r"\bnewsletter\b", ("newsletter", "mailing list", "marketing emails", "promo emails", "offers by email")),
    (r"\bsubscribe\b", ("subscribe", "sign up", "join", "opt in")),
    (r"\bunsubscribe\b", ("unsubscribe", "opt out", "stop the emails")),
    (r"\bpayment\b", ("payment", "card payment", "charge", "transaction")),
    (r"\bpassword\b", ("password", "login details", "PIN")),
    (r"\b(shipping )?address\b", ("address", "delivery address", "shipping address", "postcode")),
    (r"\bcustomer (service|support)\b", ("customer service", "customer support", "support team", "help desk")),
    (r"\b(human )?agent\b", ("agent", "real person", "actual human", "someone real", "person")),
    (r"\bcomplaint\b", ("complaint", "grievance", "formal complaint")),
    (r"\b(review|feedback)\b", ("review", "feedback", "rating", "comments")),
    (r"\btrack\b", ("track", "follow", "check on", "trace", "find")),
    (r"\b(delivery|shipping)\b", ("delivery", "shipping", "postage", "dispatch")),
    (r"\b(problem|issue|error)s?\b", ("problem", "issue", "trouble", "error")),
    (r"\b(help me|assist me|assistance)\b", ("help me", "can you", "could you")),
    (r"\bI (want|would like|wanna|need) to\b", ("I want to", "I'd like to", "I need to", "how do I", "can I")),
)

_GREETINGS = (
    "hi", "hello", "hey", "hi there,", "good morning,", "good afternoon.", "hello team,", "Dear Sir/Madam,",
    "hiya", "um hi", "ok so", "Hello,",
)  # fmt: skip
_CONTEXT = (
    "I bought {product} from you last week.", "I ordered {product} on the 3rd.", "my order number is {number}.",
    "order #{number}.", "I'm writing about order {number}.", "I've been a customer for years.",
    "sorry to bother you.", "quick question.", "I'm using the app on my phone.", "I'm on your website right now.",
    "it was meant to be a birthday present.", "my name is {name}.", "my email is {email}.",
    "this is for my mum's account.", "I already emailed yesterday.", "sorry for my english.", "I live in Leeds.",
    "I'm new here.", "hope you're well.", "it's about {product}.",
)  # fmt: skip
_SIGN_OFFS = (
    "thanks", "thank you", "thanks in advance", "cheers", "please help", "asap please", "kind regards, {name}",
    "many thanks!", "thx", "ty", "let me know", "regards", "Best, {name}", "sent from my iPhone", "appreciate it",
)  # fmt: skip
_PRODUCTS = (
    "the white hanging heart t-light holder", "a regency cakestand", "a jumbo bag", "a lunch bag", "some cake tins",
    "party bunting", "a ceramic mug", "the blue dress", "a pair of trainers", "two cushions", "a lamp", "candles",
)  # fmt: skip
_NAMES = ("Sam", "Priya", "Tom", "Maria", "J. Smith", "Ahmed", "Claire")
_PUNCTUATION = re.compile(r"[?.!,;:]")


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities of each rewrite; ``rate`` is the share of training messages rewritten at all."""

    rate: float = 0.5
    synonym: float = 0.5
    typo: float = 0.08
    lower: float = 0.3
    strip_punctuation: float = 0.3
    context: float = 0.4
    greeting: float = 0.3
    sign_off: float = 0.3

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not 0.0 <= value <= 1.0:
                raise ModelError(f"augmentation probability {name} must lie in [0, 1], got {value}; pick a probability")


class StyleAugmenter:
    """Rewrites messages in the styles of real customers; see the module docstring."""

    def __init__(self, config: AugmentConfig | None = None) -> None:
        self.config = config or AugmentConfig()
        self._thesaurus = [(re.compile(p, flags=re.IGNORECASE), alts) for p, alts in _THESAURUS]

    def batch(self, texts: Sequence[str], rng: random.Random) -> list[str]:
        """Each text rewritten with probability ``config.rate``, otherwise kept as it is."""
        return [self.rewrite(t, rng) if rng.random() < self.config.rate else t for t in texts]

    def rewrite(self, text: str, rng: random.Random) -> str:
        cfg = self.config
        for pattern, alternatives in self._thesaurus:
            if rng.random() < cfg.synonym:
                text = pattern.sub(rng.choice(alternatives), text, count=1)
        text = " ".join(_typo(w, rng) if rng.random() < cfg.typo else w for w in text.split())
        if rng.random() < cfg.lower:
            text = text.lower()
        if rng.random() < cfg.strip_punctuation:
            text = _PUNCTUATION.sub("", text)
        parts = [text]
        if rng.random() < cfg.context:
            story = [_fill(rng.choice(_CONTEXT), rng) for _ in range(rng.choice((1, 1, 2)))]
            parts = story + parts if rng.random() < 0.7 else parts + story
        if rng.random() < cfg.greeting:
            parts.insert(0, rng.choice(_GREETINGS))
        if rng.random() < cfg.sign_off:
            parts.append(_fill(rng.choice(_SIGN_OFFS), rng))
        return " ".join(p for p in parts if p).strip()


def styled_copy(texts: Sequence[str], *, seed: int = 0, config: AugmentConfig | None = None) -> list[str]:
    """Every text rewritten once (``rate`` forced to 1), reproducibly for a given seed.

    Calibration uses validation plus this copy of it: a model that is right on every clean validation message
    would otherwise get a temperature that makes it near-certain of everything, real customers' wording
    included."""
    cfg = dataclasses.replace(config or AugmentConfig(), rate=1.0)
    return StyleAugmenter(cfg).batch(texts, random.Random(seed))


def _typo(word: str, rng: random.Random) -> str:
    """One keyboard slip inside an alphabetic word of four letters or more (first letter kept)."""
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    if kind == 2:
        return word[:i] + word[i] + word[i:]
    neighbours = _KEYBOARD.get(word[i].lower(), word[i])
    return word[:i] + rng.choice(neighbours) + word[i + 1 :]


def _fill(template: str, rng: random.Random) -> str:
    name = rng.choice(_NAMES)
    return template.format(
        product=rng.choice(_PRODUCTS),
        number=rng.randrange(530000, 582000),
        name=name,
        email=f"{name.split()[-1].lower()}{rng.randrange(100)}@example.com",
    )
