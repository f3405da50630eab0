"""Delivering webhooks: one workflow per subscription (``webhook-<subscription id>``).

The deliveries are rows of the outbox (``webhook_deliveries``), written with the case's events in the
projection's transaction. This workflow takes them on from there (``fetch_deliveries``, which waits a while
when there is nothing new) and POSTs each in an activity of its own, retried with backoff for up to 24
hours. Nothing on a case command's path waits for it or tells it anything: a receiver that is down or slow
delays only its own deliveries, never a case.

Order: a case's deliveries go one at a time, in the order of the case's events; different cases go side by
side. A delivery that keeps failing holds back the later ones of its case only.

Only ids travel through the history; the bodies (case views) stay in the database. The run continues as
new every so many deliveries, once what it has in hand is done. It ends when the subscription is deleted.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows import DELIVER, FETCH_DELIVERIES, GIVE_UP, WEBHOOK_TYPE

DELIVERY_WINDOW = timedelta(hours=24)  # how long one delivery is retried before it is given up
DELIVERY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                             maximum_interval=timedelta(minutes=10))  # fmt: skip
POST_TIMEOUT = timedelta(seconds=15)  # one attempt (the activity's own HTTP timeout is shorter)
FETCH_WAIT = timedelta(seconds=60)  # a fetch with nothing new returns after this long (heartbeating)
FETCH_HEARTBEAT = timedelta(seconds=10)  # a fetch on a killed worker is retried after this long
BOOKKEEPING = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
IN_FLIGHT = 64  # deliveries POSTed at once (to different cases)
IN_HAND = 2000  # deliveries taken on and not yet done, before fetching more
PER_RUN = 2000  # deliveries, then continue as new (after finishing what is in hand)


class DeliveryRun(BaseModel):
    subscription_id: str
    delivered: int = Field(default=0, description="deliveries done by the runs before this one")


class FetchRequest(BaseModel):
    subscription_id: str
    claim: str = Field(description="<run id>/<fetch number>: marks what this fetch took on")
    wait_seconds: float
    limit: int


class Pending(BaseModel):
    id: str
    case_id: str


class Fetched(BaseModel):
    deliveries: list[Pending]
    active: bool = Field(description="false: the subscription was deleted")


@workflow.defn(name=WEBHOOK_TYPE)
class WebhookDeliveryWorkflow:
    @workflow.run
    async def run(self, run: DeliveryRun) -> int:
        run_id = workflow.info().run_id
        queues: dict[str, list[str]] = {}  # case id → its deliveries not yet started, in the case's order
        flying: dict[str, asyncio.Task[None]] = {}  # case id → its delivery under way
        fetch: asyncio.Task[Fetched] | None = None
        fetches, done, active = 0, 0, True
        while True:
            held = sum(len(q) for q in queues.values()) + len(flying)
            rolling = done >= PER_RUN or workflow.info().is_continue_as_new_suggested()
            if fetch is None and active and not rolling and held < IN_HAND:
                fetches += 1
                claim, limit = f"{run_id}/{fetches}", min(500, IN_HAND - held)
                request = FetchRequest(subscription_id=run.subscription_id, claim=claim,
                                       wait_seconds=FETCH_WAIT.total_seconds(), limit=limit)  # fmt: skip
                fetch = asyncio.ensure_future(self._fetch(request))
            for case_id in list(queues):  # dicts keep insertion order: the same order on every replay
                if len(flying) >= IN_FLIGHT:
                    break
                if case_id not in flying and queues[case_id]:
                    flying[case_id] = asyncio.ensure_future(self._deliver(queues[case_id].pop(0)))
                if not queues[case_id]:
                    del queues[case_id]
            if fetch is None and not flying and not queues:  # deleted, or time to roll over: nothing in hand
                if not active:
                    return run.delivered + done
                workflow.continue_as_new(
                    DeliveryRun(subscription_id=run.subscription_id, delivered=run.delivered + done)
                )
            waiting = [*([fetch] if fetch else []), *flying.values()]
            await workflow.wait_condition(lambda w=waiting: any(t.done() for t in w))  # type: ignore[misc]
            for case_id, task in list(flying.items()):
                if task.done():
                    task.result()
                    del flying[case_id]
                    done += 1
            if fetch is not None and fetch.done():
                fetched = fetch.result()
                fetch, active = None, fetched.active
                for pending in fetched.deliveries:
                    queues.setdefault(pending.case_id, []).append(pending.id)

    async def _fetch(self, request: FetchRequest) -> Fetched:
        fetched: Fetched = await workflow.execute_activity(
            FETCH_DELIVERIES, request, result_type=Fetched, heartbeat_timeout=FETCH_HEARTBEAT,
            start_to_close_timeout=FETCH_WAIT + timedelta(seconds=30), retry_policy=BOOKKEEPING,
        )  # fmt: skip
        return fetched

    async def _deliver(self, delivery_id: str) -> None:
        try:
            await workflow.execute_activity(
                DELIVER, delivery_id, start_to_close_timeout=POST_TIMEOUT, schedule_to_close_timeout=DELIVERY_WINDOW,
                retry_policy=DELIVERY_RETRY,
            )  # fmt: skip
        except ActivityError:  # retried for 24 h without success (a 410 is not an error: the activity says gone)
            await workflow.execute_activity(
                GIVE_UP, delivery_id, start_to_close_timeout=timedelta(seconds=30), retry_policy=BOOKKEEPING
            )
