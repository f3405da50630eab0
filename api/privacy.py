"""What each caller sees of a case's residents.

A resident may act on a neighbour's case (co-sign it, object to its decision) without reading it: the
answer to such a command is the case's public facts (``CasePublic``), no names, phone or description.

Auditors check what was done to a case, when and by whom; how to reach the resident who raised it is not
theirs to know. Caseworkers and supervisors, who call residents back, see the number in full. Masking is
applied to what is shown, never to what is compared: the audit reconciles the real values first.
"""

from __future__ import annotations

from api.auth import Caller
from core.privacy import masked
from workflows.model import CasePublic, CaseView, Role


def shown_to(caller: Caller, view: CaseView) -> CaseView:
    """The case as ``caller`` reads it: masked for an auditor."""
    return masked(view) if caller.role is Role.AUDITOR else view


def answered_to(caller: Caller, view: CaseView) -> CaseView | CasePublic:
    """The answer to ``caller``'s command: the case as they may read it, or its public facts only."""
    if caller.role is Role.RESIDENT and view.filed_by != caller.id:
        return CasePublic.of(view)
    return shown_to(caller, view)
