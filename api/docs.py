"""``/docs``: Swagger UI served whole by the app, so it works where there is no internet (a government
intranet reaches no CDN). The Swagger UI files come from the ``fastapi-offline`` package. ReDoc is not
served: one interactive reference is enough, and its bundle needs a looser policy (inline styles, workers).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.headers import content_security_policy, inline_script_hashes

DOCS = "/docs"
ASSETS = "/docs/assets"  # swagger-ui-bundle.js, swagger-ui.css, favicon.png


def install_docs(app: FastAPI) -> None:
    """Serve the docs page and its assets; the app must be made with ``docs_url=None``."""
    app.mount(ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-assets")

    @app.get(DOCS, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} · API",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            oauth2_redirect_url=None,  # bearer tokens are pasted in; there is no OAuth flow to come back from
            swagger_ui_parameters=app.swagger_ui_parameters,
        )
        # The page starts Swagger UI with an inline script that FastAPI writes from the app's own settings
        # (nothing from the request but the root path the server was configured with): allow it by hash.
        html = bytes(page.body).decode()
        page.headers["Content-Security-Policy"] = content_security_policy(*inline_script_hashes(html))
        return page
