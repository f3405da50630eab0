"""Which version of the rules a case runs under.

A rule change that would alter a running case (a new deadline rule, a new way to count) must not change
what replaying its history gives. Each such change has a ``workflow.patched`` id, listed in ``CHANGES``.
The workflow asks Temporal once, when a run starts, which of them are in force for that run — all of them
for a new case, none of the later ones for a case whose history began before they existed — and hands the
answer to the pure rules in ``policy`` and ``state`` as a ``Rules``. The rules branch on ``rules.has(id)``.

Asked once rather than at each decision, so that the answer is the same in an update's validator (where
``workflow.patched`` cannot be called) and in its handler, and so that the pure rules stay pure.
"""

from __future__ import annotations

from dataclasses import dataclass

# Every rule change since the first version, oldest first. Append only: a history saved under an id keeps
# replaying only while the id is here. (``deadlines-fire-as-timers`` predates this list and is asked where
# it applies, in the workflow itself.)
CHANGES: tuple[str, ...] = (
    "working-days",  # v2: the days commands give are working days (policy.WORKING_DAYS)
    "between-tiers",  # v2: claim deadlines, automatic urges and cards (policy.BETWEEN_TIERS)
    "deadline-warnings",  # v2: 预警, a warning once per deadline (policy.DEADLINE_WARNINGS)
)


@dataclass(frozen=True)
class Rules:
    """The rule changes in force for one run of a case."""

    active: frozenset[str] = frozenset()

    def has(self, change: str) -> bool:
        if change not in CHANGES:
            raise KeyError(f"{change!r} is not a rule change in rules.CHANGES")
        return change in self.active


FIRST = Rules()  # the rules as they were before any change: what a run whose history predates them all gets
LATEST = Rules(frozenset(CHANGES))  # what every new case gets
