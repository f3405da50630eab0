"""Security headers. Every HTML page runs only scripts the app serves (or whose hash the page's own answer
names), loads nothing from another host, and cannot be framed; no answer may be sniffed as another type."""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# 'self' only: a government intranet has no CDN to reach, and an injected inline script does not run.
# Images may be data: URLs (Swagger UI draws its icons so); style attributes and <style> blocks are refused
# like inline scripts, so the pages style through their stylesheets and the CSSOM.
_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def content_security_policy(*script_hashes: str) -> str:
    """The policy, allowing besides the app's own scripts the inline ones with these ``'sha256-…'`` hashes."""
    policy = dict(_POLICY)
    if script_hashes:
        policy["script-src"] = " ".join([policy["script-src"], *script_hashes])
    return "; ".join(f"{name} {value}" for name, value in policy.items())


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def inline_script_hashes(html: str) -> list[str]:
    """CSP hashes of a page's inline scripts: only for pages the app writes itself, never for anything a
    request could put into the page (that would let an injected script through)."""
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(html)
    ]


HTML_HEADERS = {
    "Content-Security-Policy": content_security_policy(),
    "X-Frame-Options": "DENY",  # frame-ancestors 'none' for browsers that predate it
    "Referrer-Policy": "no-referrer",
}


class SecurityHeaders:
    """ASGI middleware: ``nosniff`` on every answer; on HTML ones the headers above, unless the route set
    its own (a page with hashed inline scripts sends its own policy)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if headers.get("content-type", "").startswith("text/html"):
                    for name, value in HTML_HEADERS.items():
                        headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
