"""The benchmarks keep working (figures are printed, never asserted: these machines are shared and noisy)."""

from __future__ import annotations

import json

import pytest

from bench import supervision
from tests.conftest import POSTGRES_URL


async def test_supervision_benchmark_runs_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    databases = "sqlite,postgresql" if POSTGRES_URL else "sqlite"
    assert await supervision.main(["--cases", "400", "--repeat", "2", "--databases", databases]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    results, summary = lines[:-1], lines[-1]
    assert [r["database"] for r in results] == databases.split(",")
    for result in results:
        assert result["cases"] == 400
        queries = ("overdue", "escalations", "pending", "stats", "ranking")
        assert set(result["queries"]) == {f"{who}.{q}" for who in ("town", "community") for q in queries}
        assert all(q["p50_ms"] > 0 and q["sql_p50_ms"] > 0 for q in result["queries"].values())
    assert "all_met" in summary


async def test_lifecycle_benchmark_runs_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import lifecycle

    assert await lifecycle.main(["--cases", "3", "--concurrency", "2", "--skip-up"]) == 0
    figures = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert figures["commands"] == 3 * 8
    for key in ("commands_per_s", "baseline_commands_per_s", "ratio", "p50_ms", "p99_ms", "baseline_p50_ms",
                "baseline_p99_ms", "worker_peak_rss_mib"):  # fmt: skip
        assert figures[key] > 0, key


def test_clock_benchmark_runs_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import clock

    assert clock.main(["--repeat", "200"]) == 0
    figures = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert figures["working_days_30wd"]["p50_us"] > 0 and "target_met" in figures
