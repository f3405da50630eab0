"""Finding the ``temporal`` binary (dev server and CLI), or building it with Go into the user's cache.

Order: ``$LINLI_TEMPORAL_CLI``, ``temporal`` on PATH, a cached build, ``go install``. The version is
pinned here and only here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

TEMPORAL_CLI_VERSION = "v1.5.1"  # the newest tag whose go.mod has no `replace`; ships server 1.29.1
TEMPORAL_CLI_MODULE = "github.com/temporalio/cli/cmd/temporal"


class TemporalCliMissing(RuntimeError):
    pass


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "linli" / f"temporal-cli-{TEMPORAL_CLI_VERSION}"


def find_temporal_cli(configured: Path | None = None, *, build: bool = True) -> Path:
    """The path of a usable ``temporal`` binary; builds one with Go if there is none."""
    explicit = configured or (Path(p) if (p := os.environ.get("LINLI_TEMPORAL_CLI")) else None)
    if explicit is not None:
        if not os.access(explicit, os.X_OK):
            raise TemporalCliMissing(f"LINLI_TEMPORAL_CLI={explicit} is not an executable file")
        return explicit
    if on_path := shutil.which("temporal"):
        return Path(on_path)
    cached = cache_dir() / "temporal"
    if os.access(cached, os.X_OK):
        return cached
    if not build:
        raise TemporalCliMissing(_missing_message())
    return build_with_go(cached.parent)


def build_with_go(target_dir: Path) -> Path:
    go = shutil.which("go")
    if go is None:
        raise TemporalCliMissing(_missing_message())
    target_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(target_dir), "CGO_ENABLED": "0"}
    print_progress(f"building the Temporal CLI {TEMPORAL_CLI_VERSION} with Go into {target_dir} (once; a few minutes)")
    result = subprocess.run(
        [go, "install", f"{TEMPORAL_CLI_MODULE}@{TEMPORAL_CLI_VERSION}"],
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise TemporalCliMissing(f"`go install {TEMPORAL_CLI_MODULE}@{TEMPORAL_CLI_VERSION}` failed:\n{result.stderr}")
    return target_dir / "temporal"


def print_progress(message: str) -> None:
    sys.stderr.write(f"linli: {message}\n")
    sys.stderr.flush()


def _missing_message() -> str:
    return (
        "No Temporal CLI found. Either install it (https://docs.temporal.io/cli, then put `temporal` on PATH or "
        f"set LINLI_TEMPORAL_CLI=/path/to/temporal), or install Go (https://go.dev/dl/) so linli can build "
        f"{TEMPORAL_CLI_VERSION} itself with `go install {TEMPORAL_CLI_MODULE}@{TEMPORAL_CLI_VERSION}`."
    )


if __name__ == "__main__":  # `python -m core.temporal_cli`: prints the binary's path (used by Makefile/CI)
    sys.stdout.write(f"{find_temporal_cli()}\n")
