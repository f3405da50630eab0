"""The engine's own limit, for comparison: a workflow that does nothing but take updates.

Kept apart from the benchmark script so that the workflow sandbox imports nothing but temporalio.
"""

from __future__ import annotations

from temporalio import workflow


@workflow.defn(name="BaselineCase")
class BaselineCase:
    """Counts the updates it receives; finishes after ``steps`` of them."""

    def __init__(self) -> None:
        self.count = 0

    @workflow.run
    async def run(self, steps: int) -> int:
        await workflow.wait_condition(lambda: self.count >= steps and workflow.all_handlers_finished())
        return self.count

    @workflow.update
    async def step(self, name: str) -> int:
        self.count += 1
        return self.count
