"""The FastAPI application: built by a function so tests and processes choose their settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from api.auth import TokenCache
from api.docs import install_docs
from api.errors import install_error_handlers
from api.headers import SecurityHeaders
from api.limits import BodyLimits, document_limits
from api.metrics import install_metrics
from api.pagination import CursorSigning, cursor_signer
from api.routes import audit, calendar, cases, health, open311, pages, public, supervision, units, webhooks
from core.calendar import seed_national
from core.db import create_engine, upgrade_schema
from core.settings import Settings
from core.temporal import data_converter


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        app.state.settings = settings
        app.state.engine = create_engine(settings.db_url)
        app.state.token_cache = TokenCache(settings.token_cache_seconds)
        await upgrade_schema(app.state.engine)
        await seed_national(app.state.engine)  # years the calendar package knows and the database does not yet
        # Lazy: the API starts (and /readyz says why it is not ready) even while Temporal is still coming up.
        app.state.temporal = await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=data_converter(settings),
            lazy=True,
        )
        try:
            yield
        finally:
            await app.state.engine.dispose()

    app = FastAPI(
        title="linli",
        summary="Residents' issues as durable cases: 议题征集 → 审议 → 议事 → 公布 → 落实 → 回访.",
        version="1.0.0",
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, with no CDN
        redoc_url=None,
    )
    install_error_handlers(app)
    for module in (health, units, cases, calendar, supervision, audit, pages, public, webhooks, open311):
        app.include_router(module.router)
    app.mount(pages.ASSETS, pages.assets(), name="assets")
    install_docs(app)
    document_limits(app)
    app.state.cursor_signer = cursor_signer(settings)
    # The last added runs first: security headers on every answer, then the body limits before anything
    # reads a body, then the cursor signer for the routes.
    app.add_middleware(CursorSigning, signer=app.state.cursor_signer)
    larger = {audit.HISTORY_UPLOAD: settings.max_history_bytes}
    app.add_middleware(BodyLimits, max_bytes=settings.max_body_bytes, larger=larger)
    app.add_middleware(SecurityHeaders)
    install_metrics(app)  # GET /metrics, and the outermost middleware: it times all the others too
    return app
