"""Re-timing the open cases after a year of the calendar was loaded or changed: one workflow per change.

Started by whoever wrote the year (``PUT /v1/calendar/{year}``, ``linli calendar import``) once the write
is committed, so a re-timing that has begun survives any process dying: the pages of cases and the
updates sent to them are activities, retried until they succeed. The workflow itself only walks the pages.

What each case is sent is read from the database when it is sent (the activity), not carried here: when
two changes of one year race, every case still ends on what the database holds last. A write of the same
content while this rollout runs signals it (``again``) to start over from the first page.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows import CASES_TO_RETIME, RETIME_CASES, ROLLOUT_AGAIN, ROLLOUT_TYPE

PAGE_SIZE = 200  # cases per page: one query, then one activity sending to each of them
PAGES_PER_RUN = 50  # then continue as new, so a rollout over very many cases keeps a short history

# Retried for as long as it takes: the database or Temporal being away only delays the re-timing.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


class Rollout(BaseModel):
    """One year of one layer of the calendar that changed: the national schedule (``town`` None) or a town's."""

    year: int = Field(ge=1900, le=2200)
    town: str | None = None
    # Carried over continue-as-new:
    after: str | None = Field(default=None, description="the last case id done in this pass")
    passes: int = Field(default=0, description="how many times the rollout started over (a newer write)")
    sent: int = Field(default=0, description="cases re-timed so far")


class CasePageRequest(BaseModel):
    year: int
    town: str | None
    after: str | None
    limit: int


class CaseToRetime(BaseModel):
    id: str
    town: str


class CasePage(BaseModel):
    cases: list[CaseToRetime]
    next: str | None = Field(description="the id to continue after; None: this was the last page")


class RetimeBatch(BaseModel):
    year: int
    cases: list[CaseToRetime]
    # Unique to this pass of this rollout: with the case id and what it is sent, the update's id, so a retried
    # activity is answered from the first attempt's updates, and a later pass is never mistaken for it.
    key: str


class Retimed(BaseModel):
    sent: int = Field(description="cases sent the year (each counts its deadline again; most do not move)")
    ended: int = Field(description="cases whose workflow had ended meanwhile (closed): nothing to do")


@workflow.defn(name=ROLLOUT_TYPE)
class CalendarRolloutWorkflow:
    """Send every open case the change may affect its town's schedule for the year, a page at a time."""

    def __init__(self) -> None:
        self._start_over = False

    @workflow.signal(name=ROLLOUT_AGAIN)
    def again(self) -> None:
        self._start_over = True

    @workflow.run
    async def run(self, rollout: Rollout) -> Rollout:
        # The signal that started the rollout (signal-with-start) asks for exactly the pass about to begin. A
        # run continued as new keeps a signal that arrived in its first activation: it is a newer write.
        if workflow.info().continued_run_id is None:
            self._start_over = False
        after, passes, sent = rollout.after, rollout.passes, rollout.sent
        info = workflow.info()
        for _ in range(PAGES_PER_RUN):
            page: CasePage = await workflow.execute_activity(
                CASES_TO_RETIME,
                CasePageRequest(year=rollout.year, town=rollout.town, after=after, limit=PAGE_SIZE),
                result_type=CasePage,
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=RETRY,
            )
            if page.cases:
                key = f"{info.workflow_id}:{info.first_execution_run_id}:{passes}"
                done: Retimed = await workflow.execute_activity(
                    RETIME_CASES,
                    RetimeBatch(year=rollout.year, cases=page.cases, key=key),
                    result_type=Retimed,
                    start_to_close_timeout=timedelta(minutes=10),
                    heartbeat_timeout=timedelta(minutes=1),
                    retry_policy=RETRY,
                )
                sent += done.sent
            after = page.next
            if self._start_over:
                self._start_over, after, passes = False, None, passes + 1
            elif after is None:
                return rollout.model_copy(update={"after": None, "passes": passes, "sent": sent})
            if workflow.info().is_continue_as_new_suggested():
                break
        workflow.continue_as_new(rollout.model_copy(update={"after": after, "passes": passes, "sent": sent}))
