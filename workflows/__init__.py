"""The durable case process (the determinism boundary: the standard library, temporalio and pydantic only).

The names by which the rest of linli reaches a case's workflow, in one place: its type, how a case id
becomes a workflow id, its updates, and the activities it asks for.
"""

WORKFLOW_TYPE = "Case"
WORKFLOW_ID_PREFIX = "case-"

ACT = "act"  # update: a command; returns the case
SYNC = "sync"  # update: returns once the read model holds everything (filing waits on it)
CALENDAR = "calendar"  # update: a year of the town's calendar was loaded or changed
VIEW = "view"  # query: the live case

PROJECT_CASE = "project_case"  # activity: the case's new events into the read model

# Re-timing the open cases after a year of the calendar was loaded or changed (workflows/calendar_rollout.py).
ROLLOUT_TYPE = "CalendarRollout"
ROLLOUT_ID_PREFIX = "calendar-"
ROLLOUT_AGAIN = "again"  # signal: the year was written again; start over from the first case
CASES_TO_RETIME = "cases_to_retime"  # activity: a page of the open cases the change may affect
RETIME_CASES = "retime_cases"  # activity: send each case of a page its town's schedule for the year


def workflow_id(case_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{case_id}"


def case_id_of(workflow_id: str) -> str:
    return workflow_id.removeprefix(WORKFLOW_ID_PREFIX)


# Webhooks (workflows/webhooks.py): one delivery workflow per subscription, id ``webhook-<subscription id>``.
WEBHOOK_TYPE = "WebhookDelivery"
WEBHOOK_ID_PREFIX = "webhook-"
FETCH_DELIVERIES = "fetch_deliveries"  # activity: the pending deliveries this run has not taken on yet
DELIVER = "deliver"  # activity: one POST to the receiver (retried by Temporal)
GIVE_UP = "give_up_delivery"  # activity: retried for 24 h without success; mark it failed


def webhook_workflow_id(subscription_id: str) -> str:
    return f"{WEBHOOK_ID_PREFIX}{subscription_id}"
