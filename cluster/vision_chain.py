"""The photo chain behind ``POST /v1/vision``: the vision member classifies, the graph adds the product's context.

The graph's part is optional: when the graph member fails or does not answer, the photo's answer stands with no
facts and no related products (logged), rather than the request failing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ray.serve.handle import DeploymentHandle

from cluster.errors import MemberUnavailableError
from cluster.members import MemberName
from cluster.outcomes import MemberOutcome
from cluster.vision_schemas import VisionResponse, grocery_product_node

__all__ = ["MemberCall", "answer_photo"]

logger = logging.getLogger(__name__)

# One member call with the ingress's timeout; raises MemberUnavailableError when the member fails.
MemberCall = Callable[[MemberName, Callable[[DeploymentHandle[Any]], Any]], Awaitable[Any]]


def _ms(start: float, end: float) -> float:
    return round(1000 * (end - start), 3)


async def answer_photo(
    data: bytes, top_k: int, rid: str, member: MemberCall, observe_batch: Callable[[int], None]
) -> VisionResponse:
    """The vision member's answer for the photo ``data`` with the graph's facts and neighbours of its product,
    latencies per stage; ``observe_batch`` receives the vision replica's batch size."""
    started = time.perf_counter()
    outcome: MemberOutcome = await member(MemberName.VISION, lambda h: h.classify.remote((data, top_k)))
    result = dict(outcome.unwrap(MemberName.VISION))
    classified = time.perf_counter()
    node = grocery_product_node(int(result["product"]["class_id"]))
    try:
        context: dict[str, Any] = await member(MemberName.GRAPH, lambda h: h.product_context.remote(node, top_k, rid))
    except MemberUnavailableError:
        logger.warning("request %s: no graph context for %s", rid, node, exc_info=True)
        context = {"facts": [], "related": []}
    done = time.perf_counter()
    latency = {
        "vision": _ms(started, classified),
        "model": float(result.pop("model_ms")),
        "graph": _ms(classified, done),
        "total": _ms(started, done),
    }
    observe_batch(int(result.pop("batch_size")))
    return VisionResponse.model_validate(
        {**result, **context, "member": MemberName.VISION.value, "latency_ms": latency, "request_id": rid}
    )
