"""The error contract: every 4xx is ``{"error": <code>, "detail": <why>}``, never a bare 500 for bad input."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from core.logging import get_logger

log = get_logger("linli.api")


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: Any) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status, self.error, self.detail = status, error, detail


class ErrorBody(BaseModel):
    """What every refusal carries: a stable code for programs and the reason for people."""

    error: str = Field(
        description="unauthorized, forbidden, not_found, invalid_transition, conflict, payload_too_large, "
        "invalid_request…"
    )
    detail: str | list[dict[str, Any]] = Field(description="why; for a bad body or parameter, each problem found")


WHEN = {
    401: "no bearer token, or an unknown or revoked one",
    403: "outside the caller's role or jurisdiction",
    404: "no such case",
    409: "the case's state does not allow it, or it conflicts with what exists",
    413: "the body is larger than this route takes (LINLI_MAX_BODY_BYTES; histories: LINLI_MAX_HISTORY_BYTES)",
    422: "a bad body or parameter",
    503: "the workflow engine or its workers did not answer in time; retry with the same Idempotency-Key",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` declaration of these error statuses, so the OpenAPI document shows their shape."""
    return {status: {"model": ErrorBody, "description": WHEN[status]} for status in statuses}


def unauthorized(detail: str = "missing or invalid bearer token") -> ApiError:
    return ApiError(401, "unauthorized", detail)


def forbidden(detail: str) -> ApiError:
    return ApiError(403, "forbidden", detail)


def not_found(detail: str) -> ApiError:
    return ApiError(404, "not_found", detail)


def invalid_transition(detail: str) -> ApiError:
    return ApiError(409, "invalid_transition", detail)


def conflict(detail: str) -> ApiError:
    return ApiError(409, "conflict", detail)


def payload_too_large(detail: str) -> ApiError:
    return ApiError(413, "payload_too_large", detail)


def unprocessable(detail: Any) -> ApiError:
    return ApiError(422, "invalid_request", detail)


def error_response(exc: ApiError) -> JSONResponse:
    """The answer an ``ApiError`` stands for (also sent by middleware, which runs outside the handlers)."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse({"error": exc.error, "detail": exc.detail}, status_code=exc.status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return JSONResponse({"error": "invalid_request", "detail": jsonable_encoder(errors)}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        # The framework's own refusals (no such path, wrong method) in the same shape as ours. Its only 400 is
        # a body it cannot read as JSON (bytes that are not UTF-8): a bad body, which the contract makes a 422.
        if exc.status_code == 400:
            return JSONResponse({"error": "invalid_request", "detail": "the body is not JSON (UTF-8)"}, status_code=422)
        error = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
        return JSONResponse({"error": error, "detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        # The read model is down or restarting: nothing was changed; the caller can retry (with its key).
        log.warning("database unavailable", error=type(exc).__name__)
        return JSONResponse(
            {"error": "unavailable", "detail": "the database is unavailable; retry shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
