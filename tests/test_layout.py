"""The layout's rules that code review alone would let slip: the determinism boundary, one list of commands."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from workflows import model

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
ALLOWED_ROOTS = {"temporalio", "pydantic", "workflows"} | set(sys.stdlib_module_names)


def _imported_roots(source: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_workflows_import_only_the_standard_library_temporalio_pydantic_and_themselves() -> None:
    """workflows/ is the determinism boundary: the folder is the boundary (DESIGN.md, Layout)."""
    files = sorted(WORKFLOWS.rglob("*.py"))
    assert len(files) >= 4
    outside = {str(f.relative_to(WORKFLOWS)): sorted(_imported_roots(f) - ALLOWED_ROOTS) for f in files}
    assert {name: roots for name, roots in outside.items() if roots} == {}


def test_every_command_is_in_the_one_list_with_its_stages_and_roles() -> None:
    subclasses: set[type[model.Command]] = set()
    pending = list(model.Command.__subclasses__())
    while pending:
        command = pending.pop()
        if command.__module__.startswith("workflows."):  # not the throwaway classes of the test below
            subclasses.add(command)
        pending += command.__subclasses__()
    assert subclasses == set(model.COMMANDS), "a command class is missing from model.COMMANDS"
    assert list(model.ACTION_BODIES.values()) == list(model.COMMANDS)
    for command in model.COMMANDS:
        assert command.stages and command.stages <= model.OPEN_STAGES, command
        assert command.roles and model.Role.SYSTEM not in command.roles, command
        assert model.Role.AUDITOR not in command.roles, f"auditors change nothing: {command}"
        assert command.__doc__, f"{command.__name__} needs a docstring: it is the route's summary"
    # The update's union takes exactly these, by their action name.
    body = model.CaseCommand.model_json_schema()["properties"]["body"]
    assert set(body["discriminator"]["mapping"]) == set(model.ACTION_BODIES)


def test_a_command_that_does_not_say_where_it_belongs_fails_at_once() -> None:
    import pytest

    with pytest.raises(TypeError, match="stages"):

        class Nowhere(model.Command):  # noqa: F841 (defining it is the test)
            action: str = "nowhere"
            roles = model.STAFF

    with pytest.raises(TypeError, match="roles"):

        class Nobody(model.Command):  # noqa: F841
            action: str = "nobody"
            stages = model.OPEN_STAGES


def test_the_workflows_names_are_the_ones_everyone_else_uses() -> None:
    from temporalio import workflow

    import workflows
    from workflows.case import CaseWorkflow

    definition = workflow._Definition.from_class(CaseWorkflow)
    assert definition is not None and definition.name == workflows.WORKFLOW_TYPE
    assert set(definition.updates) == {workflows.ACT, workflows.SYNC, workflows.CALENDAR}
    assert set(definition.queries) == {workflows.VIEW}
    assert workflows.case_id_of(workflows.workflow_id("3f2a")) == "3f2a"


def test_data_flows_one_way_nothing_below_the_api_imports_it() -> None:
    """core, workflows, activities and audit are used by the API and the CLI, never the other way."""
    top = WORKFLOWS.parent
    below = [f for folder in ("core", "workflows", "activities", "audit") for f in sorted((top / folder).rglob("*.py"))]
    assert len(below) > 20
    importing_api = [str(f.relative_to(top)) for f in below if "api" in _imported_roots(f)]
    assert importing_api == []
    audit = [f for f in below if f.parts[-2] == "audit"]
    assert all(_imported_roots(f) & {"activities"} == set() for f in audit)
