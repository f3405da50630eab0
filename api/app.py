"""The FastAPI application: built by a function so tests and processes choose their settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from api.auth import TokenCache
from api.errors import install_error_handlers
from api.routes import audit, cases, health, pages, supervision, units
from core.db import create_engine, upgrade_schema
from core.settings import Settings
from core.temporal import DATA_CONVERTER


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        app.state.settings = settings
        app.state.engine = create_engine(settings.db_url)
        app.state.token_cache = TokenCache(settings.token_cache_seconds)
        await upgrade_schema(app.state.engine)
        # Lazy: the API starts (and /readyz says why it is not ready) even while Temporal is still coming up.
        app.state.temporal = await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=DATA_CONVERTER,
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
    )
    install_error_handlers(app)
    for module in (health, units, cases, supervision, audit, pages):
        app.include_router(module.router)
    return app
