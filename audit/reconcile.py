"""Does the read model say what the history says? The replayed case against the rows, field by field.

What the read model *should* hold is exactly what the projection activity writes for the replayed events
and final case (``core.rows``' ``case_row``, ``event_row``, ``escalation_row``), so that is
what we compare with: every column the projection writes is checked, and one added to it later is too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from audit.report import Mismatch
from core.rows import EventPublic, case_row, escalation_row, event_public, event_row, is_escalation
from core.tables import CaseEscalationRecord, CaseEventRecord, CaseRecord
from workflows.model import CaseEvent, CaseView, UnitPath


@dataclass(frozen=True)
class Scope:
    """Which part of the case the histories cover: event seqs from ``first_seq``, and up to ``last_seq`` when
    the histories stop before the case's newest run (an uploaded older run). The case row is only compared
    when they reach the newest run."""

    first_seq: int = 1
    last_seq: int | None = None

    def covers(self, seq: int) -> bool:
        return seq >= self.first_seq and (self.last_seq is None or seq <= self.last_seq)


async def reconcile(
    db: AsyncSession, case: CaseView, units: UnitPath, events: list[CaseEvent], scope: Scope = Scope()
) -> list[Mismatch] | None:
    """Every difference between the read model and the replayed case; None when the read model has no case."""
    record = await db.get(CaseRecord, case.id)
    if record is None:
        return None
    mismatches = _case_mismatches(record, case, units) if scope.last_seq is None else []
    expected = {event.seq: event for event in events if scope.covers(event.seq)}
    rows = (await db.exec(select(CaseEventRecord).where(
        CaseEventRecord.case_id == case.id, CaseEventRecord.result == "applied",
    ))).all()  # fmt: skip
    stored = {row.seq: row.model_dump(exclude={"id"}) for row in rows if row.seq is not None and scope.covers(row.seq)}
    for seq in sorted(expected.keys() | stored.keys()):
        wanted = event_row(case.id, expected[seq]) if seq in expected else None
        mismatches += _row_mismatches("event", seq, wanted, stored.get(seq))
    escalations = {seq: e for seq, e in expected.items() if is_escalation(e)}
    escalated = (await db.exec(select(CaseEscalationRecord).where(CaseEscalationRecord.case_id == case.id))).all()
    stored = {row.seq: row.model_dump(exclude={"id"}) for row in escalated if scope.covers(row.seq)}
    for seq in sorted(escalations.keys() | stored.keys()):
        wanted = escalation_row(case.id, units, escalations[seq]) if seq in escalations else None
        mismatches += _row_mismatches("escalation", seq, wanted, stored.get(seq))
    return mismatches


async def rejected_commands(db: AsyncSession, case_id: str) -> list[EventPublic]:
    """Commands refused before they reached the history: only the read model's audit trail has them."""
    rows = (await db.exec(select(CaseEventRecord).where(
        CaseEventRecord.case_id == case_id, CaseEventRecord.result == "rejected",
    ).order_by(col(CaseEventRecord.id)))).all()  # fmt: skip
    return [event_public(row) for row in rows]


def _case_mismatches(record: CaseRecord, case: CaseView, units: UnitPath) -> list[Mismatch]:
    expected = case_row(case, units)
    stored = record.model_dump()
    found = [
        _mismatch("case", None, name, value, stored.get(name))
        for name, value in expected.items()
        if name != "view" and not _same(value, stored.get(name))
    ]
    for path, ours, theirs in differences(expected["view"], record.view, "view"):
        found.append(_mismatch("case", None, path, ours, theirs))
    return found


def _row_mismatches(
    record: str, seq: int, expected: dict[str, Any] | None, stored: dict[str, Any] | None
) -> list[Mismatch]:
    if expected is None or stored is None:
        return [_mismatch(record, seq, None, expected, stored)]  # the whole row is on one side only
    return [
        _mismatch(record, seq, name, value, stored.get(name))
        for name, value in expected.items()
        if not _same(value, stored.get(name))
    ]


def differences(ours: Any, theirs: Any, path: str = "", *, only_ours: bool = False) -> list[tuple[str, Any, Any]]:
    """Where two JSON values differ, as (path, ours, theirs). ``only_ours``: ignore keys only ``theirs`` has."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        keys = ours.keys() if only_ours else ours.keys() | theirs.keys()
        found = []
        for key in sorted(keys):
            where = f"{path}.{key}" if path else str(key)
            if key not in theirs:
                found.append((where, ours[key], None))
            else:
                found += differences(ours.get(key), theirs[key], where, only_ours=only_ours)
        return found
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        found = []
        for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            found += differences(a, b, f"{path}[{index}]", only_ours=only_ours)
        return found
    return [] if ours == theirs else [(path, ours, theirs)]


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, datetime) and isinstance(theirs, datetime):
        return ours == theirs  # both aware: the same instant, however each side stores it
    return bool(jsonable_encoder(ours) == jsonable_encoder(theirs))


def _mismatch(record: str, seq: int | None, field: str | None, history: Any, read_model: Any) -> Mismatch:
    return Mismatch.model_validate({
        "record": record, "seq": seq, "field": field,
        "history": jsonable_encoder(history), "read_model": jsonable_encoder(read_model),
    })  # fmt: skip
