"""The load benchmark keeps working: a short run against its own `linli up` reports figures and no errors.

Figures are printed, never asserted: these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import json

import pytest

from bench import load
from tests.conftest import POSTGRES_URL


@pytest.mark.parametrize("database", ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"])
async def test_a_short_load_run_reports_figures_and_no_errors(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await load.main(["--clients", "4", "--seconds", "3", "--database", database]) == 0
    figures = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert figures["errors"] == 0, figures["error_samples"]
    assert figures["requests"] > 0 and figures["cases_filed"] > 0
    assert set(figures["kinds"]) == {"file", "command", "read", "supervision"}
    for row in [figures["overall"], *figures["kinds"].values()]:
        assert row.keys() >= {"count", "rps", "p50_ms", "p90_ms", "p99_ms"}
    assert database in figures["target"]


def test_it_only_loads_this_machine() -> None:
    assert load.loopback_only("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    for url in ("http://10.0.0.7:8000", "https://linli.example.org"):
        with pytest.raises(argparse.ArgumentTypeError):
            load.loopback_only(url)
