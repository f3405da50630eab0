"""Cases: filing, commands, reads. Route handlers stay thin; the rules about who may do what live here.

Data flows one way: the API asks the case's workflow to change (an update), the workflow projects the
change into the read model before answering, and lists and reads come from the read model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import structlog
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import and_, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Caller
from api.errors import ApiError, forbidden, invalid_transition, not_found, unprocessable
from api.pagination import DEFAULT_LIMIT, Page, decode_cursor, encode_cursor
from api.privacy import answered_to, shown_to
from api.services.scope import scope_path, within
from api.services.units import get_unit
from api.text import refuse_nul
from core.calendar import work_calendar
from core.logging import get_logger, mask_phone
from core.rows import EventPublic, event_public, event_row
from core.settings import Settings
from core.tables import CaseEventRecord, CaseFiling, CaseRecord, CommandRequest, now_utc
from workflows import workflow_id
from workflows.case import CaseWorkflow
from workflows.model import (
    STAFF,
    CallerFacts,
    CaseCommand,
    CaseEvent,
    CaseFiled,
    CasePublic,
    CaseView,
    Command,
    CoSign,
    Dispatch,
    EndSupervision,
    Merge,
    Object,
    Reporter,
    Role,
    RuleReturn,
    Stage,
    Strict,
    Supervise,
    Tier,
    UnitFacts,
    UnitPath,
    Urge,
    Urgency,
    Withdraw,
)
from workflows.state import CaseInput

log = get_logger("linli.cases")

FILING_ROLES = frozenset({Role.RESIDENT, Role.CASEWORKER, Role.SUPERVISOR, Role.ADMIN})


class Channel(StrEnum):
    IN_PERSON = "in_person"
    SAY_IT_WALL = "say_it_wall"  # 说事墙
    ONLINE = "online"  # mini-program: reported online, handled offline
    GRID_VISIT = "grid_visit"  # a grid worker's visit
    HOTLINE = "hotline"  # 12345
    OPEN311 = "open311"  # an Open311 GeoReport v2 client (api/routes/open311.py)
    OTHER = "other"


class CaseCreate(Strict):
    unit: str = Field(min_length=1, max_length=64, description="code of the compound the issue is in")
    category: str = Field(min_length=1, max_length=50)
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=4000)
    reporter: Reporter
    channel: Channel = Channel.IN_PERSON
    urgency: Urgency = Field(default=Urgency.NORMAL, description="emergency | urgent | normal | complex")

    @model_validator(mode="after")
    def _no_nul(self) -> CaseCreate:
        return refuse_nul(self)


class CaseFilters(BaseModel):
    stage: str | None = None
    tier: str | None = None
    unit: str | None = None
    status: str | None = None
    urgency: str | None = None
    overdue: bool | None = None
    cursor: str | None = None
    limit: int = DEFAULT_LIMIT


# --- filing --------------------------------------------------------------------------------------------------


async def file_case(
    db: AsyncSession, client: Client, settings: Settings, caller: Caller, body: CaseCreate, key: str | None
) -> CaseView:
    """Start the case's workflow; with an Idempotency-Key a retry returns the case already filed."""
    if caller.role not in FILING_ROLES:
        raise forbidden(f"a {caller.role} cannot file cases")
    compound = await get_unit(db, body.unit)
    if compound is None:
        raise unprocessable(f"unit {body.unit!r} does not exist")
    if compound.kind != "compound":
        raise unprocessable(f"unit {body.unit!r} is a {compound.kind}; cases are filed at a compound")
    if not caller.covers(compound.path):
        raise forbidden(f"unit {body.unit!r} is outside your jurisdiction")

    units = UnitPath.from_path(compound.path)  # read now: a rollback in _claim_filing expires loaded rows
    # Staff of the compound itself filing: received and claimed at once; anyone else's filing waits for it.
    claimed = caller.role in STAFF and caller.unit_code == compound.code
    filing = await _claim_filing(db, caller, body, key)
    if existing := await db.get(CaseRecord, filing.case_id):
        return CaseView.model_validate(existing.view)  # a retry of a filing that went through
    filed = CaseFiled(
        id=filing.case_id,
        number=f"{filing.created_at.year}-{filing.number:06d}",
        units=units,
        category=body.category,
        title=body.title,
        description=body.description,
        reporter=body.reporter,
        channel=body.channel.value,
        filed_by=caller.actor,
        filed_at=filing.created_at,
        urgency=body.urgency,
        claimed=claimed,
    )
    calendar = await work_calendar(db, units.town, [filing.created_at.year, filing.created_at.year + 1])
    await release_connection(db)
    start = WithStartWorkflowOperation(
        CaseWorkflow.run,
        CaseInput(filed=filed, policy=settings.sla_policy, calendar=calendar),
        id=workflow_id(filed.id),
        task_queue=settings.task_queue,
        # Concurrent retries with one key all land on the one workflow, and never start it twice.
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    async with engine_call(settings.command_timeout):
        view: CaseView = await client.execute_update_with_start_workflow(
            CaseWorkflow.sync, start_workflow_operation=start, id="filed",
            rpc_timeout=timedelta(seconds=settings.command_timeout),
        )  # fmt: skip
    log.info("case filed", case_id=view.id, action="file", actor=caller.id, unit=units.compound,
             reporter_phone=mask_phone(body.reporter.phone))  # fmt: skip
    return view


async def _claim_filing(db: AsyncSession, caller: Caller, body: CaseCreate, key: str | None) -> CaseFiling:
    """Take the next case number, or find the filing this idempotency key already made."""
    request_hash = _request_hash(body)
    filing = CaseFiling(case_id=secrets.token_hex(8), principal_id=caller.id, idempotency_key=key,
                        request_hash=request_hash)  # fmt: skip
    if await _first_use(db, filing):
        return filing
    earlier = (
        await db.exec(select(CaseFiling).where(CaseFiling.principal_id == caller.id, CaseFiling.idempotency_key == key))
    ).one()
    if earlier.request_hash != request_hash:
        raise ApiError(409, "idempotency_conflict", "this Idempotency-Key was already used for a different case")
    return earlier


async def _first_use(db: AsyncSession, claim: CaseFiling | CommandRequest) -> bool:
    """Insert an idempotency key's row; False when the key was used before (and the session rolled back)."""
    db.add(claim)
    try:
        await db.commit()
        return True
    except IntegrityError:
        await db.rollback()
        return False


def _request_hash(body: BaseModel) -> str:
    return hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


async def _claim_command_key(db: AsyncSession, caller: Caller, record: CaseRecord, body: Command, key: str) -> None:
    """Remember what this key was first sent with; the same key with another command or case is a 409.

    (Temporal would answer a reused update id with the first command's result, as if it were this one's.)
    """
    case_id, action, request_hash = record.id, body.action, _request_hash(body)
    claim = CommandRequest(principal_id=caller.id, idempotency_key=key, case_id=case_id, action=action,
                           request_hash=request_hash)  # fmt: skip
    if await _first_use(db, claim):
        return
    await db.refresh(record)  # the rollback expired it
    earlier = await db.get(CommandRequest, (caller.id, key))
    if earlier is None:  # cannot happen (rows are never deleted), but never let a key through unchecked
        raise ApiError(409, "idempotency_conflict", "this Idempotency-Key is in use; retry")
    if (earlier.case_id, earlier.action, earlier.request_hash) != (case_id, action, request_hash):
        raise ApiError(
            409, "idempotency_conflict",
            f"this Idempotency-Key was already used for another command ({earlier.action} on case {earlier.case_id})",
        )  # fmt: skip


# --- commands ------------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def engine_call(timeout: float) -> AsyncIterator[None]:
    """Map an engine or worker that is away (the call's ``rpc_timeout`` passed) to a 503, not a hang or a 500."""
    try:
        yield
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise ApiError(
            503,
            "unavailable",
            f"no worker answered within {timeout:g}s; the request stays queued and will be applied when one does. "
            "Retry with the same Idempotency-Key to get its result without applying it twice.",
        ) from None
    except RPCError as error:
        if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise ApiError(503, "unavailable", "the workflow engine is unreachable; retry shortly") from None
        raise


async def release_connection(db: AsyncSession) -> None:
    """End the read transaction before waiting on the engine, so the connection goes back to the pool.

    A command waits for its workflow to apply it and project it (tens of milliseconds, up to the command
    timeout); holding a pooled connection all that time made concurrent requests queue for connections
    rather than for the engine. Loaded rows stay usable: the session does not expire them on commit.
    """
    await db.commit()


async def act(
    db: AsyncSession, client: Client, settings: Settings, caller: Caller, case_id: str, body: Command, key: str | None
) -> CaseView | CasePublic:
    """Send one command to the case; the answer is the case as the caller may read it."""
    return answered_to(caller, await _apply(db, client, settings, caller, case_id, body, key))


async def _apply(
    db: AsyncSession, client: Client, settings: Settings, caller: Caller, case_id: str, body: Command, key: str | None
) -> CaseView:
    """Send one command to the case. Rejections are 409 with the reason, and go into the audit trail."""
    action = body.action
    # The case's JSON view is only needed when a retry finds the case closed; a command leaves it unread.
    record = await _readable_record(db, caller, case_id, defer(CaseRecord.view))  # type: ignore[arg-type]
    with structlog.contextvars.bound_contextvars(case_id=case_id, action=action, actor=caller.id):
        _authorize(caller, record, body)
        if key:
            await _claim_command_key(db, caller, record, body, key)
        # Scoped per caller, so one person's key never answers for another's command.
        update_id = f"{caller.id}:{key}" if key else str(uuid.uuid4())
        # Whether the case's state allows the command is the workflow's to say, closed or not: it refuses a
        # command on a closed case while it still runs, and Temporal refuses one once it has ended (below).
        if isinstance(body, Merge):
            await _check_merge_target(db, caller, record, body)
        command = CaseCommand(actor=caller.actor, body=body, target=await _target(db, body),
                              caller=CallerFacts(unit=caller.unit_code, path=caller.unit_path))  # fmt: skip
        handle = client.get_workflow_handle_for(CaseWorkflow.run, workflow_id(case_id))
        await release_connection(db)
        try:
            async with engine_call(settings.command_timeout):
                view = await handle.execute_update(
                    CaseWorkflow.act, command, id=update_id, rpc_timeout=timedelta(seconds=settings.command_timeout)
                )
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(cause)
            await _reject(db, caller, record, body, reason)
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
            # The workflow has ended: the case is closed, perhaps by this very request's earlier attempt.
            await db.refresh(record)
            if key and await _already_applied(db, case_id, update_id):
                return await _stored_view(db, record)  # a retry of the command that closed it
            closed = f"the case is closed ({record.outcome})" if record.outcome else "the case is closed"
            await _reject(db, caller, record, body, f"{closed}; {action} is no longer possible")
        log.info("case command applied", stage=view.stage.value, tier=view.tier.value, version=view.version)
        return view


async def _stored_view(db: AsyncSession, record: CaseRecord) -> CaseView:
    await db.refresh(record, ["view"])
    return CaseView.model_validate(record.view)


async def _already_applied(db: AsyncSession, case_id: str, update_id: str) -> bool:
    found = await db.exec(
        select(CaseEventRecord.id).where(CaseEventRecord.case_id == case_id, CaseEventRecord.request_id == update_id)
    )
    return found.first() is not None


async def _target(db: AsyncSession, body: Command) -> UnitFacts | None:
    """The unit a dispatch or a ruling names, as the workflow's rules need it (they cannot read the units)."""
    code = body.to_unit if isinstance(body, Dispatch | RuleReturn) else None
    if code is None:
        return None
    unit = await get_unit(db, code)
    if unit is None:
        raise unprocessable(f"{body.action}: unit {code!r} does not exist")
    return UnitFacts(code=unit.code, path=unit.path)


# Commands whose who-may is partly the case's state (a supervisor over the handling unit; the unit a case
# was returned to): the API lets through anyone who can read the case, and the workflow answers with the
# reason (409) when the caller is not the one.
STATE_DECIDES_WHO = (Urge, Supervise, EndSupervision, RuleReturn)


def _authorize(caller: Caller, record: CaseRecord, body: Command) -> None:
    """Who may give the command: the roles on its class, then the caller's jurisdiction (when is the workflow's)."""
    if caller.role not in body.roles:
        if caller.role is Role.AUDITOR:
            raise forbidden("auditors have read-only access")
        roles = ", ".join(sorted(body.roles))
        raise forbidden(f"a {caller.role} cannot {body.action}; it is for: {roles}")
    if caller.role is Role.RESIDENT:
        if isinstance(body, CoSign | Object) and body.resident != caller.name:
            raise forbidden(f"residents {body.action} in their own name ({caller.name!r})")
        if isinstance(body, Withdraw) and record.filed_by != caller.id:
            raise forbidden("residents can only withdraw cases they filed")
        return
    if isinstance(body, STATE_DECIDES_WHO):
        return  # _readable_record has checked that the caller can read the case
    if not caller.covers(record.handling_path):
        raise forbidden(f"the case is handled by {record.handling_unit}, outside your jurisdiction")


async def _check_merge_target(db: AsyncSession, caller: Caller, record: CaseRecord, body: Merge) -> None:
    """The one state check left to the API: the target is another case, whose state this case's workflow
    cannot see (nor should it wait on another workflow inside a validator), so the read model answers."""
    target = await db.get(CaseRecord, body.into)
    if target is None or not caller.covers(target.unit_path):
        raise unprocessable(f"merge: no case {body.into!r} in your jurisdiction")
    if target.status == "closed":
        await _reject(db, caller, record, body, f"merge: case {body.into} is closed")


async def _reject(db: AsyncSession, caller: Caller, record: CaseRecord, body: Command, reason: str) -> None:
    """Write the rejected command to the audit trail (it never reaches the history), then answer 409."""
    stage, tier = Stage(record.stage), Tier(record.tier)
    attempted = CaseEvent(
        seq=record.version, at=now_utc(), action=body.action, actor=caller.actor, from_stage=stage, to_stage=stage,
        from_tier=tier, to_tier=tier, detail=body.model_dump(mode="json", exclude={"action"}, exclude_none=True),
    )  # fmt: skip
    db.add(CaseEventRecord.model_validate(event_row(record.id, attempted, rejected_because=reason)))
    await db.commit()
    log.info("case command rejected", reason=reason)
    raise invalid_transition(reason)


# --- reads ---------------------------------------------------------------------------------------------------


async def _readable_record(db: AsyncSession, caller: Caller, case_id: str, *options: Any) -> CaseRecord:
    record = await db.get(CaseRecord, case_id, options=options)
    if record is None:
        raise not_found(f"no case {case_id!r}")
    if caller.role is Role.RESIDENT:
        # A resident reaches any case in their compound to co-sign or object, but reads only their own.
        if not caller.covers(record.unit_path):
            raise forbidden("this case is outside your compound")
    elif not (caller.covers(record.unit_path) or caller.covers(record.handling_path)):
        # Staff read the cases of their compounds and those dispatched to a unit of theirs.
        raise forbidden("this case is outside your jurisdiction")
    return record


async def read_case(db: AsyncSession, caller: Caller, case_id: str) -> CaseView:
    record = await _readable_record(db, caller, case_id)
    if caller.role is Role.RESIDENT and record.filed_by != caller.id:
        raise forbidden("residents see only the cases they filed")
    return shown_to(caller, CaseView.model_validate(record.view))


async def list_cases(db: AsyncSession, caller: Caller, f: CaseFilters) -> Page[CaseView]:
    query = select(CaseRecord)
    prefix, _ = await scope_path(db, caller, f.unit)
    if prefix:
        query = query.where(in_jurisdiction(prefix))
    if caller.role is Role.RESIDENT:
        query = query.where(CaseRecord.filed_by == caller.id)
    for column, value in (
        (CaseRecord.stage, f.stage),
        (CaseRecord.tier, f.tier),
        (CaseRecord.status, f.status),
        (CaseRecord.urgency, f.urgency),
    ):
        if value is not None:
            query = query.where(column == value)
    if f.overdue is not None:
        # Never a suspended case: its clock is stopped (and with no deadline it would match neither filter).
        running = col(CaseRecord.suspended).is_(False)
        late = and_(CaseRecord.status == "open", running, or_(CaseRecord.overdue, CaseRecord.deadline < now_utc()))  # type: ignore[arg-type,operator]
        query = query.where(late if f.overdue else ~late)
    if f.cursor:
        at, last_id = decode_cursor(f.cursor, datetime, str)
        query = query.where(or_(CaseRecord.filed_at < at, and_(CaseRecord.filed_at == at, CaseRecord.id < last_id)))
    query = query.order_by(CaseRecord.filed_at.desc(), CaseRecord.id.desc()).limit(f.limit + 1)  # type: ignore[attr-defined]
    rows = list((await db.exec(query)).all())
    more = len(rows) > f.limit
    rows = rows[: f.limit]
    cursor = encode_cursor(rows[-1].filed_at.isoformat(), rows[-1].id) if more else None
    return Page(items=[shown_to(caller, CaseView.model_validate(r.view)) for r in rows], next_cursor=cursor)


def in_jurisdiction(prefix: str) -> Any:
    """The cases of the compounds under ``prefix``, and those handled by a unit under it (dispatched there).

    A case is only ever dispatched inside its own town, so for a town (or wider) the compounds' range alone
    says it, and the query keeps to one index range.
    """
    if prefix.count("/") <= 2:
        return within(CaseRecord.unit_path, prefix)
    return or_(within(CaseRecord.unit_path, prefix), within(CaseRecord.handling_path, prefix))


async def list_events(
    db: AsyncSession, caller: Caller, case_id: str, cursor: str | None, limit: int
) -> Page[EventPublic]:
    await read_case(db, caller, case_id)
    query = select(CaseEventRecord).where(CaseEventRecord.case_id == case_id)
    if cursor:
        (after,) = decode_cursor(cursor, int)
        query = query.where(CaseEventRecord.id > after)
    rows = list((await db.exec(query.order_by(CaseEventRecord.id).limit(limit + 1))).all())  # type: ignore[arg-type]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(
        items=[event_public(r) for r in rows],
        next_cursor=encode_cursor(rows[-1].id) if more and rows else None,
    )
