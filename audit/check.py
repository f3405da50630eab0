"""The whole audit of a case: replay every run, check the history against itself, build the timeline,
reconcile the read model. One case for the API, a stream of them for ``linli audit replay-all``.

Three questions, answered separately:
1. Deterministic? Today's code replays every run without a non-determinism error, gives every recorded
   answer and result again, and each run carries on exactly from where the one before stopped.
2. What happened? The timeline, from the history alone (and the code replaying it).
3. Does the read model agree? Every projected column and event, against the replayed case.

The report masks the reporter's phone (``api.privacy``) in the case, the timeline and the differences it
shows; every comparison above is made on the real values before that.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from audit.facts import RunFacts, read_run
from audit.history import HistoryError
from audit.reconcile import Scope, differences, reconcile, rejected_commands
from audit.replay import ReplayedRun, replay_cases
from audit.report import Mismatch, ReplayError, ReplayReport, RunSummary, TimelineEntry
from audit.timeline import run_timeline
from core.privacy import mask_phones, masked
from workflows import case_id_of
from workflows.case import CaseWorkflow
from workflows.model import CaseEvent


@dataclass
class CaseHistories:
    """The runs of one case, oldest first. ``complete``: every run from the filing to the newest one, as
    fetched from Temporal (an upload may be any one run)."""

    workflow_id: str
    runs: Sequence[WorkflowHistory]
    complete: bool = True

    @property
    def case_id(self) -> str:
        return case_id_of(self.workflow_id)


@dataclass
class _Run:
    replayed: ReplayedRun
    facts: RunFacts | None
    errors: list[ReplayError] = field(default_factory=list)


async def audit_cases(
    cases: AsyncIterable[CaseHistories],
    db: AsyncSession | None,
    workflows: Sequence[type] = (CaseWorkflow,),
    *,
    data_converter: DataConverter,
) -> AsyncIterator[ReplayReport]:
    """Audit each case as its runs finish replaying; ``db`` None skips the read model.

    The runs are read as ``audit.history`` gives them (decrypted); ``data_converter`` is the worker's.
    """
    async for case, replayed in replay_cases(cases, workflows, data_converter=data_converter):
        yield _masked(await _report(case, replayed, db))


async def audit_case(
    case: CaseHistories,
    db: AsyncSession | None,
    workflows: Sequence[type] = (CaseWorkflow,),
    *,
    data_converter: DataConverter,
) -> ReplayReport:
    async def one() -> AsyncIterator[CaseHistories]:
        yield case

    # Drained, not left early: the replayer shuts its worker down when the stream of cases ends.
    (report,) = [report async for report in audit_cases(one(), db, workflows, data_converter=data_converter)]
    return report


def _masked(report: ReplayReport) -> ReplayReport:
    """The report as auditors read it: the reporter's phone masked wherever the report shows the case."""
    if report.final_state is not None:
        report.final_state = masked(report.final_state)
    for entry in report.timeline:
        entry.arguments = mask_phones(entry.arguments)
    for mismatch in report.mismatches:
        path = mismatch.field or ""
        mismatch.history = mask_phones(mismatch.history, path)
        mismatch.read_model = mask_phones(mismatch.read_model, path)
    return report


async def _report(case: CaseHistories, replayed: list[ReplayedRun], db: AsyncSession | None) -> ReplayReport:
    runs = [_check_run(r) for r in replayed]
    _check_chain(case, runs)
    errors = [e for run in runs for e in run.errors]
    facts = [r.facts for r in runs if r.facts is not None]
    timeline: list[TimelineEntry] = []
    for run in runs:
        if run.facts is not None:
            timeline += run_timeline(run.facts, run.replayed.capture, replayed=run.replayed.failure is None)
    last = runs[-1].replayed
    report = ReplayReport(
        case_id=case.case_id,
        workflow_id=case.workflow_id,
        deterministic=not errors,
        error=errors[0] if errors else None,
        runs=[_summary(r) for r in runs],
        policy=facts[0].input.policy if facts else None,
        timeline=timeline,
        final_state=last.capture.view if last.failure is None else None,
        matches_read_model=None,
        mismatches=[],
        rejected=[],
    )
    if db is not None:
        report.rejected = await rejected_commands(db, case.case_id)
        if all(r.facts is not None and r.replayed.failure is None for r in runs):
            await _reconcile(db, case, runs, report)
    return report


async def _reconcile(db: AsyncSession, case: CaseHistories, runs: list[_Run], report: ReplayReport) -> None:
    """Compare the replayed case with the read model (only once every run has replayed)."""
    final = report.final_state
    facts = [r.facts for r in runs if r.facts is not None]
    if final is None or not facts:
        return
    events: dict[int, CaseEvent] = {}
    for run in runs:
        events.update(run.replayed.capture.events)
    ordered = sorted(events.values(), key=lambda e: e.seq)
    mismatches = await reconcile(db, final, facts[0].input.filed.units, ordered, _scope(facts))
    if mismatches is None and case.complete:
        # Temporal has the case, the read model does not: the projection never ran, or the row was lost.
        mismatches = [Mismatch(record="case", field=None, history=final.id, read_model=None)]
    if mismatches is not None:
        report.matches_read_model, report.mismatches = not mismatches, mismatches


def _check_run(replayed: ReplayedRun) -> _Run:
    run_id = replayed.history.run_id
    try:
        run = _Run(replayed, read_run(replayed.history))
    except HistoryError as error:
        return _Run(replayed, None, [ReplayError(run_id=run_id, kind="unreadable_history", message=str(error))])
    if replayed.failure is not None:
        kind = "nondeterminism" if replayed.nondeterministic else "replay_failure"
        run.errors.append(ReplayError(run_id=run_id, kind=kind, message=replayed.reason))
        return run
    assert run.facts is not None
    capture, end = replayed.capture, run.facts.end
    recorded: list[tuple[str, Any, Any]] = []  # (what, as recorded, as replayed)
    for update in run.facts.updates:
        if update.outcome == "applied":
            recorded.append((f"the answer to update {update.update_id}", update.result,
                             capture.update_results.get(update.update_id)))  # fmt: skip
    if end is not None and end.status == "completed":
        recorded.append(("the case's result", end.result, capture.result))
    if end is not None and end.status == "continued_as_new":
        recorded.append(("what was carried into the next run", end.continued_input, capture.continued_with))
    for what, then, now in recorded:
        # Only what was recorded is compared: a field added to the case since then is not a difference.
        if found := differences(then, now, only_ours=True):
            run.errors.append(ReplayError(run_id=run_id, kind="result_differs", message=_differs(what, found)))
    return run


def _differs(what: str, found: list[tuple[str, Any, Any]]) -> str:
    shown = "; ".join(f"{path or 'the value'}: recorded {_short(mask_phones(then, path))}, "
                      f"replayed {_short(mask_phones(now, path))}" for path, then, now in found[:3])  # fmt: skip
    more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
    return f"{what} differs from what the code computes now: {shown}{more}"


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_chain(case: CaseHistories, runs: list[_Run]) -> None:
    """Each run must start from exactly what the previous one carried over; a complete chain, at the filing."""
    first = runs[0].facts
    if case.complete and first is not None and first.continued_from is not None:
        runs[0].errors.append(_broken(first.run_id, f"the first run carries on from {first.continued_from}, "
                                                    "which is missing"))  # fmt: skip
    for previous, run in zip(runs, runs[1:], strict=False):
        before, after = previous.facts, run.facts
        if before is None or after is None:
            continue
        end = before.end
        if end is None or end.continued_as != after.run_id or after.continued_from != before.run_id:
            run.errors.append(_broken(after.run_id, f"run {after.run_id} does not continue run {before.run_id}"))
        elif end.continued_input != after.input_json:
            run.errors.append(_broken(after.run_id, f"run {after.run_id} did not start with what {before.run_id} "
                                                    "carried over"))  # fmt: skip


def _broken(run_id: str, message: str) -> ReplayError:
    return ReplayError(run_id=run_id, kind="chain_broken", message=message)


def _summary(run: _Run) -> RunSummary:
    history, capture = run.replayed.history, run.replayed.capture
    facts = run.facts
    seqs = sorted(capture.events)
    end = facts.end if facts else None
    return RunSummary(
        run_id=history.run_id,
        status=end.status if end else "running",
        started_at=history.events[0].event_time.ToDatetime(tzinfo=UTC),
        closed_at=end.at if end else None,
        history_length=len(history.events),
        continued_from=facts.continued_from if facts else None,
        continued_as=end.continued_as if end else None,
        first_seq=seqs[0] if seqs else None,
        last_seq=seqs[-1] if seqs else None,
        deterministic=not run.errors,
    )


def _scope(facts: list[RunFacts]) -> Scope:
    """The seqs the histories cover; an older run that continued as new stops at what it carried over."""
    end = facts[-1].end
    last: int | None = None
    if end is not None and end.status == "continued_as_new":
        carried = (end.continued_input or {}).get("state") or {}
        last = int(carried.get("view", {}).get("version", 0)) or None
    return Scope(first_seq=facts[0].first_seq, last_seq=last)
