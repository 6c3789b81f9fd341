from __future__ import annotations

from knowledge_graph import EntityLinker, ProductGraph


def _linker() -> EntityLinker:
    return EntityLinker(
        ["85123A", "21733", "20725", "20727", "22423", "84029E"],
        [
            "WHITE HANGING HEART T-LIGHT HOLDER",
            "RED HANGING HEART T-LIGHT HOLDER",
            "LUNCH BAG RED RETROSPOT",
            "LUNCH BAG  BLACK SKULL.",
            "REGENCY CAKESTAND 3 TIER",
            "RED WOOLLY HOTTIE WHITE HEART.",
        ],
    )


def test_code_mention_comes_first() -> None:
    matches = _linker().link("do you have 85123a and 22423 in stock", k=3)
    assert [(m.stock_code, m.method, m.score) for m in matches[:2]] == [
        ("85123A", "code", 1.0),
        ("22423", "code", 1.0),
    ]


def test_exact_description_with_case_and_plural() -> None:
    best = _linker().link("white hanging heart t-light holders")[0]
    assert (best.stock_code, best.method, best.score) == ("85123A", "exact", 1.0)


def test_fuzzy_typo_and_dropped_word() -> None:
    linker = _linker()
    assert linker.link("lunch bag red retrospto")[0].stock_code == "20725"
    assert linker.link("regency cakestand")[0].stock_code == "22423"
    assert all(0.0 <= m.score <= 1.0 for m in linker.link("lunch bag"))


def test_nonsense_finds_nothing() -> None:
    assert _linker().link("qqqq zzzz", min_score=0.6) == []


def test_mentions_in_a_sentence() -> None:
    text = "where is my white hanging heart t-light holder? I also ordered a lunch bag red retrospot"
    found = _linker().mentions(text)
    assert [m.stock_code for m in found] == ["85123A", "20725"]
    start, end = found[0].span or (0, 0)
    assert text[start:end] == "white hanging heart t-light holder"


def test_mentions_find_nothing_in_small_talk() -> None:
    assert _linker().mentions("hello, how are you today?") == []


def test_graph_linker_uses_descriptions(graph: ProductGraph) -> None:
    assert graph.link("red hanging heart tlight holder")[0].stock_code == "21733"
