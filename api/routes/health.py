"""Liveness and readiness, open to load balancers and orchestrators."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from api.deps import ClientDep, EngineDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a dependency is unreachable"}})
async def readyz(engine: EngineDep, client: ClientDep) -> JSONResponse:
    """Ready when both the database and Temporal answer."""
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(3):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:  # any failure means "not ready"; say which
        checks["database"] = f"unreachable: {type(error).__name__}"
    try:
        async with asyncio.timeout(3):
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=client.namespace))
        checks["temporal"] = "ok"
    except Exception as error:  # as above
        checks["temporal"] = f"unreachable: {type(error).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503
    )
