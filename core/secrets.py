"""Secrets an installation keeps in its data dir when the operator gives none in the environment.

On one machine every linli process shares the data dir, so the first to start writes the secret and the
others read it. Several machines share nothing: there the operator sets the secret in ``LINLI_*`` (the
README's production section says which).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path


def data_dir_secret(path: Path, generate: Callable[[], str]) -> str:
    """The secret stored at ``path``; created with ``generate()`` (readable by the owner only) if missing.

    Two processes starting at once both try to create it; ``O_EXCL`` lets exactly one win, and the other
    reads what the winner wrote.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_when_written(path)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(generate() + "\n")
    return _read_when_written(path)


def _read_when_written(path: Path) -> str:
    # The winner creates the file, then writes: a reader in between sees it empty for a moment.
    for _ in range(100):
        if text := path.read_text(encoding="utf-8").strip():
            return text
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty: delete it so that linli writes a new one, or set the secret explicitly")
