"""The HTML pages: security headers, nothing from another host, and /docs working with no internet."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from api.headers import inline_script_hashes
from tests.utils.browser import chromium, console, serving
from tests.utils.stack import Stack

PAGES = ["/supervision", "/docs", "/public/compound-a1x"]
# Everything those pages load, and the document /docs draws.
SERVED = [
    *PAGES,
    "/assets/supervision.js",
    "/assets/supervision.css",
    "/assets/public.css",
    "/docs/assets/swagger-ui.css",
    "/openapi.json",
]
CDN_HOSTS = ["cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com", "fastapi.tiangolo.com", "googleapis.com"]


async def test_html_pages_carry_the_security_headers(stack: Stack) -> None:
    for path in PAGES:
        response = await stack.http.get(path)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        policy = response.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'self'" and directives["frame-ancestors"] == "'none'", policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy and "*" not in policy, policy
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        # An inline script runs only if the policy names its hash: /supervision has none, /docs one (FastAPI's
        # Swagger UI start-up), and its hash is in that page's own policy.
        hashes = inline_script_hashes(response.text)
        assert all(h in directives["script-src"] for h in hashes)
        assert len(hashes) == (1 if path == "/docs" else 0), (path, hashes)
    # Everything else is told not to be sniffed into something else either.
    for path in ["/healthz", "/openapi.json", "/assets/supervision.js", "/docs/assets/swagger-ui-bundle.js"]:
        response = await stack.http.get(path)
        assert response.status_code == 200 and response.headers["x-content-type-options"] == "nosniff", path
    assert (await stack.http.get("/redoc")).status_code == 404  # not served: see api/docs.py


async def test_nothing_served_refers_to_another_host(stack: Stack) -> None:
    for path in SERVED:
        text = (await stack.http.get(path)).text
        assert not [host for host in CDN_HOSTS if host in text], path
        if path in PAGES:
            references = re.findall(r'(?:src|href)="([^"]*)"', text) + re.findall(r"url: '([^']*)'", text)
            assert references and all(ref.startswith("/") and not ref.startswith("//") for ref in references), (
                path,
                references,
            )


async def test_docs_render_the_operations_with_no_internet(stack: Stack, tmp_path: Path) -> None:
    operations = (await stack.http.get("/openapi.json")).json()["paths"]
    summaries = {op["summary"] for item in operations.values() for op in item.values()}
    async with serving(stack.app) as base:
        dom = await asyncio.to_thread(chromium, "--dump-dom", f"{base}/docs", profile=tmp_path / "p")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    drawn = set(re.findall(r'class="opblock-summary-description">([^<]*)<', html))
    assert drawn == {s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for s in summaries}
    assert "/v1/audit/replay" in html and "Create Case" in html
    # Under its own Content-Security-Policy, and with every host but the app unresolvable: nothing refused.
    assert console(dom) == [], console(dom)
