"""The timeline: the history's own records, each joined to the transition the replayed workflow made of it.

The history says who asked for what and when timers fired; it does not say what that did to the case
(the projection marker holds only the activity's result). The replay does: it captured every event the
workflow produced. We walk the history and attach to each record the event it caused:

- the start of the first run → the ``file`` event (and the policy in force);
- an accepted ``act`` update that succeeded → the next command event with the same actor, action and
  arguments (a handler can still refuse an accepted update: that entry is ``rejected``, with the reason);
- a fired timer → the deadline event the workflow applied at or after it (none: the deadline had moved, or
  the card that fell due was already given): a window that closed, a breach, overdue at the town (urged by
  itself), a suspension that ended by itself, a claim deadline that passed (an automatic urge), a case
  overdue long enough for a yellow or red card;
- an accepted ``calendar`` update (a year of the town's working days loaded or changed) → the
  ``calendar-updated`` event it made for that year (none: the case's deadline did not move);
- the end of a run → continued as new, or terminated/failed by somebody, with why.

Entries come out in the case's own order (event seq), with the records that changed nothing in place. Each
reads as what it is (``audit.describe``): a dispatch from and to, a claim, a return and its reason, the
ruling on it, an urge or a card by hand or by itself, and a line in words.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Any

from audit.describe import CARD, read_event, summary
from audit.facts import RunFacts, Timer, Update
from audit.replay import RunCapture, Standing
from audit.report import TimelineEntry, TimerFired
from core.rows import is_escalation
from workflows import ACT, CALENDAR
from workflows.model import SYSTEM_ACTOR, Actor, CaseEvent, Escalation, EscalationReason, Role, SupervisionGrade

NOT_REPLAYED = "the replay stopped before this point, so what it changed is not known"
# The one event of the system's that no timer causes: it stands on the calendar update that brought it.
CALENDAR_UPDATED = "calendar-updated"


def run_timeline(facts: RunFacts, capture: RunCapture, *, replayed: bool = True) -> list[TimelineEntry]:
    """The run's timeline; after a failed replay, records past the failure come without their transitions."""
    events = sorted(capture.events.values(), key=lambda e: e.seq)
    commands = deque(e for e in events if e.actor.role is not Role.SYSTEM and e.action != "file")
    retimed = deque(e for e in events if e.actor.role is Role.SYSTEM and e.action == CALENDAR_UPDATED)
    deadlines = [e for e in events if e.actor.role is Role.SYSTEM and e.action != CALENDAR_UPDATED]
    entries: list[TimelineEntry] = []
    if facts.input.state is None:
        filed = next((e for e in events if e.action == "file"), None)
        entries.append(_filing(facts, filed))
    for update in facts.updates:
        if update.name == ACT and update.command is not None:
            event = _take_command(commands, update) if update.outcome == "applied" else None
            entries.append(_command(facts, update, event, replayed))
        elif update.name == CALENDAR and update.schedule is not None:
            event = _take_retiming(retimed, update) if update.outcome == "applied" else None
            entries.append(_calendar(facts, update, event, replayed))
    entries += _deadlines(facts, capture, deadlines, replayed)
    # Events the history has no record for would be a contradiction; show them rather than lose them.
    entries += [_unlinked(facts, e) for e in (*commands, *retimed)]
    if facts.end is not None and facts.end.status != "completed":
        entries.append(_run_end(facts))
    for entry in entries:
        entry.summary = summary(entry)
    return _in_case_order(entries)


def _take_command(commands: deque[CaseEvent], update: Update) -> CaseEvent | None:
    assert update.command is not None
    actor, body = update.command.actor, update.command.body
    arguments = body.model_dump(mode="json", exclude={"action"}, exclude_none=True)
    for event in commands:
        # The event records the command's arguments, plus what it led to (an escalation, say).
        if event.actor == actor and event.action == body.action and arguments.items() <= event.detail.items():
            commands.remove(event)
            return event
    return None


def _take_retiming(retimed: deque[CaseEvent], update: Update) -> CaseEvent | None:
    """The ``calendar-updated`` event an update made: of its year, and already in the case it answered with
    (an update that moved nothing answered with an earlier version, so it never takes a later update's event)."""
    assert update.schedule is not None
    answered = update.result.get("version") if isinstance(update.result, dict) else None
    for event in retimed:
        if event.detail.get("year") == update.schedule.year and (answered is None or event.seq <= answered):
            retimed.remove(event)
            return event
    return None


def _filing(facts: RunFacts, event: CaseEvent | None) -> TimelineEntry:
    filed = facts.input.filed
    entry = _entry(
        facts, 1, event, kind="filing", action="file", actor=filed.filed_by,
        arguments=filed.model_dump(mode="json", exclude={"filed_by"}), at=facts.started_at,
    )  # fmt: skip
    entry.claimed = filed.claimed  # filed by the compound's own staff
    return entry


def _command(facts: RunFacts, update: Update, event: CaseEvent | None, replayed: bool) -> TimelineEntry:
    assert update.command is not None
    body = update.command.body
    entry = _entry(
        facts, update.event_id, event, kind="command", action=body.action, actor=update.command.actor,
        arguments=body.model_dump(mode="json", exclude={"action"}, exclude_none=True), at=update.accepted_at,
    )  # fmt: skip
    entry.update_id = update.update_id
    entry.actor_unit = update.command.caller.unit if update.command.caller else None
    if update.outcome != "applied":
        entry.result, entry.reason = update.outcome, update.reason
    elif event is None and not replayed:
        entry.reason = NOT_REPLAYED  # applied, as the history says; its transition is what we cannot show
    return entry


def _calendar(facts: RunFacts, update: Update, event: CaseEvent | None, replayed: bool) -> TimelineEntry:
    """A year of the town's calendar reached the case: the schedule it brought, and the deadline it moved."""
    assert update.schedule is not None
    entry = _entry(
        facts, update.event_id, event, kind="calendar", action=CALENDAR_UPDATED, actor=SYSTEM_ACTOR,
        arguments=update.schedule.model_dump(mode="json"), at=update.accepted_at,
    )  # fmt: skip
    entry.update_id = update.update_id
    if update.outcome != "applied":
        entry.result, entry.reason = update.outcome, update.reason
    elif event is None and replayed:
        entry.result, entry.reason = "no_change", "the case's deadline did not move"
    elif event is None:
        entry.result, entry.reason = "unknown", NOT_REPLAYED
    return entry


def _deadlines(facts: RunFacts, capture: RunCapture, deadlines: list[CaseEvent], replayed: bool) -> list[TimelineEntry]:
    """Each fired timer, with the event it caused: the first one the system applied at or after it fired
    (a deadline's, a claim deadline's urge, a card)."""
    fired = sorted((t for t in facts.timers.values() if t.fired_at is not None), key=lambda t: t.fired_event_id or 0)
    pending = deque(deadlines)
    entries = []
    for index, timer in enumerate(fired):
        assert timer.fired_at is not None and timer.fired_event_id is not None
        later = fired[index + 1].fired_at if index + 1 < len(fired) else None
        # A deadline event belongs to this timer if it came after it fired and before the next one did.
        caused = bool(pending) and pending[0].at >= timer.fired_at and (later is None or pending[0].at < later)
        event = pending.popleft() if caused else None
        entry = _entry(facts, timer.fired_event_id, event, kind="deadline",
                       action=event.action if event else "timer-fired", actor=SYSTEM_ACTOR, arguments={},
                       at=timer.fired_at)  # fmt: skip
        entry.timer = _timer(timer)
        if event is None and replayed:
            entry.result, entry.reason = "no_change", _why_nothing(_standing_at(capture, timer.fired_at))
        elif event is None:
            entry.result, entry.reason = "unknown", NOT_REPLAYED
        entries.append(entry)
    return entries + [_unlinked(facts, e) for e in pending]


def _standing_at(capture: RunCapture, at: datetime) -> Standing | None:
    """How the case stood at ``at``: as projected with the last event applied by then (or as carried over)."""
    standing = None
    for seq, then in sorted(capture.standing.items()):
        event = capture.events.get(seq)
        if event is not None and event.at > at:
            break
        standing = then
    return standing


def _why_nothing(standing: Standing | None) -> str:
    """A timer fired and the workflow made nothing of it. Overdue at the town, only claim deadlines (always
    an urge) and cards are waited for: a card that changed nothing found the case under that grade or above."""
    grade = standing.supervision if standing is not None and standing.overdue else None
    if grade in (SupervisionGrade.YELLOW, SupervisionGrade.RED):
        return f"a card fell due, but the case was already under {CARD[grade]}"
    return "the deadline had moved before the timer fired"


def _unlinked(facts: RunFacts, event: CaseEvent) -> TimelineEntry:
    kind = "command" if event.actor.role is not Role.SYSTEM else "deadline"
    if event.action == CALENDAR_UPDATED:
        kind = "calendar"
    entry = _entry(facts, 0, event, kind=kind, action=event.action, actor=event.actor, arguments={}, at=event.at)
    entry.reason = "the replay produced this event but the history has no record that caused it"
    return entry


def _run_end(facts: RunFacts) -> TimelineEntry:
    end = facts.end
    assert end is not None
    actor = SYSTEM_ACTOR
    if end.identity:  # terminated by an operator or a tool: name them as the history does
        actor = Actor(id=end.identity, name=end.identity, role=Role.SYSTEM)
    detail: dict[str, Any] = {"history_length": facts.length}
    if end.continued_as:
        detail["continued_as"] = end.continued_as
    entry = _entry(facts, end.event_id, None, kind="run", action=end.status.replace("_", "-"), actor=actor,
                   arguments={}, at=end.at)  # fmt: skip
    entry.result, entry.reason, entry.detail = "applied", end.reason, detail
    return entry


def _entry(
    facts: RunFacts, history_event_id: int, event: CaseEvent | None, *, kind: str, action: str, actor: Actor,
    arguments: dict[str, Any], at: Any,
) -> TimelineEntry:  # fmt: skip
    entry = TimelineEntry.model_validate({
        "run_id": facts.run_id, "history_event_id": history_event_id, "at": at, "seq": None, "kind": kind,
        "action": action, "actor": actor, "arguments": arguments, "result": "applied",
    })  # fmt: skip
    if event is not None:
        entry.at, entry.seq, entry.detail = event.at, event.seq, event.detail
        entry.from_stage, entry.to_stage = event.from_stage, event.to_stage
        entry.from_tier, entry.to_tier = event.from_tier, event.to_tier
        entry.escalation = _escalation(event, arguments)
        read_event(entry, event)
    return entry


def _escalation(event: CaseEvent, arguments: dict[str, Any]) -> Escalation | None:
    """Only a tier change that says it escalated is one: a dispatch, a return or a ruling moves the tier too."""
    if not is_escalation(event):
        return None
    made = event.detail["escalation"]
    return Escalation(
        from_tier=event.from_tier, to_tier=event.to_tier, reason=EscalationReason(made["reason"]), at=event.at,
        by=event.actor.name, note=arguments.get("note") if event.action == "escalate" else None,
    )  # fmt: skip


def _timer(timer: Timer) -> TimerFired:
    assert timer.fired_at is not None
    return TimerFired(timer_id=timer.timer_id, started_at=timer.started_at, fired_at=timer.fired_at,
                      armed_for_seconds=timer.armed_for.total_seconds())  # fmt: skip


def _in_case_order(entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """History order, then the entries that carry a case event re-sorted by seq within their own slots."""
    entries.sort(key=lambda e: e.history_event_id or 1 << 62)
    slots = [i for i, e in enumerate(entries) if e.seq is not None]
    by_seq = sorted((entries[i] for i in slots), key=lambda e: e.seq or 0)
    for slot, entry in zip(slots, by_seq, strict=True):
        entries[slot] = entry
    return entries
