"""Test-only changes to the case workflow, to prove the replay guard catches (and patching avoids) breakage.

The change: a short grace period before the case starts watching its deadline, a timer the original code
never starts. ``AlteredCase`` makes the change outright; ``PatchedCase`` makes it behind
``workflow.patched``, the way a real change to running cases must be made. ``RetitledCase`` changes the
case without changing a single command. All register as ``Case``.
Workflow code: standard library, temporalio and our workflows modules only.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.case import CaseWorkflow
    from workflows.model import CaseView
    from workflows.state import CaseInput

GRACE = timedelta(milliseconds=10)
PATCH = "grace-before-deadlines"


@workflow.defn(name="Case")
class AlteredCase(CaseWorkflow):
    @workflow.run
    async def run(self, input: CaseInput) -> CaseView:
        await workflow.sleep(GRACE)  # a new timer that histories recorded by the old code do not have
        return await super().run(input)


@workflow.defn(name="Case")
class PatchedCase(CaseWorkflow):
    @workflow.run
    async def run(self, input: CaseInput) -> CaseView:
        if workflow.patched(PATCH):  # False when replaying a history recorded before the change
            await workflow.sleep(GRACE)
        return await super().run(input)


@workflow.defn(name="Case")
class RetitledCase(CaseWorkflow):
    """Issues the very same commands, yet computes a different case: invisible to Temporal's own replay check."""

    @workflow.run
    async def run(self, input: CaseInput) -> CaseView:
        self._state.view.title = self._state.view.title.upper()
        return await super().run(input)
