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
        assert set(result["queries"]) == {f"{who}.{q}" for who in ("town", "community")
                                          for q in ("overdue", "escalations", "stats")}  # fmt: skip
        assert all(q["p50_ms"] > 0 and q["sql_p50_ms"] > 0 for q in result["queries"].values())
    assert "all_met" in summary
