"""The public board (公示栏 / 回音壁): a compound's decisions open to objection and its recently closed cases,
for anyone, with no token, and never a resident's name or phone number."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from PIL import Image
from sqlalchemy import update

from core.tables import CaseRecord, now_utc
from tests.utils import browser
from tests.utils.browser import chromium, console, serving
from tests.utils.stack import Stack, walk

# The residents of the fixture: distinctive, so that finding any of them anywhere on the board is a leak.
REPORTERS = {
    "announced": ("欧阳娜娜", "13912345678"),
    "closed": ("慕容雪梅", "13787654321"),
    "rejected": ("上官婉儿", "13600001111"),
    "open": ("司徒振华", "13522223333"),
    "old": ("皇甫建国", "13344445555"),
    "other": ("东方明珠", "13166667777"),
    "other_town": ("令狐青松", "13088889999"),
}
CO_SIGNERS = ["司马光明"]
OBJECTORS = ["诸葛秀英", "独孤求真"]
# Free text the board never shows: descriptions, minutes, notes, summaries, comments, reasons.
PRIVATE_TEXT = ["DESCRIPTION-SECRET", "Options discussed; agreed.", "VISIT-COMMENT-SECRET", "OBJECTION-REASON-SECRET",
                "SUMMARY-SECRET", "REJECTION-SECRET", "ACCEPT-NOTE-SECRET", "Within the compound's reach"]  # fmt: skip

DECISION_KEYS = {"number", "title", "category", "decision", "assignee", "objection_deadline", "objection_count",
                 "how_to_object"}  # fmt: skip
CLOSED_KEYS = {"number", "title", "category", "outcome", "satisfaction", "closed_at"}
BOARD_KEYS = {"compound", "generated_at", "time_zone", "closed_window_days", "announcing", "closed"}
CST = ZoneInfo("Asia/Shanghai")


@dataclass
class Board:
    stack: Stack
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)  # as staff read them, by the keys above


async def _file(stack: Stack, headers: dict[str, str], key: str, unit: str = "compound-a1x", **fields: Any) -> str:
    name, phone = REPORTERS[key]
    fields.setdefault("title", f"Case {key}: broken street light by gate 2")
    body = {"reporter": {"name": name, "phone": phone}, "description": f"DESCRIPTION-SECRET: call {name} on {phone}"}
    return str((await stack.file(headers, unit=unit, **body, **fields))["id"])


async def _close_satisfied(stack: Stack, headers: dict[str, str], case_id: str) -> None:
    await stack.ok(case_id, "submit", headers)
    await stack.ok(case_id, "fast-track", headers, assignee="物业", note="ACCEPT-NOTE-SECRET")
    await stack.ok(case_id, "complete", headers, summary="SUMMARY-SECRET")
    await stack.ok(case_id, "record-visit", headers, satisfaction="satisfied", comment="VISIT-COMMENT-SECRET")


@pytest.fixture
async def board(stack: Stack) -> Board:
    """compound-a1x: one decision in its objection period (co-signed, objected to), one case closed with a
    satisfied visit (its title written with the reporter's name and phone in it), one rejected, one still in
    review and one closed 91 days ago; and cases of a neighbouring compound and of another town."""
    b = Board(stack)
    staff = await stack.headers("caseworker", "compound-a1x", "网格员小李")
    ids: dict[str, str] = {}

    ids["announced"] = await _file(stack, staff, "announced", title="Street lights out along the east path",
                                   category="lighting")  # fmt: skip
    for name in CO_SIGNERS:
        neighbour = await stack.headers("resident", "compound-a1x", name)
        await stack.ok(ids["announced"], "co-sign", neighbour, resident=name)
    await walk(stack, staff, ids["announced"], "announcing")
    for name in OBJECTORS:
        objector = await stack.headers("resident", "compound-a1x", name)
        await stack.ok(ids["announced"], "object", objector, resident=name, reason="OBJECTION-REASON-SECRET")

    name, phone = REPORTERS["closed"]
    ids["closed"] = await _file(
        stack, staff, "closed", title=f"{name}家门口积水 (电话 {phone[:3]}-{phone[3:7]}-{phone[7:]})"
    )
    await _close_satisfied(stack, staff, ids["closed"])

    ids["rejected"] = await _file(stack, staff, "rejected", title="Paint the bike shed pink")
    await stack.ok(ids["rejected"], "submit", staff)
    await stack.ok(ids["rejected"], "reject", staff, explanation="REJECTION-SECRET")

    ids["open"] = await _file(stack, staff, "open", title="Noisy pump at night")
    await stack.ok(ids["open"], "submit", staff)

    ids["old"] = await _file(stack, staff, "old", title="Last spring's pothole")
    await _close_satisfied(stack, staff, ids["old"])

    neighbour_staff = await stack.headers("caseworker", "compound-a1y", "惠民小区网格员")
    ids["other"] = await _file(stack, neighbour_staff, "other", unit="compound-a1y", title="OTHER compound's lights")
    await walk(stack, neighbour_staff, ids["other"], "announcing")
    ids["other_closed"] = await _file(stack, neighbour_staff, "other", unit="compound-a1y", title="OTHER closed")
    await _close_satisfied(stack, neighbour_staff, ids["other_closed"])
    far_staff = await stack.headers("caseworker", "compound-b1x", "长钢小区网格员")
    ids["other_town"] = await _file(stack, far_staff, "other_town", unit="compound-b1x", title="OTHER town's case")
    await _close_satisfied(stack, far_staff, ids["other_town"])

    # Closed 91 days ago: out of the board's window (the read model's closing time, moved back).
    async with stack.engine.begin() as connection:
        await connection.execute(
            update(CaseRecord).where(CaseRecord.id == ids["old"]).values(closed_at=now_utc() - timedelta(days=91))  # type: ignore[arg-type]
        )
    admin = await stack.headers("admin", None, "管理员")
    b.cases = {key: await stack.case(case_id, admin) for key, case_id in ids.items()}
    return b


def _personal(b: Board) -> list[str]:
    """Every resident's name and phone in the fixture (a phone also as its separated groups)."""
    names = [n for n, _ in REPORTERS.values()] + CO_SIGNERS + OBJECTORS
    phones = [p for _, p in REPORTERS.values()]
    return [*names, *phones, *(f"{p[:3]}-{p[3:7]}-{p[7:]}" for p in phones), *(p[-8:] for p in phones)]


async def test_json_lists_the_objection_period_and_the_recently_closed(board: Board) -> None:
    response = await board.stack.http.get("/public/compound-a1x.json")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "public, max-age=60"
    body = response.json()
    assert set(body) == BOARD_KEYS
    assert body["compound"] == {"code": "compound-a1x", "name": "云台府小区",
                                "community": {"code": "community-a1", "name": "营里社区"},
                                "town": {"code": "town-a", "name": "昌宁镇"}}  # fmt: skip
    assert body["time_zone"] == "Asia/Shanghai" and body["closed_window_days"] == 90

    # 公示中: exactly the one decision in its objection period, with the allow-listed fields only.
    announced = board.cases["announced"]
    assert [d["number"] for d in body["announcing"]] == [announced["number"]]
    (decision,) = body["announcing"]
    assert set(decision) == DECISION_KEYS
    assert decision["title"] == "Street lights out along the east path" and decision["category"] == "lighting"
    assert decision["decision"] == "The property company fixes it" and decision["assignee"] == "物业"
    assert datetime.fromisoformat(decision["objection_deadline"]) == datetime.fromisoformat(announced["deadline"])
    assert decision["objection_count"] == len(OBJECTORS)
    how = decision["how_to_object"]
    assert "提出异议" in how and "营里社区" in how and "云台府小区" in how and announced["number"] in how

    # Closed in the last 90 days: the satisfied one and the rejected one, newest first; not the one closed
    # 91 days ago, not the one still in review.
    closed = {c["number"]: c for c in body["closed"]}
    assert [c["number"] for c in body["closed"]] == [board.cases["rejected"]["number"], board.cases["closed"]["number"]]
    assert all(set(c) == CLOSED_KEYS for c in body["closed"])
    satisfied = closed[board.cases["closed"]["number"]]
    assert (satisfied["outcome"], satisfied["satisfaction"]) == ("resolved", "satisfied")
    assert datetime.fromisoformat(satisfied["closed_at"]) == datetime.fromisoformat(board.cases["closed"]["updated_at"])
    # Its title was written with the reporter's name and phone in it: both are blanked out on the board.
    assert satisfied["title"] == "某某家门口积水 (电话 ***)"
    rejected = closed[board.cases["rejected"]["number"]]
    assert (rejected["outcome"], rejected["satisfaction"]) == ("rejected", None)

    # Only this compound's cases: neither the neighbouring compound's nor the other town's.
    numbers = {d["number"] for d in body["announcing"]} | set(closed)
    for key in ("other", "other_closed", "other_town", "open", "old"):
        assert board.cases[key]["number"] not in numbers, key
    assert "OTHER" not in response.text

    # The neighbouring compound has its own board, with its own cases.
    other = (await board.stack.http.get("/public/compound-a1y.json")).json()
    assert [d["number"] for d in other["announcing"]] == [board.cases["other"]["number"]]
    assert [c["number"] for c in other["closed"]] == [board.cases["other_closed"]["number"]]


async def test_no_name_phone_or_private_note_on_the_page_or_in_the_json(board: Board) -> None:
    page = await board.stack.http.get("/public/compound-a1x")
    data = await board.stack.http.get("/public/compound-a1x.json")
    assert page.status_code == 200 and data.status_code == 200
    # The fixture really holds them (the staff's reading of the cases), so their absence below means something.
    staff_view = json.dumps(board.cases, ensure_ascii=False)
    names = [n for n, _ in REPORTERS.values()] + CO_SIGNERS + OBJECTORS
    held = [*names, *(p for _, p in REPORTERS.values()), "DESCRIPTION-SECRET", "OBJECTION-REASON-SECRET"]
    assert [s for s in held if s not in staff_view] == []
    for text, where in (
        (page.text, "page"),
        (data.text, "json"),
        (json.dumps(data.json(), ensure_ascii=False), "json"),
    ):
        found = [s for s in (*_personal(board), *PRIVATE_TEXT) if s in text]
        assert found == [], (where, found)
        assert not re.search(r"1[3-9]\d{9}", text), where
    # Nor the staff who acted on the cases (by their token names).
    assert "网格员小李" not in page.text and "网格员小李" not in data.text


async def test_the_page_is_open_to_anyone_and_cached_for_a_minute(board: Board) -> None:
    http = board.stack.http
    for headers in ({}, {"Authorization": "Bearer not-a-real-token"}):
        page = await http.get("/public/compound-a1x", headers=headers)
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "public, max-age=60"
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert "<script" not in page.text  # rendered on the server: nothing for the policy to allow
        data = await http.get("/public/compound-a1x.json", headers=headers)
        assert data.status_code == 200 and data.headers["cache-control"] == "public, max-age=60"
        assert data.headers["content-type"].startswith("application/json")
    html = page.text
    assert "公示中 · In objection period" in html and "近 90 天已办结 · Closed in the last 90 days" in html
    assert "The property company fixes it" in html and board.cases["announced"]["number"] in html
    assert "满意 · Satisfied" in html and "不予办理" in html
    assert (await http.get("/assets/public.css")).status_code == 200


async def test_unknown_or_not_a_compound_is_404(board: Board) -> None:
    http = board.stack.http
    for code in ("compound-zz9", "community-a1", "town-a", "Compound-A1X", "a.b", "%00", "x%20y"):
        data = await http.get(f"/public/{code}.json")
        assert data.status_code == 404, (code, data.text)
        assert data.json()["error"] == "not_found" and "no compound" in data.json()["detail"]
        page = await http.get(f"/public/{code}")
        assert page.status_code == 404, (code, page.text)
        assert page.headers["content-type"].startswith("text/html")
        assert "未找到该小区的公示栏" in page.text and "no compound" in page.text
        assert "<script" not in page.text
    empty = await http.get("/public/.json")  # no code at all: still the JSON route's answer
    assert empty.status_code == 404 and empty.json()["error"] == "not_found"


async def test_an_empty_board_says_so(stack: Stack) -> None:
    page = await stack.http.get("/public/compound-a2x")
    assert page.status_code == 200
    assert "目前没有公示中的决定" in page.text and "近 90 天没有办结的议题" in page.text
    assert (await stack.http.get("/public/compound-a2x.json")).json()["announcing"] == []


PHONE = (375, 812)
HEADER = (0x7C, 0x2D, 0x12)  # the header band's colour (public.css)


async def test_page_on_a_phone_shows_the_decision_and_deadline_without_sideways_scrolling(
    board: Board, tmp_path: Path
) -> None:
    announced = board.cases["announced"]
    at = datetime.fromisoformat(announced["deadline"])
    deadline = at.astimezone(CST).strftime("%Y-%m-%d %H:%M")  # as the page shows it: China Standard Time
    shot = tmp_path / "board.png"
    async with serving(board.stack.app) as base:
        url = f"{base}/public/compound-a1x"
        dom, phone = await asyncio.gather(
            asyncio.to_thread(chromium, "--dump-dom", url, profile=tmp_path / "p1"),
            _on_a_phone(url, tmp_path / "p2", shot),
        )
    # The browser refused nothing (the policy of api/headers.py, the stylesheet from /assets).
    assert dom.returncode == 0 and console(dom) == [], console(dom)
    article = re.search(rf'<article class="decision" data-number="{announced["number"]}">(.*?)</article>', dom.stdout,
                        re.S)  # fmt: skip
    assert article is not None, dom.stdout
    shown = article.group(1)
    assert "The property company fixes it" in shown and "异议截止 · Objections until" in shown
    assert f'<time datetime="{at.isoformat()}">{deadline}</time>' in shown
    assert "如何提出异议 · How to object" in shown and announced["number"] in shown

    # On a 375 px phone: the decision and its deadline are there, and nothing is wider than the screen.
    assert phone["viewport"] == PHONE[0], phone
    assert phone["scroll"] <= PHONE[0], phone
    assert phone["widest"] <= PHONE[0], phone
    assert phone["decision"] == "The property company fixes it", phone
    assert phone["deadline"].startswith(deadline), phone
    assert phone["stylesheet"] == "grid", phone  # public.css applied (its definition lists are grids)

    image = Image.open(shot).convert("RGB")
    assert image.size == PHONE
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50, len(colours)  # text, cards and the header: not a blank page
    histogram: dict[object, int] = {colour: n for n, colour in colours}
    assert histogram.get(HEADER, 0) > 5000, histogram.get(HEADER)  # the header band is drawn
    assert max(n for n, _ in colours) < image.size[0] * image.size[1] * 0.9  # nor one flat colour


# What the page lays out to, read in the browser itself: the document's scroll width, the viewport's, the
# right edge of the widest element, and the decision and deadline as drawn.
MEASURE = """JSON.stringify({
  href: location.href,
  ready: document.readyState,
  scroll: document.documentElement.scrollWidth,
  viewport: document.documentElement.clientWidth,
  widest: Math.max(0, ...[...document.querySelectorAll('body *')].map(e => Math.ceil(e.getBoundingClientRect().right))),
  decision: document.querySelector('article.decision dd.decision-text')?.innerText,
  deadline: document.querySelector('article.decision dd.deadline')?.innerText,
  stylesheet: getComputedStyle(document.querySelector('dl') || document.body).display,
})"""


async def _on_a_phone(url: str, profile: Path, shot: Path) -> dict[str, Any]:
    """Open ``url`` in headless Chromium emulating a 375x812 phone (over the DevTools protocol: headless
    windows are never narrower than 500 px); measure it, and save a screenshot of the viewport to ``shot``."""
    if browser.CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    flags = [f for f in browser.FLAGS if not f.startswith("--virtual-time-budget")]
    process = await asyncio.create_subprocess_exec(
        browser.CHROMIUM, *flags, "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank",
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "HOME": str(profile)},
    )  # fmt: skip
    try:
        assert process.stderr is not None
        endpoint = await asyncio.wait_for(_devtools_endpoint(process.stderr), timeout=60)
        port = re.search(r":(\d+)/", endpoint)
        assert port is not None, endpoint
        async with aiohttp.ClientSession() as session:
            targets = await (await session.get(f"http://127.0.0.1:{port.group(1)}/json/list")).json()
            page = next(t for t in targets if t["type"] == "page")
            async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                devtools = _Devtools(ws)
                await devtools.call("Emulation.setDeviceMetricsOverride", width=PHONE[0], height=PHONE[1],
                                    deviceScaleFactor=1, mobile=True)  # fmt: skip
                await devtools.call("Page.navigate", url=url)
                for _ in range(400):
                    result = await devtools.evaluate(MEASURE)
                    if result["href"] == url and result["ready"] == "complete":
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError(f"the page did not load: {result}")
                picture = await devtools.call("Page.captureScreenshot", format="png")
                shot.write_bytes(base64.b64decode(picture["data"]))
                return result
    finally:
        process.kill()
        await process.wait()


async def _devtools_endpoint(stderr: asyncio.StreamReader) -> str:
    while line := (await stderr.readline()).decode(errors="replace"):
        if found := re.search(r"DevTools listening on (ws://\S+)", line):
            _DRAINS.add(asyncio.get_running_loop().create_task(_drain(stderr)))  # the log must not fill the pipe
            return found.group(1)
    raise AssertionError("chromium ended without a DevTools endpoint")


_DRAINS: set[asyncio.Task[None]] = set()


async def _drain(stderr: asyncio.StreamReader) -> None:
    while await stderr.read(1 << 16):
        pass


class _Devtools:
    """The few DevTools protocol calls the test needs, one at a time (events are skipped)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.last = ws, 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.last += 1
        await self.ws.send_json({"id": self.last, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json()
            if message.get("id") == self.last:
                assert "error" not in message, (method, message)
                return message["result"]  # type: ignore[no-any-return]

    async def evaluate(self, expression: str) -> dict[str, Any]:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "value" not in result["result"]:  # thrown, e.g. while the page is replaced: try again
            return {"href": None, "thrown": result}
        return json.loads(result["result"]["value"])  # type: ignore[no-any-return]
