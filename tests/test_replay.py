"""Determinism: saved histories (cases started by earlier code) and fresh ones must replay on today's code.

A change to the workflow that would break running cases fails here. Make such changes with
``workflow.patched`` and record new histories beside the old ones (``python -m tests.histories.record``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from core.temporal import DATA_CONVERTER, workflow_id
from tests.conftest import StackFactory
from tests.utils.scenarios import SCENARIOS, scenario_settings
from workflows.case import CaseWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def replayer() -> Replayer:
    return Replayer(workflows=[CaseWorkflow], data_converter=DATA_CONVERTER)


def test_there_are_saved_histories() -> None:
    assert len(HISTORIES) >= 4


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_saved_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(f"case-{path.stem}", path.read_text())
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_fresh_history_replays(make_stack: StackFactory, tmp_path: Path, name: str) -> None:
    stack = await make_stack(**scenario_settings(tmp_path))
    case_id = await SCENARIOS[name](stack)
    history = await stack.temporal.get_workflow_handle(workflow_id(case_id)).fetch_history()
    await replayer().replay_workflow(history)
