"""Audit for auditors: a case's history as Temporal holds it, its runs, and the replay report. Read-only.

Temporal is the authority here, not the read model: a case the read model lost can still be audited (and
is then reported as a mismatch), and an auditor scoped to a unit is checked against the unit the history
says the case was filed at when the read model has no row for it.

Temporal holds the payloads encrypted; auditors get them decrypted with the installation's keys (the
client's data converter), and an upload may come either way.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client, WorkflowHistory

from api.auth import Caller
from api.errors import ApiError, forbidden, not_found, unprocessable
from api.services.cases import engine_call
from audit.check import CaseHistories, audit_case
from audit.facts import read_run
from audit.history import HistoryError, HistoryNotFound, cli_json, decrypt, fetch_run, fetch_runs, parse_upload
from audit.report import ReplayReport, RunInfo
from core.settings import Settings
from core.tables import CaseRecord
from workflows import case_id_of, workflow_id
from workflows.model import Strict

RUN_ID = r"^[0-9a-fA-F-]{36}$"


class HistoryUpload(Strict):
    """A history to audit, e.g. ``temporal workflow show -w case-<id> -o json`` saved to a file."""

    workflow_id: str = Field(pattern=r"^case-[A-Za-z0-9_-]{1,64}$", examples=["case-3f2a9c0d1e4b5a67"])
    history: dict[str, Any] = Field(description='{"events": [...]}, as the Temporal CLI or Web UI exports it')


async def read_history(
    db: AsyncSession, client: Client, settings: Settings, caller: Caller, case_id: str, run_id: str | None
) -> bytes:
    """One run's history (default: the newest) in the shape ``temporal workflow show -o json`` prints, byte for
    byte, with its payloads decrypted: it replays with the SDK's own tools, and here."""
    record = await _visible_record(db, caller, case_id)
    async with engine_call(settings.command_timeout):
        try:
            history = await fetch_run(client, workflow_id(case_id), run_id)
        except HistoryNotFound:
            if run_id is not None:
                raise not_found(f"case {case_id!r} has no run {run_id}") from None
            raise _missing(case_id, record) from None
        except HistoryError as error:
            raise ApiError(409, "unreadable_history", str(error)) from None
    if record is None:
        _check_filed_unit(caller, history)
    return cli_json(history)


async def list_runs(
    db: AsyncSession, client: Client, settings: Settings, caller: Caller, case_id: str
) -> list[RunInfo]:
    """Every run of the case, oldest first."""
    runs = await _fetch_case(db, client, settings, caller, case_id)
    return [_run_info(history) for history in runs]


async def replay_case(
    db: AsyncSession, client: Client, settings: Settings, caller: Caller, case_id: str
) -> ReplayReport:
    """Replay every run of the case from Temporal and reconcile it with the read model."""
    runs = await _fetch_case(db, client, settings, caller, case_id)
    return await audit_case(CaseHistories(workflow_id(case_id), runs), db, data_converter=client.data_converter)


async def replay_upload(db: AsyncSession, client: Client, caller: Caller, upload: HistoryUpload) -> ReplayReport:
    """Replay an uploaded run, decrypted or as Temporal holds it; reconciled with the read model when it has
    the case."""
    try:
        history = await decrypt(parse_upload(upload.workflow_id, upload.history), client.data_converter)
    except HistoryError as error:
        raise unprocessable(str(error)) from None
    if await _visible_record(db, caller, case_id_of(upload.workflow_id)) is None:
        _check_filed_unit(caller, history)
    try:
        case = CaseHistories(upload.workflow_id, [history], complete=False)
        return await audit_case(case, db, data_converter=client.data_converter)
    except RuntimeError as error:
        # The SDK's replay worker refuses histories it cannot even start on (e.g. events out of order).
        raise unprocessable(f"the history cannot be replayed: {error}") from None


async def _fetch_case(
    db: AsyncSession, client: Client, settings: Settings, caller: Caller, case_id: str
) -> list[WorkflowHistory]:
    record = await _visible_record(db, caller, case_id)
    async with engine_call(settings.command_timeout):
        try:
            runs = await fetch_runs(client, workflow_id(case_id))
        except HistoryNotFound:
            raise _missing(case_id, record) from None
        except HistoryError as error:
            raise ApiError(409, "unreadable_history", str(error)) from None
    if record is None:
        _check_filed_unit(caller, runs[0])
    return runs


def _missing(case_id: str, record: CaseRecord | None) -> ApiError:
    if record is None:
        return not_found(f"no case {case_id!r}")
    # The read model remembers the case, Temporal does not: a closed case past the namespace's retention.
    return not_found(f"Temporal no longer holds the history of case {case_id!r} ({record.status})")


async def _visible_record(db: AsyncSession, caller: Caller, case_id: str) -> CaseRecord | None:
    record = await db.get(CaseRecord, case_id)
    if record is not None and not caller.covers(record.unit_path):
        raise forbidden("this case is outside your jurisdiction")
    return record


def _check_filed_unit(caller: Caller, history: WorkflowHistory) -> None:
    """Without a read-model row, the unit the case was filed at comes from the history itself."""
    if caller.unit_path is None:
        return
    try:
        units = read_run(history).input.filed.units
    except HistoryError:
        raise forbidden("the case's unit cannot be read from its history") from None
    if not caller.covers(units.path):
        raise forbidden("this case is outside your jurisdiction")


def _run_info(history: WorkflowHistory) -> RunInfo:
    try:
        facts = read_run(history)
    except HistoryError as error:
        raise ApiError(409, "unreadable_history", str(error)) from None
    end = facts.end
    return RunInfo(
        run_id=facts.run_id,
        status=end.status if end else "running",
        started_at=facts.started_at,
        closed_at=end.at if end else None,
        history_length=facts.length,
        continued_from=facts.continued_from,
        continued_as=end.continued_as if end else None,
    )
