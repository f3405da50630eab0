"""Long cases: a dev server that suggests continue-as-new early, and a case with many co-signs and objections.

Temporal suggests continue-as-new when a run's history reaches ``limit.historyCount.suggestContinueAsNew``
events (a namespace setting, thousands by default). Lowering it makes an ordinary test case cross several
runs, so what a case with hundreds of co-signs would do in production happens here in seconds.
"""

from __future__ import annotations

from typing import Any

from core.devserver import DevServer
from tests.utils.stack import Stack, walk

SUGGEST_CONTINUE_AS_NEW = "limit.historyCount.suggestContinueAsNew"


class EarlyContinueAsNewDevServer(DevServer):
    """``temporal server start-dev`` suggesting continue-as-new once a run's history has ``after`` events."""

    def __init__(self, *, after: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.after = after

    def command(self) -> list[str]:
        return [*super().command(), "--dynamic-config-value", f"{SUGGEST_CONTINUE_AS_NEW}={self.after}"]


def resident(index: int) -> str:
    return f"居民{index:03d}"


async def long_case(stack: Stack, *, co_signs: int, objections: int) -> str:
    """File a case, gather ``co_signs`` co-signs, take it to announcing and collect ``objections`` objections.

    Leaves it open in ``announcing``; returns its id.
    """
    worker = await stack.headers("caseworker", "compound-a1x", "网格员小李")
    case_id: str = (await stack.file(worker))["id"]
    for index in range(co_signs):
        await stack.ok(case_id, "co-sign", worker, resident=resident(index))
    await walk(stack, worker, case_id, "announcing")
    for index in range(objections):
        await stack.ok(case_id, "object", worker, resident=resident(index), reason="The lane is a fire exit")
    return case_id
