"""What a timeline entry is, in the case's own terms: the moves between units (dispatch, claim, return, the
ruling on a return), the pressing of a unit (urge, supervision), each read off the event's detail, and the
entry in one line of words.

The event's detail is what the workflow recorded; a detail that does not read as the model expects (a
history from other code) leaves the structured field empty rather than failing the audit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from audit.report import Dispatched, Returned, Ruling, Supervised, TimelineEntry, Urged
from workflows.model import CaseEvent, Role, SupervisionGrade

M = TypeVar("M", bound=BaseModel)

CARD = {SupervisionGrade.ORDINARY: "ordinary supervision", SupervisionGrade.YELLOW: "a yellow card",
        SupervisionGrade.RED: "a red card"}  # fmt: skip


def read_event(entry: TimelineEntry, event: CaseEvent) -> None:
    """Fill the entry's structured fields from the event it stands for."""
    detail, action = event.detail, event.action
    entry.claimed = action == "claim" or detail.get("claimed") is True
    if action in ("dispatch", "rule-return") and "to_tier" in detail:  # a ruling that dispatched on, too
        entry.dispatch = _read(Dispatched, detail)
    if action == "return":
        entry.returned = _read(Returned, detail)
    if action == "rule-return":
        entry.ruling = _ruling(detail)
    if action == "urge":
        entry.urge = _read(Urged, {**detail, "automatic": detail.get("automatic") is True})
    elif action == "overdue" and detail.get("urged") is True:
        entry.urge = Urged(automatic=True, reason="overdue")
    if action == "supervise":
        entry.supervision = _read(Supervised, {**detail, "automatic": detail.get("automatic") is True})


def _ruling(detail: dict[str, Any]) -> Ruling | None:
    returned_by, upheld = detail.get("returned_by"), detail.get("upheld")
    if not isinstance(returned_by, str) or not isinstance(upheld, bool):
        return None
    to_unit = detail.get("to_unit") if upheld else returned_by
    outcome = "sent_back" if not upheld else "dispatched_on" if to_unit else "kept"
    return _read(Ruling, {**detail, "outcome": outcome, "to_unit": to_unit})


def _read(model: type[M], data: dict[str, Any]) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


# --- in words ------------------------------------------------------------------------------------------------


def summary(entry: TimelineEntry) -> str:
    """The entry in one line: who did what, and what it did to the case."""
    if entry.kind == "run":
        return f"the run {entry.action.replace('-', ' ')}" + (f": {entry.reason}" if entry.reason else "")
    if entry.result == "rejected":
        return f"{entry.action} by {_who(entry)}, refused: {entry.reason}"
    if entry.result == "pending":
        return f"{entry.action} by {_who(entry)}: accepted, not finished"
    if entry.result == "unknown" or (entry.seq is None and entry.result == "applied"):
        what = "a timer fired" if entry.kind == "deadline" else f"{entry.action} by {_who(entry)}"
        return f"{what}; what it changed is not known: {entry.reason or 'the replay made no event of it'}"
    if entry.kind == "calendar":
        year = entry.arguments.get("year", entry.detail.get("year"))
        text = f"the town's calendar for {year} reached the case"
        text += " and moved its deadline" if entry.seq is not None else "; its deadline did not move"
    elif entry.result == "no_change":
        return f"a timer fired and changed nothing: {entry.reason}"
    else:
        text = _applied(entry) + _claiming(entry)
    return f"{text} ({entry.reason})" if entry.seq is not None and entry.reason else text  # one nothing caused


def _applied(entry: TimelineEntry) -> str:
    by, who = entry.actor.name, _who(entry)
    match entry.action:
        case "file":
            unit = (entry.arguments.get("units") or {}).get("compound")
            text = f"filed at {unit} by {by} ({entry.actor.role})"
            return text + (", claimed at filing" if entry.claimed else "")
        case "dispatch" if (dispatch := entry.dispatch) is not None:
            return f"dispatched from {dispatch.from_unit} to {dispatch.to_unit} ({entry.to_tier}) by {by}"
        case "claim":
            return f"claimed for {entry.actor_unit} by {by}" if entry.actor_unit else f"claimed by {by}"
        case "return" if (returned := entry.returned) is not None:
            return (f"returned by {returned.from_unit} ({by}) to {returned.to_unit}: {returned.reason}; "
                    f"{returned.to_unit} must rule on it")  # fmt: skip
        case "rule-return" if (ruling := entry.ruling) is not None:
            return (
                f"the return by {ruling.returned_by} {_ruled(ruling)} by {who}: "
                + {
                    "kept": "the unit it came back to handles the case",
                    "dispatched_on": f"dispatched on to {ruling.to_unit} ({entry.to_tier})",
                    "sent_back": f"back to {ruling.returned_by} ({entry.to_tier}), which must claim and handle it",
                }[ruling.outcome]
            )
        case "urge" if (urge := entry.urge) is not None:
            if not urge.automatic:
                return f"urged by {who}"
            if urge.reason == "claim_overdue":
                return f"urged automatically: {urge.unit} had not claimed the case by its claim deadline"
            return f"urged automatically ({urge.reason})"
        case "supervise" if (given := entry.supervision) is not None:
            if given.automatic:
                return f"{CARD[given.grade]} given automatically: overdue at the town for {given.after}"
            if given.grade is SupervisionGrade.ORDINARY:
                return f"put under ordinary supervision by {who}"
            return f"{CARD[given.grade]} given by {who}"
        case "end-supervision":
            return f"supervision ended by {who}"
        case "overdue":
            return f"the deadline passed at the {entry.to_tier}: overdue" + (
                ", and urged automatically" if entry.urge else ""
            )
        case "sla-breach" if (escalation := entry.escalation) is not None:
            return f"the deadline passed: escalated from {escalation.from_tier} to {escalation.to_tier}"
        case "escalate" if (escalation := entry.escalation) is not None:
            return f"escalated from {escalation.from_tier} to {escalation.to_tier} by {who}"
        case "deadline-approaching":
            return _warned(entry.detail)
    return _generic(entry)


def _warned(detail: dict[str, Any]) -> str:
    """预警: how much is left of which deadline (a detail that does not say leaves it out)."""
    text = "预警 deadline approaching"
    left, stage, tier, deadline = (detail.get(k) for k in ("warn_before", "stage", "tier", "deadline"))
    if isinstance(left, str) and isinstance(stage, str):
        text += f": {left} left of the {stage} deadline" + (f" at the {tier}" if isinstance(tier, str) else "")
    try:
        due = datetime.fromisoformat(deadline) if isinstance(deadline, str) else None
    except ValueError:
        due = None
    return text + (f" (due {due.astimezone(UTC):%Y-%m-%d %H:%M} UTC)" if due is not None else "")


def _generic(entry: TimelineEntry) -> str:
    if entry.actor.role is not Role.SYSTEM:
        text = f"{entry.action} by {_who(entry)}"
    elif entry.action == "resume":
        text = "the suspension ended by itself"
    else:
        text = entry.action
    if entry.from_stage is not None and entry.from_stage != entry.to_stage:
        text += f": {entry.from_stage} → {entry.to_stage}"
    if entry.from_tier is not None and entry.from_tier != entry.to_tier:
        text += f"; {entry.from_tier} → {entry.to_tier}"
    return text


def _claiming(entry: TimelineEntry) -> str:
    """A command of the handling unit's caseworkers claims an unclaimed case as it goes."""
    if not entry.claimed or entry.action in ("claim", "file"):
        return ""
    return f", claiming the case for {entry.actor_unit}" if entry.actor_unit else ", claiming the case"


def _ruled(ruling: Ruling) -> str:
    return "upheld" if ruling.upheld else "overruled"


def _who(entry: TimelineEntry) -> str:
    if entry.actor.role is Role.SYSTEM:
        return entry.actor.name
    return f"{entry.actor.name} ({entry.actor_unit})" if entry.actor_unit else entry.actor.name
