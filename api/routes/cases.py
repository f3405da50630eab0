"""Cases: file, read, list, act, and the audit trail of one case."""

# No `from __future__ import annotations` here: the action routes are built in a loop, and FastAPI must
# see each one's body model as a real class, not as a string naming a loop variable.

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Header, Path, Query
from pydantic import AfterValidator

from api.deps import ClientDep, CurrentCaller, SessionDep, SettingsDep
from api.errors import error_responses, unprocessable
from api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from api.services import cases
from api.services.cases import CaseCreate, CaseFilters
from api.services.units import CODE
from api.text import refuse_nul
from core.rows import EventPublic
from workflows.model import ACTION_BODIES, CasePublic, CaseView, Command, Stage, Tier, Urgency

router = APIRouter(prefix="/v1/cases", tags=["cases"], responses=error_responses(401, 403, 422))

CaseId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=200, description="retries with the same key are applied once"),
]


@router.post("", status_code=201, responses=error_responses(409, 503))
async def create_case(
    db: SessionDep, client: ClientDep, settings: SettingsDep, caller: CurrentCaller,
    body: CaseCreate, idempotency_key: IdempotencyKey = None,
) -> CaseView:  # fmt: skip
    """File a resident's issue at a compound; it starts in `collecting` at the compound tier."""
    return await cases.file_case(db, client, settings, caller, body, idempotency_key)


@router.get("")
async def read_cases(
    db: SessionDep,
    caller: CurrentCaller,
    stage: Stage | None = None,
    tier: Tier | None = None,
    unit: Annotated[str | None, Query(max_length=64, pattern=CODE)] = None,
    status: Literal["open", "closed"] | None = None,
    urgency: Annotated[Urgency | None, Query(description="only cases of this urgency (紧急程度)")] = None,
    overdue: Annotated[bool | None, Query(description="past the deadline now; a suspended case never is")] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[CaseView]:
    """Cases in the caller's jurisdiction (a resident's own), newest first."""
    filters = CaseFilters(stage=stage, tier=tier, unit=unit, status=status, urgency=urgency, overdue=overdue,
                          cursor=cursor, limit=limit)  # fmt: skip
    return await cases.list_cases(db, caller, filters)


@router.get("/{case_id}", responses=error_responses(404))
async def read_case(db: SessionDep, caller: CurrentCaller, case_id: CaseId) -> CaseView:
    """One case as it stands."""
    return await cases.read_case(db, caller, case_id)


@router.get("/{case_id}/events", responses=error_responses(404))
async def read_case_events(
    db: SessionDep,
    caller: CurrentCaller,
    case_id: CaseId,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = MAX_LIMIT,
) -> Page[EventPublic]:
    """The case's audit trail: who did what, when, from/to stage and tier; rejected commands too."""
    return await cases.list_events(db, caller, case_id, cursor, limit)


def _action_route(model: type[Command]) -> Callable[..., Awaitable[CaseView | CasePublic]]:
    has_required = any(f.is_required() for f in model.model_fields.values())

    async def handler(
        db: SessionDep,
        client: ClientDep,
        settings: SettingsDep,
        caller: CurrentCaller,
        case_id: CaseId,
        body: Annotated[model | None, Body(), AfterValidator(refuse_nul)] = None,  # type: ignore[valid-type]
        idempotency_key: IdempotencyKey = None,
    ) -> CaseView | CasePublic:
        if body is None:
            if has_required:
                raise unprocessable([{"loc": ["body"], "msg": "Field required", "type": "missing"}])
            body = model.model_validate({})
        return await cases.act(db, client, settings, caller, case_id, body, idempotency_key)

    return handler


for _action, _model in ACTION_BODIES.items():
    router.add_api_route(
        f"/{{case_id}}/actions/{_action}",
        _action_route(_model),
        methods=["POST"],
        response_model=CaseView | CasePublic,
        responses=error_responses(404, 409, 503),
        name=f"case_{_action.replace('-', '_')}",
        summary=f"{_action}: {(_model.__doc__ or '').strip()}".rstrip(": "),
        description=(
            f"Apply `{_action}` to the case. 409 with the reason if the case's state does not allow it. The answer is "
            "the whole case, except for a resident acting on a case someone else filed: its public facts only."
        ),
    )
