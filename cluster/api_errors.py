"""How the JSON API answers what it cannot serve: the documented error responses and their exception handlers.

Every error answer is JSON with a ``detail`` saying what was wrong and what to do, and the request's id. A body
that fails its schema is 422 with the field and the reason (never the submitted value: it can be a customer's
2,000-character message); a miss is 404 with what was looked up; a member with no version, or one that fails or
does not answer in time, is 503 naming it; another merchant's data is 403; a reused ``Idempotency-Key`` or an
experiment conflict is 409. Only a fault of our own is 500, and it is logged with its traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cluster.body_limit import request_id
from cluster.errors import (
    ExperimentConflictError,
    ForbiddenError,
    KeyReusedError,
    MemberUnavailableError,
    NotFoundError,
    RequestRejectedError,
)
from cluster.schemas import ErrorResponse, NotFoundResponse, UnavailableResponse, ValidationErrorResponse

__all__ = ["ERRORS", "NOT_FOUND", "REUSED_KEY", "UNAVAILABLE", "install_error_handlers"]

logger = logging.getLogger(__name__)

Responses = dict[int | str, dict[str, Any]]

ERRORS: Responses = {
    400: {"model": ErrorResponse, "description": "the body could not be read (for example not UTF-8)"},
    413: {"model": ErrorResponse, "description": "the body is larger than the cluster accepts"},
    422: {"model": ValidationErrorResponse, "description": "the body does not match the schema"},
}
REUSED_KEY: Responses = {
    409: {"model": ErrorResponse, "description": "the Idempotency-Key was already used for another request"}
}
NOT_FOUND: Responses = {404: {"model": NotFoundResponse, "description": "not held"}}
UNAVAILABLE: Responses = {
    503: {"model": UnavailableResponse, "description": "a member has no version or did not answer"}
}


def _problem(loc: list[Any], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [_problem(list(e.get("loc", ())), str(e.get("msg", "")), str(e.get("type", ""))) for e in exc.errors()]
    summary = "; ".join(f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in problems)
    body = {"detail": problems, "message": summary, "request_id": request_id(request)}
    return JSONResponse(status_code=422, content=body)


async def _rejected(request: Request, exc: RequestRejectedError) -> JSONResponse:
    problem = _problem(["body", exc.field], str(exc), "value_error")
    body = {"detail": [problem], "message": f"body.{exc.field}: {exc}", "request_id": request_id(request)}
    return JSONResponse(status_code=422, content=body)


async def _not_found(request: Request, exc: NotFoundError) -> JSONResponse:
    body = {"detail": str(exc), "field": exc.what, "value": exc.value, "request_id": request_id(request)}
    return JSONResponse(status_code=404, content=body)


async def _unavailable(request: Request, exc: MemberUnavailableError) -> JSONResponse:
    body = {"detail": str(exc), "member": exc.member, "request_id": request_id(request)}
    return JSONResponse(status_code=503, content=body)


async def _forbidden(request: Request, exc: ForbiddenError) -> JSONResponse:
    return JSONResponse(status_code=403, content={"detail": str(exc), "request_id": request_id(request)})


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=409, content={"detail": str(exc), "request_id": request_id(request)})


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = str(exc.detail)
    if exc.status_code == 400 and "parsing the body" in detail:
        detail = "the body could not be read as JSON text (it must be UTF-8 encoded JSON); send a JSON object"
    body = {"detail": detail, "request_id": request_id(request)}
    return JSONResponse(status_code=exc.status_code, content=body, headers=getattr(exc, "headers", None))


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    logger.error("request %s %s %s failed", request_id(request), request.method, request.url.path, exc_info=exc)
    body = {"detail": f"internal error ({type(exc).__name__}); see the logs", "request_id": request_id(request)}
    return JSONResponse(status_code=500, content=body)


def install_error_handlers(api: FastAPI) -> None:
    """Answer every error the routes raise as described in this module's docstring."""
    api.exception_handler(RequestValidationError)(_invalid_request)
    api.exception_handler(RequestRejectedError)(_rejected)
    api.exception_handler(NotFoundError)(_not_found)
    api.exception_handler(MemberUnavailableError)(_unavailable)
    api.exception_handler(ForbiddenError)(_forbidden)
    api.exception_handler(KeyReusedError)(_conflict)
    api.exception_handler(ExperimentConflictError)(_conflict)
    api.exception_handler(StarletteHTTPException)(_http_error)
    api.exception_handler(Exception)(_internal)
