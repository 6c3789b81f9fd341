"""The HTTP entry point: one FastAPI app served by the ``Ingress`` deployment, which calls members by handle.

Bad input never reaches a member: a body over the size limit is refused with 413 before it is read in full
(:mod:`cluster.body_limit`); FastAPI validates bodies against :mod:`cluster.schemas` and answers 422 with the
field and the reason; misses answer 404 with what was looked up; a member with no version, or one that fails
or does not answer in time, answers 503 naming it (the chat and recommendation chains answer 200 marked
``degraded`` where they can).
Only a fault of our own answers 500, and it is logged with its traceback. Every answer carries the request's
id (``X-Request-ID``, taken from the request or made by Serve's proxy), and ``GET /metrics`` exposes this
replica's request, latency, batch-size and version metrics in Prometheus text format.
"""

# No `from __future__ import annotations` here: @serve.ingress rebuilds the route methods' signatures, and
# FastAPI then sees string annotations it cannot resolve and takes the request model for a query parameter.
import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Depends, FastAPI, Request, Response
from pydantic import BaseModel
from ray import serve
from ray.serve.handle import DeploymentHandle

from cluster.adapters import adapter_routes
from cluster.api_errors import ERRORS, NOT_FOUND, REUSED_KEY, UNAVAILABLE, install_error_handlers
from cluster.auth import authorize, caller, install_security, tenant_fingerprint
from cluster.body_limit import BodyLimit, request_id
from cluster.chat import answer_chat, answer_chat_in_one_call, answer_recommend
from cluster.demand_schemas import ForecastRequest, ForecastResponse, PriceRequest, PriceResponse
from cluster.edge_bundles import router as edge_bundles_router
from cluster.errors import MemberUnavailableError, NotFoundError, RequestRejectedError
from cluster.experiment_definition import ExperimentTarget
from cluster.experiment_routes import Enrolment, enrolment, experiment_store
from cluster.experiment_routes import router as experiments_router
from cluster.federation_runs import router as federation_runs_router
from cluster.handles import HandleMembers, ReplyModelAbsence, await_member
from cluster.idempotency import IdempotencyStore
from cluster.idempotent_answers import IdempotencyKey, answer_once
from cluster.members import MemberName
from cluster.metrics import IngressMetrics
from cluster.outcomes import MemberOutcome
from cluster.pages import PAGE_PATHS, register_pages
from cluster.rollout_routes import router as rollouts_router
from cluster.schemas import (
    ChatMode,
    ChatRequest,
    ChatResponse,
    HealthResponse,
    ProductFactsResponse,
    RecommendMode,
    RecommendRequest,
    RecommendResponse,
)
from cluster.vision_chain import answer_photo
from cluster.vision_input import read_photo
from cluster.vision_schemas import VISION_MAX_BODY_BYTES, VISION_OPENAPI, VISION_RESPONSES, VisionResponse

__all__ = ["Ingress", "IngressSettings", "api", "public_routes"]

logger = logging.getLogger(__name__)

Answer = TypeVar("Answer", bound=BaseModel)


@dataclass(frozen=True)
class IngressSettings:
    """What the ingress enforces: message length, body size, how long a member call may take; ``colocated``
    names the members one deployment holds together (the chat chain then takes one call to it)."""

    max_text_length: int
    max_body_bytes: int
    idempotency_db: str
    member_timeout_s: float = 30.0
    colocated: tuple[str, ...] = ()


# Every route runs the key check (it passes the pages, /healthz and /metrics): routes added later get it too.
api = FastAPI(title="shopmesh cluster", version="1", docs_url=None, redoc_url=None, dependencies=[Depends(authorize)])
install_security(api)
api.add_middleware(BodyLimit)
register_pages(api)
api.include_router(edge_bundles_router)
api.include_router(experiments_router)
api.include_router(rollouts_router)
api.include_router(federation_runs_router)
install_error_handlers(api)


def public_routes() -> list[str]:
    """``METHOD /path`` of every route the ingress answers (for the command line's announcement): the pages,
    then the JSON API as its OpenAPI schema documents it (Serve keeps the class's routes in an included router,
    so ``api.routes`` does not list them)."""
    found = [f"GET {path}" for path in PAGE_PATHS]
    for path, operations in api.openapi()["paths"].items():
        found.extend(f"{method.upper()} {path}" for method in operations)
    return found


@serve.deployment(name="Ingress")
@serve.ingress(api)
class Ingress:
    """Routes HTTP requests to the member deployments (handles keyed by :class:`MemberName`)."""

    def __init__(self, members: Mapping[str, DeploymentHandle[Any]], settings: IngressSettings) -> None:
        missing = [name.value for name in MemberName if name.value not in members]
        if missing:
            raise ValueError(f"the ingress needs a handle for every member; missing {missing}")
        self._handles = dict(members)
        self._settings = settings
        self._metrics = IngressMetrics()
        self._delivered = IdempotencyStore(Path(settings.idempotency_db))
        self._no_reply = ReplyModelAbsence()
        self._experiments = experiment_store()
        self._adapters = adapter_routes()
        BodyLimit.max_bytes = settings.max_body_bytes
        # A photo's body may be larger than a message's (the photo limit, base64-encoded).
        BodyLimit.route_limits = {"/v1/vision": max(settings.max_body_bytes, VISION_MAX_BODY_BYTES)}

    async def _member(self, name: MemberName, call: Callable[[DeploymentHandle[Any]], Any]) -> Any:
        """One handle call with the timeout; a failure or time-out is :class:`MemberUnavailableError`."""
        started = time.perf_counter()
        try:
            return await await_member(call(self._handles[name]), self._settings.member_timeout_s)
        except TimeoutError as err:
            raise MemberUnavailableError(
                str(name), f"the {name} member did not answer within {self._settings.member_timeout_s} s; retry"
            ) from err
        except Exception as err:
            logger.exception("the %s member failed", name)
            raise MemberUnavailableError(
                str(name), f"the {name} member failed ({type(err).__name__}); retry, or see the cluster's logs"
            ) from err
        finally:
            self._metrics.member_latency.labels(member=str(name)).observe(time.perf_counter() - started)

    async def _timed(self, route: str, request: Request, answer: Awaitable[Any]) -> Any:
        started = time.perf_counter()
        status = "200"
        try:
            return await answer
        except NotFoundError:
            status = "404"
            raise
        except RequestRejectedError:
            status = "422"
            raise
        except MemberUnavailableError:
            status = "503"
            raise
        except Exception:
            status = "500"
            raise
        finally:
            self._metrics.observe_request(route, status, time.perf_counter() - started)

    async def _recommend(self, customer_id: int, k: int, mode: str, rid: str) -> dict[str, Any]:
        outcome: MemberOutcome = await self._member(
            MemberName.GRAPH, lambda h: h.recommend.remote(customer_id, k, mode, request_id=rid)
        )
        return outcome.unwrap(MemberName.GRAPH)

    @api.post("/v1/chat", response_model=ChatResponse, responses={**ERRORS, **REUSED_KEY})
    async def chat(
        self,
        request: ChatRequest,
        http: Request,
        response: Response,
        idempotency_key: IdempotencyKey = None,
    ) -> ChatResponse:
        """The customer-service chain: intent, entities and graph facts, a verified reply (or the fallback).
        A member that fails leaves the answer ``degraded`` (200) with the member named. With an
        ``Idempotency-Key`` (devices replaying their outbox send one), a repeat of the same request gets the
        first answer again (``Idempotent-Replayed: true``) and is not answered twice; the same key with
        another request is 409. Without a ``mode``, a request with a ``customer_id`` or ``session_id`` is
        answered in its arm's mode of the experiment running on chat, and ``experiment`` names it."""
        if idempotency_key is None:
            return await self._chat(request, http)
        fingerprint = tenant_fingerprint(http, hashlib.sha256(request.model_dump_json().encode()).hexdigest())
        return await answer_once(
            self._delivered, idempotency_key, fingerprint, response, ChatResponse, lambda: self._chat(request, http)
        )

    async def _chat(self, request: ChatRequest, http: Request) -> ChatResponse:
        rid = request_id(http)
        unit = (
            f"customer:{request.customer_id}"
            if request.customer_id is not None
            else (f"session:{request.session_id}" if request.session_id is not None else None)
        )
        enrolled = await enrolment(self._experiments, ExperimentTarget.CHAT, unit, "mode" in request.model_fields_set)
        if enrolled is None:
            return await self._chat_in_mode(request, http, rid, unit)
        answer = await self._chat_in_mode(
            request.model_copy(update={"mode": ChatMode(enrolled.arm.value)}), http, rid, unit
        )
        return await self._exposed(enrolled, http, answer)

    async def _exposed(self, enrolled: Enrolment, http: Request, answer: Answer) -> Answer:
        """The answer of an enrolled request, its exposure recorded (for the caller's merchant) and its
        experiment named."""
        tenant = caller(http)
        await enrolled.expose(self._experiments, request_id(http), None if tenant is None else tenant.merchant)
        return answer.model_copy(update={"experiment": enrolled.assignment()})

    async def _chat_in_mode(self, request: ChatRequest, http: Request, rid: str, unit: str | None) -> ChatResponse:
        # The adapter comes from the caller's key alone: a request cannot name another merchant's adapter (the
        # multiplexed model id of every member call is set here, whatever the request's headers say).
        tenant = caller(http)
        merchant = None if tenant is None else tenant.merchant
        adapter = await asyncio.to_thread(self._adapters.adapter_for, merchant)
        if MemberName.INTENT in self._settings.colocated:
            ensemble = self._handles[MemberName.INTENT].options(multiplexed_model_id=adapter or "")
            timeout_s = self._settings.member_timeout_s
            one_call: tuple[ChatResponse, int | None] = await self._timed(
                "/v1/chat",
                http,
                answer_chat_in_one_call(
                    request,
                    lambda chain: await_member(ensemble.chat.remote((chain, rid, unit, merchant)), timeout_s),
                    self._settings.max_text_length,
                ),
            )
            answer, batch = one_call
            self._metrics.observe_chat(answer, {MemberName.INTENT: batch} if batch is not None else {})
            return answer.model_copy(update={"request_id": rid})
        handles = {
            **self._handles,
            MemberName.INTENT: self._handles[MemberName.INTENT].options(multiplexed_model_id=adapter or ""),
        }
        members = HandleMembers(handles, rid, self._settings.member_timeout_s, self._no_reply, unit, merchant)
        composed: ChatResponse = await self._timed(
            "/v1/chat", http, answer_chat(request, members, self._settings.max_text_length)
        )
        self._metrics.observe_chat(composed, members.batch_sizes)
        return composed.model_copy(update={"request_id": rid})

    @api.post("/v1/recommend", response_model=RecommendResponse, responses={**ERRORS, **UNAVAILABLE})
    async def recommend(self, request: RecommendRequest, http: Request) -> RecommendResponse:
        """Recommendations with explanations from the graph alone, every member (parallel) or fused; an unknown
        customer gets the popularity fallback (200, ``fallback: "popularity"``). Without a ``mode``, an
        experiment running on recommend picks the customer's arm's mode and the answer names it."""
        rid = request_id(http)
        enrolled = await enrolment(
            self._experiments,
            ExperimentTarget.RECOMMEND,
            f"customer:{request.customer_id}",
            "mode" in request.model_fields_set,
        )
        if enrolled is not None:
            request = request.model_copy(update={"mode": RecommendMode(enrolled.arm.value)})
        answer: RecommendResponse = await self._timed(
            "/v1/recommend",
            http,
            answer_recommend(request, lambda c, k, m: self._recommend(c, k, m, rid)),
        )
        answer = answer.model_copy(update={"request_id": rid})
        if enrolled is None:
            return answer
        return await self._exposed(enrolled, http, answer)

    @api.post("/v1/forecast", response_model=ForecastResponse, responses={**ERRORS, **NOT_FOUND, **UNAVAILABLE})
    async def forecast(self, request: ForecastRequest, http: Request) -> ForecastResponse:
        """Weekly P10/P50/P90 units for a product (with a reorder suggestion) or for a series in the request."""

        async def answer() -> ForecastResponse:
            outcome: MemberOutcome = await self._member(MemberName.FORECASTER, lambda h: h.forecast.remote(request))
            return ForecastResponse.model_validate(outcome.unwrap(MemberName.FORECASTER))

        result: ForecastResponse = await self._timed("/v1/forecast", http, answer())
        return result

    @api.post("/v1/price", response_model=PriceResponse, responses={**ERRORS, **NOT_FOUND, **UNAVAILABLE})
    async def price(self, request: PriceRequest, http: Request) -> PriceResponse:
        """A guarded price for a store and brand from the Thompson-sampling pricer, with the reason."""

        async def answer() -> PriceResponse:
            outcome: MemberOutcome = await self._member(MemberName.PRICER, lambda h: h.price.remote(request))
            return PriceResponse.model_validate(outcome.unwrap(MemberName.PRICER))

        result: PriceResponse = await self._timed("/v1/price", http, answer())
        return result

    @api.post("/v1/vision", response_model=VisionResponse, responses=VISION_RESPONSES, openapi_extra=VISION_OPENAPI)
    async def vision(self, http: Request, response: Response, idempotency_key: IdempotencyKey = None) -> VisionResponse:
        """A shop photo's product: class, coarse class, calibrated confidence, out-of-catalogue flag, the most
        similar catalogue products with their text, and the graph's facts and neighbours of the product. The
        photo comes as JSON (``image_base64``) or as a multipart file part ``image``; bytes that are no photo
        are refused (413, 415, 422) before any pixel is decoded. With an ``Idempotency-Key`` a repeat of the
        same photo gets the first answer again (as for ``/v1/chat``)."""
        photo = await read_photo(http)

        async def answer() -> VisionResponse:
            found: VisionResponse = await self._timed(
                "/v1/vision", http, self._vision(photo.data, photo.top_k, request_id(http))
            )
            return found

        if idempotency_key is None:
            return await answer()
        fingerprint = tenant_fingerprint(http, photo.fingerprint())
        return await answer_once(self._delivered, idempotency_key, fingerprint, response, VisionResponse, answer)

    async def _vision(self, data: bytes, top_k: int, rid: str) -> VisionResponse:
        def observe_batch(size: int) -> None:
            self._metrics.batch_size.labels(member=str(MemberName.VISION)).observe(size)

        return await answer_photo(data, top_k, rid, self._member, observe_batch)

    @api.get(
        "/v1/products/{stock_code}",
        response_model=ProductFactsResponse,
        responses={**NOT_FOUND, **UNAVAILABLE, 422: ERRORS[422]},
    )
    async def product(self, stock_code: str, http: Request) -> ProductFactsResponse:
        """Facts about one product; 404 for an unknown stock code."""

        async def answer() -> ProductFactsResponse:
            outcome: MemberOutcome = await self._member(MemberName.GRAPH, lambda h: h.facts.remote(stock_code))
            return ProductFactsResponse.model_validate(outcome.unwrap(MemberName.GRAPH))

        result: ProductFactsResponse = await self._timed("/v1/products", http, answer())
        return result

    async def _statuses(self) -> dict[str, dict[str, Any]]:
        names = list(MemberName)

        async def one(name: MemberName) -> dict[str, Any]:
            shared = name.value in self._settings.colocated  # the co-located deployment answers for each member
            try:
                status: dict[str, Any] = await self._member(
                    name, lambda h: h.status.remote(name.value) if shared else h.status.remote()
                )
            except MemberUnavailableError as err:
                return {"version": None, "error": str(err)}
            return status

        found = await asyncio.gather(*(one(name) for name in names))
        return {name.value: status for name, status in zip(names, found, strict=True)}

    @api.get("/healthz", response_model=HealthResponse)
    async def healthz(self, http: Request) -> HealthResponse:
        """What every member's deployment has loaded, keyed by member name, with its ``version``;
        ``reply.mode`` is ``retrieval_only`` without a reply model."""
        statuses = await self._statuses()
        self._metrics.observe_versions(statuses)
        return HealthResponse.model_validate({"status": "ok", "request_id": request_id(http), **statuses})

    @api.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    async def metrics(self) -> Response:
        """This ingress replica's metrics in Prometheus text format (requests by route and status, latency
        histograms end to end and per member, batch sizes, the version each member serves)."""
        self._metrics.observe_versions(await self._statuses())
        body, content_type = self._metrics.render()
        return Response(content=body, media_type=content_type)
