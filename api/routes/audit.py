"""Audit (auditors and admins, read-only): a case's Temporal history, its runs, and the replay report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from api.deps import ClientDep, CurrentCaller, SessionDep, SettingsDep, require_role
from api.errors import error_responses
from api.pagination import Page
from api.services import audit
from api.services.audit import RUN_ID, HistoryUpload
from audit.report import ReplayReport, RunInfo
from workflows.model import Role

router = APIRouter(
    prefix="/v1/audit",
    tags=["audit"],
    dependencies=[require_role(Role.AUDITOR, Role.ADMIN)],
    responses=error_responses(401, 403, 404, 422),
)
# Reading a case's history can meet one Temporal cannot decode (409) or a Temporal that is away (503).
FROM_TEMPORAL = error_responses(409, 503)

CaseId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
RunId = Annotated[str | None, Query(pattern=RUN_ID, description="a run of the case; default: the newest")]

HISTORY_RESPONSE = {
    **FROM_TEMPORAL,
    200: {
        "description": 'The history as `temporal workflow show -w case-<id> -o json` prints it, `{"events": [...]}`, '
        "with its payloads decrypted",
        "content": {"application/json": {}},
    },
}


@router.get("/cases/{case_id}/history", response_class=Response, responses=HISTORY_RESPONSE)
async def read_case_history(
    db: SessionDep, client: ClientDep, settings: SettingsDep, caller: CurrentCaller, case_id: CaseId,
    run_id: RunId = None,
) -> Response:  # fmt: skip
    """One run of the case's Temporal history, shaped byte for byte as the Temporal CLI prints it, decrypted."""
    body = await audit.read_history(db, client, settings, caller, case_id, run_id)
    return Response(content=body, media_type="application/json")


@router.get("/cases/{case_id}/runs", responses=FROM_TEMPORAL)
async def read_case_runs(
    db: SessionDep, client: ClientDep, settings: SettingsDep, caller: CurrentCaller, case_id: CaseId
) -> Page[RunInfo]:
    """The case's runs, oldest first: a long case continues as new; fetch each with `history?run_id=`."""
    return Page(items=await audit.list_runs(db, client, settings, caller, case_id))


@router.post("/cases/{case_id}/replay", responses=FROM_TEMPORAL)
async def replay_case(
    db: SessionDep, client: ClientDep, settings: SettingsDep, caller: CurrentCaller, case_id: CaseId
) -> ReplayReport:
    """Replay every run on today's code: determinism, the timeline, the final state, the read model's agreement."""
    return await audit.replay_case(db, client, settings, caller, case_id)


# The one route that takes whole histories: its bodies may be larger (LINLI_MAX_HISTORY_BYTES; api/limits.py).
HISTORY_UPLOAD = ("POST", f"{router.prefix}/replay")


@router.post("/replay")
async def replay_history(
    db: SessionDep, client: ClientDep, caller: CurrentCaller, upload: HistoryUpload
) -> ReplayReport:
    """The same for an uploaded history (one run: this API's export, or `temporal workflow show -o json`'s)."""
    return await audit.replay_upload(db, client, caller, upload)
