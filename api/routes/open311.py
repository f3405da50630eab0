"""Open311 GeoReport v2 under `/open311/v2/`, so that existing Open311 clients file and follow cases unchanged.

Each resource answers in the format its name ends with (`.json` or `.xml`); every refusal is the spec's
error list in that format, with the spec's status (403 a missing or bad `api_key`, 404 nothing there, 400
anything else) — including the framework's own (an unknown path or method under the prefix). Arguments are
read by hand, not declared to FastAPI: its validation answers in linli's `/v1` error shape, and the spec
says an empty argument is as if absent.

Left out of `/openapi.json`: GeoReport v2 is its own published contract, and the OpenAPI document (and
the fuzzing of it) describes linli's `/v1` one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from api.deps import ClientDep, SessionDep, SettingsDep
from api.errors import ApiError
from api.open311_xml import document
from api.services import open311
from api.services.open311 import FORMATS, Open311Error, from_api_error, jurisdiction
from api.services.open311_filing import file_request, read_form
from core.tables import now_utc

PREFIX = "/open311/v2"
CACHE_CONTROL = "public, max-age=300"  # discovery and services change only with a release
MAX_FIELDS = 200


def format_of(path: str) -> str:
    """The format a path asks for; JSON for a path that names none (an error must still be written)."""
    return "xml" if path.endswith(".xml") else "json"


def render(fmt: str, root: str, value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    if fmt == "xml":
        body = document(root, value)
    else:
        body = json.dumps(value, ensure_ascii=False).encode("utf-8", errors="replace")
    return Response(body, status_code=status, media_type=f"{FORMATS[fmt]}; charset=utf-8", headers=headers)


def refusal(fmt: str, error: Open311Error) -> Response:
    body = [{"code": error.code, "description": error.description}]
    return render(fmt, "errors", body, error.status, error.headers)


class Open311Route(APIRoute):
    """A route whose every refusal, whoever raises it, goes out in the spec's error format."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            fmt = format_of(request.url.path)
            try:
                return await handler(request)
            except Open311Error as error:
                return refusal(fmt, error)
            except ApiError as error:  # from the filing path shared with POST /v1/cases
                return refusal(fmt, from_api_error(error))
            except RequestValidationError as error:
                return refusal(fmt, Open311Error(400, "; ".join(str(e.get("msg")) for e in error.errors())))
            except (OperationalError, InterfaceError):
                return refusal(fmt, open311.unavailable())

        return answer


router = APIRouter(prefix=PREFIX, tags=["open311"], route_class=Open311Route, include_in_schema=False)


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(404, f"no such format {fmt!r}: ask for .json or .xml")
    return fmt


def _params(request: Request) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        params.setdefault(name, []).append(value)
    return params


def _jurisdiction_id(params: dict[str, list[str]]) -> str | None:
    values = [v for v in params.get("jurisdiction_id", ()) if v.strip()]
    open311.refuse_nul(values)
    return values[0].strip() if values else None


@router.get("/discovery.{fmt}")
async def read_discovery(request: Request, fmt: str) -> Response:
    """Service Discovery: where this GeoReport v2 endpoint is and which formats it speaks."""
    fmt = _format(fmt)
    endpoint = str(request.base_url).rstrip("/") + PREFIX
    return render(fmt, "discovery", open311.discovery(endpoint), headers={"Cache-Control": CACHE_CONTROL})


@router.get("/services.{fmt}")
async def read_services(request: Request, db: SessionDep, settings: SettingsDep, fmt: str) -> Response:
    """The services: linli's categories, with the urgency each implies."""
    fmt = _format(fmt)
    await jurisdiction(db, _jurisdiction_id(_params(request)))
    body = open311.services(settings.sla_policy)
    return render(fmt, "services", body, headers={"Cache-Control": CACHE_CONTROL})


@router.get("/services/{service_code}.{fmt}")
async def read_service_definition(request: Request, db: SessionDep, service_code: str, fmt: str) -> Response:
    """A service's definition: no attributes (every service's metadata is false)."""
    fmt = _format(fmt)
    await jurisdiction(db, _jurisdiction_id(_params(request)))
    body = open311.service_definition(service_code)
    return render(fmt, "service_definition", body, headers={"Cache-Control": CACHE_CONTROL})


@router.get("/requests.{fmt}")
async def read_requests(request: Request, db: SessionDep, fmt: str) -> Response:
    """Service requests (cases), public facts only: the last 90 days unless a window or ids are given."""
    fmt = _format(fmt)
    params = _params(request)
    query = open311.request_query(params, now_utc())
    scope = await jurisdiction(db, _jurisdiction_id(params))
    return render(fmt, "service_requests", await open311.list_requests(db, query, scope))


@router.post("/requests.{fmt}")
async def create_request(
    request: Request, db: SessionDep, client: ClientDep, settings: SettingsDep, fmt: str
) -> Response:
    """File a case (channel `open311`) with a linli token as `api_key`; answers its service_request_id."""
    fmt = _format(fmt)
    fields = {**_params(request), **await _form(request)}  # the body's fields win over the URL's
    key = request.headers.get("Idempotency-Key")  # linli's own: a retry with it files once
    if key is not None and (len(key) > 200 or "\x00" in key):
        raise Open311Error(400, "Idempotency-Key must be at most 200 characters")
    tokens = request.app.state.token_cache
    created = await file_request(db, client, settings, read_form(fields), tokens, key)
    return render(fmt, "service_requests", created)


@router.get("/requests/{service_request_id}.{fmt}")
async def read_request(request: Request, db: SessionDep, service_request_id: str, fmt: str) -> Response:
    """One service request (case), public facts only."""
    fmt = _format(fmt)
    scope = await jurisdiction(db, _jurisdiction_id(_params(request)))
    return render(fmt, "service_requests", await open311.read_request(db, service_request_id, scope))


@router.get("/tokens/{token}.{fmt}")
async def read_token(request: Request, db: SessionDep, token: str, fmt: str) -> Response:
    """The service_request_id of a token: a case number (案件编号), such as 2026-000042."""
    fmt = _format(fmt)
    scope = await jurisdiction(db, _jurisdiction_id(_params(request)))
    return render(fmt, "service_requests", await open311.read_token(db, token, scope))


async def _form(request: Request) -> dict[str, list[str]]:
    """The POST body's fields: form-encoded as the spec says, or multipart (text fields only)."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "multipart/form-data":
        try:
            form = await request.form(max_files=0, max_fields=MAX_FIELDS)
        except HTTPException as error:  # starlette's refusal of a part: a file, or too many fields
            raise Open311Error(400, f"{error.detail} (send media as a media_url)") from None
        fields: dict[str, list[str]] = {}
        for name, value in form.multi_items():
            fields.setdefault(name, []).append(str(value))
        return fields
    if media not in ("application/x-www-form-urlencoded", ""):
        raise Open311Error(400, "send the request as application/x-www-form-urlencoded; charset=utf-8")
    try:
        # Decoded as UTF-8 whether the client percent-encoded its text or not ("UTF-8 is required everywhere").
        pairs = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True, errors="strict",
                          max_num_fields=MAX_FIELDS)  # fmt: skip
    except UnicodeDecodeError:
        raise Open311Error(400, "the body is not UTF-8") from None
    except ValueError:
        raise Open311Error(400, f"at most {MAX_FIELDS} fields") from None
    parsed: dict[str, list[str]] = {}
    for name, value in pairs:
        parsed.setdefault(name, []).append(value)
    return parsed


# Last: what no route above takes, in the spec's format rather than linli's.
@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
async def unknown(request: Request, rest: str) -> Response:
    """No such resource (404), or a resource that takes another method (400, with Allow)."""
    allowed = sorted(
        method
        for route in router.routes
        if isinstance(route, Open311Route) and route.endpoint is not unknown
        and route.matches(request.scope)[0] is Match.PARTIAL
        for method in route.methods or ()
    )  # fmt: skip
    if allowed:
        error = Open311Error(400, f"{request.method} is not taken here; use {', '.join(allowed)}")
        error.headers["Allow"] = ", ".join(allowed)
        raise error
    raise Open311Error(404, f"no such resource {PREFIX}/{rest}; see {PREFIX}/discovery.json")
