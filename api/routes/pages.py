"""The supervisors' page: one HTML file that draws `/v1/supervision/stats` as a table and a bar chart.

The page itself holds no data. It asks for a token (or takes one from the URL fragment, which browsers
never send to the server) and fetches the figures with it, so it shows only what that token may see.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["pages"])

PAGE = Path(__file__).resolve().parent.parent / "static" / "supervision.html"


@cache
def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


@router.get("/supervision", response_class=HTMLResponse, include_in_schema=False)
async def supervision_page() -> HTMLResponse:
    """Per-unit rates for the caller's jurisdiction (`?unit=`, `?from=`, `?to=` pass through to the stats)."""
    return HTMLResponse(_page(), headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
