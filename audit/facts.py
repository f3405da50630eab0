"""What one run's history records, read straight off its events: the input, each command, each timer, the end.

Nothing here runs workflow code; it is the evidence the replay is checked against. Payloads are JSON
(the pydantic data converter), so each is kept both as the JSON the history holds and, where it matters,
as our model. They are read as ``audit.history`` hands them over: decrypted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from pydantic import ValidationError
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from audit.history import HistoryError
from audit.report import RunStatus
from core.codec import ENCODING, KEY_ID
from workflows import ACT, CALENDAR
from workflows.clock import YearSchedule
from workflows.model import CaseCommand
from workflows.state import CaseInput

M = TypeVar("M", CaseInput, CaseCommand, YearSchedule)

_ENDS: dict[int, RunStatus] = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "completed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "continued_as_new",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "failed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "terminated",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "canceled",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "timed_out",
}


@dataclass
class Update:
    """A command the workflow accepted (validation passed), and how it ended."""

    update_id: str
    name: str
    event_id: int
    accepted_at: datetime
    command: CaseCommand | None  # ``act`` only
    schedule: YearSchedule | None  # ``calendar`` only: the year of the town's calendar it brought
    outcome: Literal["applied", "rejected", "pending"] = "pending"
    result: Any = None  # the answer the caller got, as recorded
    reason: str | None = None  # why the handler refused it, when it did


@dataclass
class Timer:
    timer_id: str
    started_at: datetime
    armed_for: timedelta
    fired_event_id: int | None = None
    fired_at: datetime | None = None


@dataclass
class RunEnd:
    status: RunStatus
    event_id: int
    at: datetime
    result: Any = None  # completed: the case as the run returned it
    continued_as: str | None = None
    continued_input: Any = None  # continued as new: the input the next run was given
    reason: str | None = None  # failed / terminated: why, and who
    identity: str | None = None


@dataclass
class RunFacts:
    workflow_id: str
    run_id: str
    started_at: datetime
    input: CaseInput
    input_json: Any
    continued_from: str | None
    length: int
    updates: list[Update] = field(default_factory=list)
    timers: dict[str, Timer] = field(default_factory=dict)
    end: RunEnd | None = None  # None: still running

    @property
    def first_seq(self) -> int:
        """The sequence number the first event applied in this run gets."""
        return 1 if self.input.state is None else self.input.state.view.version + 1


def read_run(history: WorkflowHistory) -> RunFacts:
    """The facts of one run; a HistoryError if its records cannot be read as a case's."""
    events = history.events
    started = events[0].workflow_execution_started_event_attributes
    payload = _only(started.input, "the case's input")
    facts = RunFacts(
        workflow_id=history.workflow_id,
        run_id=history.run_id,
        started_at=_time(events[0]),
        input=_model(CaseInput, payload, "the case's input"),
        input_json=_json(payload),
        continued_from=started.continued_execution_run_id or None,
        length=len(events),
    )
    updates: dict[str, Update] = {}
    for event in events[1:]:
        _read_event(facts, updates, event)
    return facts


def _read_event(facts: RunFacts, updates: dict[str, Update], event: HistoryEvent) -> None:
    kind = event.event_type
    if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        request = event.workflow_execution_update_accepted_event_attributes.accepted_request
        name, update_id = request.input.name, request.meta.update_id
        args = list(request.input.args.payloads)
        command = _model(CaseCommand, args[0], f"update {update_id}") if name == ACT and args else None
        schedule = _model(YearSchedule, args[0], f"update {update_id}") if name == CALENDAR and args else None
        updates[update_id] = Update(update_id, name, event.event_id, _time(event), command, schedule)
        facts.updates.append(updates[update_id])
    elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
        attrs = event.workflow_execution_update_completed_event_attributes
        if (update := updates.get(attrs.meta.update_id)) is not None:
            if attrs.outcome.HasField("failure"):
                update.outcome, update.reason = "rejected", _message(attrs.outcome.failure)
            else:
                update.outcome, update.result = "applied", _json(_only(attrs.outcome.success, "an update's result"))
    elif kind == EventType.EVENT_TYPE_TIMER_STARTED:
        timer = event.timer_started_event_attributes
        facts.timers[timer.timer_id] = Timer(timer.timer_id, _time(event), timer.start_to_fire_timeout.ToTimedelta())
    elif kind == EventType.EVENT_TYPE_TIMER_FIRED:
        if (fired := facts.timers.get(event.timer_fired_event_attributes.timer_id)) is not None:
            fired.fired_event_id, fired.fired_at = event.event_id, _time(event)
    elif kind in _ENDS:
        facts.end = _run_end(event)


def _run_end(event: HistoryEvent) -> RunEnd:
    end = RunEnd(_ENDS[event.event_type], event.event_id, _time(event))
    match end.status:
        case "completed":
            end.result = _json(_only(event.workflow_execution_completed_event_attributes.result, "the case's result"))
        case "continued_as_new":
            attrs = event.workflow_execution_continued_as_new_event_attributes
            end.continued_as = attrs.new_execution_run_id
            end.continued_input = _json(_only(attrs.input, "the input carried to the next run"))
        case "failed":
            end.reason = _message(event.workflow_execution_failed_event_attributes.failure)
        case "terminated":
            attrs_t = event.workflow_execution_terminated_event_attributes
            end.reason, end.identity = attrs_t.reason, attrs_t.identity
        case _:
            pass
    return end


def _message(failure: Failure) -> str:
    """A failure's message; our converter moves it into an (encrypted) payload, the history says "Encoded failure"."""
    if failure.HasField("encoded_attributes"):
        attributes = _json(failure.encoded_attributes)
        if isinstance(attributes, dict) and isinstance(message := attributes.get("message"), str):
            return message
    return failure.message


def _encoding(payload: Payload) -> bytes:
    encoding = payload.metadata.get("encoding", b"")
    if encoding == ENCODING:
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        raise HistoryError(f"a payload is still encrypted (key {key_id!r}): decrypt the history before reading it")
    if encoding not in (b"json/plain", b"binary/null"):
        raise HistoryError(f"a payload is encoded as {encoding.decode(errors='replace')!r}, not JSON")
    return encoding


def _time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


def _only(payloads: Payloads, what: str) -> Payload:
    if len(payloads.payloads) != 1:
        raise HistoryError(f"{what}: expected one payload, found {len(payloads.payloads)}")
    return payloads.payloads[0]


def _json(payload: Payload) -> Any:
    """A payload's value as JSON; our data converter writes JSON (``json/plain``) or null (``binary/null``)."""
    if _encoding(payload) == b"binary/null":
        return None
    try:
        return json.loads(payload.data)
    except ValueError as error:
        raise HistoryError(f"a payload is not valid JSON: {error}") from None


def _model(model: type[M], payload: Payload, what: str) -> M:
    """The payload as our model, validated from its JSON as the data converter does (strict fields included)."""
    if _encoding(payload) != b"json/plain":
        raise HistoryError(f"{what} is missing")
    try:
        return model.model_validate_json(payload.data)
    except ValidationError as error:
        raise HistoryError(f"{what} is not a {model.__name__}: {error.error_count()} problem(s), first: "
                           f"{error.errors()[0]['msg']}") from None  # fmt: skip
