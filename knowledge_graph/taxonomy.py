"""Categories and attributes derived from product descriptions with curated lexicons.

Online Retail has no categories, so they are derived from the upper-case descriptions:

* **attributes**: colour words and material words from the curated lexicons :data:`COLOURS` and
:data:`MATERIALS`
  (``"RED RETROSPOT WOODEN BOX"`` → ``colour:red``, ``material:wood``);
* **category** (the product type): the description is cut at ``WITH``/``+``, colour, material, size, number
and
  filler words are removed, and the *head noun* is the rightmost token found in the curated :data:`HEAD_NOUNS`
  lexicon (singularised). The type is the head with the word before it (``"T-LIGHT HOLDER"``, ``"LUNCH
  BAG"``) when
  at least ``min_products`` products share that two-word phrase, otherwise the head alone (``"MUG"``) when at
  least
  ``min_products`` products share it, otherwise none. Coverage (share of products with a type) is reported by
  the
  builder and measured in the benchmark.

The same module owns the text normal form used by entity linking (:func:`normalise_text`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

COLOURS: Final = frozenset(
    [
        "RED",
        "PINK",
        "BLUE",
        "GREEN",
        "WHITE",
        "BLACK",
        "IVORY",
        "CREAM",
        "YELLOW",
        "ORANGE",
        "PURPLE",
        "LILAC",
        "GOLD",
        "SILVER",
        "BROWN",
        "GREY",
        "GRAY",
        "TURQUOISE",
        "BEIGE",
        "AQUA",
        "TEAL",
        "MINT",
        "LAVENDER",
        "NAVY",
        "COPPER",
        "BRONZE",
        "PASTEL",
        "MULTICOLOUR",
        "FUCHSIA",
        "MAGENTA",
    ]
)
COLOUR_ALIASES: Final = {"GRAY": "GREY"}
MATERIALS: Final = {
    "GLASS": "glass",
    "WOOD": "wood",
    "WOODEN": "wood",
    "METAL": "metal",
    "TIN": "tin",
    "CERAMIC": "ceramic",
    "PORCELAIN": "porcelain",
    "PAPER": "paper",
    "CARDBOARD": "cardboard",
    "FELT": "felt",
    "WICKER": "wicker",
    "ZINC": "zinc",
    "ENAMEL": "enamel",
    "PLASTIC": "plastic",
    "FABRIC": "fabric",
    "COTTON": "cotton",
    "JUTE": "jute",
    "ACRYLIC": "acrylic",
    "CRYSTAL": "crystal",
    "BAMBOO": "bamboo",
    "LEATHER": "leather",
    "WOOL": "wool",
    "KNITTED": "wool",
    "VELVET": "velvet",
    "LINEN": "linen",
    "RESIN": "resin",
    "IRON": "iron",
    "WIRE": "wire",
    "SLATE": "slate",
    "RATTAN": "rattan",
    "STEEL": "steel",
    "SILK": "silk",
    "STRAW": "straw",
    "WILLOW": "willow",
    "SHELL": "shell",
}
SIZES: Final = frozenset(
    ["SMALL", "LARGE", "MINI", "JUMBO", "MEDIUM", "BIG", "GIANT", "TINY", "XL", "XXL", "LRG", "SML", "MED"]
)
FILLER: Final = frozenset(
    [
        "OF",
        "SET",
        "PACK",
        "THE",
        "AND",
        "IN",
        "FOR",
        "A",
        "ON",
        "TO",
        "ASSORTED",
        "DESIGN",
        "COLOUR",
        "COLOURS",
        "AN",
        "BOX-OF",
    ]
)
_HEAD_NOUN_WORDS: Final = """
    BAG MUG CUP SAUCER HOLDER CANDLE SIGN BOX CARD CASE WRAP TIN JAR BOTTLE LIGHT LIGHTS LANTERN
    FRAME CLOCK CUSHION COVER DOORSTOP DOORMAT MAT PLATE BOWL DISH TRAY BASKET HOOK HANGER ORNAMENT
    DECORATION GARLAND BUNTING TAPE RIBBON STICKER NOTEBOOK BOOK PEN PENCIL ERASER RULER MAGNET
    KEYRING PURSE WALLET UMBRELLA APRON GLOVE TOWEL NAPKIN COASTER TEAPOT TEASPOON SPOON CUTLERY
    CAKESTAND STAND PARASOL DOLL TOY GAME PUZZLE JIGSAW BALLOON PAPERWEIGHT HEART STAR BELL BIRD
    EGG TREE WREATH STOCKING SOCK SLIPPER WARMER NECKLACE BRACELET EARRING RING CHARM BROOCH
    HAIRCLIP HAIRBAND SLIDE COMB MIRROR DRAWER CABINET SHELF TABLE CHAIR STOOL BUCKET CAN PLANTER
    POT VASE FLOWER BLOCK LETTER CHALKBOARD BOARD BUNNY CHICK RABBIT PUPPET BEAKER BEAD BUTTON KIT
    CONTAINER LUNCHBOX TUMBLER JUG PITCHER DOILY T-LIGHT NIGHTLIGHT LAMP LAMPSHADE CHANDELIER
    WINDMILL CALENDAR DIARY ENVELOPE PLACEMAT TABLECLOTH SHOPPER TOTE BACKPACK RUCKSACK KNOB PEG
    CLIP SOAP DISPENSER CRACKER HAT JOURNAL PAD PICTURE PRINT POSTER PLAQUE TOP ROPE YOYO MARBLE
    DOMINOES CRAYON CHALK STAMP STENCIL BAUBLE ANGEL REINDEER SNOWFLAKE HANDBAG BACKPACK PHOTO
    ALBUM PARTY CAKE TISSUE BUNTING FAN WASHBAG BUCKLE CHOPSTICK GLASS BEAKER CADDY PLATTER TRINKET
    SPONGE BRUSH SCISSOR SHARPENER PAINT STATIONERY CASSEROLE OVEN MITT CLOTH BOWL FEEDER HOUSE
    BIRDHOUSE SCARF BLANKET THROW QUILT PILLOW GNOME FAIRY FIGURE BANNER FLAG PENNANT PANEL HOOK
    SCALES TIMER
"""
HEAD_NOUNS: Final = frozenset(_HEAD_NOUN_WORDS.split())
SERVICE_CODES: Final = frozenset(
    {"POST", "DOT", "M", "C2", "D", "S", "B", "BANK CHARGES", "PADS", "AMAZONFEE", "CRUK", "m"}
)
"""Stock codes that are postage, fees, discounts or manual adjustments rather than merchandise."""

_WORD_RE: Final = re.compile(r"[A-Z0-9][A-Z0-9'/-]*")
_NORMAL_RE: Final = re.compile(r"[a-z0-9]+")
_NUMBER_RE: Final = re.compile(r"^[0-9/-]+(CM|MM|M|L)?$|^S/\d+$|^\d+[A-Z]?$")


def singular(token: str) -> str:
    """English singular of an upper- or lower-case token by suffix rules (``BOXES`` → ``BOX``, ``CASES`` →
    ``CASE``)."""
    low = token.lower()
    if len(low) <= 3 or low.endswith(("ss", "us", "is")):
        return token
    if low.endswith("ies"):
        return token[:-3] + ("Y" if token.isupper() else "y")
    if low.endswith(("xes", "shes", "ches", "sses")):
        return token[:-2]
    if low.endswith("s"):
        return token[:-1]
    return token


def normalise_text(text: str) -> str:
    """Linking normal form: lower case, alphanumeric tokens only, each singularised (``"T-Lights"`` → ``"t
    light"``)."""
    return " ".join(singular(tok) for tok in _NORMAL_RE.findall(text.lower()))


def is_merchandise(stock_code: str) -> bool:
    """Whether a stock code is a sold product rather than a service line (postage, fees, adjustments)."""
    return stock_code not in SERVICE_CODES and not stock_code.startswith("gift_")


@dataclass(frozen=True, slots=True)
class DescriptionParts:
    """What the lexicons find in one description."""

    colours: tuple[str, ...]
    materials: tuple[str, ...]
    head: str | None
    head_phrase: str | None

    @property
    def attributes(self) -> tuple[str, ...]:
        """Sorted ``facet:value`` strings (``"colour:red"``, ``"material:wood"``)."""
        found = {f"colour:{c}" for c in self.colours} | {f"material:{m}" for m in self.materials}
        return tuple(sorted(found))


def parse_description(description: str) -> DescriptionParts:
    """Find colours, materials and the head-noun candidates of one description."""
    text = description.upper()
    text = re.split(r"\bWITH\b|\+", text, maxsplit=1)[0]
    colours: list[str] = []
    materials: list[str] = []
    content: list[str] = []
    for raw in _WORD_RE.findall(text):
        word = raw.strip("'-/")
        if not word:
            continue
        if word in COLOURS:
            colours.append(COLOUR_ALIASES.get(word, word).lower())
        elif word in MATERIALS:
            materials.append(MATERIALS[word])
        elif word in SIZES or word in FILLER or _NUMBER_RE.match(word):
            continue
        else:
            content.append(singular(word))
    head_at = next((i for i in range(len(content) - 1, -1, -1) if content[i] in HEAD_NOUNS), None)
    if head_at is None:
        return DescriptionParts(tuple(sorted(set(colours))), tuple(sorted(set(materials))), None, None)
    head = content[head_at]
    phrase = f"{content[head_at - 1]} {head}" if head_at > 0 else None
    return DescriptionParts(tuple(sorted(set(colours))), tuple(sorted(set(materials))), head, phrase)


def assign_categories(descriptions: Mapping[str, str], min_products: int) -> dict[str, str | None]:
    """Map each stock code to its product type (or ``None``) given every product's description.

    A two-word phrase wins when ``min_products`` products share it, else the head noun alone when as many
    share it.
    """
    parts = {code: parse_description(desc) for code, desc in descriptions.items()}
    counts: Counter[str] = Counter()
    for p in parts.values():
        counts.update(x for x in {p.head, p.head_phrase} if x is not None)
    result: dict[str, str | None] = {}
    for code, p in parts.items():
        if p.head_phrase is not None and counts[p.head_phrase] >= min_products:
            result[code] = p.head_phrase
        elif p.head is not None and counts[p.head] >= min_products:
            result[code] = p.head
        else:
            result[code] = None
    return result


def category_coverage(categories: Iterable[str | None]) -> float:
    """Share of products that received a category (0..1)."""
    values = list(categories)
    return sum(c is not None for c in values) / len(values) if values else 0.0
