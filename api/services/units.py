"""The jurisdiction tree: towns › communities › compounds, each with a materialized path."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.text import refuse_nul
from core.tables import Unit
from workflows.model import Strict

Kind = Literal["town", "community", "compound"]
CHILD_KIND: dict[str, str | None] = {"town": "community", "community": "compound", "compound": None}
PARENT_KIND: dict[str, str | None] = {"town": None, "community": "town", "compound": "community"}


CODE = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"  # a unit's code: a slug


class UnitTree(Strict):
    code: str = Field(pattern=CODE, description="unique slug")
    name: str = Field(min_length=1, max_length=200)
    kind: Kind
    parent: str | None = Field(default=None, description="code of an existing unit to attach this tree under")
    children: list[UnitTree] = []

    @model_validator(mode="after")
    def _no_nul(self) -> UnitTree:
        return refuse_nul(self)


class UnitPublic(BaseModel):
    code: str
    name: str
    kind: Kind
    parent: str | None
    path: str


class UnitError(ValueError):
    def __init__(self, detail: str, *, conflict: bool = False, outside: bool = False) -> None:
        super().__init__(detail)
        self.conflict = conflict
        self.outside = outside  # the tree would reach outside the caller's jurisdiction (403)


def public(unit: Unit) -> UnitPublic:
    return UnitPublic(code=unit.code, name=unit.name, kind=unit.kind, parent=unit.parent_code, path=unit.path)


async def import_trees(engine: AsyncEngine, trees: list[UnitTree], *, within: str | None = None) -> list[UnitPublic]:
    """Add whole trees in one transaction: all of them or, on any error, none.

    ``within`` is the jurisdiction of whoever adds them (a unit's path; None: the whole system). A tree may
    hang only from a unit inside it, so an admin scoped to a town adds communities and compounds to that
    town and to nothing else, and a new town needs an admin of the whole system.
    """
    async with AsyncSession(engine, expire_on_commit=False) as db:
        created: list[Unit] = []
        seen: set[str] = set()
        for tree in trees:
            parent_path = await _parent_path(db, tree)
            if within is not None and not parent_path.startswith(within):
                where = "a new town" if tree.parent is None else f"a unit under {tree.parent!r}"
                raise UnitError(f"{tree.code}: {where} is outside your jurisdiction", outside=True)
            _flatten(tree, parent_path, tree.parent, created, seen)
        existing = (await db.exec(select(Unit.code).where(Unit.code.in_(seen)))).all()  # type: ignore[attr-defined]
        if existing:
            raise UnitError(f"unit codes already exist: {', '.join(sorted(existing))}", conflict=True)
        db.add_all(created)
        await db.commit()
    return [public(u) for u in created]


async def _parent_path(db: AsyncSession, tree: UnitTree) -> str:
    if tree.parent is None:
        if tree.kind != "town":
            raise UnitError(f"{tree.code}: a {tree.kind} needs a parent (the code of its {PARENT_KIND[tree.kind]})")
        return "/"
    parent = await db.get(Unit, tree.parent)
    if parent is None:
        raise UnitError(f"{tree.code}: no parent unit {tree.parent!r}")
    if PARENT_KIND[tree.kind] != parent.kind:
        raise UnitError(f"{tree.code}: a {tree.kind} cannot be under a {parent.kind}")
    return parent.path


def _flatten(tree: UnitTree, parent_path: str, parent: str | None, out: list[Unit], seen: set[str]) -> None:
    if tree.code in seen:
        raise UnitError(f"unit code {tree.code!r} appears twice")
    seen.add(tree.code)
    path = f"{parent_path}{tree.code}/"
    out.append(Unit(code=tree.code, name=tree.name, kind=tree.kind, parent_code=parent, path=path))
    for child in tree.children:
        if child.kind != CHILD_KIND[tree.kind]:
            raise UnitError(f"{child.code}: a {child.kind} cannot be under a {tree.kind}")
        if child.parent not in (None, tree.code):
            raise UnitError(f"{child.code}: 'parent' is only for the top of a tree")
        _flatten(child, path, tree.code, out, seen)


async def count_units(engine: AsyncEngine) -> int:
    async with AsyncSession(engine) as db:
        return int((await db.exec(select(func.count()).select_from(Unit))).one())


async def get_unit(db: AsyncSession, code: str) -> Unit | None:
    return await db.get(Unit, code)
