"""The supervisors' page in a real headless Chromium: it draws the table and the bar chart from the API."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import uvicorn
from PIL import Image

from bench.measure import free_port
from tests.conftest import IN_CI
from tests.utils.stack import Stack

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags for a closed network: no background connections, no first-run work, a throwaway profile.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--window-size=1200,900", "--virtual-time-budget=10000"]  # fmt: skip
BAR_COLOURS = {"response": (0x2F, 0x80, 0xED), "resolution": (0x27, 0xAE, 0x60), "satisfaction": (0xF2, 0x99, 0x4A)}


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        if IN_CI:
            raise RuntimeError("CI=true but Chromium is missing: .ci/run must install Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "HOME": str(profile)})  # fmt: skip


async def test_page_draws_the_rates_for_the_token_holder(stack: Stack, tmp_path: Path) -> None:
    supervisor = await stack.headers("supervisor", "town-a", "昌宁镇")
    for unit, satisfaction in (("compound-a1x", "satisfied"), ("compound-a2x", "unsatisfied")):
        cid = (await stack.file(supervisor, unit=unit))["id"]
        await stack.ok(cid, "submit", supervisor)
        await stack.ok(cid, "fast-track", supervisor, assignee="物业")
        await stack.ok(cid, "complete", supervisor, summary="done")
        await stack.ok(cid, "record-visit", supervisor, satisfaction=satisfaction)
    await stack.file(supervisor, unit="compound-a1y")  # open, not yet responded

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(stack.app, host="127.0.0.1", port=port, lifespan="off", log_config=None))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        token = supervisor["Authorization"].split()[1]
        url = f"http://127.0.0.1:{port}/supervision#token={token}"
        shot = tmp_path / "supervision.png"
        dom, picture = await asyncio.gather(
            asyncio.to_thread(chromium, "--dump-dom", url, profile=tmp_path / "p1"),
            asyncio.to_thread(chromium, f"--screenshot={shot}", url, profile=tmp_path / "p2"),
        )
        no_token = await asyncio.to_thread(chromium, "--dump-dom", url.split("#")[0], profile=tmp_path / "p3")
    finally:
        server.should_exit = True
        await serving

    html = dom.stdout
    assert 'data-unit="community-a1"' in html and 'data-unit="community-a2"' in html
    assert html.count('class="bar"') == 8  # four rates for each of the two communities
    assert "66.7%" in html  # the town's response rate: 2 of its 3 cases were decided in review
    assert "50.0%" in html  # community-a1's: 1 of 2 (the a1y case is still waiting)
    # Without a token the page shows the sign-in form and draws nothing.
    assert '<section id="login">' in no_token.stdout and 'class="bar"' not in no_token.stdout

    assert picture.returncode == 0, picture.stderr
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 900)
    histogram: dict[object, int] = {colour: n for n, colour in image.getcolors(maxcolors=1 << 20) or []}
    counts = {name: histogram.get(colour, 0) for name, colour in BAR_COLOURS.items()}
    # The bars are really drawn, in the rates' colours.
    assert all(n > 200 for n in counts.values()), counts
