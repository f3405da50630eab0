"""Filing a case from an Open311 POST: the spec's form fields read into an ordinary ``POST /v1/cases`` body.

The case is filed by ``cases.file_case``, the one filing path, so it is an ordinary case (channel ``open311``)
that lists, moves and escalates like any other. What this module decides is what the spec leaves to us:

- ``api_key`` is a linli token; the filer is its principal, with that principal's rights.
- The compound: the token's own unit when that is a compound (a resident's, a grid worker's); otherwise
  ``address_id`` must be the code of a compound inside the token's jurisdiction. linli's only address
  register is its tree of units, so an ``address_id`` that names a unit is read as one; any other is the
  client's own address reference, kept with the case.
- The category is the ``service_code``, and the urgency is the one the category implies.
- Where, who and how to reach them (coordinates, address, e-mail, media URL, attributes) have no field of
  their own on a case: they are written into its description, which only staff read (never the public
  request, see api/services/open311.py). The title, which is public, is the service and the address.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.auth import Caller, TokenCache, caller_for_token
from api.categories import Category, category
from api.services import cases
from api.services.cases import CaseCreate, Channel
from api.services.open311 import STAGE_NOTES, Open311Error, jurisdiction, refuse_nul, time_zone, w3c
from api.services.units import get_unit
from core.settings import Settings
from core.tables import Unit
from workflows.model import CaseView, Reporter

MAX_DESCRIPTION = 4000  # the spec's limit, and a case's
MAX_FIELD = 500  # any other single value (an address, an attribute)
MAX_URL = 2000
MAX_KEY = 10_000  # any longer is no token of ours: the 403 says so (the body's limit bounds it anyway)
_ATTRIBUTE = re.compile(r"attribute\[([^\[\]]{1,100})\](\[\])?")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_PHONE_PUNCTUATION = re.compile(r"[().\s/]+")


@dataclass
class Filing:
    """The form, read and checked; everything optional the spec makes optional."""

    api_key: str | None = None
    service_code: str | None = None
    jurisdiction_id: str | None = None
    lat: float | None = None
    long: float | None = None
    address_string: str | None = None
    address_id: str | None = None
    description: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    email: str | None = None
    media_url: str | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)


def read_form(fields: Mapping[str, Sequence[str]]) -> Filing:
    """The spec's POST arguments (any others, such as device_id or account_id, are ignored)."""
    refuse_nul([*fields, *(v for values in fields.values() for v in values)])

    def one(name: str, limit: int = MAX_FIELD) -> str | None:
        values = [v.strip() for v in fields.get(name, ()) if v.strip()]
        if len(values) > 1:
            raise Open311Error(400, f"{name} may be given once")
        if values and len(values[0]) > limit:
            raise Open311Error(400, f"{name} is longer than {limit} characters")
        return values[0] if values else None

    filing = Filing(
        api_key=one("api_key", MAX_KEY), service_code=one("service_code"), jurisdiction_id=one("jurisdiction_id"),
        address_string=one("address_string"), address_id=one("address_id"),
        description=one("description", MAX_DESCRIPTION), first_name=one("first_name"), last_name=one("last_name"),
        phone=one("phone"), email=one("email"), media_url=one("media_url", MAX_URL),
    )  # fmt: skip
    filing.lat, filing.long = _coordinates(one("lat"), one("long"))
    if filing.email and not re.fullmatch(r"[^@\s]{1,64}@[^@\s]{1,253}", filing.email):
        raise Open311Error(400, f"email {filing.email!r} is not an e-mail address")
    if filing.media_url and (urlsplit(filing.media_url).scheme not in ("http", "https") or " " in filing.media_url):
        raise Open311Error(400, "media_url must be an http or https URL")
    for name, values in fields.items():
        if match := _ATTRIBUTE.fullmatch(name):
            given = [v.strip() for v in values if v.strip()]
            if any(len(v) > MAX_FIELD for v in given):
                raise Open311Error(400, f"{name} is longer than {MAX_FIELD} characters")
            if given:
                filing.attributes.setdefault(match[1], []).extend(given)
    return filing


def _coordinates(lat: str | None, long: str | None) -> tuple[float | None, float | None]:
    if lat is None and long is None:
        return None, None
    if lat is None or long is None:
        raise Open311Error(400, "lat and long must both be sent")
    try:
        latitude, longitude = float(lat), float(long)
    except ValueError:
        raise Open311Error(400, "lat and long must be numbers (WGS84 degrees)") from None
    if not (math.isfinite(latitude) and math.isfinite(longitude)) or abs(latitude) > 90 or abs(longitude) > 180:
        raise Open311Error(400, "lat must lie within ±90 and long within ±180 (WGS84 degrees)")
    return latitude, longitude


async def file_request(
    db: AsyncSession, client: Client, settings: Settings, filing: Filing, tokens: TokenCache | None, key: str | None
) -> list[dict[str, Any]]:
    """File the case; the answer is the spec's: its service_request_id, a notice, no account."""
    caller = await _caller(db, filing.api_key, tokens)
    if caller.role not in cases.FILING_ROLES:  # before the compound: an auditor's key is refused as a key
        raise Open311Error(403, f"this api_key is a {caller.role}'s, who cannot file requests")
    service = _service(filing.service_code)
    scope = await jurisdiction(db, filing.jurisdiction_id)
    if filing.lat is None and not filing.address_string and not filing.address_id:
        raise Open311Error(400, "a location is required: lat and long, address_string or address_id")
    compound, address_reference = await _compound(db, caller, filing.address_id)
    if scope is not None and not compound.path.startswith(scope.path):
        raise Open311Error(400, f"compound {compound.code!r} is not in jurisdiction_id {scope.code!r}")
    body = _case_body(filing, service, compound, caller, address_reference)
    # Read before filing: a retried Idempotency-Key rolls the session back, which expires loaded rows.
    town = await get_unit(db, compound.path.strip("/").split("/")[0])
    place, zone = compound.name, time_zone(town)
    view = await cases.file_case(db, client, settings, caller, body, key)
    return [{"service_request_id": view.id, "service_notice": _notice(view, place, zone), "account_id": None}]


async def _caller(db: AsyncSession, api_key: str | None, tokens: TokenCache | None) -> Caller:
    if not api_key:
        raise Open311Error(403, "api_key is required to file a request: a linli token (a resident's or caseworker's)")
    caller = await caller_for_token(db, api_key, tokens)
    if caller is None:
        raise Open311Error(403, "Invalid api_key received: an unknown or revoked linli token")
    return caller


def _service(service_code: str | None) -> Category:
    if not service_code:
        raise Open311Error(400, "service_code was not provided; see services.json")
    found = category(service_code)
    if found is None:
        raise Open311Error(404, f"service_code {service_code!r} was not found; see services.json")
    return found


async def _compound(db: AsyncSession, caller: Caller, address_id: str | None) -> tuple[Unit, str | None]:
    """The compound the case is filed at, and the client's own address reference if ``address_id`` is one."""
    own = await get_unit(db, caller.unit_code) if caller.unit_code else None
    named = await get_unit(db, address_id) if address_id and len(address_id) <= 64 else None
    if own is not None and own.kind == "compound":
        if named is not None and named.code != own.code:
            raise Open311Error(
                400, f"address_id {address_id!r} is another unit; this api_key files at compound {own.code!r}"
            )
        return own, (address_id if named is None else None)
    if named is None or named.kind != "compound":
        where = f"the {own.kind} {own.code!r}" if own else "no compound"
        raise Open311Error(
            400, f"address_id must be the code of the compound the issue is in: this api_key's unit is {where}"
        )
    return named, None  # inside the caller's jurisdiction or not: file_case says (403)


def _case_body(filing: Filing, service: Category, compound: Unit, caller: Caller, reference: str | None) -> CaseCreate:
    title = f"{service.name}: {filing.address_string}" if filing.address_string else service.name
    try:
        reporter = Reporter(name=_name(filing) or caller.name, phone=_phone(filing.phone))
        return CaseCreate(
            unit=compound.code, category=service.code, title=title[:200], description=_description(filing, service,
            reference), reporter=reporter, channel=Channel.OPEN311, urgency=service.urgency,
        )  # fmt: skip
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}" for e in error.errors())
        raise Open311Error(400, problems) from None


def _name(filing: Filing) -> str:
    """The filer's name as people write it: 王 + 芳 → 王芳 in Chinese, first then last name otherwise."""
    first, last = filing.first_name or "", filing.last_name or ""
    if _CJK.search(first + last):
        return f"{last}{first}"
    return f"{first} {last}".strip()


def _phone(phone: str | None) -> str | None:
    """Brackets, dots and spaces are how people write numbers (``(021) 6288.1234``); a case wants digits."""
    if not phone:
        return None
    cleaned = _PHONE_PUNCTUATION.sub(" ", phone).strip()
    if not re.fullmatch(r"\+?[0-9][0-9 \-]{3,29}", cleaned):
        raise Open311Error(400, f"phone {phone!r} is not a phone number")
    return cleaned


def _description(filing: Filing, service: Category, reference: str | None) -> str:
    lines = [filing.description or service.name, "", "— Open311 —"]
    if filing.address_string:
        lines.append(f"地点 Location: {filing.address_string}")
    if filing.lat is not None:
        lines.append(f"坐标 Coordinates (WGS84): {filing.lat:.6f}, {filing.long:.6f}")
    if reference:
        lines.append(f"地址编号 Address ID (the client's): {reference}")
    if filing.media_url:
        lines.append(f"照片 Media: {filing.media_url}")
    if filing.email:
        lines.append(f"邮箱 E-mail: {filing.email}")
    lines += [f"attribute[{code}]: {', '.join(values)}" for code, values in filing.attributes.items()]
    text = "\n".join(lines)
    if len(text) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description and location together are longer than {MAX_DESCRIPTION} characters")
    return text


def _notice(view: CaseView, place: str, zone: ZoneInfo) -> str:
    notice = (
        f"{place}已受理，案件编号 {view.number}。 · Received by {place}: case number {view.number} "
        f"(the token for tokens/{view.number}). {STAGE_NOTES[view.stage]}"
    )
    if view.deadline:
        notice += f"; next deadline {w3c(view.deadline, zone)}"
    return notice + "."
