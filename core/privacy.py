"""Masking residents' phone numbers in what is shown: a case view, or any JSON value holding one.

Applied to what is shown, never to what is compared (the audit reconciles the real values first).
"""

from __future__ import annotations

from typing import Any

from core.logging import mask_phone
from workflows.model import CaseView, ReporterView


def masked(view: CaseView) -> CaseView:
    """The case with its reporter's phone masked to the last four digits."""
    reporter = ReporterView(name=view.reporter.name, phone=mask_phone(view.reporter.phone))
    return view.model_copy(update={"reporter": reporter})


def mask_phones(value: Any, path: str = "") -> Any:
    """A JSON value with every phone in it masked: values under a ``phone`` key, or ``value`` itself when
    ``path`` (a dotted field path, as the audit reports differences) ends at one."""
    if isinstance(value, dict):
        return {key: mask_phones(item, str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_phones(item) for item in value]
    if isinstance(value, str) and path.rsplit(".", 1)[-1] == "phone":
        return mask_phone(value)
    return value
