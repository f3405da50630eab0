"""How long counting a deadline takes, against adding a fixed interval (what v1 did), in one run.

    python -m bench.clock [--repeat 20000]

Counts working-day deadlines on the 2026 national schedule (from `chinesecalendar`) for starts spread
over the year, so the Spring Festival and National Day are crossed; and the whole of what a command
does to the clock (``state.start_clock``: the policy's duration for the stage, tier and urgency, then the
count). Prints one JSON object: microseconds per call (p50, p99) for each, and the ratio to the plain
``start + timedelta`` v1 used. Target: well under a millisecond.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta

from bench.measure import percentile_ms
from core.calendar_seed import national_schedule
from workflows import policy
from workflows.clock import Duration, WorkCalendar, due_after
from workflows.model import Actor, CaseFiled, Reporter, Role, Stage, Tier, UnitPath
from workflows.rules import LATEST
from workflows.state import open_case, start_clock


def _timed(fn: object, starts: list[datetime]) -> list[float]:
    samples = []
    for start in starts:
        began = time.perf_counter()
        fn(start)  # type: ignore[operator]
        samples.append(time.perf_counter() - began)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20_000, help="deadlines counted per figure (default 20000)")
    args = parser.parse_args(argv)
    year = national_schedule(2026)
    assert year is not None, "chinesecalendar has no 2026 schedule"
    calendar = WorkCalendar(years={2026: year})
    base = datetime(2026, 1, 1, 2, tzinfo=UTC)
    starts = [base + timedelta(minutes=(i * 7919) % (350 * 24 * 60)) for i in range(args.repeat)]

    filed = CaseFiled(id="b", number="2026-000001", units=UnitPath(compound="x", community="y", town="z"),
                      category="c", title="t", description="d", reporter=Reporter(name="n"), channel="online",
                      filed_by=Actor(id="a", name="a", role=Role.CASEWORKER), filed_at=base)  # fmt: skip
    sla = policy.build_policy()
    state, _ = open_case(filed, sla, base, rules=LATEST, calendar=calendar)
    state.view.stage, state.view.tier = Stage.IMPLEMENTING, Tier.TOWN  # 30wd: the longest count in the table

    figures = {
        "v1_fixed_interval": _timed(lambda s: s + timedelta(days=15), starts),
        "hours_2h": _timed(lambda s: due_after(s, Duration(2, "h"), calendar), starts),
        "working_days_7wd": _timed(lambda s: due_after(s, Duration(7, "wd"), calendar), starts),
        "working_days_30wd": _timed(lambda s: due_after(s, Duration(30, "wd"), calendar), starts),
        "start_clock_30wd": _timed(lambda s: start_clock(state, s, LATEST), starts),
    }
    bare = percentile_ms(figures["v1_fixed_interval"], 0.5, 6)
    out = {
        "repeat": args.repeat,
        **{
            name: {
                "p50_us": round(percentile_ms(samples, 0.5, 6) * 1000, 2),
                "p99_us": round(percentile_ms(samples, 0.99, 6) * 1000, 2),
                "vs_v1": round(percentile_ms(samples, 0.5, 6) / bare, 1) if bare else None,
            }
            for name, samples in figures.items()
        },  # fmt: skip
    }
    worst = out["start_clock_30wd"]["p99_us"]
    out["target_met"] = worst < 1000
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
