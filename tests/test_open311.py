"""Open311 GeoReport v2 under /open311/v2/: an existing client reads it unchanged, every JSON answer meets the
Open311 project's schemas, every XML answer uses the spec's element names, a filing is an ordinary case, and
bad input is the spec's error list with a 4xx, never a 5xx."""

from __future__ import annotations

import asyncio
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from georeport import GeoReport  # type: ignore[import-untyped]
from jsonschema import Draft7Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7
from sqlalchemy import update

from core.tables import CaseRecord, now_utc
from tests.utils.browser import serving
from tests.utils.stack import Stack, walk

V2 = "/open311/v2"
SCHEMAS = Path(__file__).parent / "data" / "open311"
# Field and element names as GeoReport v2 gives them, in its order.
REQUEST = ["service_request_id", "status", "status_notes", "service_name", "service_code", "description",
           "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
           "address", "address_id", "zipcode", "lat", "long", "media_url"]  # fmt: skip
SERVICE = ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"]
CREATED = ["service_request_id", "service_notice", "account_id"]
TOKEN = ["service_request_id", "token"]
DISCOVERY = ["changeset", "contact", "key_service", "endpoints"]
ENDPOINT = ["specification", "url", "changeset", "type", "formats"]
ERROR = ["code", "description"]
# The town's offset (Asia/Shanghai), always given.
W3C = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00")

# A resident's details that must never reach the public requests.
NAME, PHONE, EMAIL = "欧阳娜娜", "139 1234 5678", "nana@example.cn"
SECRET = "DESCRIPTION-SECRET"


def _validators() -> dict[str, Draft7Validator]:
    names = ["service", "services", "service-definition", "request", "requests"]
    contents = {n: json.loads((SCHEMAS / f"{n}.json").read_text(encoding="utf-8")) for n in names}
    registry: Registry[Any] = Registry().with_resources(
        (f"{n}.json", Resource.from_contents(c, default_specification=DRAFT7)) for n, c in contents.items()
    )
    return {n: Draft7Validator(c, registry=registry) for n, c in contents.items()}


SCHEMA = _validators()


def _valid(schema: str, body: Any) -> Any:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in SCHEMA[schema].iter_errors(body)]
    assert not errors, (schema, errors, body)
    return body


def _requests_valid(body: Any) -> list[dict[str, Any]]:
    _valid("requests", body)
    for item in body:
        assert list(item) == REQUEST, item
        assert W3C.fullmatch(item["requested_datetime"]) and W3C.fullmatch(item["updated_datetime"]), item
        assert item["expected_datetime"] is None or W3C.fullmatch(item["expected_datetime"]), item
    return body  # type: ignore[no-any-return]


def _xml(response: httpx.Response | requests.Response, root: str) -> ET.Element:
    """An XML answer: declared as UTF-8, well formed, no namespace, rooted at ``root``."""
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    element = ET.fromstring(response.content)
    assert element.tag == root, element.tag
    return element


def _items(element: ET.Element, item: str, fields: list[str]) -> list[dict[str, str]]:
    """The items of a container, each with exactly the spec's child elements in its order."""
    found = []
    for child in element:
        assert child.tag == item, child.tag
        assert [c.tag for c in child] == fields, [c.tag for c in child]
        found.append({c.tag: c.text or "" for c in child})
    return found


def _errors(response: httpx.Response, status: int) -> str:
    """A refusal in the spec's format (JSON or XML, as asked): its description."""
    assert response.status_code == status, (response.request.method, response.request.url, response.text)
    if response.request.url.path.endswith(".xml"):
        errors = _items(_xml(response, "errors"), "error", ERROR)
    else:
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        errors = response.json()
        assert [list(e) for e in errors] == [ERROR] and isinstance(errors[0]["code"], int), errors
    assert len(errors) == 1 and str(errors[0]["code"]) in (str(status), "503"), errors
    return str(errors[0]["description"])


async def _post(stack: Stack, fmt: str = "json", **fields: str) -> httpx.Response:
    return await stack.http.post(f"{V2}/requests.{fmt}", data=fields)


def _key(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def test_an_existing_client_reads_our_services_and_requests(stack: Stack) -> None:
    """The georeport package (an Open311 client on PyPI) against the real server, in both formats; the case
    it follows is filed as any Open311 client files one: a form POST with `requests`, which georeport uses
    (it has no call for filing)."""
    resident = await stack.headers("resident", "compound-a1x", "王芳")
    async with serving(stack.app) as base:
        root = f"{base}{V2}"
        as_json, as_xml = GeoReport(root), GeoReport(root, output_format="xml")
        listed = await asyncio.to_thread(as_json.get_service_list)
        assert {s["service_code"] for s in _valid("services", listed)} >= {"drainage", "lighting", "water", "safety"}
        assert [s["service_code"] for s in await asyncio.to_thread(as_xml.get_service_list)] == [
            s["service_code"] for s in listed
        ]
        definition = await asyncio.to_thread(as_json.get_service_definition, "drainage")
        assert _valid("service-definition", definition) == {"service_code": "drainage", "attributes": []}

        form = {"api_key": _key(resident), "service_code": "drainage", "lat": "35.97", "long": "110.84",
                "address_string": "3号楼后面", "description": "雨后积水", "first_name": "芳",
                "last_name": "王"}  # fmt: skip
        filed = await asyncio.to_thread(requests.post, f"{root}/requests.json", data=form, timeout=60)
        assert filed.status_code == 200, filed.text
        (created,) = filed.json()
        assert list(created) == CREATED
        case_id = created["service_request_id"]

        one = await asyncio.to_thread(as_json.get_service_request, case_id)
        assert one["service_request_id"] == case_id and one["service_code"] == "drainage"
        assert one["status"] == "open" and one["agency_responsible"] == "云台府小区"
        assert _requests_valid([one])
        listed_requests = await asyncio.to_thread(as_json.get_service_requests, service_code="drainage")
        assert [r["service_request_id"] for r in _requests_valid(listed_requests)] == [case_id]
        as_xml_one = await asyncio.to_thread(as_xml.get_service_request, case_id)
        assert as_xml_one["service_request_id"] == case_id and as_xml_one["status"] == "open"
        assert list(as_xml_one) == REQUEST
        both = await asyncio.to_thread(as_xml.get_service_requests, status="open,closed")
        assert both["service_request_id"] == case_id  # one request: xmltodict gives it as the item itself

        discovery = (await asyncio.to_thread(requests.get, f"{root}/discovery.json", timeout=30)).json()
        assert discovery["endpoints"][0]["url"] == root


async def test_a_filing_is_an_ordinary_case_that_a_caseworker_moves_on(stack: Stack) -> None:
    resident = await stack.headers("resident", "compound-a1x", "王芳")
    caseworker = await stack.headers("caseworker", "compound-a1x", "网格员小李")
    fields = {"api_key": _key(resident), "service_code": "drainage", "lat": "35.9712", "long": "110.8403",
              "address_string": "3号楼后面", "description": "雨后积水三天不退", "first_name": "芳", "last_name": "王",
              "phone": "(138) 0013-8000", "email": EMAIL, "media_url": "https://example.cn/drain.jpg",
              "attribute[floor]": "1", "device_id": "ignored", "jurisdiction_id": "town-a"}  # fmt: skip
    response = await _post(stack, **fields)
    assert response.status_code == 200, response.text
    (created,) = response.json()
    assert list(created) == CREATED and created["account_id"] is None
    case_id = created["service_request_id"]

    listed = (await stack.http.get("/v1/cases", params={"unit": "compound-a1x"}, headers=caseworker)).json()
    case = next(c for c in listed["items"] if c["id"] == case_id)
    assert case["number"] in created["service_notice"]
    assert (case["channel"], case["category"], case["urgency"], case["stage"]) == (
        "open311", "drainage", "normal", "collecting"
    )  # fmt: skip
    assert case["title"] == "排水 · Drains and sewers: 3号楼后面"
    assert case["reporter"] == {"name": "王芳", "phone": "138 0013-8000"}
    for line in ["雨后积水三天不退", "地点 Location: 3号楼后面", "35.971200, 110.840300", EMAIL,
                 "https://example.cn/drain.jpg", "attribute[floor]: 1"]:  # fmt: skip
        assert line in case["description"], (line, case["description"])
    assert not case["claimed"]  # a resident's filing waits for the compound to claim it

    moved = await walk(stack, caseworker, case_id, "deliberating")
    (followed,) = _requests_valid((await stack.http.get(f"{V2}/requests/{case_id}.json")).json())
    assert followed["status"] == "open" and followed["status_notes"].endswith("Being deliberated by the parties")
    assert followed["agency_responsible"] == "云台府小区" and followed["address_id"] == "compound-a1x"
    assert followed["address"] == "云台府小区, 营里社区, 昌宁镇"
    deadline = datetime.fromisoformat(moved["deadline"]).replace(microsecond=0)  # W3C to the second
    assert datetime.fromisoformat(followed["expected_datetime"]) == deadline
    await stack.ok(case_id, "withdraw", caseworker, reason="Fixed by the neighbours")
    (closed,) = _requests_valid((await stack.http.get(f"{V2}/requests/{case_id}.json")).json())
    assert (closed["status"], closed["status_notes"]) == ("closed", "已撤回 · Withdrawn")
    assert closed["expected_datetime"] is None

    # The urgency a service implies: water is urgent, a danger is an emergency (straight into review).
    for code, urgency, stage in [("water", "urgent", "collecting"), ("safety", "emergency", "reviewing")]:
        answer = await _post(stack, api_key=_key(resident), service_code=code, address_string="2号楼")
        filed = await stack.case(answer.json()[0]["service_request_id"], caseworker)
        assert (filed["urgency"], filed["stage"], filed["channel"]) == (urgency, stage, "open311")

    # linli's Idempotency-Key works here too: a retry files once.
    retry = {"api_key": _key(resident), "service_code": "lighting", "address_string": "东门"}
    first = await stack.http.post(f"{V2}/requests.xml", data=retry, headers={"Idempotency-Key": "lamp-1"})
    again = await stack.http.post(f"{V2}/requests.xml", data=retry, headers={"Idempotency-Key": "lamp-1"})
    ids = [_items(_xml(r, "service_requests"), "request", CREATED)[0]["service_request_id"] for r in (first, again)]
    assert ids[0] == ids[1] and ids[0]


async def test_the_compound_is_the_tokens_or_the_address_id(stack: Stack) -> None:
    community = await stack.headers("caseworker", "community-a1", "社区两委")
    resident = await stack.headers("resident", "compound-a1x", "王芳")
    admin = await stack.headers("admin", None, "管理员")
    # A community's caseworker names the compound by its code.
    answer = await _post(stack, api_key=_key(community), service_code="noise", address_id="compound-a1y")
    assert answer.status_code == 200, answer.text
    assert (await stack.case(answer.json()[0]["service_request_id"], admin))["unit"] == "compound-a1y"
    assert "address_id must be the code of the compound" in _errors(
        await _post(stack, api_key=_key(community), service_code="noise", lat="35", long="110"), 400
    )
    _errors(await _post(stack, api_key=_key(community), service_code="noise", address_id="compound-b1x"), 403)
    # A resident files at their own compound; another unit's code is refused, the client's own address id kept.
    assert "another unit" in _errors(
        await _post(stack, api_key=_key(resident), service_code="noise", address_id="compound-a1y"), 400
    )
    answer = await _post(stack, api_key=_key(resident), service_code="noise", address_id="BLDG-3-201")
    case = await stack.case(answer.json()[0]["service_request_id"], admin)
    assert case["unit"] == "compound-a1x" and "BLDG-3-201" in case["description"]
    assert "not in jurisdiction_id" in _errors(
        await _post(stack, api_key=_key(resident), service_code="noise", address_id="a", jurisdiction_id="town-b"), 400
    )


async def test_every_json_answer_meets_the_open311_schemas_and_xml_the_spec_names(stack: Stack) -> None:
    admin = await stack.headers("admin", None, "管理员")
    await stack.file(admin, title="Bell\x07 rings", category="lighting")  # a character XML cannot hold
    await stack.file(admin, category="c")  # a category of linli's own making, not one of the services
    closed = (await stack.file(admin, unit="compound-b1x"))["id"]
    await stack.ok(closed, "withdraw", admin, reason="Sorted")
    resident = await stack.headers("resident", "compound-a1x", "王芳")
    filed = (await _post(stack, api_key=_key(resident), service_code="gas", address_string="5号楼")).json()

    services = _valid("services", (await stack.http.get(f"{V2}/services.json")).json())
    assert all(list(s) == SERVICE and s["metadata"] is False and s["type"] == "realtime" for s in services)
    gas = next(s for s in services if s["service_code"] == "gas")
    assert "urgent" in gas["keywords"] and "urgent" in gas["description"]
    for s in services:
        definition = (await stack.http.get(f"{V2}/services/{s['service_code']}.json")).json()
        _valid("service-definition", definition)
        xml = _xml(await stack.http.get(f"{V2}/services/{s['service_code']}.xml"), "service_definition")
        assert [c.tag for c in xml] == ["service_code", "attributes"] and len(xml[1]) == 0
    requests_json = _requests_valid((await stack.http.get(f"{V2}/requests.json")).json())
    assert len(requests_json) == 4 and {r["status"] for r in requests_json} == {"open", "closed"}
    assert {r["service_code"] for r in requests_json} == {"lighting", "c", "drainage", "gas"}
    for r in requests_json:
        _requests_valid((await stack.http.get(f"{V2}/requests/{r['service_request_id']}.json")).json())

    services_xml = _items(_xml(await stack.http.get(f"{V2}/services.xml"), "services"), "service", SERVICE)
    assert [s["service_code"] for s in services_xml] == [s["service_code"] for s in services]
    assert {s["metadata"] for s in services_xml} == {"false"}
    requests_xml = _items(_xml(await stack.http.get(f"{V2}/requests.xml"), "service_requests"), "request", REQUEST)
    assert [r["service_request_id"] for r in requests_xml] == [r["service_request_id"] for r in requests_json]
    assert next(r for r in requests_xml if r["service_code"] == "lighting")["description"] == "Bell\ufffd rings"
    one = _xml(await stack.http.get(f"{V2}/requests/{closed}.xml"), "service_requests")
    assert _items(one, "request", REQUEST)[0]["status"] == "closed"

    discovery = (await stack.http.get(f"{V2}/discovery.json")).json()
    assert list(discovery) == DISCOVERY and [list(e) for e in discovery["endpoints"]] == [ENDPOINT]
    assert discovery["endpoints"][0] == {
        "specification": "http://wiki.open311.org/GeoReport_v2", "url": f"http://linli{V2}",
        "changeset": discovery["changeset"], "type": "production", "formats": ["application/json", "text/xml"],
    }  # fmt: skip
    xml = _xml(await stack.http.get(f"{V2}/discovery.xml"), "discovery")
    assert [c.tag for c in xml] == DISCOVERY
    endpoint = xml.find("endpoints/endpoint")
    assert endpoint is not None and [c.tag for c in endpoint] == ENDPOINT
    assert [f.text for f in endpoint.iterfind("formats/format")] == ["application/json", "text/xml"]
    assert list(filed[0]) == CREATED and W3C.search(filed[0]["service_notice"])


async def test_public_requests_show_no_name_phone_email_or_description(stack: Stack) -> None:
    caseworker = await stack.headers("caseworker", "compound-a1x", "网格员小李")
    resident = await stack.headers("resident", "compound-a1x", NAME)
    await stack.file(caseworker, title=f"{NAME}家门口积水 {PHONE}", description=f"{SECRET}: call {PHONE}",
                     reporter={"name": NAME, "phone": PHONE.replace(" ", "")})  # fmt: skip
    fields = {"api_key": _key(resident), "service_code": "drainage", "lat": "35.9712", "long": "110.8403",
              "address_string": "3号楼", "description": SECRET, "first_name": "娜娜", "last_name": "欧阳",
              "phone": PHONE, "email": EMAIL, "media_url": "https://example.cn/SECRET.jpg"}  # fmt: skip
    assert (await _post(stack, **fields)).status_code == 200
    for fmt in ("json", "xml"):
        text = (await stack.http.get(f"{V2}/requests.{fmt}")).text
        assert "3号楼" in text  # the public title: the service and the address given
        for private in [NAME, PHONE, PHONE.replace(" ", ""), EMAIL, SECRET, "35.9712", "SECRET.jpg"]:
            assert private not in text, (fmt, private)


async def test_bad_input_is_the_spec_error_format_with_a_4xx(stack: Stack) -> None:
    resident = _key(await stack.headers("resident", "compound-a1x", "王芳"))
    auditor = _key(await stack.headers("auditor", None, "审计员"))
    good = {"api_key": resident, "service_code": "drainage", "address_string": "3号楼"}
    posts: list[tuple[dict[str, str], int]] = [
        ({**good, "api_key": ""}, 403),
        ({**good, "api_key": "linli_not-a-token"}, 403),
        ({**good, "api_key": auditor}, 403),
        ({**good, "service_code": ""}, 400),
        ({**good, "service_code": "potholes"}, 404),
        ({"api_key": resident, "service_code": "drainage"}, 400),  # no location
        ({**good, "lat": "35.9"}, 400),
        ({**good, "lat": "north", "long": "110"}, 400),
        ({**good, "lat": "95", "long": "110"}, 400),
        ({**good, "lat": "nan", "long": "110"}, 400),
        ({**good, "description": "x" * 4001}, 400),
        ({**good, "description": "bad\x00"}, 400),
        ({**good, "phone": "call me"}, 400),
        ({**good, "email": "not-an-address"}, 400),
        ({**good, "media_url": "ftp://example.cn/a.jpg"}, 400),
        ({**good, "first_name": "x" * 120}, 400),
        ({**good, "jurisdiction_id": "town-z"}, 404),
        ({**good, "address_string": "a", "service_code": "drainage,lighting"}, 404),
    ]
    for fields, status in posts:
        for fmt in ("json", "xml"):
            _errors(await _post(stack, fmt, **fields), status)
    bodies = [
        ({"content": json.dumps(good), "headers": {"Content-Type": "application/json"}}, 400),
        ({"content": b"api_key=\xff\xfe", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 400),
        ({"content": "&".join(f"f{i}=1" for i in range(300)),
          "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 400),
        ({"data": good, "files": {"media": ("drain.jpg", b"\xff\xd8")}}, 400),
    ]  # fmt: skip
    for request, status in bodies:
        _errors(await stack.http.post(f"{V2}/requests.json", **request), status)  # type: ignore[arg-type]
    # Multipart with text fields only is read like a form.
    parts = "".join(f'--b0\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in good.items())
    form_data = {"Content-Type": "multipart/form-data; boundary=b0"}
    multipart = await stack.http.post(f"{V2}/requests.json", content=f"{parts}--b0--\r\n", headers=form_data)
    assert multipart.status_code == 200 and multipart.json()[0]["service_request_id"], multipart.text

    gets: list[tuple[str, dict[str, str], int]] = [
        ("/requests.json", {"status": "pending"}, 400),
        ("/requests.json", {"start_date": "yesterday"}, 400),
        ("/requests.json", {"start_date": "2026-11-01T00:00:00"}, 400),  # no zone
        ("/requests.json", {"start_date": "2026-13-01T00:00:00Z"}, 400),
        ("/requests.json", {"start_date": "0001-01-01T00:00:00+01:00"}, 400),
        ("/requests.json", {"end_date": "9999-12-31T23:59:59-01:00"}, 400),
        ("/requests.json", {"end_date": "0001-01-01T00:30:00Z"}, 400),  # the 90 days before it do not exist
        ("/requests.json", {"service_code": "drainage\x00"}, 400),
        ("/requests.json", {"service_request_id": ",".join(["a"] * 1001)}, 400),
        ("/requests.json", {"jurisdiction_id": "nowhere"}, 404),
        ("/requests.json", {"jurisdiction_id": "\x00"}, 400),
        ("/services.json", {"jurisdiction_id": "nowhere"}, 404),
        ("/services/potholes.json", {}, 404),
        ("/requests/ffffffffffffffff.json", {}, 404),
        ("/requests/%00.json", {}, 404),
        ("/requests/..%2F..%2Fv1.json", {}, 404),
        ("/tokens/2099-999999.json", {}, 404),
        ("/tokens/%00.xml", {}, 404),
        ("/requests.yaml", {}, 404),
        ("/nothing-here", {}, 404),
        ("/", {}, 404),
    ]
    for path, params, status in gets:
        for fmt_path in {path, path.replace(".json", ".xml")}:
            _errors(await stack.http.get(f"{V2}{fmt_path}", params=params), status)
    wrong_method = await stack.http.put(f"{V2}/requests.xml")
    assert "PUT" in _errors(wrong_method, 400) and wrong_method.headers["allow"] == "GET, POST"
    _errors(await stack.http.delete(f"{V2}/services.json"), 400)


async def test_the_date_window_is_ninety_days_and_ids_override_it(stack: Stack) -> None:
    admin = await stack.headers("admin", None, "管理员")
    now = now_utc()
    ages = {"today": 0, "month": 30, "old": 91}
    ids = {name: (await stack.file(admin, category="lighting" if name == "month" else "drainage"))["id"]
           for name in ages}  # fmt: skip
    await stack.ok(ids["month"], "withdraw", admin, reason="Sorted")
    # Filed earlier: the read model's filing time, moved back (after the last change, which would rewrite it).
    async with stack.engine.begin() as connection:
        for name, days in ages.items():
            filed = now - timedelta(days=days, minutes=5)
            await connection.execute(update(CaseRecord).where(CaseRecord.id == ids[name]).values(filed_at=filed))

    async def found(**params: str) -> list[str]:
        response = await stack.http.get(f"{V2}/requests.json", params=params)
        assert response.status_code == 200, response.text
        by_id = {v: k for k, v in ids.items()}
        return [by_id.get(r["service_request_id"], "?") for r in _requests_valid(response.json())]

    def ago(days: float) -> str:
        return (now - timedelta(days=days)).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    assert await found() == ["today", "month"]  # the last 90 days, newest first
    assert await found(start_date=ago(100)) == ["month", "old"]  # 90 days from the start
    assert await found(end_date=ago(60)) == ["old"]  # the 90 days before the end
    assert await found(start_date=ago(92), end_date=ago(2)) == ["month", "old"]
    assert await found(start_date=ago(92), end_date=ago(2), status="open") == ["old"]
    assert await found(status="closed") == ["month"]
    assert await found(status="open,closed", service_code="lighting,water") == ["month"]
    assert await found(service_code="drainage", status="") == ["today"]  # empty: as if not given
    # A '+' that a client did not encode arrives as a space, and is read as the '+' it was.
    plus = (now - timedelta(days=40)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert await found(start_date=plus) == ["today", "month"]
    assert (await stack.http.get(f"{V2}/requests.json?start_date={plus}")).status_code == 200
    # Ids override every other argument, the window included; unknown ones are left out.
    listed = await found(service_request_id=f"{ids['old']},nope,{ids['today']}", status="closed", start_date=ago(1))
    assert listed == ["today", "old"]

    refused = [({"start_date": ago(120), "end_date": ago(29)}, "more than 90 days"),
               ({"start_date": ago(10), "end_date": ago(20)}, "end_date is before start_date")]  # fmt: skip
    for params, why in refused:
        for fmt in ("json", "xml"):
            assert why in _errors(await stack.http.get(f"{V2}/requests.{fmt}", params=params), 400)
    # A jurisdiction narrows to a town, a community or a compound.
    elsewhere = (await stack.file(admin, unit="compound-b1x"))["id"]
    in_b = (await stack.http.get(f"{V2}/requests.json", params={"jurisdiction_id": "town-b"})).json()
    assert [r["service_request_id"] for r in in_b] == [elsewhere]
    _errors(await stack.http.get(f"{V2}/requests/{elsewhere}.json", params={"jurisdiction_id": "town-a"}), 404)


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_a_token_is_a_case_number(stack: Stack, fmt: str) -> None:
    resident = await stack.headers("resident", "compound-a1x", "王芳")
    created = (await _post(stack, api_key=_key(resident), service_code="drainage", address_string="3号楼")).json()
    case_id = created[0]["service_request_id"]
    number = (await stack.case(case_id, await stack.headers("admin", None, "管理员")))["number"]
    assert number in created[0]["service_notice"]
    response = await stack.http.get(f"{V2}/tokens/{number}.{fmt}")
    assert response.status_code == 200, response.text
    if fmt == "json":
        assert response.json() == [{"service_request_id": case_id, "token": number}]
    else:
        assert _items(_xml(response, "service_requests"), "request", TOKEN) == [
            {"service_request_id": case_id, "token": number}
        ]
    _errors(await stack.http.get(f"{V2}/tokens/{number}.{fmt}", params={"jurisdiction_id": "town-b"}), 404)
