"""The HTTP entry point: one FastAPI app served by the ``Ingress`` deployment, which calls members by handle.

Bad input never reaches a member: FastAPI validates bodies against :mod:`cluster.schemas` and answers 422 with
the field and the reason; misses in the graph answer 404 with what was looked up; only a fault of our own
answers 500, and it is logged with its traceback.
"""

# No `from __future__ import annotations` here: @serve.ingress rebuilds the route methods' signatures, and
# FastAPI then sees string annotations it cannot resolve and takes the request model for a query parameter.
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from ray import serve
from ray.serve.handle import DeploymentHandle

from cluster.chat import answer_chat, answer_recommend
from cluster.errors import MemberUnavailableError, NotFoundError, RequestRejectedError
from cluster.handles import HandleMembers
from cluster.schemas import (
    ChatRequest,
    ChatResponse,
    ForecastRequest,
    HealthResponse,
    PriceRequest,
    RecommendRequest,
    RecommendResponse,
)

__all__ = ["Ingress", "api"]

logger = logging.getLogger(__name__)

api = FastAPI(title="shopmesh cluster", version="1", docs_url=None, redoc_url=None)


def _problem(loc: list[Any], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


@api.exception_handler(RequestValidationError)
async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    # The submitted value is left out of the answer: it can be 2,000+ characters of someone's message.
    problems = [_problem(list(e.get("loc", ())), str(e.get("msg", "")), str(e.get("type", ""))) for e in exc.errors()]
    summary = "; ".join(f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in problems)
    return JSONResponse(status_code=422, content={"detail": problems, "message": summary})


@api.exception_handler(RequestRejectedError)
async def _rejected(request: Request, exc: RequestRejectedError) -> JSONResponse:
    problem = _problem(["body", exc.field], str(exc), "value_error")
    return JSONResponse(status_code=422, content={"detail": [problem], "message": f"body.{exc.field}: {exc}"})


@api.exception_handler(NotFoundError)
async def _not_found(request: Request, exc: NotFoundError) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": str(exc), "field": exc.what, "value": exc.value})


@api.exception_handler(MemberUnavailableError)
async def _unavailable(request: Request, exc: MemberUnavailableError) -> JSONResponse:
    return JSONResponse(status_code=503, content={"detail": str(exc), "member": exc.member})


def _outcome(outcome: dict[str, Any], member: str) -> dict[str, Any]:
    """Turn a member's outcome dict into the answer, or into the matching HTTP error."""
    status = outcome.get("status")
    if status == "ok":
        result: dict[str, Any] = outcome["result"]
        return result
    if status == "not_found":
        raise NotFoundError(str(outcome["what"]), outcome["value"], str(outcome["error"]))
    if status == "invalid":
        raise RequestRejectedError("body", str(outcome["error"]))
    raise MemberUnavailableError(member, str(outcome.get("error", f"the {member} member is not available")))


@api.exception_handler(Exception)
async def _internal(request: Request, exc: Exception) -> JSONResponse:
    logger.error("request %s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse(status_code=500, content={"detail": f"internal error ({type(exc).__name__}); see the logs"})


@serve.deployment(name="Ingress")
@serve.ingress(api)
class Ingress:
    """Routes HTTP requests to the intent, graph and reply deployments."""

    def __init__(
        self,
        intent: DeploymentHandle[Any],
        graph: DeploymentHandle[Any],
        reply: DeploymentHandle[Any],
        forecast: DeploymentHandle[Any],
        price: DeploymentHandle[Any],
        max_text_length: int,
    ) -> None:
        self._intent = intent
        self._graph = graph
        self._reply = reply
        self._forecast = forecast
        self._price = price
        self._members = HandleMembers(intent, graph, reply)
        self._max_text_length = max_text_length

    async def _recommend(self, customer_id: int, k: int, mode: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._graph.recommend.remote(customer_id, k, mode)
        return result

    @api.post("/v1/chat", response_model=ChatResponse)
    async def chat(self, request: ChatRequest) -> ChatResponse:
        """The customer-service chain: intent, entities and graph facts, a verified reply (or the fallback)."""
        return await answer_chat(request, self._members, self._max_text_length)

    @api.post("/v1/recommend", response_model=RecommendResponse)
    async def recommend(self, request: RecommendRequest) -> RecommendResponse:
        """Recommendations with explanations from the graph alone, every member (parallel) or fused; an unknown
        customer gets the popularity fallback (200, ``fallback: "popularity"``)."""
        return await answer_recommend(request, self._recommend)

    @api.post("/v1/forecast")
    async def forecast(self, request: ForecastRequest) -> dict[str, Any]:
        """Weekly P10/P50/P90 units for a product (with a reorder suggestion) or for a series in the request."""
        body: dict[str, Any] = {
            "horizon": request.horizon,
            "lead_time_weeks": request.lead_time_weeks,
            "service_level": request.service_level,
            "on_hand": request.on_hand,
        }
        if request.product is not None:
            body["stock_code"] = request.product
        else:
            body["values"] = request.series
            body["dates"] = request.dates
        outcome: dict[str, Any] = await self._forecast.forecast.remote(body)
        return _outcome(outcome, "forecaster")

    @api.post("/v1/price")
    async def price(self, request: PriceRequest) -> dict[str, Any]:
        """A guarded price for a store and brand from the Thompson-sampling pricer, with the reason."""
        body = {"store": request.store, "brand": request.brand, "context": request.context}
        outcome: dict[str, Any] = await self._price.price.remote(body)
        return _outcome(outcome, "pricer")

    @api.get("/v1/products/{stock_code}")
    async def product(self, stock_code: str) -> dict[str, Any]:
        """Facts about one product; 404 for an unknown stock code."""
        outcome: dict[str, Any] = await self._graph.facts.remote(stock_code)
        if not outcome["found"]:
            raise NotFoundError("stock_code", stock_code, outcome["error"])
        facts: dict[str, Any] = outcome["facts"]
        return facts

    @api.get("/healthz", response_model=HealthResponse)
    async def healthz(self) -> HealthResponse:
        """The versions each deployment has loaded; ``reply.mode`` is ``retrieval_only`` without a reply model."""
        intent: dict[str, Any] = await self._intent.status.remote()
        graph: dict[str, Any] = await self._graph.status.remote()
        reply: dict[str, Any] = await self._reply.status.remote()
        forecaster: dict[str, Any] = await self._forecast.status.remote()
        pricer: dict[str, Any] = await self._price.status.remote()
        return HealthResponse(
            status="ok", intent=intent, graph=graph, reply=reply, forecaster=forecaster, pricer=pricer
        )
