"""The case's custom search attributes, so the Web UI and `temporal workflow list` show the same facts."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

from workflows.model import CaseView

CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
CASE_TIER = SearchAttributeKey.for_keyword("CaseTier")
CASE_UNIT = SearchAttributeKey.for_keyword("CaseUnit")
CASE_DEADLINE = SearchAttributeKey.for_datetime("CaseDeadline")
CASE_OVERDUE = SearchAttributeKey.for_bool("CaseOverdue")

# name -> type as `temporal server start-dev --search-attribute NAME=TYPE` and the operator API spell it.
DECLARATIONS = {"CaseStage": "Keyword", "CaseTier": "Keyword", "CaseUnit": "Keyword",
                "CaseDeadline": "Datetime", "CaseOverdue": "Bool"}  # fmt: skip


def updates_for(case: CaseView) -> list[SearchAttributeUpdate]:  # type: ignore[type-arg]
    deadline = CASE_DEADLINE.value_set(case.deadline) if case.deadline else CASE_DEADLINE.value_unset()
    return [
        CASE_STAGE.value_set(case.stage.value),
        CASE_TIER.value_set(case.tier.value),
        CASE_UNIT.value_set(case.unit),
        deadline,
        CASE_OVERDUE.value_set(case.overdue),
    ]
