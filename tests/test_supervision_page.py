"""The supervisors' page in a real headless Chromium: it draws the table and the bar chart from the API."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from PIL import Image

from tests.utils.browser import chromium, console, serving
from tests.utils.stack import Stack

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
