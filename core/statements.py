"""Statements Django compiles once per connection and runs again with new values.

Building and compiling a queryset costs more than running it for the small reads every API
request makes (the bearer token with its holder's standing: about 1 ms to build and compile,
0.1 ms to run). A ``Compiled`` statement is built and compiled once, with stand-in values, per
database connection; each run puts the request's values where the stand-ins were in the compiled
parameters and turns the rows into model instances as ``QuerySet`` iteration does.

Only for a queryset whose SQL does not depend on its values: a key, a hash, a time compared in
``WHERE`` (not a list of varying length, not a value that may be None and turn into ``IS NULL``).
A stand-in must reach the parameters unchanged, the very object (true of strings, UUIDs and
datetimes on PostgreSQL), and a second build with other stand-ins must give the same SQL with them
in the same places; where not (SQLite writes a datetime as text; a build that strips or rewrites
a value), or the queryset does not yield model instances, every run builds the queryset through
the ORM as before.
(``django-prepared-queries`` does this substitution too; it has not been released for a Django
of this decade.)
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections, router
from django.db.models import Model, QuerySet, prefetch_related_objects
from django.db.models.query import ModelIterable, get_related_populators  # type: ignore[attr-defined]


def stand_in(kind: type) -> Any:
    """A value of ``kind`` that no request holds, to find where a value goes in the parameters."""
    if kind is str:
        # Spaces and capitals: a build that strips or changes case makes another string of it.
        return f" Stand-In {uuid.uuid4()} "
    if kind is uuid.UUID:
        return uuid.uuid4()
    if kind is dt.datetime:
        return dt.datetime(1901, 1, 1, 0, 0, 0, uuid.uuid4().int % 999_999 + 1, tzinfo=dt.UTC)
    raise TypeError(f"No stand-in for {kind.__name__}")


@dataclass(frozen=True)
class _Plan:
    sql: str
    params: tuple[Any, ...]
    slots: dict[str, tuple[int, ...]]  # where each value goes in ``params``
    model: type[Model]
    init_list: list[str]
    start: int
    end: int
    populators: list[Any]
    annotations: dict[str, int]
    converters: dict[int, Any]
    compiler: Any
    prefetch: tuple[Any, ...]


class Compiled:
    """``build(**values)``, a queryset of ``model``, compiled once per connection with stand-ins
    of the ``kinds`` given, then run with the caller's values:
    ``Compiled("token", ApiToken, build, token_hash=str)(token_hash=...)`` returns the model
    instances ``list(build(token_hash=...))`` would."""

    def __init__(self, name: str, model: type[Model], build: Callable[..., QuerySet[Any]], /, **kinds: type) -> None:
        self.name, self.model, self.build, self.kinds = name, model, build, kinds
        self.attribute = f"_compiled_statement_{name}"

    def __call__(self, /, **values: Any) -> list[Any]:
        if values.keys() != self.kinds.keys():
            raise TypeError(f"{self.name} takes {sorted(self.kinds)}, got {sorted(values)}")
        plan = self.plan()
        if plan is None:
            return list(self.build(**values))
        params = list(plan.params)
        for name, places in plan.slots.items():
            for place in places:
                params[place] = values[name]
        connection = plan.compiler.connection
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, params)
            rows = cursor.fetchall()
        if plan.converters:
            rows = list(plan.compiler.apply_converters(rows, plan.converters))
        db = connection.alias
        objects = []
        for row in rows:
            obj = plan.model.from_db(db, plan.init_list, row[plan.start : plan.end])
            for populator in plan.populators:
                populator.populate(row, obj)
            for attribute, place in plan.annotations.items():
                setattr(obj, attribute, row[place])
            objects.append(obj)
        if plan.prefetch and objects:
            prefetch_related_objects(objects, *plan.prefetch)
        return objects

    def plan(self) -> _Plan | None:
        """This connection's compiled statement (None: run through the ORM each time), made on first use."""
        connection = connections[router.db_for_read(self.model)]
        kept = connection.__dict__.get(self.attribute)
        if kept is not None:
            return kept or None
        stand_ins = {name: stand_in(kind) for name, kind in self.kinds.items()}
        queryset = self.build(**stand_ins)
        plan = self._compile(queryset, stand_ins) if queryset.db == connection.alias else None
        connection.__dict__[self.attribute] = plan or False
        return plan

    def _compile(self, queryset: QuerySet[Any], stand_ins: dict[str, Any]) -> _Plan | None:
        if queryset._iterable_class is not ModelIterable or queryset._known_related_objects:  # type: ignore[attr-defined]
            return None
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        slots = {name: tuple(i for i, p in enumerate(params) if p is value) for name, value in stand_ins.items()}
        if not all(slots.values()):
            return None  # a value was turned into something else on its way to the parameters
        # Built again with other stand-ins: the same statement, with them in the same places.
        others = {name: stand_in(kind) for name, kind in self.kinds.items()}
        again, again_params = self.build(**others).query.get_compiler(using=queryset.db).as_sql()
        moved = {name: tuple(i for i, p in enumerate(again_params) if p is value) for name, value in others.items()}
        if again != sql or moved != slots:
            return None
        select, klass_info = compiler.select, compiler.klass_info
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        return _Plan(
            sql=sql,
            params=tuple(params),
            slots=slots,
            model=klass_info["model"],
            init_list=[column[0].target.attname for column in select[start:end]],
            start=start,
            end=end,
            populators=get_related_populators(klass_info, select, queryset.db),
            annotations=dict(compiler.annotation_col_map or {}),
            converters=compiler.get_converters([column[0] for column in select[: compiler.col_count]]),
            compiler=compiler,
            prefetch=tuple(queryset._prefetch_related_lookups),  # type: ignore[attr-defined]
        )
