"""Replaying case histories on today's workflow code, and capturing what the code did on the way.

The SDK's Replayer runs the workflow against a history exactly as a worker would (same data converter,
same sandbox) and fails on non-determinism. An interceptor watches the replay: every event the workflow
hands to its projection (the same events the read model was written from), the answer to every update,
the run's result and what it carried into the next run. That is the most faithful account of what the
code did with the history: it is the code itself doing it, not a re-implementation of it.

Many runs of many cases go through one replayer, so the SDK starts its replay worker once per batch.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NoReturn, Protocol, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import (
    ContinueAsNewInput,
    ExecuteWorkflowInput,
    HandleUpdateInput,
    Interceptor,
    Replayer,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from workflows import PROJECT_CASE
from workflows.case import CaseWorkflow
from workflows.model import CaseEvent, CaseView, ProjectCase, SupervisionGrade
from workflows.state import CaseState


@dataclass(frozen=True)
class Standing:
    """Where the case stood once an event was projected: what a fired timer that changed nothing is read
    against (a card that fell due on a case already under that grade or a higher one)."""

    overdue: bool
    supervision: SupervisionGrade | None

    @classmethod
    def of(cls, view: CaseView) -> Standing:
        return cls(view.overdue, view.supervision.grade if view.supervision else None)


@dataclass
class RunCapture:
    """What the workflow did while one run was replayed."""

    events: dict[int, CaseEvent] = field(default_factory=dict)  # by seq, as projected
    view: CaseView | None = None  # the case as last known: input, last projection, result
    standing: dict[int, Standing] = field(default_factory=dict)  # by seq: the case as projected with it
    update_results: dict[str, Any] = field(default_factory=dict)  # update id -> the answer, as JSON
    result: Any = None  # the run's result, as JSON
    continued_with: Any = None  # the input given to the next run, as JSON

    def project(self, change: ProjectCase) -> None:
        standing = Standing.of(change.view)
        for event in change.events:
            self.events[event.seq] = event
            self.standing[event.seq] = standing
        self.view = change.view

    def carried(self, view: CaseView) -> None:
        """A continued run starts where the last one stopped."""
        self.view, self.standing[view.version] = view, Standing.of(view)


@dataclass
class ReplayedRun:
    history: WorkflowHistory
    capture: RunCapture
    failure: Exception | None

    @property
    def nondeterministic(self) -> bool:
        return isinstance(self.failure, workflow.NondeterminismError)

    @property
    def reason(self) -> str:
        """The failure as a person reads it: Core's message without the Rust debug dump around it."""
        text = str(self.failure)
        found = re.search(r'message: "((?:[^"\\]|\\.)*)"', text)
        return found.group(1).replace('\\"', '"') if found else text


class Capture(Interceptor):
    """Collects a RunCapture per run id. Interceptors run inside the sandbox but are defined out here, so
    they can write to this object; nothing they do changes what the workflow does."""

    def __init__(self) -> None:
        self.runs: dict[str, RunCapture] = {}

    def take(self, run_id: str) -> RunCapture:
        return self.runs.pop(run_id, None) or RunCapture()

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        runs = self.runs

        def current() -> RunCapture:
            return runs.setdefault(workflow.info().run_id, RunCapture())

        class Outbound(WorkflowOutboundInterceptor):
            def start_local_activity(self, input: StartLocalActivityInput) -> workflow.ActivityHandle[Any]:
                if input.activity == PROJECT_CASE and input.args and isinstance(input.args[0], ProjectCase):
                    current().project(input.args[0])
                return super().start_local_activity(input)

            def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
                if input.args and isinstance(carried := input.args[0], BaseModel):
                    run = current()
                    run.continued_with = carried.model_dump(mode="json")
                    run.view = _carried_view(carried) or run.view
                super().continue_as_new(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                if input.args and (carried := _carried_view(input.args[0])) is not None:
                    current().carried(carried)
                result = await super().execute_workflow(input)
                if isinstance(result, CaseView):
                    run = current()
                    run.result, run.view = result.model_dump(mode="json"), result
                return result

            async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
                answer = await super().handle_update_handler(input)
                if isinstance(answer, CaseView):
                    # Dumped now: the answer is the live case, which later commands go on changing.
                    current().update_results[input.id] = answer.model_dump(mode="json")
                return answer

        return Inbound


def _carried_view(case_input: Any) -> CaseView | None:
    """The case a CaseInput carries over from a previous run. Duck-typed, so that a test variant of the
    workflow with its own input class is read the same way."""
    state = getattr(case_input, "state", None)
    return state.view if isinstance(state, CaseState) else None


@cache
def _runtime() -> Runtime:
    # A failed replay is a finding we report, not a worker fault: keep Core's per-task warnings out of the logs.
    quiet = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=quiet)))


@cache
def _executor() -> ThreadPoolExecutor:
    # One pool for every replay in the process (the SDK would otherwise make one per Replayer, never shut down).
    return ThreadPoolExecutor(thread_name_prefix="linli-replay")


class HasRuns(Protocol):
    """One case's histories, oldest run first (fetched from Temporal, or uploaded)."""

    @property
    def runs(self) -> Sequence[WorkflowHistory]: ...


C = TypeVar("C", bound=HasRuns)


async def replay_cases(
    cases: AsyncIterable[C], workflows: Sequence[type] = (CaseWorkflow,), *, data_converter: DataConverter
) -> AsyncIterator[tuple[C, list[ReplayedRun]]]:
    """Replay every run of every case through one replayer; yield each case with its runs as it completes.

    ``workflows`` is the code to replay on: the worker's, unless a test brings a variant. ``data_converter``
    is the worker's (``core.temporal.data_converter``), or payloads would decode differently.
    """
    capture = Capture()
    replayer = Replayer(
        workflows=list(workflows),
        data_converter=data_converter,
        # Always sandboxed, whatever the worker runs: a non-deterministic call in workflow code fails here.
        workflow_runner=SandboxedWorkflowRunner(),
        interceptors=[capture],
        workflow_task_executor=_executor(),
        runtime=_runtime(),
    )
    waiting: deque[C] = deque()

    async def histories() -> AsyncIterator[WorkflowHistory]:
        async for case in cases:
            if not case.runs:
                raise ValueError("a case to replay needs at least one run")
            waiting.append(case)
            for run in case.runs:
                yield run

    replayed: list[ReplayedRun] = []
    async with replayer.workflow_replay_iterator(histories()) as results:
        async for result in results:
            run_id = result.history.run_id
            replayed.append(ReplayedRun(result.history, capture.take(run_id), result.replay_failure))
            if len(replayed) == len(waiting[0].runs):
                yield waiting.popleft(), replayed
                replayed = []
