"""The supervisors' page: an HTML file (with its script and stylesheet under /assets) that draws
`/v1/supervision/stats` as a table and a bar chart, the month's ranking (`/ranking`) and what waits for
someone (`/pending`).

The page itself holds no data. It asks for a token (or takes one from the URL fragment, which browsers
never send to the server) and fetches the figures with it, so it shows only what that token may see.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(tags=["pages"])

STATIC = Path(__file__).resolve().parent.parent / "static"
PAGE = STATIC / "supervision.html"
# The pages' scripts and stylesheets: files, not inline, so the pages' policy forbids every inline script.
ASSETS = "/assets"


def assets() -> StaticFiles:
    return StaticFiles(directory=STATIC / "assets")


@cache
def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


@router.get("/supervision", response_class=HTMLResponse, include_in_schema=False)
async def supervision_page() -> HTMLResponse:
    """Per-unit rates for the caller's jurisdiction (`?unit=`, `?from=`, `?to=`, `?urgency=` pass through)."""
    return HTMLResponse(_page(), headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
