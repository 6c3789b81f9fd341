"""Facts, related products, linking, grounding and recommendations of a graph holding two merchants."""

from __future__ import annotations

import pytest

from knowledge_graph import (
    ClaimKind,
    GroundingContext,
    ProductGraph,
    Relation,
    Statement,
    UnknownProductError,
    build_graph,
    verify,
)
from tests.knowledge_graph.conftest import SMALL_CONFIG, make_catalogue, make_orders


@pytest.fixture(scope="module")
def retail() -> ProductGraph:
    """The small Online Retail graph, shared by this module's read-only tests."""
    return build_graph(make_orders(), SMALL_CONFIG)


@pytest.fixture(scope="module")
def mixed() -> ProductGraph:
    """The small Online Retail graph with the small grocery catalogue, shared by this module's read-only tests."""
    graph = build_graph(make_orders(), SMALL_CONFIG)
    graph.add_catalogue(make_catalogue())
    return graph


def test_facts_of_a_catalogue_product(mixed: ProductGraph) -> None:
    # Execute
    facts = mixed.facts("gs-1")
    # Assert
    assert (facts.name, facts.category, facts.department, facts.merchant) == (
        "Granny Smith",
        "Apple",
        "Fruit",
        "grocery-store",
    )
    assert facts.description == "A green apple with firm pulp."
    assert facts.co_purchases == () and facts.price_min is None
    assert facts.statements() == [
        Statement("product:gs-1", "name", "Granny Smith"),
        Statement("product:gs-1", "description", "A green apple with firm pulp."),
        Statement("product:gs-1", "in_category", "Apple", "category:Apple"),
        Statement("product:gs-1", "in_department", "Fruit", "department:Fruit"),
        Statement("product:gs-1", "sold_by", "grocery-store", "merchant:grocery-store"),
        Statement("product:gs-1", "iconic_image", "iconic/Granny-Smith_Iconic.jpg"),
    ]


def test_statements_of_a_retail_product_carry_prices_and_co_purchases(retail: ProductGraph) -> None:
    statements = retail.facts("22423").statements()
    predicates = [s.predicate for s in statements]
    assert predicates[:2] == ["name", "in_category"]
    assert Statement("product:22423", "price_max_gbp", 12.75) in statements
    co = [s for s in statements if s.predicate == "co_purchased"]
    assert {s.object_id for s in co} == {f"product:{c.stock_code}" for c in retail.facts("22423").co_purchases}


def test_related_of_a_catalogue_product_same_category_first(mixed: ProductGraph) -> None:
    # Execute
    related = mixed.related("gs-1", k=3)
    # Assert: the two other apples (each shares only "apple"; Golden Delicious's text is shorter, so its cosine is
    # higher), then the fruit of other categories (no shared word: cosine 0, ties by key, "gs-16" < "gs-6").
    assert [(r.stock_code, r.relation) for r in related] == [
        ("gs-0", Relation.SAME_CATEGORY),
        ("gs-2", Relation.SAME_CATEGORY),
        ("gs-16", Relation.SAME_DEPARTMENT),
    ]
    assert related[0].score > related[1].score > related[2].score == 0.0


def test_related_in_the_department_ranked_by_shared_words(mixed: ProductGraph) -> None:
    # Prepare: the banana ("a yellow banana, sweet when ripe") is alone in its category; among the other fruit
    # Golden Delicious shares "yellow" and "sweet", Pink Lady shares "sweet", the rest share no word.
    # Execute
    related = mixed.related("gs-6", k=10)
    # Assert
    assert [r.stock_code for r in related] == ["gs-0", "gs-2", "gs-1", "gs-16"]
    assert {r.relation for r in related} == {Relation.SAME_DEPARTMENT}
    assert related[0].score > related[1].score > 0.0 == related[2].score == related[3].score
    assert related[0].to_dict() == {
        "stock_code": "gs-0",
        "name": "Golden Delicious",
        "relation": "same_department",
        "score": related[0].score,
        "category": "Apple",
        "department": "Fruit",
        "merchant": "grocery-store",
    }


def test_related_of_a_retail_product_starts_with_co_purchases_and_stays_in_its_shop(
    mixed: ProductGraph,
) -> None:
    # Execute
    related = mixed.related("85123A", k=10)
    # Assert
    partners = [c.stock_code for c in mixed.facts("85123A").co_purchases]
    assert [r.stock_code for r in related[: len(partners)]] == partners
    assert all(r.relation == Relation.CO_PURCHASED for r in related[: len(partners)])
    assert all(r.merchant == "online-retail" for r in related)
    assert "POST" not in {r.stock_code for r in related}


def test_related_of_an_unknown_product_and_of_k_zero(mixed: ProductGraph) -> None:
    with pytest.raises(UnknownProductError, match="gs-999"):
        mixed.related("gs-999")
    assert mixed.related("gs-1", k=0) == []


def test_a_chat_about_granny_smith_links_to_the_grocery_product(mixed: ProductGraph) -> None:
    assert mixed.link("Granny Smith")[0].stock_code == "gs-1"
    mentions = mixed.mentions("Do you sell granny smith apples and bananas?")
    assert [m.stock_code for m in mentions] == ["gs-1", "gs-6"]


def test_retail_links_are_unchanged_by_the_catalogue(retail: ProductGraph, mixed: ProductGraph) -> None:
    text = "I ordered a white hanging heart t-light holder and a regency cakestand"
    assert mixed.mentions(text) == retail.mentions(text)
    assert mixed.link("lunch bag red") == retail.link("lunch bag red")


def test_grounding_supports_a_claim_naming_a_grocery_product(mixed: ProductGraph) -> None:
    # Execute
    report = verify("Yes, we have Granny Smith in stock.", GroundingContext(mixed))
    # Assert
    assert report.grounded
    assert [(c.kind, c.text) for c in report.claims] == [(ClaimKind.PRODUCT, "Granny Smith")]
    assert "gs-1" in report.claims[0].reason


@pytest.mark.parametrize("customer", [17850, 13047, 12583])
def test_recommendations_for_retail_customers_do_not_change(
    retail: ProductGraph, mixed: ProductGraph, customer: int
) -> None:
    for exclude_bought in (True, False):
        items = mixed.recommend(customer, k=20, exclude_bought=exclude_bought)
        assert items == retail.recommend(customer, k=20, exclude_bought=exclude_bought)
        assert items and not any(r.stock_code.startswith("gs-") for r in items)
