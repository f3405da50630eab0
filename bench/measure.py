"""What every benchmark needs: a free local port, and percentiles the way they are reported here."""

from __future__ import annotations

import math
import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile_ms(samples: list[float], q: float, digits: int = 2) -> float:
    """The ``q`` quantile of ``samples`` (seconds) by the nearest-rank method, in milliseconds; 0 if none."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return round(ordered[max(math.ceil(q * len(ordered)) - 1, 0)] * 1000, digits)
