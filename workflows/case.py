"""The durable case: one workflow per resident issue, id ``case-<case id>``.

The rules live in ``policy`` and ``state`` (pure); this class only holds the state, arms the SLA timer,
and projects each event into the read model before answering the caller.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from workflows import PROJECT_CASE, WORKFLOW_TYPE

# Our models are immutable definitions with no I/O: passing them through the sandbox saves rebuilding
# every pydantic class on each workflow run, and keeps one class identity for the data converter.
with workflow.unsafe.imports_passed_through():
    from workflows import policy
    from workflows.clock import YearSchedule
    from workflows.model import CaseCommand, CaseEvent, CaseView, ProjectCase, Stage
    from workflows.rules import CHANGES, Rules
    from workflows.search_attributes import updates_for
    from workflows.state import (
        CaseInput,
        alarm_rang,
        apply_command,
        calendar_changed,
        carry_over,
        next_alarm,
        open_case,
    )

DEADLINES_FIRE_AS_TIMERS = "deadlines-fire-as-timers"  # workflow.patched id (cases started before act at once)

PROJECTION_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10))


def invalid(error: policy.InvalidTransition) -> ApplicationError:
    return ApplicationError(str(error), type="InvalidTransition", non_retryable=True)


@workflow.defn(name=WORKFLOW_TYPE)
class CaseWorkflow:
    """A resident's issue from filing to the follow-up visit.

    Update ``act(CaseCommand) -> CaseView``: every caseworker/resident command; ``validate_act`` rejects
    what the case's state does not allow, before anything reaches history.
    Update ``sync() -> CaseView``: returns once the read model holds everything (used when filing).
    Update ``calendar(YearSchedule) -> CaseView``: a year of the town's working days changed; re-times the case.
    Query ``view() -> CaseView``: the live case.
    """

    @workflow.init
    def __init__(self, input: CaseInput) -> None:
        self._outbox: list[CaseEvent] = []
        if input.state is not None:
            # Carried on from a previous run: under the rules the case was filed with (workflows/rules.py).
            self._state = input.state
            self._rules = Rules(frozenset(self._state.rules or ()))
            carry_over(self._state)
        else:
            # A new case: the rule changes in force — all of them, or, replaying a history made before some
            # existed, only those it was made under. Asked here, once, because validators cannot ask.
            self._rules = Rules(frozenset(change for change in CHANGES if workflow.patched(change)))
            self._state, first = open_case(
                input.filed, input.policy, workflow.now(), rules=self._rules, calendar=input.calendar
            )
            self._outbox.append(first)
        # Projection batches run one at a time, so the read model sees events in order.
        self._projecting = asyncio.Lock()
        self._indexed: tuple[object, ...] = ()

    @workflow.run
    async def run(self, input: CaseInput) -> CaseView:
        self._index()
        while self._state.view.stage is not Stage.CLOSED:
            await self._flush()
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._flush()
                workflow.continue_as_new(CaseInput(filed=input.filed, policy=input.policy, state=self._state))
            await self._watch_deadline()
        await self._flush()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state.view

    @workflow.query
    def view(self) -> CaseView:
        return self._state.view

    @workflow.update
    async def act(self, command: CaseCommand) -> CaseView:
        # Re-checked here: two updates can both pass validation in one activation before either applies.
        self._check(command)
        event = apply_command(self._state, command.actor, command.body, workflow.now(), rules=self._rules,
                              caller=command.caller, target=command.target)  # fmt: skip
        # Remember which request did it, so a retry that arrives after the case has closed still finds it.
        update = workflow.current_update_info()
        event.request_id = update.id if update else None
        self._record(event)
        await self._flush()
        return self._state.view

    @act.validator
    def validate_act(self, command: CaseCommand) -> None:
        self._check(command)

    def _check(self, command: CaseCommand) -> None:
        try:
            policy.check(self._state.view, command.body, actor=command.actor, now=workflow.now(), rules=self._rules,
                         caller=command.caller, target=command.target, units=self._state.units)  # fmt: skip
        except policy.InvalidTransition as error:
            raise invalid(error) from None

    @workflow.update
    async def sync(self) -> CaseView:
        await self._flush()
        return self._state.view

    @workflow.update
    async def calendar(self, schedule: YearSchedule) -> CaseView:
        """A year of the town's calendar was loaded or changed: count the deadline again on it."""
        if (event := calendar_changed(self._state, schedule, workflow.now(), rules=self._rules)) is not None:
            self._record(event)
        await self._flush()
        return self._state.view

    async def _watch_deadline(self) -> None:
        """Sleep until the next alarm (a deadline, a claim deadline, a card), a change of them, or a
        suggestion to continue as new."""
        clock = self._state.clock
        alarm = next_alarm(self._state, self._rules)

        def woken() -> bool:
            return self._state.clock != clock or workflow.info().is_continue_as_new_suggested()

        if alarm is None:
            await workflow.wait_condition(woken)
            return
        due, kind = alarm
        remaining = due - workflow.now()
        if remaining <= timedelta(0) and workflow.patched(DEADLINES_FIRE_AS_TIMERS):
            # A deadline already past still goes through a (1 ms) timer, so the transition stands on a
            # TimerFired event in history. Acting at once would let a workflow task that then fails (its
            # worker killed) project a transition that the retried task, running at another time, does
            # not make yet.
            remaining = timedelta(milliseconds=1)
        if remaining > timedelta(0):
            try:
                await workflow.wait_condition(woken, timeout=remaining)
                return
            except TimeoutError:
                pass
        if self._state.clock == clock:  # nobody moved the deadline while the timer fired
            if (event := alarm_rang(self._state, kind, workflow.now(), rules=self._rules)) is not None:
                self._record(event)

    def _record(self, event: CaseEvent) -> None:
        self._outbox.append(event)
        self._index()
        workflow.logger.info(
            "case event",
            extra={"case_id": self._state.view.id, "action": event.action, "actor": event.actor.id,
                   "seq": event.seq, "stage": event.to_stage.value, "tier": event.to_tier.value},
        )  # fmt: skip

    def _index(self) -> None:
        """Keep the search attributes current; only write them when they actually change."""
        case = self._state.view
        indexed = (case.stage, case.tier, case.unit, case.deadline, case.overdue)
        if indexed != self._indexed:
            workflow.upsert_search_attributes(updates_for(case))
            self._indexed = indexed

    async def _flush(self) -> None:
        """Project pending events into the read model (idempotent per case id + seq)."""
        async with self._projecting:
            while self._outbox:
                batch = list(self._outbox)
                await workflow.execute_local_activity(
                    PROJECT_CASE,
                    ProjectCase(view=self._state.view.model_copy(deep=True), units=self._state.units, events=batch),
                    start_to_close_timeout=timedelta(seconds=10),
                    retry_policy=PROJECTION_RETRY,
                )
                del self._outbox[: len(batch)]
