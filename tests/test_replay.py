"""Determinism: saved histories (cases started by earlier code) and fresh ones must replay on today's code.

A change to the workflow that would break running cases fails here. Make such changes with
``workflow.patched`` and record new histories beside the old ones (``python -m tests.histories.record``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from audit.check import CaseHistories, audit_case
from core.codec import Keyring
from core.temporal import converter_for, data_converter
from tests.conftest import StackFactory
from tests.utils.scenarios import ALL_SCENARIOS, settings_for
from workflows import workflow_id
from workflows.case import CaseWorkflow
from workflows.webhooks import WebhookDeliveryWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
DELIVERY_HISTORIES = sorted((Path(__file__).parent / "histories" / "webhooks").glob("*.json"))


def replayer(converter: DataConverter) -> Replayer:
    return Replayer(workflows=[CaseWorkflow], data_converter=converter)


# The saved histories are plaintext (recorded so, or decrypted before saving): any keyring reads them.
UNRELATED_KEYS = converter_for(Keyring.generate())


def test_there_are_saved_histories() -> None:
    assert len(HISTORIES) >= 4


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_saved_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(f"case-{path.stem}", path.read_text())
    result = await replayer(UNRELATED_KEYS).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"


@pytest.mark.parametrize("path", DELIVERY_HISTORIES, ids=[p.stem for p in DELIVERY_HISTORIES])
async def test_saved_webhook_delivery_run_replays(path: Path) -> None:
    """A subscription's delivery workflow runs for as long as the subscription: its code must replay too."""
    history = WorkflowHistory.from_json(f"webhook-{path.stem}", path.read_text())
    replayer = Replayer(workflows=[WebhookDeliveryWorkflow], data_converter=UNRELATED_KEYS)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"webhooks/{path.name} no longer replays: {result.replay_failure}"


def test_there_is_a_saved_webhook_delivery_run() -> None:
    assert DELIVERY_HISTORIES


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_saved_history_gives_every_answer_it_gave(path: Path) -> None:
    """Replay alone checks the commands a workflow issues, not the deadlines it counts: a rule change that
    moves a running case's deadline without ``workflow.patched`` replays "fine". The audit also compares each
    recorded answer (the case after every command) with the one replay gives."""
    history = WorkflowHistory.from_json(f"case-{path.stem}", path.read_text())
    report = await audit_case(CaseHistories(history.workflow_id, [history], complete=False), None,
                              data_converter=UNRELATED_KEYS)  # fmt: skip
    assert report.deterministic, f"{path.name}: {report.error}"


@pytest.mark.parametrize("name", sorted(ALL_SCENARIOS))
async def test_fresh_history_replays(make_stack: StackFactory, tmp_path: Path, name: str) -> None:
    stack = await make_stack(**settings_for(name, tmp_path))
    case_id = await ALL_SCENARIOS[name](stack)
    # As Temporal holds it, encrypted: the replayer decrypts with the worker's keys.
    history = await stack.temporal.get_workflow_handle(workflow_id(case_id)).fetch_history()
    await replayer(data_converter(stack.settings)).replay_workflow(history)
