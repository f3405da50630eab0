"""A case's histories: fetched from Temporal run by run, or read from an upload, and printed like the CLI.

Temporal keeps the authoritative record. A long case continues as new, so its record is a chain of runs;
each run's first event names the run it carries on from, which lets us walk the chain from the newest run
back to the filing with strongly consistent reads (visibility lists may lag).

Temporal holds every payload encrypted (``core.codec``); a history is decrypted here, as it comes in —
fetched or uploaded — so that everything the audit reads, replays and exports is the plain record.
"""

from __future__ import annotations

import json
from typing import Any, TypeGuard

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from core.codec import UndecodablePayload, decode_in_place
from workflows import WORKFLOW_TYPE

# More runs than this means a chain that loops or a case we should not try to replay in one request.
MAX_RUNS = 1_000


class HistoryNotFound(Exception):
    """Temporal has no such workflow (or no such run of it)."""


class HistoryError(ValueError):
    """A history that is not a readable case history; the message says why."""


async def fetch_run(client: Client, workflow_id: str, run_id: str | None = None) -> WorkflowHistory:
    """One run's full history, decrypted with the client's keys; without ``run_id`` the newest run, as
    ``temporal workflow show`` does."""
    try:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise HistoryNotFound(f"no workflow {workflow_id}" + (f" run {run_id}" if run_id else "")) from None
        raise
    return await decrypt(history, client.data_converter)


async def decrypt(history: WorkflowHistory, converter: DataConverter) -> WorkflowHistory:
    """The history with every payload decoded by ``converter``'s codec, in place; plain payloads stay as they are.

    A payload under a key the installation no longer has (or one that was altered) is a HistoryError
    naming the key, so the audit reports an unreadable history rather than failing.
    """
    if converter.payload_codec is None:
        return history
    try:
        for event in history.events:
            await decode_in_place(event, converter.payload_codec)
    except UndecodablePayload as error:
        raise HistoryError(f"{history.workflow_id} run {history.run_id}: {error}") from None
    return history


async def fetch_runs(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """Every run of the case, oldest first."""
    runs = [await fetch_run(client, workflow_id)]
    seen = {runs[0].run_id}
    while previous := continued_from(runs[-1]):
        if previous in seen or len(runs) >= MAX_RUNS:
            raise HistoryError(f"{workflow_id}: the chain of runs does not end (at run {previous})")
        seen.add(previous)
        runs.append(await fetch_run(client, workflow_id, previous))
    runs.reverse()
    return runs


def continued_from(history: WorkflowHistory) -> str | None:
    started = history.events[0].workflow_execution_started_event_attributes
    return started.continued_execution_run_id or None


def parse_upload(workflow_id: str, data: dict[str, Any]) -> WorkflowHistory:
    """An uploaded history (``temporal workflow show -o json``), checked to be one run of a case."""
    if not isinstance(data.get("events"), list):
        raise HistoryError('the history must be {"events": [...]}, as `temporal workflow show -o json` prints it')
    try:
        history = WorkflowHistory.from_json(workflow_id, data)
    except (ValueError, TypeError, KeyError, json_format.ParseError) as error:
        raise HistoryError(f"not a Temporal history: {error}") from None
    check_case_history(history)
    return history


def check_case_history(history: WorkflowHistory) -> None:
    if not history.events:
        raise HistoryError("the history has no events")
    first = history.events[0]
    if first.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        raise HistoryError("the first event must be WorkflowExecutionStarted: upload a whole run")
    started = first.workflow_execution_started_event_attributes
    if started.workflow_type.name != WORKFLOW_TYPE:
        raise HistoryError(f"this is a {started.workflow_type.name!r} workflow, not a case")
    if started.workflow_id and started.workflow_id != history.workflow_id:
        raise HistoryError(f"the history is of {started.workflow_id}, not {history.workflow_id}")
    if not started.original_execution_run_id:
        raise HistoryError("the start event has no run id")
    ids = [event.event_id for event in history.events]
    if ids != list(range(1, len(ids) + 1)):
        raise HistoryError("event ids must run 1, 2, 3, … without gaps")
    _check_workflow_tasks(history)


# What may follow a started workflow task. The SDK's replayer assumes this shape and cannot recover from a
# history without it, so an upload is held to it before it gets that far.
_TASK_ENDS = frozenset({
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
})  # fmt: skip


def _check_workflow_tasks(history: WorkflowHistory) -> None:
    events = history.events
    for event, following in zip(events, events[1:], strict=False):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED and following.event_type not in _TASK_ENDS:
            raise HistoryError(
                f"event {event.event_id} starts a workflow task, but event {following.event_id} does not end it: "
                "the history has been cut or reordered"
            )


def cli_json(history: WorkflowHistory) -> bytes:
    """The history exactly as ``temporal workflow show -o json`` prints it, byte for byte.

    The CLI marshals with Go's protojson: fields in declaration order, map entries sorted by key, two-space
    indent, UTF-8 unescaped. Python's MessageToDict orders by field number and keeps map order, so we
    re-shape it; the result can be diffed against the CLI's output.
    """
    data = json_format.MessageToDict(History(events=history.events))
    shaped = _go_order(History.DESCRIPTOR, data)
    return (json.dumps(shaped, indent=2, ensure_ascii=False) + "\n").encode()


def _go_order(descriptor: Descriptor, data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in descriptor.fields:
        if field.json_name not in data:
            continue
        value = data[field.json_name]
        message = field.message_type
        if _reshapable(message):
            if message.GetOptions().map_entry:
                entry = message.fields_by_name["value"].message_type
                value = {k: _go_order(entry, v) if _reshapable(entry) and isinstance(v, dict) else v
                         for k, v in sorted(value.items())}  # fmt: skip
            elif field.is_repeated:
                value = [_go_order(message, v) if isinstance(v, dict) else v for v in value]
            elif isinstance(value, dict):
                value = _go_order(message, value)
        out[field.json_name] = value
    return out


def _reshapable(message: Descriptor | None) -> TypeGuard[Descriptor]:
    # Well-known types (Timestamp, Duration, Struct…) have their own JSON forms: leave them as they are.
    return message is not None and not message.full_name.startswith("google.protobuf.")
