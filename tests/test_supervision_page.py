"""The supervisors' page in a real headless Chromium: it draws the table and the bar chart from the API."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

from tests.utils.browser import chromium, console, serving
from tests.utils.stack import Stack, eventually

BAR_COLOURS = {"response": (0x2F, 0x80, 0xED), "resolution": (0x27, 0xAE, 0x60), "satisfaction": (0xF2, 0x99, 0x4A)}


async def test_page_draws_the_rates_for_the_token_holder(stack: Stack, tmp_path: Path) -> None:
    supervisor = await stack.headers("supervisor", "town-a", "昌宁镇")
    for unit, satisfaction, urgency in (("compound-a1x", "satisfied", "urgent"),
                                        ("compound-a2x", "unsatisfied", "normal")):  # fmt: skip
        cid = (await stack.file(supervisor, unit=unit, urgency=urgency))["id"]
        await stack.ok(cid, "submit", supervisor)
        await stack.ok(cid, "fast-track", supervisor, assignee="物业")
        await stack.ok(cid, "complete", supervisor, summary="done")
        await stack.ok(cid, "record-visit", supervisor, satisfaction=satisfaction)
    await stack.file(supervisor, unit="compound-a1y")  # open, not yet responded

    async with serving(stack.app) as base:
        token = supervisor["Authorization"].split()[1]
        url = f"{base}/supervision#token={token}"
        shot = tmp_path / "supervision.png"
        dom, picture = await asyncio.gather(
            asyncio.to_thread(chromium, "--dump-dom", url, profile=tmp_path / "p1"),
            asyncio.to_thread(chromium, f"--screenshot={shot}", url, profile=tmp_path / "p2"),
        )
        urgent_url = f"{base}/supervision?urgency=urgent#token={token}"  # as choosing 加急 in the select leaves it
        no_token, urgent = await asyncio.gather(
            asyncio.to_thread(chromium, "--dump-dom", url.split("#")[0], profile=tmp_path / "p3"),
            asyncio.to_thread(chromium, "--dump-dom", urgent_url, profile=tmp_path / "p4"),
        )

    # The page's script and styles run under its Content-Security-Policy: the browser refused nothing.
    runs = (dom, no_token, urgent)
    assert all(console(run) == [] for run in runs), [console(run) for run in runs]
    html = dom.stdout
    assert 'data-unit="community-a1"' in html and 'data-unit="community-a2"' in html
    assert html.count('class="bar"') == 8  # four rates for each of the two communities
    assert "66.7%" in html  # the town's response rate: 2 of its 3 cases were decided in review
    assert "50.0%" in html  # community-a1's: 1 of 2 (the a1y case is still waiting)
    assert total_row(html)[:2] == ["昌宁镇", "3"]  # every urgency: the three cases filed
    # The urgency filter narrows the figures to the one urgent case, and says so.
    assert total_row(urgent.stdout)[:2] == ["昌宁镇", "1"]
    assert total_row(urgent.stdout)[-4:] == ["100.0%", "100.0%", "100.0%", "100.0%"]
    assert "昌宁镇 · 加急 urgent" in urgent.stdout and '<option value="urgent">' in urgent.stdout
    # Without a token the page shows the sign-in form and draws nothing.
    assert '<section id="login">' in no_token.stdout and 'class="bar"' not in no_token.stdout

    assert picture.returncode == 0, picture.stderr
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 900)
    histogram: dict[object, int] = {colour: n for n, colour in image.getcolors(maxcolors=1 << 20) or []}
    counts = {name: histogram.get(colour, 0) for name, colour in BAR_COLOURS.items()}
    # The bars are really drawn, in the rates' colours.
    assert all(n > 200 for n in counts.values()), counts


def total_row(html: str) -> list[str]:
    """The cells of the table's total line, as the page drew them."""
    row = re.search(r'<tr class="total"[^>]*>(.*?)</tr>', html)
    assert row is not None, html
    return re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))


RANKING_COLOURS = {"score": (0x0F, 0x76, 0x6E), "claim": (0x1D, 0x4E, 0xD8)}
RANKED_RATES = ["response_rate", "resolution_rate", "satisfaction_rate", "on_time_rate", "claim_on_time_rate"]
# A taller window (the later flag wins), so the ranking and the queue, below the chart, are in the picture.
TALL = "--window-size=1200,2000"


async def test_page_shows_the_ranking_and_what_waits_for_a_claim(stack: Stack, tmp_path: Path) -> None:
    supervisor = await stack.headers("supervisor", "town-a", "昌宁镇")
    resident = await stack.headers("resident", "compound-a1x", "王阿姨")
    waiting = await stack.file(resident, title="Lift stuck <b>between</b> floors")  # a resident's: unclaimed
    done = (await stack.file(supervisor, unit="compound-a2x"))["id"]
    for action, body in (("submit", {}), ("fast-track", {"assignee": "物业"}), ("complete", {"summary": "done"}),
                         ("record-visit", {"satisfaction": "satisfied"})):  # fmt: skip
        await stack.ok(done, action, supervisor, **body)
    month = datetime.now(UTC).strftime("%Y-%m")  # the ranking's periods are UTC months; the page's default
    pending = await eventually(
        lambda: stack.http.get("/v1/supervision/pending", headers=supervisor),
        lambda r: r.status_code == 200 and waiting["id"] in {i["case"]["id"] for i in r.json()["items"]},
    )
    claim = next(i for i in pending.json()["items"] if i["case"]["id"] == waiting["id"])
    assert claim["kind"] == "claim", claim
    ranking = await stack.http.get("/v1/supervision/ranking", params={"period": month}, headers=supervisor)
    assert ranking.status_code == 200, ranking.text
    ranked = {row["unit"]: row for row in ranking.json()["items"]}
    assert set(ranked) == {"community-a1", "community-a2"}

    async with serving(stack.app) as base:
        url = f"{base}/supervision#token={supervisor['Authorization'].split()[1]}"
        shot = tmp_path / "ranking.png"
        quarter = f"{datetime.now(UTC).year - 1}-Q4"  # a period in the address, as a bookmark keeps it
        dom, picture, earlier = await asyncio.gather(
            asyncio.to_thread(chromium, "--dump-dom", url, profile=tmp_path / "p1"),
            asyncio.to_thread(chromium, f"--screenshot={shot}", TALL, url, profile=tmp_path / "p2"),
            asyncio.to_thread(chromium, "--dump-dom", url.replace("#", f"?period={quarter}#"), profile=tmp_path / "p3"),
        )
    runs = (dom, picture, earlier)
    assert all(console(run) == [] for run in runs), [console(run) for run in runs]
    html = dom.stdout
    assert f"· {month} ·" in html  # the ranking is this month's, as its caption says
    # Last year's fourth quarter: the same communities, nothing filed in it.
    assert f"· {quarter} ·" in earlier.stdout
    assert [cells[3] for _, cells in table_rows(earlier.stdout, "ranking", "ranked")] == ["0", "0"]

    # 考核排名: a row per community of town-a, in rank order, with the API's score, rates and penalty points.
    rows = table_rows(html, "ranking", "ranked")
    assert [data["unit"] for data, _ in rows] == [r["unit"] for r in ranking.json()["items"]]
    for data, cells in rows:
        expected = ranked[data["unit"]]
        rank, name, score, filed, *rates, yellow, red, late_claims, penalty = cells
        assert (rank, name, score, filed) == (str(expected["rank"]), expected["name"], f"{expected['score']:.1f}",
                                              str(expected["filed"])), cells  # fmt: skip
        assert rates == [percent(expected[key]) for key in RANKED_RATES]
        assert (yellow, red, late_claims) == (str(expected["yellow_cards"]), str(expected["red_cards"]),
                                              str(expected["claims_overdue"]))  # fmt: skip
        assert float(penalty) == expected["penalty_points"]
    assert {cells[1] for _, cells in rows} == {"营里社区", "南环社区"}
    # 南环社区 closed its case with a satisfied resident; 营里社区 has not yet answered its resident.
    assert rows[0][0]["unit"] == "community-a2" and ranked["community-a2"]["score"] > ranked["community-a1"]["score"]

    # 待办: the resident's case waits for its claim at the compound, shown by number and title (as text).
    queue = [(data, cells) for data, cells in table_rows(html, "pending", "pending") if data["case"] == waiting["id"]]
    assert len(queue) == 1, html
    kind, case, unit, _since, due, detail = queue[0][1]
    assert kind == "签收 claim" and queue[0][0]["kind"] == "claim"
    assert case == waiting["number"] + "Lift stuck &lt;b&gt;between&lt;/b&gt; floors"  # text, never markup
    assert unit == "云台府小区" and detail.startswith("签收期限 claim by ")
    assert ("已超期" in due) == claim["detail"]["overdue"]

    assert picture.returncode == 0, picture.stderr
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 2000)
    histogram: dict[object, int] = {colour: n for n, colour in image.getcolors(maxcolors=1 << 20) or []}
    counts = {name: histogram.get(colour, 0) for name, colour in RANKING_COLOURS.items()}
    # The leader's score bar (南环社区, full) and the claim's kind badge are really drawn, in their colours.
    assert all(n > 100 for n in counts.values()), counts


def table_rows(html: str, table: str, row_class: str) -> list[tuple[dict[str, str], list[str]]]:
    """The rows of class ``row_class`` in the table ``id=table``: their data- attributes and their cells' text
    (as serialized: markup in the data would show as tags, text as entities)."""
    body = re.search(rf'<table id="{table}"[^>]*>(.*?)</table>', html, re.DOTALL)
    assert body is not None, html
    return [
        (dict(re.findall(r'data-([a-z]+)="([^"]*)"', attrs)),
         [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", cells)])
        for attrs, cells in re.findall(rf'<tr class="{row_class}[^"]*"([^>]*)>(.*?)</tr>', body.group(1))
    ]  # fmt: skip


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"
