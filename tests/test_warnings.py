"""Deadline warnings (预警): when the moment falls, once per deadline, and the supervisors' due-soon list.

The arithmetic and the rules are pure (no server); the last tests run a real stack under ``SECONDS``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory

from api.errors import ApiError
from api.services.supervision import warning_window
from audit.check import CaseHistories
from audit.describe import summary
from audit.facts import read_run
from audit.replay import replay_cases
from audit.report import TimelineEntry
from audit.timeline import run_timeline
from core.calendar_seed import national_schedule
from core.codec import Keyring
from core.settings import Settings
from core.temporal import converter_for
from tests.conftest import StackFactory
from tests.utils.stack import LONG, SECONDS, Stack, eventually, sla_file
from workflows import policy
from workflows.clock import Duration, WorkCalendar, YearSchedule, due_after, remaining
from workflows.model import (
    SYSTEM_ACTOR,
    Accept,
    Actor,
    CallerFacts,
    CaseFiled,
    Claim,
    DecideExtension,
    FastTrack,
    Reporter,
    RequestExtension,
    Resume,
    Role,
    SlaPolicy,
    Stage,
    Submit,
    Suspend,
    SuspendReason,
    Tier,
    UnitPath,
    Urgency,
)
from workflows.rules import CHANGES, FIRST, LATEST, Rules
from workflows.state import CaseState, alarm_rang, apply_command, deadline_passed, next_alarm, open_case

CST = timedelta(hours=8)
WORKER = Actor(id="p1", name="小李", role=Role.CASEWORKER)
BOSS = Actor(id="s1", name="书记", role=Role.SUPERVISOR)
OWN_UNIT = CallerFacts(unit="x", path="/z/y/x/")


def local(y: int, m: int, d: int, h: int = 0) -> datetime:
    """A moment in Beijing time, as UTC."""
    return datetime(y, m, d, h, tzinfo=UTC) - CST


# --- the moment ---------------------------------------------------------------------------------------------


def test_one_working_day_before_a_monday_deadline_is_friday_morning() -> None:
    """End of Mon 7 Dec 2026: from 00:00 on Friday the 4th, "one working day from today" (counted from the next
    day) ends with it — so that is when only 1wd is left; at Thursday's last second 2wd were."""
    cal = WorkCalendar()
    deadline = local(2026, 12, 8)  # 24:00 on Monday the 7th
    warned = policy.time_before(deadline, Duration(1, "wd"), cal, started=local(2026, 12, 1, 10))
    assert warned == local(2026, 12, 4)
    assert due_after(warned, Duration(1, "wd"), cal).at == deadline
    assert remaining(warned, deadline, "wd", cal) == Duration(1, "wd")
    assert remaining(warned - timedelta(seconds=1), deadline, "wd", cal) == Duration(2, "wd")
    # Two working days before: Thursday the 3rd, the weekend not counted.
    assert policy.time_before(deadline, Duration(2, "wd"), cal, started=deadline) == local(2026, 12, 3)


def test_a_make_up_working_day_counts_and_a_holiday_does_not() -> None:
    """A 调休 Sunday is the working day before a Monday deadline. Across the 2026 Spring Festival (15–23 Feb off,
    Saturdays 14 and 28 Feb worked), one working day before the end of Tuesday the 24th is Saturday the 14th."""
    makeup = WorkCalendar(years={2026: YearSchedule(year=2026, complete=True, makeup_workdays=[date(2026, 12, 6)])})
    deadline = local(2026, 12, 8)
    assert policy.time_before(deadline, Duration(1, "wd"), makeup, started=deadline) == local(2026, 12, 6)

    schedule = national_schedule(2026)
    assert schedule is not None
    festival = WorkCalendar(years={2026: schedule})
    deadline = local(2026, 2, 25)  # 24:00 on Tuesday the 24th
    warned = policy.time_before(deadline, Duration(1, "wd"), festival, started=local(2026, 2, 13))
    assert warned == local(2026, 2, 14)
    assert due_after(warned, Duration(1, "wd"), festival).at == deadline
    assert remaining(warned, deadline, "wd", festival) == Duration(1, "wd")


def test_clock_time_and_calendar_days_count_back_as_they_count_forward() -> None:
    cal = WorkCalendar()
    deadline = local(2026, 12, 8)
    assert policy.time_before(deadline, Duration(8, "h"), cal, started=deadline) == deadline - timedelta(hours=8)
    assert policy.time_before(deadline, Duration(2, "d"), cal, started=deadline) == deadline - timedelta(days=2)


def test_an_hour_deadline_is_warned_of_at_a_quarter_left() -> None:
    sla = policy.build_policy()
    start = local(2026, 12, 4, 10)
    two_hours = due_after(start, Duration(2, "h"), WorkCalendar()).at
    warning = policy.deadline_warning(sla, two_hours, started=start, unit="h", calendar=WorkCalendar())
    assert warning == policy.DeadlineWarning(start + timedelta(minutes=90), "30m")
    day = start + timedelta(hours=24)
    assert policy.deadline_warning(sla, day, started=start, unit="h", calendar=WorkCalendar()) == (
        policy.DeadlineWarning(start + timedelta(hours=18), "6h")
    )
    # Given in clock time, warn_before applies to hour deadlines as it is.
    sla = policy.build_policy({"warn_before": "45m"})
    warning = policy.deadline_warning(sla, two_hours, started=start, unit="h", calendar=WorkCalendar())
    assert warning == policy.DeadlineWarning(start + timedelta(minutes=75), "45m")


def test_under_a_scale_the_warning_shrinks_with_the_deadline() -> None:
    """Thursday 10:00 + 2wd ends Monday 24:00 (110 h); its warning, Friday 00:00, 14 h in: both scaled alike."""
    scale = 1 / 3_600
    sla = policy.build_policy(scale=scale)
    start, cal = local(2026, 12, 3, 10), WorkCalendar()
    deadline = due_after(start, Duration(2, "wd"), cal, scale).at
    warning = policy.deadline_warning(sla, deadline, started=start, unit="wd", calendar=cal)
    assert warning is not None and warning.left == "1wd"
    assert abs((warning.at - start) - timedelta(hours=14) * scale) < timedelta(milliseconds=1)


@pytest.mark.parametrize("off", ["off", "OFF", None])
def test_off_or_null_warns_of_nothing(off: str | None) -> None:
    sla = policy.build_policy({"warn_before": off})
    assert sla.warn_before == "off"
    deadline = local(2026, 12, 8)
    assert policy.deadline_warning(sla, deadline, started=deadline, unit="wd", calendar=WorkCalendar()) is None


def test_the_due_soon_window_defaults_to_the_policys_warning() -> None:
    assert warning_window(None, policy.build_policy({"warn_before": "8h"})) == Duration(8, "h")
    assert warning_window(None, policy.build_policy({"warn_before": "off"})) == Duration(1, "wd")
    assert warning_window("2d", policy.build_policy()) == Duration(2, "d")
    with pytest.raises(ApiError) as refused:
        warning_window("3 weeks", policy.build_policy())
    assert refused.value.status == 422 and "within: '3 weeks' is not a duration" in str(refused.value.detail)


def test_warn_before_is_checked_like_every_duration(tmp_path: Path) -> None:
    assert policy.build_policy().warn_before == "1wd" and SlaPolicy().warn_before == "1wd"
    assert policy.build_policy({"warn_before": " 8 h"}).warn_before == "8h"
    for bad, why in [("soon", "not a duration"), ("0h", "more than zero"), ("1.5wd", "whole days"), (3, "string")]:
        with pytest.raises(ValueError, match=why):
            policy.build_policy({"warn_before": bad})
    path = tmp_path / "sla.json"
    path.write_text(json.dumps({"warn_before": "1 week"}))
    with pytest.raises(ValueError, match=r"(?s)LINLI_SLA_FILE=.*warn_before: '1 week' is not a duration"):
        Settings(sla_file=path)


# --- the case -----------------------------------------------------------------------------------------------

T0 = local(2026, 11, 23, 10)  # Monday 23 Nov 2026, 10:00 Beijing


def case(rules: Rules = LATEST, at: datetime = T0, **overrides: Any) -> CaseState:
    """A case filed by the compound's own caseworker (claimed) and submitted: reviewing, 2wd at the compound."""
    filed = CaseFiled(
        id="c1", number="2026-000001", units=UnitPath(compound="x", community="y", town="z"), category="c",
        title="t", description="d", reporter=Reporter(name="王阿姨"), channel="in_person", filed_by=WORKER,
        filed_at=at, claimed=True,
    )  # fmt: skip
    state, _ = open_case(filed, policy.build_policy(overrides or None), at, rules=rules)
    apply_command(state, WORKER, Submit(), at, rules=rules, caller=OWN_UNIT)
    return state


def test_the_case_warns_once_per_deadline_and_changes_nothing_else() -> None:
    state = case()
    deadline = state.view.deadline
    assert deadline == local(2026, 11, 26)  # end of Wednesday the 25th
    assert next_alarm(state, LATEST) == (local(2026, 11, 24), "warning")  # Tuesday 00:00
    before = state.view.model_copy(deep=True)
    event = alarm_rang(state, "warning", local(2026, 11, 24), rules=LATEST)
    assert event is not None and event.action == "deadline-approaching" and event.actor == SYSTEM_ACTOR
    assert event.detail == {"deadline": deadline.isoformat(), "warn_before": "1wd", "stage": "reviewing",
                            "tier": "compound"}  # fmt: skip
    assert (event.from_stage, event.to_stage, event.from_tier, event.to_tier) == (Stage.REVIEWING,) * 2 + (
        Tier.COMPOUND,
    ) * 2
    after = state.view
    assert (after.stage, after.tier, after.deadline, after.overdue) == (before.stage, before.tier, deadline, False)
    assert after.version == before.version + 1  # an event of its own
    assert next_alarm(state, LATEST) == (deadline, "deadline")  # warned once, not again

    # A new deadline (an extension) is warned of in its turn.
    apply_command(state, WORKER, RequestExtension(days=2, reason="r"), local(2026, 11, 24, 9), rules=LATEST)
    apply_command(state, BOSS, DecideExtension(approve=True, note="ok"), local(2026, 11, 24, 9), rules=LATEST)
    assert state.view.deadline == local(2026, 11, 28)  # end of Friday the 27th
    assert next_alarm(state, LATEST) == (local(2026, 11, 26), "warning")  # Thursday 00:00


def test_a_case_from_before_the_change_is_never_warned() -> None:
    earlier = Rules(frozenset(c for c in CHANGES if c != policy.DEADLINE_WARNINGS))
    for rules in (earlier, FIRST):
        state = case(rules)
        assert next_alarm(state, rules) == (state.view.deadline, "deadline")


def test_no_warning_while_suspended_and_the_resumed_deadline_is_a_new_one() -> None:
    state = case()
    apply_command(state, WORKER, Suspend(reason=SuspendReason.WAITING_FOR_RESIDENT, note="away"), T0, rules=LATEST)
    assert next_alarm(state, LATEST) == (state.resume_at, "deadline")  # only its resumption
    resumed = local(2026, 11, 30, 10)  # Monday: the two working days left start over
    apply_command(state, WORKER, Resume(note="back"), resumed, rules=LATEST)
    assert state.view.deadline == local(2026, 12, 3)  # end of Wednesday 2 Dec
    assert next_alarm(state, LATEST) == (local(2026, 12, 1), "warning")


def test_no_warning_once_overdue_nor_for_a_window() -> None:
    state = case()
    while not state.view.overdue:
        assert state.view.deadline is not None
        deadline_passed(state, state.view.deadline, rules=LATEST)
    apply_command(state, WORKER, Claim(), T0, rules=LATEST)  # no claim alarm either: only the cards are left
    assert [kind for _, kind in [next_alarm(state, LATEST) or (T0, "none")]] == ["yellow"]
    filed = CaseFiled(
        id="c2", number="2026-000002", units=UnitPath(compound="x", community="y", town="z"), category="c",
        title="t", description="d", reporter=Reporter(name="王阿姨"), channel="in_person", filed_by=WORKER,
        filed_at=T0, claimed=True,
    )  # fmt: skip
    collecting, _ = open_case(filed, policy.build_policy(), T0, rules=LATEST)
    assert collecting.view.stage is Stage.COLLECTING
    assert next_alarm(collecting, LATEST) == (collecting.view.deadline, "deadline")


def test_a_deadline_set_inside_its_warning_is_warned_of_at_once() -> None:
    """A fast-track giving one working day: from the start, only 1wd is left — the warning is already due."""
    state = case()
    apply_command(state, WORKER, FastTrack(assignee="电工", due_in_days=1, note="bulb"), T0, rules=LATEST)
    at, kind = next_alarm(state, LATEST) or (None, "")
    assert kind == "warning" and at is not None and at <= T0
    assert alarm_rang(state, "warning", T0, rules=LATEST) is not None
    assert next_alarm(state, LATEST) == (state.view.deadline, "deadline")


def test_a_warning_rung_after_its_deadline_says_nothing_and_the_deadline_comes_next() -> None:
    state = case()
    deadline = state.view.deadline
    assert deadline is not None and (next_alarm(state, LATEST) or (None, ""))[1] == "warning"
    version = state.view.version
    assert alarm_rang(state, "warning", deadline + timedelta(hours=1), rules=LATEST) is None
    assert state.view.version == version and next_alarm(state, LATEST) == (deadline, "deadline")


def test_a_warning_not_owed_any_more_changes_nothing() -> None:
    """The guard: a warning already given, or one for a case suspended since, rings for nothing."""
    state = case()
    assert alarm_rang(state, "warning", local(2026, 11, 24), rules=LATEST) is not None
    version, clock = state.view.version, state.clock
    assert alarm_rang(state, "warning", local(2026, 11, 24, 1), rules=LATEST) is None
    assert (state.view.version, state.clock) == (version, clock)
    suspended = case()
    apply_command(suspended, WORKER, Suspend(reason=SuspendReason.WAITING_FOR_RESIDENT, note="away"), T0,
                  rules=LATEST)  # fmt: skip
    version = suspended.view.version
    assert alarm_rang(suspended, "warning", local(2026, 11, 24), rules=LATEST) is None
    assert suspended.view.version == version and suspended.warned_deadline is None


def test_an_emergency_is_warned_with_a_quarter_of_its_hours_left() -> None:
    filed = CaseFiled(
        id="c3", number="2026-000003", units=UnitPath(compound="x", community="y", town="z"), category="gas",
        title="t", description="d", reporter=Reporter(name="王阿姨"), channel="in_person", filed_by=WORKER,
        filed_at=T0, claimed=True, urgency=Urgency.EMERGENCY,
    )  # fmt: skip
    state, _ = open_case(filed, policy.build_policy(), T0, rules=LATEST)
    assert state.view.stage is Stage.REVIEWING and state.view.deadline == T0 + timedelta(hours=2)
    assert next_alarm(state, LATEST) == (T0 + timedelta(minutes=90), "warning")
    event = alarm_rang(state, "warning", T0 + timedelta(minutes=90), rules=LATEST)
    assert event is not None and event.detail["warn_before"] == "30m"
    apply_command(state, WORKER, Accept(note="n"), T0 + timedelta(minutes=95), rules=LATEST)
    # Deliberating, 7wd to the end of Wednesday 2 Dec: a working day's warning again, from Tuesday 00:00.
    assert next_alarm(state, LATEST) == (local(2026, 12, 1), "warning")


def test_the_timeline_says_it_in_words() -> None:
    entry = TimelineEntry.model_validate({
        "run_id": "r", "history_event_id": 9, "at": T0, "seq": 4, "kind": "deadline",
        "action": "deadline-approaching", "actor": SYSTEM_ACTOR, "arguments": {}, "result": "applied",
        "detail": {"deadline": "2026-11-25T16:00:00+00:00", "warn_before": "1wd", "stage": "reviewing",
                   "tier": "compound"},
    })  # fmt: skip
    assert summary(entry) == (
        "预警 deadline approaching: 1wd left of the reviewing deadline at the compound (due 2026-11-25 16:00 UTC)"
    )
    entry.detail = {}
    assert summary(entry) == "预警 deadline approaching"


# --- over HTTP, on a real stack -----------------------------------------------------------------------------


async def events_of(stack: Stack, case_id: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await stack.http.get(f"/v1/cases/{case_id}/events", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def due_soon(stack: Stack, headers: dict[str, str], query: str = "") -> list[str]:
    response = await stack.http.get(f"/v1/supervision/due-soon{query}", headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_a_case_is_warned_once_before_its_deadline_and_listed_as_due_soon(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    """Review lasts 6 "days" (seconds) at each tier, warned with 3 left; a suspended case is not warned."""
    policy_file = sla_file(tmp_path, {"warn_before": "3d"}, **{**LONG, "reviewing": 6})
    stack = await make_stack(sla_file=policy_file, sla_scale=SECONDS)
    worker = await stack.headers("caseworker", "compound-a1x", "网格员")
    town_a = await stack.headers("supervisor", "town-a", "综治中心")
    town_b = await stack.headers("supervisor", "town-b", "龙泉街道")
    warned = (await stack.file(worker))["id"]
    first = await stack.ok(warned, "submit", worker)
    stopped = (await stack.file(worker))["id"]
    await stack.ok(stopped, "submit", worker)
    await stack.ok(stopped, "suspend", worker, reason="waiting_for_resident", note="Resident away")

    # Due within 10 s: the running case, not the suspended one; nothing for another town's supervisor.
    assert await due_soon(stack, town_a, "?within=10d") == [warned]
    assert await due_soon(stack, town_b, "?within=10d") == []
    assert await due_soon(stack, town_a, "?within=10d&unit=community-a2") == []
    bad = await stack.http.get("/v1/supervision/due-soon?within=soon", headers=town_a)
    assert bad.status_code == 422 and "within: 'soon' is not a duration" in bad.json()["detail"]

    # Warned once, with 3 s left, and the deadline still runs: the breach comes after it.
    events = await eventually(
        lambda: events_of(stack, warned, worker), lambda es: "sla-breach" in [e["action"] for e in es], timeout=30
    )
    warnings = [e for e in events if e["action"] == "deadline-approaching"]
    deadline = datetime.fromisoformat(first["deadline"])
    assert len([w for w in warnings if datetime.fromisoformat(w["detail"]["deadline"]) == deadline]) == 1
    warning = warnings[0]
    assert warning["detail"] == {"deadline": deadline.isoformat(), "warn_before": "3d", "stage": "reviewing",
                                 "tier": "compound"}  # fmt: skip
    assert (warning["from_stage"], warning["to_stage"], warning["to_tier"]) == ("reviewing", "reviewing", "compound")
    breach = next(e for e in events if e["action"] == "sla-breach")
    warned_at, breached_at = datetime.fromisoformat(warning["at"]), datetime.fromisoformat(breach["at"])
    assert warning["seq"] < breach["seq"] and warned_at < deadline <= breached_at
    assert deadline - warned_at <= timedelta(seconds=3)  # not before 3 s were left

    # The suspended case: past its own warning's moment, no warning (and it is not due soon either).
    assert [e["action"] for e in await events_of(stack, stopped, worker)] == ["file", "submit", "suspend"]
    assert stopped not in await due_soon(stack, town_a, "?within=600d")


async def test_the_saved_warning_reads_in_the_timeline() -> None:
    """The saved history (tests/histories/deadline_warning.json): the warning stands on its fired timer."""
    saved = Path(__file__).parent / "histories" / "deadline_warning.json"
    history = WorkflowHistory.from_json("case-deadline_warning", saved.read_text())

    async def one() -> AsyncIterator[CaseHistories]:
        yield CaseHistories(history.workflow_id, [history])

    converter = converter_for(Keyring.generate())  # saved decrypted: any keys read it
    ((_, (run,)),) = [item async for item in replay_cases(one(), data_converter=converter)]
    assert run.failure is None
    timeline = run_timeline(read_run(history), run.capture)
    assert [(e.kind, e.action) for e in timeline] == [
        ("filing", "file"), ("command", "submit"), ("deadline", "deadline-approaching"), ("command", "accept")
    ]  # fmt: skip
    warning = timeline[2]
    assert warning.timer is not None and warning.timer.fired_at <= warning.at
    assert (warning.from_stage, warning.to_stage, warning.detail["warn_before"]) == ("reviewing", "reviewing", "2d")
    assert warning.summary.startswith("预警 deadline approaching: 2d left of the reviewing deadline at the compound")


async def test_due_soon_is_scoped_sorted_and_paged(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = await make_stack(sla_file=sla_file(tmp_path, **{**LONG, "reviewing": 100}), sla_scale=SECONDS)
    admin = await stack.headers("admin", None, "管理员")
    ids = {}
    for unit in ("compound-a2x", "compound-a1x", "compound-b1x"):  # submitted in this order: deadlines in it too
        ids[unit] = (await stack.file(admin, unit=unit))["id"]
        await stack.ok(ids[unit], "submit", admin)
    collecting = (await stack.file(admin, unit="compound-a1x"))["id"]  # a window, not a deadline to warn of
    town_a = await stack.headers("supervisor", "town-a", "综治中心")
    assert await due_soon(stack, town_a, "?within=600d") == [ids["compound-a2x"], ids["compound-a1x"]]
    assert collecting not in await due_soon(stack, admin, "?within=600d")
    assert await due_soon(stack, await stack.headers("supervisor", "town-b"), "?within=600d") == [ids["compound-b1x"]]
    assert await due_soon(stack, await stack.headers("supervisor", "community-a1"), "?within=600d") == [
        ids["compound-a1x"]
    ]
    assert await due_soon(stack, town_a, "?within=600d&stage=deliberating") == []
    assert await due_soon(stack, town_a, "?within=30m") == []  # 100 s away; 30 minutes are 21 ms here
    page = (await stack.http.get("/v1/supervision/due-soon?within=600d&limit=1", headers=town_a)).json()
    rest = await stack.http.get(f"/v1/supervision/due-soon?within=600d&limit=1&cursor={page['next_cursor']}",
                                headers=town_a)  # fmt: skip
    assert [i["id"] for i in page["items"] + rest.json()["items"]] == [ids["compound-a2x"], ids["compound-a1x"]]
    assert rest.json()["next_cursor"] is None
    item = page["items"][0]
    assert item["stage"] == "reviewing" and 0 < item["due_in_seconds"] <= 100 and item["urges"] == 0
    caseworker = await stack.headers("caseworker", "compound-a1x")
    assert (await stack.http.get("/v1/supervision/due-soon", headers=caseworker)).status_code == 403
