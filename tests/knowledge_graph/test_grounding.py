from __future__ import annotations

from knowledge_graph import ClaimKind, GroundingContext, ProductGraph, verify


def test_true_reply_is_grounded(graph: ProductGraph) -> None:
    reply = "Your order 536365 of 2010-12-01 included 6 units of the white hanging heart t-light holder at £2.55 each."
    report = verify(reply, GroundingContext(graph, customer_id=17850))
    kinds = {c.kind for c in report.claims}
    assert {ClaimKind.ORDER, ClaimKind.DATE, ClaimKind.QUANTITY, ClaimKind.PRODUCT, ClaimKind.PRICE} <= kinds
    assert report.grounded, report.unsupported


def test_price_outside_observed_range(graph: ProductGraph) -> None:
    report = verify("The regency cakestand 3 tier costs £3.50.", GroundingContext(graph))
    bad = report.unsupported
    assert [c.kind for c in bad] == [ClaimKind.PRICE]
    assert "outside" in bad[0].reason


def test_order_of_another_customer(graph: ProductGraph) -> None:
    report = verify("Order 536366 has shipped.", GroundingContext(graph, customer_id=17850))
    assert not report.grounded
    assert "belongs to customer 13047" in report.unsupported[0].reason


def test_unknown_order_and_code(graph: ProductGraph) -> None:
    report = verify("Order 999999 contains item 99999.", GroundingContext(graph))
    assert {c.kind for c in report.unsupported} == {ClaimKind.ORDER, ClaimKind.STOCK_CODE}


def test_product_not_in_order_and_wrong_quantity(graph: ProductGraph) -> None:
    reply = "Order 536366 contains 7 units of the regency cakestand 3 tier."
    report = verify(reply, GroundingContext(graph, customer_id=13047))
    reasons = {c.kind: c.reason for c in report.unsupported}
    assert "not in order 536366" in reasons[ClaimKind.PRODUCT]
    assert ClaimKind.QUANTITY in reasons


def test_wrong_date(graph: ProductGraph) -> None:
    report = verify("We received order 536365 on 3 January 2011.", GroundingContext(graph))
    assert [c.kind for c in report.unsupported] == [ClaimKind.DATE]


def test_price_without_scope_is_unsupported(graph: ProductGraph) -> None:
    report = verify("That will be 4.99 GBP.", GroundingContext(graph))
    assert report.unsupported[0].reason.startswith("no product or order in scope")
    assert verify("That will be 2.95 GBP.", GroundingContext(graph, stock_codes=("85123A",))).grounded
    assert report.to_dict()["grounded"] is False


def test_amount_in_another_currency_is_unsupported(graph: ProductGraph) -> None:
    report = verify("Your refund of $350 and a voucher of 20 euros are on the way.", GroundingContext(graph))
    bad = report.unsupported
    assert [c.text for c in bad] == ["$350", "20 euros"]
    assert all(c.kind is ClaimKind.PRICE and "GBP" in c.reason for c in bad)
